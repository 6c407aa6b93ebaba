"""Webhook throughput: the real app against its baselines, side by side, under wrk.

``.venv/bin/python bench/webhook.py [--duration 10] [--pg postgresql://postgres@127.0.0.1:5432/test | --sqlite]
[--baseline-commit SHA] [--rounds N] [--skip bare,durable] [--workers N --threads N]``

Apps, each on gunicorn with scripts/run.sh's settings (gthread, ``nproc*2`` workers, 4 threads), one after
the other, on the same kind of database:

(b) bare Flask: answers every POST with a fixed TwiML reply (``bench.webhook:bare_app()``);
(c) a minimal durable webhook (``bench.echo_app:create_durable_app()``): verifies the Twilio signature,
    one INSERT of the message, fixed TwiML;
(0) with ``--baseline-commit SHA``: the real app at that commit, served from a ``git worktree`` of it
    (this checkout's .venv, PYTHONPATH and cwd the worktree; the worktree is removed at the end);
(a) the real app (``app:create_app()``) of this working tree.

Database: PostgreSQL by default (``--pg``: a fresh database ``bharosa_bench_<pid>_<app>`` per app next to the
given URL's, dropped at the end), or ``--sqlite``: the default database, a fresh SQLite file per app in a
temporary folder, with whatever the app does to it (models.db: WAL, busy timeout, BEGIN IMMEDIATE). The real
apps get their schema from their own ``app.py init`` (as ``make run``) and each its own Redis.

wrk (2 threads, 16 connections) replays pre-signed WhatsApp webhooks, a distinct MessageSid and sender
each (the Lua script strides the request list per wrk thread, so no request is sent twice); every app
gets the same requests. Prints req/s, p50/p99, non-2xx and the ratios of (a) to the others, and checks each
database afterwards: one stored message per 2xx, none doubled. ``--rounds N`` runs the apps N times in turn
(each time on fresh databases) and takes each app's median round by req/s (the lower one of two) for the
ratios: on a busy machine, compare those.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import start_redis  # noqa: E402

TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105
ACCOUNT = "AC" + "0" * 30 + "99"
PUBLIC = "https://bench.bharosa.test"  # PUBLIC_BASE_URL of every app: one signed request list serves them all
HOOK = "/twilio/whatsapp"
TEXTS = ["mera phone kal shaam Rawatpur bus stand pe chori ho gaya", "मेरी बाइक चोरी हो गई है कल्याणपुर से",
         "someone is harassing my sister near Kakadeo", "namaste", "mera aadhaar card kho gaya"]
FIXED = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>आपका संदेश मिला। Your message is received.'
         "</Message></Response>")
MEASURED, WARM = "MB", "WU"  # MessageSid prefixes of the measured and the warm-up requests


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


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_requests(n: int, prefix: str, series: int) -> list[tuple[str, str]]:
    """``n`` signed WhatsApp texts; sids ``SM<prefix>…``, senders ``+917<series><i:08d>`` (new each)."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    out = []
    for i in range(n):
        sid = f"SM{prefix}{i:030d}"[:34]
        sender = f"+917{series}{i:08d}"
        form = {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": f"Bench {i}", "MessageType": "text",
                "SmsSid": sid, "WaId": sender[1:], "SmsStatus": "received", "Body": TEXTS[i % len(TEXTS)],
                "To": "whatsapp:+14155238886", "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
                "AccountSid": ACCOUNT, "From": f"whatsapp:{sender}", "ApiVersion": "2010-04-01"}
        out.append((urlencode(form), validator.compute_signature(PUBLIC + HOOK, form)))
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


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import requests

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}) before {url} answered")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def warm_up(base: str, reqs: list[tuple[str, str]], budget: float = 45.0) -> int:
    """Post unique requests, 16 at a time, until every gunicorn worker answers as fast as the best so far.

    Stops after 5 batches in a row whose median is within 1.5x (+10 ms) of the best batch median (at least
    10 batches), or after ``budget`` seconds; the same rule for every app, however fast its requests are.
    Returns how many requests it posted.
    """
    import requests

    def post(r):
        t0 = time.monotonic()
        requests.post(base + HOOK, data=r[0], timeout=60,
                      headers={"X-Twilio-Signature": r[1], "Content-Type": "application/x-www-form-urlencoded"})
        return time.monotonic() - t0

    i, calm, best, end = 0, 0, float("inf"), time.monotonic() + budget
    with ThreadPoolExecutor(16) as pool:
        while time.monotonic() < end and i + 16 <= len(reqs):
            med = sorted(pool.map(post, reqs[i:i + 16]))[8]
            i += 16
            best = min(best, med)
            calm = calm + 1 if med <= 1.5 * best + 0.010 else 0
            if calm >= 5 and i >= 160:
                return i
    print(f"warning: {base} still uneven after warm-up ({i} requests)", file=sys.stderr)
    return i


def gunicorn(target: str, port: int, env: dict, workers: int, threads: int, tree: Path) -> subprocess.Popen:
    cmd = [str(ROOT / ".venv/bin/gunicorn"), target, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--threads", str(threads), "--worker-class", "gthread", "--timeout", "30", "--graceful-timeout", "10",
           "--log-level", "warning", "--chdir", str(tree)]
    return subprocess.Popen(cmd, env=env, cwd=tree, start_new_session=True)


def stop(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_wrk(base: str, script: Path, duration: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), base],
                         capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class App:
    """One app under test: ``kind`` bare / durable / real; ``tree`` the checkout it is served from."""

    key: str
    label: str
    kind: str
    target: str
    tree: Path = ROOT
    url: str | None = None  # its database
    results: list[dict] = field(default_factory=list)  # one per round
    checks: list[str] = field(default_factory=list)

    @property
    def result(self) -> dict:
        """The round with the median req/s (the only one with --rounds 1)."""
        ordered = sorted(self.results, key=lambda r: r["rps"])
        return ordered[(len(ordered) - 1) // 2]


class Databases:
    """Fresh databases of one kind, one per app: SQLite files under ``tmp``, or PostgreSQL databases."""

    def __init__(self, pg: str | None, tmp: Path) -> None:
        self.pg = pg.replace("postgresql://", "postgresql+psycopg://", 1) if pg else None
        self.tmp, self.made = tmp, []

    def describe(self) -> str:
        if not self.pg:
            return "SQLite, a fresh file per app (the default database; WAL etc. as models.db sets it)"
        return f"PostgreSQL {self.pg.split('@')[-1].rsplit('/', 1)[0]}, a fresh database per app"

    def _admin(self, sql: str) -> None:
        import sqlalchemy as sa

        eng = sa.create_engine(self.pg, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text(sql))
        eng.dispose()

    def new(self, key: str) -> str:
        if not self.pg:
            return f"sqlite:///{self.tmp / f'{key}.db'}"
        name = f"bharosa_bench_{os.getpid()}_{key}"
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._admin(f"CREATE DATABASE {name}")
        self.made.append(name)
        return self.pg.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        """Drop the PostgreSQL databases made so far; delete the SQLite files."""
        for f in self.tmp.glob("*.db*"):
            f.unlink()
        made, self.made = self.made, []
        for name in made:
            try:
                self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                print(f"warning: could not drop {name}: {exc}", file=sys.stderr)


def app_env(app: App, redis_url: str | None, tmp: Path, port: int) -> dict:
    env = dict(os.environ, DATABASE_URL=app.url, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN,
               PUBLIC_BASE_URL=PUBLIC, TWILIO_SMS_FROM="+15005550006", TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
               TWILIO_API_BASE_URL="http://127.0.0.1:9", BHAROSA_ENV="production",
               BHAROSA_SECRET_KEY=os.urandom(16).hex(), BHAROSA_SPOOL_DIR=str(tmp / f"spool-{app.key}"),
               PYTHONPATH=str(app.tree))
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def prepare(app: App, dbs: Databases, tmp: Path) -> None:
    """A fresh database with the app's schema: ``app.py init`` of its own tree, or the durable table."""
    app.url = dbs.new(app.key)
    if app.kind == "real":
        env = app_env(app, None, tmp, 0)
        out = subprocess.run([str(ROOT / ".venv/bin/python"), "app.py", "init"], cwd=app.tree, env=env,
                             capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"{app.label}: app.py init failed:\n{out.stdout}{out.stderr}")
    elif app.kind == "durable":
        from bench.echo_app import create_durable_table

        create_durable_table(app.url)


def check_database(app: App, tmp: Path, r: dict) -> str:
    """What the database holds after the run: one stored message per measured 2xx, none doubled."""
    import sqlalchemy as sa

    answered = r["requests"] - r["non2xx"]
    eng = sa.create_engine(app.url)
    try:
        with eng.connect() as c:
            if app.kind == "durable":
                stored = c.execute(sa.text(f"SELECT count(*) FROM bench_inbound WHERE sid LIKE 'SM{MEASURED}%'"))  # noqa: S608
                return f"{stored.scalar()} rows stored for {answered} answered"
            q = lambda sql: c.execute(sa.text(sql)).scalar()  # noqa: E731
            stored = q(f"SELECT count(*) FROM message WHERE direction='in' AND sid LIKE 'SM{MEASURED}%'")  # noqa: S608
            dup = q("SELECT count(*) - count(DISTINCT sid) FROM message")
            errors = q("SELECT count(*) FROM message WHERE status='error'")
    except sa.exc.SQLAlchemyError as exc:
        return f"could not check: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    finally:
        eng.dispose()
    spool = tmp / f"spool-{app.key}"
    spooled = len(list(spool.glob("*.json"))) if spool.exists() else 0
    return f"{stored} inbound messages stored for {answered} answered, {dup} doubled, {errors} engine errors, " \
           f"{spooled} spooled"


def measure(app: App, args, dbs: Databases, tmp: Path, script: Path, warm: list, nreqs: int) -> None:
    prepare(app, dbs, tmp)
    redis = start_redis(start_new_session=True) if app.kind == "real" else None
    procs = [redis.proc] if redis else []
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        p = gunicorn(app.target, port, app_env(app, redis.url if redis else None, tmp, port), args.workers,
                     args.threads, app.tree)
        procs.append(p)
        t0 = time.monotonic()
        wait_http(base + "/healthz", p)
        booted = time.monotonic() - t0
        nwarm = warm_up(base, warm)
        r = run_wrk(base, script, args.duration, args.connections)
        r["boot_s"], r["warm"] = booted, nwarm
        if r["requests"] > nreqs:
            r["note"] = f"request list wrapped: {r['requests'] - nreqs} repeats"
        app.results.append(r)
    finally:
        for p in reversed(procs):
            stop(p)
    if app.kind != "bare":
        app.checks.append(check_database(app, tmp, r))
    dbs.drop_all()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="PostgreSQL server (a fresh database per app is made next to this one)")
    ap.add_argument("--sqlite", action="store_true", help="the default database instead: a fresh SQLite file")
    ap.add_argument("--baseline-commit", metavar="SHA",
                    help="also run the real app at this commit (a git worktree of it) and print the ratio")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every app this many times, in turn (a noisy machine: compare the medians)")
    ap.add_argument("--skip", default="", help="comma-separated apps to leave out: bare, durable")
    ap.add_argument("--requests", type=int, default=60000, help="pre-signed requests for the measured runs")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (2 threads)")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2 * (os.cpu_count() or 1))),
                    help="gunicorn workers for every app (make run: WEB_WORKERS, default 2 x cores)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", 4)),
                    help="gunicorn threads per worker for every app (make run: WEB_THREADS, default 4)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk (scripts/ensure-system.sh test)", file=sys.stderr)
        return 2
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - {"bare", "durable"}:
        ap.error(f"--skip: unknown app(s) {', '.join(sorted(skip - {'bare', 'durable'}))}")

    tmp = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    dbs = Databases(None if args.sqlite else args.pg, tmp)
    head = git("rev-parse", "--short", "HEAD")
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    apps = []
    if "bare" not in skip:
        apps.append(App("bare", "(b) bare Flask, fixed", "bare", "bench.webhook:bare_app()"))
    if "durable" not in skip:
        apps.append(App("durable", "(c) minimal durable", "durable", "bench.echo_app:create_durable_app()"))
    worktree = None
    if args.baseline_commit:
        sha = git("rev-parse", "--verify", args.baseline_commit + "^{commit}")
        worktree = tmp / f"baseline-{sha[:8]}"
        git("worktree", "add", "--detach", str(worktree), sha)
        apps.append(App("base", f"(0) Bharosa @{sha[:7]}", "real", "app:create_app()", tree=worktree))
    apps.append(App("head", f"(a) Bharosa @{head}", "real", "app:create_app()"))

    t_sign = time.monotonic()
    reqs = make_requests(args.requests, MEASURED, 1)
    warm = make_requests(4000, WARM, 2)
    script = lua_file(tmp, reqs, 2)
    t_sign = time.monotonic() - t_sign
    try:
        for _ in range(args.rounds):
            for app in apps:
                measure(app, args, dbs, tmp, script, warm, len(reqs))
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)
        dbs.drop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end; gunicorn gthread "
          f"{args.workers} workers x {args.threads} threads; wrk -t2 -c{args.connections} -d{args.duration}s, "
          f"pre-signed WhatsApp webhooks ({len(reqs)} signed in {t_sign:.1f} s), distinct MessageSid and sender each")
    print(f"database: {dbs.describe()}; (a) is this working tree (HEAD {head}{dirty})")
    print(f"{'':26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-2xx':>9}{'sock err':>9}{'warm-up':>9}")
    for n in range(args.rounds):
        for app in apps:
            r = app.results[n]
            label = app.label + (f" #{n + 1}" if args.rounds > 1 else "")
            print(f"{label:26}{r['rps']:>9.0f}{r['p50_us'] / 1000:>9.1f}{r['p99_us'] / 1000:>9.1f}"
                  f"{r['max_us'] / 1000:>9.0f}{r['non2xx']:>9}{r['socket_errors']:>9}{r['warm']:>9}  "
                  f"{r.get('note', '')}")
    if args.rounds > 1:
        print("ratios below: each app's median round by req/s")
    a = apps[-1].result
    for app in apps[:-1]:
        r = app.result
        line = (f"ratio (a)/{app.label.split()[0]}: req/s {a['rps'] / r['rps']:.2f}, "
                f"p99 {a['p99_us'] / r['p99_us']:.2f}x")
        if app.key == "bare":
            line += "   (target >= 0.5)"
        elif app.key == "base":
            line += "   (target: req/s >= 0.90, nothing slower)"
        print(line)
    if args.sqlite:
        print(f"SQLite target: p99 < 250 ms at {args.connections} connections: (a) p99 {a['p99_us'] / 1000:.1f} ms")
    for app in apps:
        for n, check in enumerate(app.checks):
            print(f"database after {app.label.split()[0]}{f' #{n + 1}' if args.rounds > 1 else ''}: {check}")
    print("(stored may exceed answered by up to the connections: requests in flight when wrk stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
