"""The database: engine and sessions. SQLite by default (WAL, busy timeout), PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent


def default_url() -> str:
    """A SQLite file under var/: the database when none is given (the entry points give ``DATABASE_URL``, read by
    zone.settings, which models does not import)."""
    (ROOT / "var").mkdir(exist_ok=True)
    return f"sqlite:///{ROOT / 'var' / 'bharosa.db'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class WriteGate:
    """Writers to one SQLite file wait here, woken as soon as the writer before them commits.

    Every transaction on SQLite is ``BEGIN IMMEDIATE`` (one writer at a time). Left to SQLite, the writers that
    find the lock taken sleep in its busy handler, 1 ms at first and then up to 100 ms a try, so under load
    most of a request's tail is sleeping after the lock was free. Threads of one process queue on a
    ``threading.Lock``; processes on an ``flock`` of ``<file>-writer.lock`` polled every millisecond. Only a
    hint: past ``wait`` seconds the transaction goes on and SQLite's own lock (and busy timeout) still decide.
    """

    def __init__(self, path: str, wait: float = 5.0) -> None:
        self.path, self.wait = path + "-writer.lock", wait
        self._thread = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._owner: int | None = None  # the thread whose transactions hold the gate
        self._conns: set[int] = set()  # id() of the DBAPI connections in those transactions

    def _file(self) -> int | None:
        if self._pid != os.getpid():  # after a fork the descriptor (and its lock) is the parent's
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                self._fd = None
            self._pid = os.getpid()
        return self._fd

    def acquire(self, conn_id: int) -> None:
        me = threading.get_ident()
        if self._owner == me:  # a second session of the thread that holds the gate: it is in already
            self._conns.add(conn_id)
            return
        deadline = time.monotonic() + self.wait
        if not self._thread.acquire(timeout=self.wait):
            return
        fd = self._file()
        locked = fd is None
        while not locked:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            except OSError:
                break
        if not locked:
            self._thread.release()
            return
        self._owner, self._conns = me, {conn_id}

    def release(self, conn_id: int) -> None:
        if conn_id not in self._conns:
            return
        self._conns.discard(conn_id)
        if self._conns:
            return
        self._owner = None
        if self._fd is not None and self._pid == os.getpid():
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError:
                pass
        self._thread.release()


class Database:
    """Engine + session factory; created unbound and bound with :meth:`init` (app factory style)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self.url: str | None = None
        self.gate: WriteGate | None = None  # SQLite files only

    def init(self, url: str | None = None, **engine_kw) -> Database:
        """Bind to a database URL (default :func:`default_url`)."""
        url = url or default_url()
        if self.engine is not None and url == self.url:
            return self
        if self.engine is not None:
            self.engine.dispose()
        self.url, self.gate = url, None
        if url.startswith("sqlite"):
            kw = {"connect_args": {"check_same_thread": False, "timeout": 10}}
            kw.update(engine_kw)
            self.engine = create_engine(url, **kw)
            event.listen(self.engine, "connect", _sqlite_pragmas)

            path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
            gate = self.gate = WriteGate(path) if path and path != ":memory:" else None

            @event.listens_for(self.engine, "begin")
            def _begin_immediate(conn):  # writers queue on the lock instead of failing on upgrade
                if gate is not None:
                    gate.acquire(id(conn.connection.dbapi_connection))
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            if gate is not None:
                def _end(conn):
                    gate.release(id(conn.connection.dbapi_connection))

                event.listen(self.engine, "commit", _end)
                event.listen(self.engine, "rollback", _end)
                # a connection given back to the pool ends whatever it held
                event.listen(self.engine.pool, "checkin", lambda dbapi_conn, _rec: gate.release(id(dbapi_conn)))

            @event.listens_for(self.engine, "connect")
            def _no_pysqlite_tx(dbapi_conn, _rec):
                dbapi_conn.isolation_level = None
        else:
            kw = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20,
                  "connect_args": {"connect_timeout": 3}}
            kw.update(engine_kw)
            self.engine = create_engine(url, **kw)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        return self

    @property
    def is_sqlite(self) -> bool:
        return bool(self.url and self.url.startswith("sqlite"))

    @property
    def is_postgres(self) -> bool:
        return bool(self.url and self.url.startswith("postgresql"))

    def new_session(self) -> Session:
        """A new Session; the caller commits and closes."""
        if self._factory is None:
            self.init()
        return self._factory()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        s = self.new_session()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        if self.engine is None:
            self.init()
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    def create_all(self) -> None:
        """Create every table (tests); production uses Alembic migrations."""
        from models.base import Base

        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


db = Database()
