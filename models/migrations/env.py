"""Alembic environment: migrates the database named by alembic's sqlalchemy.url, else DATABASE_URL (zone.settings)."""

from alembic import context

from models import Base
from models.db import Database
from zone import settings

config = context.config
url = config.get_main_option("sqlalchemy.url")
database = Database().init(url or settings.get().database_url)


def run_migrations() -> None:
    with database.engine.connect() as conn:
        if database.is_sqlite:
            # SQLite rebuilds a table to alter it (batch mode): dropping the old copy must not trip the
            # foreign keys that point at it. The pragma works only outside a transaction; checked after.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # before SQLAlchemy's BEGIN
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=database.is_sqlite,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
        if database.is_sqlite:
            raw = conn.connection.driver_connection
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows whose foreign keys point nowhere: {broken[:5]}")
            raw.execute("PRAGMA foreign_keys=ON")


run_migrations()
