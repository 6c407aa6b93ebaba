"""Alembic environment: migrates the database named by DATABASE_URL (or alembic's sqlalchemy.url)."""

from alembic import context

from models import Base
from models.db import Database

config = context.config
url = config.get_main_option("sqlalchemy.url")
database = Database().init(url or None)


def run_migrations() -> None:
    with database.engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=database.is_sqlite,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run_migrations()
