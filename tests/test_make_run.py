"""`make run`'s script end to end: it starts its own Redis when REDIS_URL is unset, migrates, serves
/healthz with the worker attached, a signed SMS conversation ends in an SMS with a reference at the
Twilio recorder, and Ctrl-C stops everything it started. In dev mode it listens on 127.0.0.1 only and
the reference SMS is recorded, not sent, though real-looking Twilio credentials are set."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.faults.driver import Citizen
from tests.faults.harness import ROOT, free_port
from tests.twilio_recorder import RecorderServer

pytestmark = pytest.mark.slow
TOKEN = "make-run-token"
HEALTH_TOKEN = "make-run-health-token"  # noqa: S105
ACCOUNT = "AC" + "0" * 30 + "07"
REF = re.compile(r"[A-Z]{3}-[A-Z2-9]{6}")


def listening(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    out: set[str] = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if fields[3] != "0A" or int(hexport, 16) != port:  # 0A: LISTEN
                continue
            # each 32-bit word is in host (little-endian) order
            raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, width, 8))
            out.add(str(ipaddress.ip_address(raw)))
    return out


def _start(tmp_path, rec: RecorderServer, host: str, **env_extra: str):
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BHAROSA_ENV", "HOST")}
    env.update(PORT=str(port), REDIS_PORT=str(redis_port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
               TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=rec.url,
               PUBLIC_BASE_URL=f"http://{host}:{port}", WEB_WORKERS="2", BHAROSA_SPOOL_DIR=str(tmp_path / "spool"),
               BHAROSA_SECRET_KEY="make-run-secret",  # production refuses to start without one
               **env_extra)
    proc = subprocess.Popen(["scripts/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    return proc, port, redis_port


def _wait_healthy(base: str) -> dict:
    body: dict = {}
    t0 = time.time()
    while time.time() - t0 < 60:
        try:
            r = requests.get(f"{base}/healthz", timeout=2)
            body = r.json()
            if r.status_code == 200 and body.get("status") == "ok":
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    assert body.get("status") == "ok", body
    assert body["database"] == "ok" and body["redis"] == "ok", body
    assert body["worker"]["alive"] >= 1, "the worker never reported in"
    return body


def _stop(proc, rec, ports) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        # something it started still holds the output open: name it, then clean up
        left = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-g", str(proc.pid)],
                              capture_output=True, text=True).stdout
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        rec.stop()
        pytest.fail(f"make run did not stop everything within 30 s of Ctrl-C:\n{left}\n--- its output ---\n{out}")
    rec.stop()
    return out


def test_make_run_serves_a_complaint_end_to_end(tmp_path):
    rec = RecorderServer().start()
    host = "127.0.0.2"  # HOST= is honoured (a loopback address other than the default's)
    proc, port, redis_port = _start(tmp_path, rec, host, HOST=host, BHAROSA_HEALTH_TOKEN=HEALTH_TOKEN)
    base = f"http://{host}:{port}"
    try:
        _wait_healthy(base)
        assert listening(port) == {host}
        # its own Redis, on the port it was given
        assert requests.get(f"{base}/readyz", timeout=2).status_code == 200
        # health: no host name or PID to anyone; metrics only with the token
        public = requests.get(f"{base}/healthz", timeout=2)
        assert socket.gethostname() not in public.text and "detail" not in public.json()
        assert requests.get(f"{base}/metrics", timeout=2).status_code == 401
        detail = requests.get(f"{base}/healthz", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"}, timeout=2)
        assert detail.json()["detail"]["host"] == socket.gethostname()
        m = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"}, timeout=2)
        assert m.status_code == 200 and "bharosa_up 1" in m.text
        assert requests.get(f"{base}/simulator", timeout=2).status_code == 404  # production: no simulator

        result = Citizen(base, TOKEN, "+919839077777", public_base=base).complain()
        assert result.registered, result.transcript
        ref = None
        for _ in range(60):
            sms = rec.recorder.to("+919839077777")
            if sms:
                ref = sms[0]["Body"]
                break
            time.sleep(0.5)
        m = REF.search(ref or "")
        assert m and m.group(0) in result.transcript[-1][1]
    finally:
        out = _stop(proc, rec, (port, redis_port))
    assert "Paste these into your Twilio number" in out
    assert f"running on {host}:{port}" in out
    # everything it started is gone: nothing answers on its ports
    for h, p in ((host, port), ("127.0.0.1", redis_port)):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{h}:{p}/", timeout=1)


def test_make_run_in_dev_mode_listens_on_loopback_and_sends_nothing(tmp_path):
    rec = RecorderServer().start()
    proc, port, redis_port = _start(tmp_path, rec, "127.0.0.1", BHAROSA_ENV="dev")
    base = f"http://127.0.0.1:{port}"
    phone = "+919839077778"
    try:
        _wait_healthy(base)
        assert listening(port) == {"127.0.0.1"}  # not 0.0.0.0, not ::
        assert requests.get(f"{base}/simulator", timeout=2).status_code == 200
        result = Citizen(base, TOKEN, phone, public_base=base).complain()
        assert result.registered, result.transcript
        ref = REF.search(result.transcript[-1][1]).group(0)
        recorded = []
        for _ in range(60):  # the worker records the registration SMS instead of sending it
            with sqlite3.connect(tmp_path / "run.db") as c:
                recorded = c.execute("SELECT status, body FROM message WHERE direction = 'out' AND to_addr = ?",
                                     (phone,)).fetchall()
            if recorded:
                break
            time.sleep(0.5)
        assert recorded and all(st == "recorded" for st, _ in recorded), recorded
        assert any(ref in body for _, body in recorded)
        assert rec.recorder.messages == [] and rec.recorder.requests == []
    finally:
        out = _stop(proc, rec, (port, redis_port))
    assert f"running on 127.0.0.1:{port}" in out
