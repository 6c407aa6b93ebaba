"""Load: signed SMS/WhatsApp complaint conversations (distinct senders, full complaints) at a
rising load against the real stack — gunicorn with `make run`'s settings, rq workers, Redis,
PostgreSQL — until p99 passes 1 s; then the same for a bare Flask echo on the same gunicorn
settings, and the ratio.

    .venv/bin/python bench/load.py [--db postgresql://postgres@127.0.0.1:5432/test] [--step-seconds 10]

Each step doubles the number of concurrent citizens; each citizen holds whole conversations back
to back (first message with what and where, then answers to the bot's questions until registered).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.driver import FIRST, Citizen, answer_for  # noqa: E402
from tests.faults.harness import TOKEN, Cluster, free_port, pg_database, wait_port  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def run_step(base: str, concurrency: int, seconds: float, echo: bool, offset: int) -> dict:
    lat: list[float] = []
    complaints = 0
    msgs = 0
    errors = 0
    lock = threading.Lock()
    end = time.time() + seconds

    def citizen(i: int):
        nonlocal complaints, msgs, errors
        http = requests.Session()
        n = 0
        while time.time() < end:
            phone = f"+9170{offset + i:04d}{n:04d}"
            n += 1
            c = Citizen(base, TOKEN, phone, channel="sms" if i % 2 else "whatsapp", session=http)
            text = FIRST[(i + n) % len(FIRST)]
            for turn in range(8):
                try:
                    texts, dt = c.send(text, retries=1)
                except RuntimeError:
                    with lock:
                        errors += 1
                    break
                with lock:
                    lat.append(dt)
                    msgs += 1
                reply = "\n".join(texts)
                if echo and turn >= 3:  # the echo never registers: same number of turns as a complaint
                    with lock:
                        complaints += 1
                    break
                if not echo and turn > 0 and ("दर्ज" in reply and "संख्या" in reply or "registered" in reply.lower()):
                    with lock:
                        complaints += 1
                    break
                text = answer_for(reply)
                if time.time() >= end:
                    break

    t0 = time.time()
    threads = [threading.Thread(target=citizen, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    return {"concurrency": concurrency, "msgs_s": msgs / wall, "complaints_min": complaints / wall * 60,
            "p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000, "errors": errors, "msgs": msgs}


def sweep(base: str, echo: bool, step_s: float, max_c: int, label: str, offset: int) -> list[dict]:
    out = []
    c = 2
    while c <= max_c:
        r = run_step(base, c, step_s, echo, offset + c * 100)
        out.append(r)
        print(f"{label:5s} c={c:3d}  {r['msgs_s']:7.1f} msg/s  {r['complaints_min']:7.1f} complaints/min  "
              f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}", flush=True)
        if r["p99_ms"] > 1000:
            break
        c *= 2
    return out


def sustained(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["p99_ms"] <= 1000 and not r["errors"]]
    return max(ok, key=lambda r: r["msgs_s"]) if ok else rows[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--step-seconds", type=float, default=10)
    ap.add_argument("--max-concurrency", type=int, default=128)
    ap.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2 * os.cpu_count())))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bharosa-load-"))
    url = pg_database(args.db, "bharosa_load") if args.db.startswith("postgresql") else args.db
    cl = Cluster(tmp, url, web_processes=1, web_workers=args.web_workers, rq_workers=1, loops=1)
    cl.proxy_port = None
    cl.db_via = url
    cl.start()
    try:
        print(f"bharosa: gunicorn {args.web_workers} workers x 4 threads, 1 rq worker, PostgreSQL, "
              f"{os.cpu_count()} cores")
        # warm: one conversation
        Citizen(cl.web_url(), TOKEN, "+917000000000").complain()
        bot_rows = sweep(cl.web_url(), False, args.step_seconds, args.max_concurrency, "bot", 0)
    finally:
        cl.stop()
    port = free_port()
    echo = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "bench.echo_app:create_app()", "--bind",
                             f"127.0.0.1:{port}", "--workers", str(args.web_workers), "--threads", "4",
                             "--worker-class", "gthread", "--log-level", "warning"],
                            cwd=Path(__file__).resolve().parents[1])
    try:
        wait_port(port)
        echo_rows = sweep(f"http://127.0.0.1:{port}", True, args.step_seconds, args.max_concurrency, "echo", 5000)
    finally:
        echo.terminate()
        echo.wait()
    b, e = sustained(bot_rows), sustained(echo_rows)
    print()
    print(f"sustained (p99 <= 1 s): bharosa {b['msgs_s']:.1f} msg/s, {b['complaints_min']:.0f} complaints/min, "
          f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms at {b['concurrency']} concurrent citizens")
    print(f"sustained (p99 <= 1 s): bare echo {e['msgs_s']:.1f} msg/s, p50 {e['p50_ms']:.1f} ms, "
          f"p99 {e['p99_ms']:.1f} ms at {e['concurrency']} concurrent senders")
    print(f"ratio bharosa / bare echo: {b['msgs_s'] / e['msgs_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
