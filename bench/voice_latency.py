"""Voice-note latency: from a WhatsApp voice note's webhook to the bot's reply, through the real app and worker.

``.venv/bin/python bench/voice_latency.py [--notes 10] [--pg postgresql://postgres@127.0.0.1:5432/test]``

Starts its own Redis, the Twilio recorder (which serves the voice note and records what is sent), the
real app (``python app.py``) and the real worker (``python worker.py``: the relay loop plus one rq
worker over every queue, the 'media' queue included), on SQLite (or a fresh PostgreSQL database
``bharosa_voicebench`` next to ``--pg``'s). Each note is a ~30 s English complaint spoken by espeak-ng
(OGG/Opus, like WhatsApp), sent from its own number as a signed webhook; the clock stops when the
recorder receives the bot's follow-up reply to that number (the engine's answer to the transcript).
One warm-up note (the worker loads the Whisper model) is not counted. Notes go one at a time: a
voice note's latency on an idle 2-core machine, not under load.

Baseline measured in the same run, before the servers start: bare transcription of the same clip
(decode + ``get_transcriber().transcribe``), in this process, same threads and beam.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults.harness import free_port  # noqa: E402
from tests.redis_server import start_redis  # noqa: E402

TOKEN = "voicebench-token-0123456789abcdef"  # noqa: S105
ACCOUNT = "AC" + "0" * 30 + "77"
PUBLIC = "https://bharosa.bench"
CACHE = ROOT / "var" / "bench-audio"
TEXT = (
    "Hello, I want to register a complaint. My name is Ramesh Kumar and I live near the railway station in "
    "Lalitpur. Yesterday evening at about seven o'clock, two young men on a black motorcycle snatched my mobile "
    "phone while I was talking near the bus stop. The phone is a blue Samsung and it has my bank apps in it. "
    "Please block the number and help me find the thieves. You can call me back on this number."
)


def make_note() -> tuple[Path, float]:
    """The ~30 s spoken complaint as an OGG/Opus voice note (cached), and its duration."""
    from voice.audio import decode

    CACHE.mkdir(parents=True, exist_ok=True)
    wav, ogg = CACHE / "voice_latency_30s.wav", CACHE / "voice_latency_30s.ogg"
    if not wav.exists():
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), TEXT], check=True)
    if not ogg.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1",
                        "-c:a", "libopus", "-b:a", "24k", str(ogg)], check=True)
    return ogg, decode(ogg).duration



def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def pctl(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def baseline(ogg: Path, runs: int = 3) -> list[float]:
    """Bare decode + transcription of the note, in this process (after one warm-up)."""
    from voice.audio import decode
    from voice.transcribe import get_transcriber

    tr = get_transcriber()
    tr.transcribe(decode(ogg).samples)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        tr.transcribe(decode(ogg).samples)
        out.append(time.perf_counter() - t0)
    return out


def database(pg: str | None, tmp: Path) -> str:
    """A fresh database with the schema and the zone's stations; returns its URL."""
    if pg:
        import sqlalchemy as sa

        base = pg.replace("postgresql://", "postgresql+psycopg://", 1)
        eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text("DROP DATABASE IF EXISTS bharosa_voicebench"))
            c.execute(sa.text("CREATE DATABASE bharosa_voicebench"))
        eng.dispose()
        url = base.rsplit("/", 1)[0] + "/bharosa_voicebench"
    else:
        url = f"sqlite:///{tmp / 'voicebench.db'}"
    from models import Base, db
    from tickets.stations import sync_stations

    db.init(url)
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        sync_stations(s)
    db.dispose()
    return url


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=int, default=10, help="timed voice notes (after one warm-up)")
    ap.add_argument("--pg", help="a PostgreSQL URL; a database bharosa_voicebench is created next to it")
    ap.add_argument("--timeout", type=float, default=90, help="seconds to wait for one reply")
    args = ap.parse_args(argv)
    import requests

    from channels.twilio import sign
    from tests.twilio_recorder import RecorderServer

    ogg, duration = make_note()
    base = baseline(ogg)
    print(f"clip: {duration:.1f} s OGG/Opus; bare transcription (decode + Whisper, in-process): "
          f"median {statistics.median(base):.2f} s, RTF {statistics.median(base) / duration:.3f}")

    tmp = Path(tempfile.mkdtemp(prefix="voicebench-"))
    procs: list[subprocess.Popen] = []
    rec = RecorderServer().start()
    try:
        redis = start_redis()
        rport = redis.port
        procs.append(redis.proc)
        env = {**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
               "TWILIO_API_BASE_URL": rec.url, "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
               "TWILIO_SMS_FROM": "+15005550006", "PUBLIC_BASE_URL": PUBLIC, "REDIS_URL": f"redis://127.0.0.1:{rport}/0",
               "DATABASE_URL": database(args.pg, tmp), "BHAROSA_MEDIA_DIR": str(tmp / "media"),
               "BHAROSA_SPOOL_DIR": str(tmp / "spool"), "PYTHONUNBUFFERED": "1"}
        env.pop("BHAROSA_ENV", None)
        port = free_port()
        log = open(tmp / "servers.log", "w")  # noqa: SIM115 - closed with the processes
        procs.append(subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env={**env, "PORT": str(port)},
                                      stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT))
        app_url = f"http://127.0.0.1:{port}"
        wait_http(app_url + "/healthz")
        rec.recorder.add_media("note.ogg", ogg.read_bytes(), "audio/ogg")
        media_url = f"{rec.url}/media/note.ogg"

        def one(i: int) -> tuple[float, float]:
            phone = f"+9198390{i:05d}"
            sid = f"MMvoicebench{i:020d}"
            form = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT,
                    "From": f"whatsapp:{phone}", "To": "whatsapp:+14155238886", "Body": "", "NumMedia": "1",
                    "MediaUrl0": media_url, "MediaContentType0": "audio/ogg", "MessageType": "audio",
                    "WaId": phone[1:], "ProfileName": "Bench", "ApiVersion": "2010-04-01"}
            before = len(rec.recorder.to(phone))
            t0 = time.time()
            r = requests.post(app_url + "/twilio/whatsapp", data=urlencode(form), timeout=15, headers={
                "X-Twilio-Signature": sign(PUBLIC + "/twilio/whatsapp", form, TOKEN),
                "Content-Type": "application/x-www-form-urlencoded"})
            answered = time.time() - t0
            if r.status_code != 200:
                raise RuntimeError(f"webhook answered {r.status_code}")
            end = t0 + args.timeout
            while time.time() < end:
                msgs = rec.recorder.to(phone)[before:]
                if msgs:
                    if i == 1:
                        print(f"  (reply to note 1: {msgs[0]['Body'][:100]!r})")
                    return answered, msgs[0]["at"] - t0
                time.sleep(0.05)
            raise RuntimeError(f"no reply to note {i} within {args.timeout} s (see {tmp / 'servers.log'})")

        one(0)  # warm-up: the worker loads the model
        answers, lat = [], []
        for i in range(1, args.notes + 1):
            a, t = one(i)
            answers.append(a)
            lat.append(t)
            print(f"  note {i:2d}: webhook answered in {a * 1000:.0f} ms, reply after {t:.2f} s")
        print(f"voice note → reply ({args.notes} notes of {duration:.0f} s, {'PostgreSQL' if args.pg else 'SQLite'}, "
              f"{os.cpu_count()} cores): p50 {statistics.median(lat):.2f} s, p95 {pctl(lat, 95):.2f} s, "
              f"max {max(lat):.2f} s (target p95 ≤ 15 s)")
        over = statistics.median(lat) - statistics.median(base)
        print(f"webhook answer: p95 {pctl(answers, 95) * 1000:.0f} ms; bare transcription median "
              f"{statistics.median(base):.2f} s → pipeline overhead at p50 {over:.2f} s")
        return 0 if pctl(lat, 95) <= 15 else 1
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        rec.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
