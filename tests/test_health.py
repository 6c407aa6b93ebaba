"""/healthz, /readyz and /metrics."""

from models import db as database


def test_health_ready_metrics(client, db):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert client.get("/readyz").status_code == 200
    m = client.get("/metrics")
    assert m.status_code == 200 and "bharosa_database_up 1" in m.text and "bharosa_redis_up 1" in m.text


def test_unreachable_database_makes_readyz_503(client, db, monkeypatch):
    from sqlalchemy import create_engine

    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(database, "engine", broken)
    monkeypatch.setattr(database, "_factory", None)
    monkeypatch.setattr(database, "init", lambda *a, **k: database)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["database"].startswith("down")
    h = client.get("/healthz")
    assert h.status_code == 200 and h.get_json()["database"].startswith("down")
    assert client.get("/metrics").status_code == 200
