"""Alembic environment: runs migrations on the connection handed over in ``config.attributes``.

:func:`app.db.migrate.migrate_database` passes an open connection (inside a transaction). For
development, a ``sqlalchemy.url`` main option works too, and offline mode renders SQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.db.engine import create_sqlite_engine
from app.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_sqlite_engine(url.removeprefix("sqlite:///"), foreign_keys=False)
    try:
        with engine.begin() as new_connection:
            _configure(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
