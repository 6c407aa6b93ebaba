"""The database: engine and sessions. SQLite by default (WAL, busy timeout), PostgreSQL by URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent


def default_url() -> str:
    """``DATABASE_URL``, or a SQLite file under var/."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url.replace("postgres://", "postgresql+psycopg://", 1).replace(
            "postgresql://", "postgresql+psycopg://", 1)
    (ROOT / "var").mkdir(exist_ok=True)
    return f"sqlite:///{ROOT / 'var' / 'bharosa.db'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    """Engine + session factory; created unbound and bound with :meth:`init` (app factory style)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self.url: str | None = None

    def init(self, url: str | None = None, **engine_kw) -> Database:
        """Bind to a database URL (default :func:`default_url`)."""
        url = url or default_url()
        if self.engine is not None and url == self.url:
            return self
        if self.engine is not None:
            self.engine.dispose()
        self.url = url
        if url.startswith("sqlite"):
            kw = {"connect_args": {"check_same_thread": False, "timeout": 10}}
            kw.update(engine_kw)
            self.engine = create_engine(url, **kw)
            event.listen(self.engine, "connect", _sqlite_pragmas)

            @event.listens_for(self.engine, "begin")
            def _begin_immediate(conn):  # writers queue on the lock instead of failing on upgrade
                conn.exec_driver_sql("BEGIN IMMEDIATE")

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
