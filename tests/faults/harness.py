"""Real processes for the fault tests and benchmarks: Redis, the Twilio recorder, a TCP proxy in
front of the database, gunicorn web processes and rq workers — each can be killed with SIGKILL,
stopped, or cut off, and started again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.redis_server import start_redis as start_redis_server

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
ACCOUNT = "AC" + "0" * 30 + "01"
TOKEN = "fault-token-0123456789"  # noqa: S105


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def pg_database(base_url: str, name: str) -> str:
    """Create (or re-create) a database for a run; returns its URL."""
    import psycopg

    conn = psycopg.connect(base_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{name}"


@dataclass
class Cluster:
    """One Bharosa deployment on this machine, built from real processes."""

    workdir: Path
    database_url: str  # the real database (a proxy is put in front of PostgreSQL)
    web_processes: int = 1
    web_workers: int = 2
    rq_workers: int = 2
    loops: int = 1
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.recorder_port = free_port()
        self.web_ports = [free_port() for _ in range(self.web_processes)]
        self.proxy_port = None
        self.db_via = self.database_url
        if self.database_url.startswith("postgresql"):
            from urllib.parse import urlsplit

            u = urlsplit(self.database_url.replace("+psycopg", ""))
            self.proxy_port = free_port()
            self.db_via = self.database_url.replace(f"{u.hostname}:{u.port or 5432}",
                                                    f"127.0.0.1:{self.proxy_port}")
        self.recorder_log = self.workdir / "recorder.jsonl"

    # -- environment --------------------------------------------------------------------------
    def env(self, **extra) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "BHAROSA_ENV"))}
        e.update(DATABASE_URL=self.db_via, REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
                 TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_SMS_FROM="+15005550006",
                 TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
                 TWILIO_API_BASE_URL=f"http://127.0.0.1:{self.recorder_port}",
                 PUBLIC_BASE_URL="https://bharosa.test", BHAROSA_SPOOL_DIR=str(self.workdir / "spool"),
                 BHAROSA_SECRET_KEY="fault-secret", PYTHONUNBUFFERED="1", BHAROSA_NODE="faults")
        e.update(extra)
        return e

    def _popen_kw(self, name: str, env: dict[str, str] | None = None) -> dict:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        return {"cwd": ROOT, "env": env or self.env(), "stdout": log, "stderr": subprocess.STDOUT,
                "start_new_session": True}

    def _start(self, name: str, cmd: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(cmd, **self._popen_kw(name, kw.pop("env", None)), **kw)
        self.procs[name] = p
        return p

    # -- parts --------------------------------------------------------------------------------
    def start_redis(self) -> None:
        self.procs["redis"] = start_redis_server(self.redis_port, **self._popen_kw("redis")).proc

    def start_recorder(self) -> None:
        self._start("recorder", [PY, "-m", "tests.twilio_recorder", "--port", str(self.recorder_port),
                                 "--log", str(self.recorder_log)])
        wait_port(self.recorder_port)

    def start_proxy(self) -> None:
        if self.proxy_port is None:
            return
        from urllib.parse import urlsplit

        u = urlsplit(self.database_url.replace("+psycopg", ""))
        self._start("proxy", [PY, "-m", "tests.faults.tcpproxy", str(self.proxy_port), u.hostname or "127.0.0.1",
                              str(u.port or 5432)])
        wait_port(self.proxy_port)

    def init_db(self) -> None:
        subprocess.run([PY, "app.py", "init"], cwd=ROOT, env=self.env(), check=True, capture_output=True)

    def start_web(self, i: int = 0) -> None:
        self._start(f"web{i}", [str(Path(PY).parent / "gunicorn"), "app:create_app()", "--bind",
                                f"127.0.0.1:{self.web_ports[i]}", "--workers", str(self.web_workers), "--threads", "4",
                                "--worker-class", "gthread", "--timeout", "30", "--log-level", "warning"])
        wait_port(self.web_ports[i])

    def start_worker(self, i: int) -> None:
        self._start(f"worker{i}", [PY, "worker.py", "--rq-only"])

    def start_loop(self, i: int) -> None:
        self._start(f"loop{i}", [PY, "worker.py", "--loop-only"])

    def start(self) -> Cluster:
        self.start_redis()
        self.start_recorder()
        self.start_proxy()
        self.init_db()
        for i in range(self.web_processes):
            self.start_web(i)
        for i in range(self.rq_workers):
            self.start_worker(i)
        for i in range(self.loops):
            self.start_loop(i)
        return self

    # -- faults -------------------------------------------------------------------------------
    def kill9(self, name: str) -> None:
        """SIGKILL a process and its whole group (gunicorn's workers too)."""
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(10)

    def restart(self, name: str) -> None:
        self.kill9(name)
        if name.startswith("web"):
            self.start_web(int(name[3:]))
        elif name.startswith("worker"):
            self.start_worker(int(name[6:]))
        elif name.startswith("loop"):
            self.start_loop(int(name[4:]))
        elif name == "redis":
            self.start_redis()

    def db_cut(self) -> None:
        os.kill(self.procs["proxy"].pid, signal.SIGUSR1)

    def db_restore(self) -> None:
        os.kill(self.procs["proxy"].pid, signal.SIGUSR2)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill9(name)

    # -- observations -------------------------------------------------------------------------
    def recorder_messages(self) -> list[dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.recorder_port}/_log", timeout=10) as r:  # noqa: S310
            return json.loads(r.read())["messages"]

    def web_url(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.web_ports[i]}"
