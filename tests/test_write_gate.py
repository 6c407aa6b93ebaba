"""models.db.WriteGate: SQLite writers queue on the gate (threads and processes), every one commits, and a
transaction that ends any way gives the gate back."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from models.db import Database


@pytest.fixture
def sqlite_db(tmp_path):
    d = Database().init(f"sqlite:///{tmp_path / 'gate.db'}")
    with d.engine.begin() as c:
        c.execute(text("CREATE TABLE t (n INTEGER)"))
    yield d
    d.dispose()


def _gate(d):
    assert d.gate is not None
    return d.gate


def test_concurrent_writers_all_commit_and_the_gate_is_free_after(sqlite_db):
    def write(k):
        for i in range(20):
            with sqlite_db.session() as s:
                s.execute(text("INSERT INTO t VALUES (:n)"), {"n": k * 100 + i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with sqlite_db.session() as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 160
    gate = _gate(sqlite_db)
    assert gate._owner is None and not gate._conns and not gate._thread.locked()


def test_a_failed_transaction_gives_the_gate_back(sqlite_db):
    with pytest.raises(OperationalError, match="no such table"):
        with sqlite_db.session() as s:
            s.execute(text("INSERT INTO nope VALUES (1)"))
    gate = _gate(sqlite_db)
    assert gate._owner is None and not gate._thread.locked()
