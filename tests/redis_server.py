"""A private redis-server for tests, the fault harness and benchmarks: one loopback port, no persistence.

Used by ``tests/conftest.py`` (the session Redis), ``tests/faults/harness.py`` (the cluster's Redis,
killed and restarted on the same port), ``bench/routing.py``, ``bench/webhook.py`` and ``bench/voice_latency.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass


@dataclass
class RedisServer:
    """A started redis-server.

    Attributes:
        proc: the process (the caller stops it).
        port: its port on 127.0.0.1.
        url: ``redis://127.0.0.1:<port>/0``.
    """

    proc: subprocess.Popen
    port: int
    url: str


def start_redis(port: int | None = None, *, timeout: float = 30.0, **popen_kw) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 (no RDB snapshots, no append-only file) and wait until it answers.

    Args:
        port: the port; a free one when None.
        timeout: seconds to wait for it to answer PING.
        **popen_kw: passed to ``subprocess.Popen`` (stdout/stderr default to DEVNULL; a caller may give a
            log file, ``cwd``, ``env``, ``start_new_session``...).

    Returns:
        The server; stop it with ``proc.terminate()`` (or a kill).

    Raises:
        FileNotFoundError: no ``redis-server`` on PATH.
        TimeoutError: it did not answer within ``timeout``, or exited (the port was taken); it is killed.
    """
    import redis

    exe = shutil.which("redis-server")
    if not exe:
        raise FileNotFoundError("redis-server not found: run `make test`, which installs it")
    if port is None:
        from tests.faults.harness import free_port  # here: the harness imports this module

        port = free_port()
    popen_kw.setdefault("stdout", subprocess.DEVNULL)
    popen_kw.setdefault("stderr", subprocess.DEVNULL)
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            **popen_kw)
    url = f"redis://127.0.0.1:{port}/0"
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:  # (exited: e.g. the port was taken)
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as r:
                if r.info("server")["process_id"] == proc.pid:  # ours, not another server on that port
                    return RedisServer(proc, port, url)
        except redis.RedisError:
            pass
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    raise TimeoutError(f"redis-server on port {port} did not start (exit status {proc.returncode})")
