"""`make run`'s script end to end: it starts its own Redis when REDIS_URL is unset, migrates, serves
/healthz with the worker attached, a signed SMS conversation ends in an SMS with a reference at the
Twilio recorder, and Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from tests.faults.driver import Citizen
from tests.faults.harness import ROOT, free_port
from tests.twilio_recorder import RecorderServer

pytestmark = pytest.mark.slow
TOKEN = "make-run-token"
ACCOUNT = "AC" + "0" * 30 + "07"


def test_make_run_serves_a_complaint_end_to_end(tmp_path):
    rec = RecorderServer().start()
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BHAROSA_ENV")}
    env.update(PORT=str(port), REDIS_PORT=str(redis_port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
               TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=rec.url,
               PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", WEB_WORKERS="2", BHAROSA_SPOOL_DIR=str(tmp_path / "spool"),
               HOST="127.0.0.1")
    proc = subprocess.Popen(["scripts/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        body = None
        t0 = time.time()
        while time.time() - t0 < 60:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                body = r.json()
                if r.status_code == 200 and isinstance(body.get("worker"), dict) and body["relay"] != "not seen":
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert body and body["database"] == "ok" and body["redis"] == "ok", body
        assert isinstance(body["worker"], dict), "the worker never reported in"
        assert time.time() - t0 < 60
        # its own Redis, on the port it was given
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200

        result = Citizen(f"http://127.0.0.1:{port}", TOKEN, "+919839077777",
                         public_base=f"http://127.0.0.1:{port}").complain()
        assert result.registered, result.transcript
        ref = None
        for _ in range(60):
            sms = rec.recorder.to("+919839077777")
            if sms:
                ref = sms[0]["Body"]
                break
            time.sleep(0.5)
        import re

        m = re.search(r"[A-Z]{3}-[A-Z2-9]{6}", ref or "")
        assert m and m.group(0) in result.transcript[-1][1]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        out, _ = proc.communicate(timeout=30)
        rec.stop()
    assert "Paste these into your Twilio number" in out
    # everything it started is gone: nothing answers on its ports
    for p in (port, redis_port):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{p}/", timeout=1)
