"""/healthz, /readyz and /metrics, from the outside: what anyone sees, what the health token unlocks.

The heartbeats are written by the worker's own code (``worker.run_rq`` and ``worker.beat``, which
record the host name and the PID); the tests then look for the real ``socket.gethostname()`` and
``os.getpid()`` strings in what an anonymous caller gets.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import timedelta

import pytest
from sqlalchemy import update

import worker
from models import WorkerState, utcnow
from models import db as database
from tests.conftest import free_port

HEALTH_TOKEN = "health-token-0123456789abcdef"  # noqa: S105
HOST, PID = socket.gethostname(), str(os.getpid())
OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}


def _pid_in(text: str) -> bool:
    """The PID as a whole number (not as digits inside a timestamp)."""
    return re.search(rf"(?<!\d){PID}(?!\d)", text) is not None


@pytest.fixture
def token(settings_env):
    settings_env(BHAROSA_HEALTH_TOKEN=HEALTH_TOKEN)
    return HEALTH_TOKEN


@pytest.fixture
def beating(db, redis_conn):
    """A worker that has reported in: the rq worker's, the relay's and the sweeper's heartbeats."""
    worker.run_rq(burst=True)
    worker.beat("relay", node=worker.node(), relayed=0)
    worker.beat("sweeper", node=worker.node(), touched=0)


def _bearer(tok: str) -> dict:
    return {"Authorization": f"Bearer {tok}"}


def test_healthz_is_public_and_names_no_host_pid_or_version(client, beating, token):
    r = client.get("/healthz", environ_base=OUTSIDE)
    assert r.status_code == 200
    body, text = r.get_json(), r.get_data(as_text=True)
    assert body["status"] == "ok"
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["worker"]["state"] == "ok" and body["worker"]["alive"] >= 1
    assert body["relay"]["state"] == "ok" and body["sweeper"]["state"] == "ok"
    assert HOST not in text, text
    assert worker.node() not in text, text
    assert not _pid_in(text), text
    assert "version" not in text and "python" not in text.lower()


def test_healthz_with_a_wrong_token_is_the_public_answer(client, beating, token):
    for auth in ("Bearer wrong", f"Bearer {token}x", f"Basic {token}", token, f"Bearer {token[:-1]}"):
        r = client.get("/healthz", headers={"Authorization": auth}, environ_base=OUTSIDE)
        text = r.get_data(as_text=True)
        assert r.status_code == 200 and HOST not in text and not _pid_in(text), auth
        assert "detail" not in r.get_json()


def test_healthz_with_the_token_names_hosts_pids_and_versions(client, beating, token):
    r = client.get("/healthz", headers=_bearer(token), environ_base=OUTSIDE)
    assert r.status_code == 200
    body, text = r.get_json(), r.get_data(as_text=True)
    assert body["status"] == "ok"
    assert HOST in text and _pid_in(text)
    detail = body["detail"]
    assert detail["host"] == HOST and detail["pid"] == os.getpid()
    assert detail["versions"]["bharosa"] and detail["versions"]["python"]
    loop = detail["loops"][f"worker-{worker.node()}-{PID}"]
    assert loop["node"] == worker.node() and loop["pid"] == os.getpid()


def test_healthz_without_a_token_configured_never_shows_details(client, beating, settings_env):
    settings_env(BHAROSA_HEALTH_TOKEN=None)
    for auth in ({}, _bearer(""), _bearer("anything")):
        text = client.get("/healthz", headers=auth).get_data(as_text=True)
        assert HOST not in text and not _pid_in(text)


def test_healthz_is_degraded_without_a_worker_heartbeat(client, db, redis_conn):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "degraded" and body["worker"] == "not seen" and body["sweeper"] == "not seen"


def test_healthz_is_degraded_when_the_worker_or_the_sweeper_is_late(client, db, beating):
    assert client.get("/healthz").get_json()["status"] == "ok"
    with db.session() as s:
        s.execute(update(WorkerState).where(WorkerState.name == "sweeper")
                  .values(beat_at=utcnow() - timedelta(minutes=10)))
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and body["sweeper"]["state"] == "stale"
    assert body["worker"]["state"] == "ok"
    with db.session() as s:
        s.execute(update(WorkerState).values(beat_at=utcnow() - timedelta(minutes=10)))
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and body["worker"]["state"] == "stale" and body["worker"]["alive"] == 0


def test_healthz_is_degraded_and_readyz_503_when_redis_is_down(client, beating, settings_env):
    settings_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    h = client.get("/healthz")
    assert h.status_code == 200
    assert h.get_json()["status"] == "degraded" and h.get_json()["redis"].startswith("down")
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["redis"].startswith("down")


def test_unreachable_database_makes_readyz_503_and_healthz_degraded(client, beating, monkeypatch, token):
    from sqlalchemy import create_engine

    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(database, "engine", broken)
    monkeypatch.setattr(database, "_factory", None)
    monkeypatch.setattr(database, "init", lambda *a, **k: database)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["database"].startswith("down")
    h = client.get("/healthz")
    assert h.status_code == 200
    assert h.get_json()["status"] == "degraded" and h.get_json()["database"].startswith("down")
    m = client.get("/metrics", headers=_bearer(token))
    assert m.status_code == 200 and "bharosa_database_up 0" in m.text


def test_readyz_200_while_database_and_redis_answer(client, db, redis_conn):
    r = client.get("/readyz", environ_base=OUTSIDE)
    assert r.status_code == 200 and r.get_json() == {"ready": True, "database": "ok", "redis": "ok"}


# -- /metrics ---------------------------------------------------------------------------------

def test_metrics_needs_the_token(client, beating, token):
    for headers in ({}, _bearer("wrong"), _bearer(token + "x"), {"Authorization": token}):
        r = client.get("/metrics", headers=headers, environ_base=OUTSIDE)
        assert r.status_code == 401, headers
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert HOST not in r.get_data(as_text=True) and not _pid_in(r.get_data(as_text=True))
    # loopback is no exception once a token is set
    assert client.get("/metrics").status_code == 401
    m = client.get("/metrics", headers=_bearer(token), environ_base=OUTSIDE)
    assert m.status_code == 200 and m.mimetype == "text/plain"
    assert "bharosa_database_up 1" in m.text and "bharosa_redis_up 1" in m.text
    assert f'loop="worker-{worker.node()}-{PID}"' in m.text


def test_metrics_without_a_token_configured_is_refused_in_production(client, beating, settings_env):
    settings_env(BHAROSA_HEALTH_TOKEN=None, BHAROSA_ENV=None)
    for env in ({}, OUTSIDE):  # loopback included: production has no open door
        r = client.get("/metrics", environ_base=env)
        assert r.status_code == 401
        assert "BHAROSA_HEALTH_TOKEN" in r.get_data(as_text=True)
        assert HOST not in r.get_data(as_text=True)


def test_metrics_without_a_token_configured_is_open_on_loopback_in_dev_mode_only(client, beating, settings_env):
    settings_env(BHAROSA_HEALTH_TOKEN=None, BHAROSA_ENV="dev")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    r = client.get("/metrics", environ_base=OUTSIDE)
    assert r.status_code == 401 and "BHAROSA_HEALTH_TOKEN" in r.get_data(as_text=True)
