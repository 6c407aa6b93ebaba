"""The Alembic migrations build exactly the schema the models describe."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args, url):
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_upgrade_then_check_finds_nothing_to_do(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    r = _run([sys.executable, "app.py", "init"], url)
    assert r.returncode == 0, r.stderr
    assert "stations loaded" in r.stdout
    r = _run([str(Path(sys.executable).parent / "alembic"), "check"], url)
    assert r.returncode == 0 and "No new upgrade operations" in r.stdout, r.stdout + r.stderr


def test_bad_config_stops_start_up_with_one_line(tmp_path):
    bad = tmp_path / "config.yaml"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8").replace("key: lalitpur", "key: lalitpur_x")
    bad.write_text(text, encoding="utf-8")
    env = dict(os.environ, BHAROSA_CONFIG=str(bad), DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    r = subprocess.run([sys.executable, "app.py", "init"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "lalitpur" in r.stderr


def test_0002_moves_each_api_token_to_the_officers_current_posting(tmp_path):
    """Existing officer tokens keep working, bound to the posting the officer holds now; an officer with
    no current posting loses the token (it could act nowhere)."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'm.db'}"
    alembic = str(Path(sys.executable).parent / "alembic")
    r = _run([alembic, "upgrade", "0001"], url)
    assert r.returncode == 0, r.stderr
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("INSERT INTO officer (id, username, name, active, created_at, api_token_hash) VALUES "
                          "(1, 'a', 'A', 1, '2026-01-01 00:00:00', 'hash-a'), "
                          "(2, 'b', 'B', 1, '2026-01-01 00:00:00', 'hash-b')")
        c.exec_driver_sql("INSERT INTO posting (id, officer_id, role, started_at, ended_at) VALUES "
                          "(10, 1, 'sho', '2025-01-01 00:00:00', '2025-06-01 00:00:00'), "
                          "(11, 1, 'eo', '2025-06-01 00:00:00', NULL), "
                          "(12, 1, 'co', '2099-01-01 00:00:00', NULL), "
                          "(20, 2, 'eo', '2024-01-01 00:00:00', '2024-12-31 00:00:00')")
    r = _run([alembic, "upgrade", "head"], url)
    assert r.returncode == 0, r.stderr
    with eng.connect() as c:
        rows = dict(c.exec_driver_sql("SELECT id, api_token_hash FROM posting").fetchall())
        assert rows == {10: None, 11: "hash-a", 12: None, 20: None}
        assert "api_token_hash" not in [col["name"] for col in sa.inspect(c).get_columns("officer")]


def test_0003_gives_every_citizen_its_addresses_and_loses_none(tmp_path):
    """An old database with citizens (phone only, WhatsApp id only, both) → upgrade → each has a ``tel:``
    contact for its phone and a ``whatsapp:`` contact for its WhatsApp id; no citizen lost or merged."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'm.db'}"
    alembic = str(Path(sys.executable).parent / "alembic")
    r = _run([alembic, "upgrade", "0002"], url)
    assert r.returncode == 0, r.stderr
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("INSERT INTO citizen (id, phone, wa_id, name, language, blocked, created_at) VALUES "
                          "(1, '+919839000001', NULL, 'A', 'hi', 0, '2026-01-01 00:00:00'), "
                          "(2, NULL, 'wa-id-77', NULL, 'en', 0, '2026-01-02 00:00:00'), "
                          "(3, '+919839000003', '+919839000003', 'C', 'hi', 0, '2026-01-03 00:00:00'), "
                          "(4, NULL, NULL, 'web only', 'hi', 1, '2026-01-04 00:00:00')")
    r = _run([alembic, "upgrade", "head"], url)
    assert r.returncode == 0, r.stderr
    with eng.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM citizen").scalar() == 4
        got = sorted(c.exec_driver_sql("SELECT citizen_id, scheme || ':' || path FROM contact").fetchall())
    assert got == [(1, "tel:+919839000001"), (2, "whatsapp:wa-id-77"), (3, "tel:+919839000003"),
                   (3, "whatsapp:+919839000003")]
    r = _run([alembic, "downgrade", "0002"], url)
    assert r.returncode == 0, r.stderr


def _pg_url_or_skip():
    import pytest

    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL not reachable (TEST_DATABASE_URL unset)")
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def _0004_on(url):
    """Tickets and unsent alerts of an old database keep their chat: complaint.wa_id → chat_address,
    payload to_wa → to_chat (WhatsApp ids get their scheme, Telegram ones had it); sent rows stay as they were."""
    import json
    from datetime import UTC, datetime

    import sqlalchemy as sa

    alembic = str(Path(sys.executable).parent / "alembic")
    r = _run([alembic, "upgrade", "0003"], url)
    assert r.returncode == 0, r.stderr
    eng = sa.create_engine(url)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    md = sa.MetaData()
    complaint, outbox = (sa.Table(n, md, autoload_with=eng) for n in ("complaint", "outbox"))

    def filled(table, **given):  # every NOT NULL column of the old table gets a plain value
        plain = {sa.Integer: 0, sa.Boolean: False, sa.DateTime: when, sa.String: "x", sa.Text: "x"}
        for col in table.columns:
            if col.name not in given and not col.nullable and not col.primary_key:
                given[col.name] = next((v for t, v in plain.items() if isinstance(col.type, t)), when)
        return given

    with eng.begin() as c:
        for cid, ref, channel, phone, wa_id in ((1, "KNP-AAAAAA", "whatsapp", None, "IN.77"),
                                                (2, "KNP-BBBBBB", "telegram", None, "telegram:42"),
                                                (3, "KNP-CCCCCC", "sms", "+919839000001", None)):
            c.execute(complaint.insert().values(**filled(complaint, id=cid, ref=ref, channel=channel, phone=phone,
                                                         wa_id=wa_id)))
        for oid, status, to_wa in ((1, "pending", "IN.77"), (2, "enqueued", "telegram:42"), (3, "done", "IN.77")):
            c.execute(outbox.insert().values(**filled(outbox, id=oid, key=f"k{oid}", kind="send", status=status,
                                                      payload={"to_phone": None, "to_wa": to_wa, "text": "hello"})))
    r = _run([alembic, "upgrade", "head"], url)
    assert r.returncode == 0, r.stderr
    with eng.connect() as c:
        chats = dict(c.exec_driver_sql("SELECT id, chat_address FROM complaint").fetchall())
        assert chats == {1: "whatsapp:IN.77", 2: "telegram:42", 3: None}
        rows = {oid: (json.loads(p) if isinstance(p, str) else p)
                for oid, p in c.exec_driver_sql("SELECT id, payload FROM outbox").fetchall()}
    assert rows[1] == {"to_phone": None, "to_chat": "whatsapp:IN.77", "text": "hello"}
    assert rows[2]["to_chat"] == "telegram:42" and "to_wa" not in rows[2]
    assert rows[3]["to_wa"] == "IN.77"  # a sent row is history: left as it was
    r = _run([alembic, "downgrade", "0003"], url)
    assert r.returncode == 0, r.stderr
    with eng.connect() as c:
        assert dict(c.exec_driver_sql("SELECT id, wa_id FROM complaint").fetchall()) == {
            1: "IN.77", 2: "telegram:42", 3: None}
    eng.dispose()


def test_0004_keeps_each_tickets_chat_and_unsent_alerts_on_sqlite(tmp_path):
    _0004_on(f"sqlite:///{tmp_path / 'm.db'}")


def test_0004_keeps_each_tickets_chat_and_unsent_alerts_on_postgresql():
    import sqlalchemy as sa

    url = _pg_url_or_skip()
    schema = "mig0004"
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in url else "?"
        _0004_on(f"{url}{sep}options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
