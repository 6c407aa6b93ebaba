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
