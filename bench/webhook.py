"""Webhook throughput: the real app vs a bare Flask app, side by side, under wrk.

``.venv/bin/python bench/webhook.py [--duration 10] [--pg postgresql://postgres@127.0.0.1:5432/test]``

(a) the real app (``app:create_app()``) on gunicorn with scripts/run.sh's settings (gthread,
    ``nproc*2`` workers, 4 threads) on PostgreSQL (a database ``bharosa_bench`` created fresh next to
    the given URL's) with its own Redis; (b) a bare Flask app on gunicorn with the same workers that
    answers every POST with a fixed TwiML reply. wrk (2 threads, 16 connections, 10 s) replays
    pre-signed WhatsApp webhooks, a distinct MessageSid and sender each (the Lua script strides the
    request list per wrk thread, so no request is sent twice). Prints req/s, p50/p99, non-2xx and the
    ratio, and checks the database afterwards: one stored message per 2xx, none doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults.harness import free_port  # noqa: E402
from tests.redis_server import start_redis  # noqa: E402

TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105
ACCOUNT = "AC" + "0" * 30 + "99"
TEXTS = ["mera phone kal shaam Rawatpur bus stand pe chori ho gaya", "मेरी बाइक चोरी हो गई है कल्याणपुर से",
         "someone is harassing my sister near Kakadeo", "namaste", "mera aadhaar card kho gaya"]
FIXED = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>आपका संदेश मिला। Your message is received.'
         "</Message></Response>")


def bare_app():
    """(b): a bare Flask app returning a fixed TwiML reply."""
    from flask import Flask, Response

    app = Flask("bare")

    @app.post("/twilio/whatsapp")
    def reply():
        return Response(FIXED, mimetype="application/xml")

    @app.get("/healthz")
    def health():
        return "ok"

    return app



def make_requests(n: int, url: str, prefix: str) -> list[tuple[str, str]]:
    from channels.twilio import sign

    out = []
    for i in range(n):
        sid = f"SM{prefix}{i:030d}"[:34]
        sender = f"+9170{(hash(prefix) % 100):02d}{i:06d}"
        form = {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": f"Bench {i}", "MessageType": "text",
                "SmsSid": sid, "WaId": sender[1:], "SmsStatus": "received", "Body": TEXTS[i % len(TEXTS)],
                "To": "whatsapp:+14155238886", "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
                "AccountSid": ACCOUNT, "From": f"whatsapp:{sender}", "ApiVersion": "2010-04-01"}
        out.append((urlencode(form), sign(url, form, TOKEN)))
    return out


LUA = r"""
local reqs = dofile("%(data)s")
local counter, tid, nthreads = 0, 0, %(threads)d
local tcount = 0
function setup(thread)
  thread:set("tid", tcount)
  tcount = tcount + 1
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end
function request()
  local i = (tid + counter * nthreads) %% #reqs + 1
  counter = counter + 1
  local r = reqs[i]
  return wrk.format("POST", "/twilio/whatsapp",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = r[2]}, r[1])
end
function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d, "max_us": %%d}\n', summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def lua_file(tmp: Path, reqs: list[tuple[str, str]], threads: int) -> Path:
    data = tmp / "requests.lua"
    with data.open("w", encoding="utf-8") as fh:
        fh.write("return {\n")
        for body, sig in reqs:
            fh.write(f"{{{json.dumps(body)}, {json.dumps(sig)}}},\n")
        fh.write("}\n")
    script = tmp / "replay.lua"
    script.write_text(LUA % {"data": str(data), "threads": threads}, encoding="utf-8")
    return script


def wait_http(url: str, timeout: float = 120) -> None:
    import requests

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def warm_up(base: str, reqs: list[tuple[str, str]]) -> None:
    """Post unique requests until every gunicorn worker answers fast (the engine trains once per worker)."""
    import requests

    def post(r):
        t0 = time.monotonic()
        requests.post(base + "/twilio/whatsapp", data=r[0], timeout=60,
                      headers={"X-Twilio-Signature": r[1], "Content-Type": "application/x-www-form-urlencoded"})
        return time.monotonic() - t0

    i, good, end = 0, 0, time.monotonic() + 150
    with ThreadPoolExecutor(16) as pool:
        while time.monotonic() < end and i + 16 <= len(reqs):
            times = sorted(pool.map(post, reqs[i:i + 16]))
            i += 16
            good = good + 1 if times[len(times) // 2] < 0.15 else 0
            if good >= 5:
                return
    print("warning: still slow after warm-up", file=sys.stderr)


def gunicorn(target: str, port: int, env: dict, workers: int, threads: int = 4) -> subprocess.Popen:
    cmd = [str(ROOT / ".venv/bin/gunicorn"), target, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--threads", str(threads), "--worker-class", "gthread", "--timeout", "30", "--graceful-timeout", "10",
           "--log-level", "warning", "--chdir", str(ROOT)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)


def stop(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_wrk(base: str, script: Path, duration: int) -> dict:
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{duration}s", "--latency", "-s", str(script), base],
                         capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--requests", type=int, default=60000, help="pre-signed requests for the measured run")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2 * (os.cpu_count() or 1))),
                    help="gunicorn workers for both apps (make run: WEB_WORKERS, default 2 x cores)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", 4)),
                    help="gunicorn threads per worker for both apps (make run: WEB_THREADS, default 4)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk (scripts/ensure-system.sh test)", file=sys.stderr)
        return 2
    import sqlalchemy as sa

    base_url = args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
    bench_url = base_url.rsplit("/", 1)[0] + "/bharosa_bench"
    eng = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text("DROP DATABASE IF EXISTS bharosa_bench WITH (FORCE)"))
        c.execute(sa.text("CREATE DATABASE bharosa_bench"))
    eng.dispose()
    from models import Base, db
    from tickets.stations import sync_stations

    db.init(bench_url)
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        sync_stations(s)
    db.dispose()

    workers = args.workers
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    redis = start_redis(start_new_session=True)
    rport = redis.port
    procs = [redis.proc]
    results = {}
    try:
        for name, target in (("bare", "bench.webhook:bare_app()"), ("bharosa", "app:create_app()")):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = dict(os.environ, DATABASE_URL=bench_url, REDIS_URL=f"redis://127.0.0.1:{rport}/0",
                       TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=base,
                       TWILIO_SMS_FROM="+15005550006", TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
                       TWILIO_API_BASE_URL="http://127.0.0.1:9", BHAROSA_ENV="production",
                       BHAROSA_SECRET_KEY=os.urandom(16).hex(),
                       BHAROSA_SPOOL_DIR=str(tmp / "spool"), PYTHONPATH=str(ROOT))
            reqs = make_requests(args.requests, base + "/twilio/whatsapp", "B" + name[:1].upper())
            warm = make_requests(4000, base + "/twilio/whatsapp", "W" + name[:1].upper())
            script = lua_file(tmp, reqs, 2)
            p = gunicorn(target, port, env, workers, args.threads)
            procs.append(p)
            wait_http(base + "/healthz")
            warm_up(base, warm)
            r = run_wrk(base, script, args.duration)
            if r["requests"] > len(reqs):
                r["note"] = f"request list wrapped: {r['requests'] - len(reqs)} repeats"
            results[name] = r
            stop(p)
            procs.remove(p)
    finally:
        for p in procs:
            stop(p)
    db.init(bench_url)
    with db.engine.connect() as c:
        stored = c.execute(sa.text("SELECT count(*) FROM message WHERE direction='in' AND sid LIKE 'SMBB%'")).scalar()
        dup = c.execute(sa.text("SELECT count(*) - count(DISTINCT sid) FROM message")).scalar()
        errors = c.execute(sa.text("SELECT count(*) FROM message WHERE status='error'")).scalar()
    db.dispose()
    spooled = len(list((tmp / "spool").glob("*.json"))) if (tmp / "spool").exists() else 0
    b, a = results["bare"], results["bharosa"]
    print(f"machine: {os.cpu_count()} cores; gunicorn gthread {workers} workers x {args.threads} threads; "
          f"wrk -t2 -c16 -d{args.duration}s, pre-signed WhatsApp webhooks, distinct MessageSid and sender each")
    print(f"{'':24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}{'sock err':>10}")
    for label, r in (("(b) bare Flask, fixed", b), ("(a) Bharosa on Postgres", a)):
        print(f"{label:24}{r['rps']:>10.0f}{r['p50_us'] / 1000:>10.1f}{r['p99_us'] / 1000:>10.1f}"
              f"{r['non2xx']:>10}{r['socket_errors']:>10}  {r.get('note', '')}")
    print(f"ratio (a)/(b): {a['rps'] / b['rps']:.2f}   (target >= 0.5, p99 < 100 ms, no non-2xx)")
    print(f"database after (a): {stored} inbound messages stored for {a['requests']} requests, "
          f"{dup} doubled, {errors} engine errors, {spooled} spooled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
