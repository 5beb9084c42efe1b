"""Engine creation and the few places where PostgreSQL and SQLite differ.

The service is stateless: everything lives in the database, so several instances can serve the
same database behind a load balancer. PostgreSQL is the real target; SQLite (one process) is
allowed for one teacher's own test server, where a process-wide lock stands in for row locks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from app.syncserver.models import metadata


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, pool_size: int = 8, *, create_schema: bool = True) -> Engine:
    """An engine for ``url`` with orjson for JSON columns; creates the schema (create_all)
    unless ``create_schema`` is false (a read-only replica)."""
    kwargs: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    if create_schema:
        metadata.create_all(engine)
    return engine


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


_SQLITE_WRITE_LOCK = threading.Lock()


@contextmanager
def scope_write_lock(conn: Connection) -> Iterator[None]:
    """On SQLite, serialise writers within the process (PostgreSQL uses the counter row lock)."""
    if is_postgres(conn):
        yield
        return
    with _SQLITE_WRITE_LOCK:
        yield


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING`` of ``rows`` (an executemany)."""
    if not rows:
        return
    if is_postgres(conn):
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    conn.execute(stmt, list(rows))
