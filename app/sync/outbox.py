"""The outbox: every local change to a synced record, written in the change's own transaction.

:mod:`app.db.models` registers :func:`after_flush` on every SQLAlchemy ORM session. For each
inserted, updated (a synced column changed) or deleted row of a synced kind
(:mod:`app.sync.kinds`) it stamps a hybrid-logical-clock reading, upserts the record's
``sync_records`` row (clock, tombstone flag; the server version is kept) and appends an
``sync_outbox`` row, all on the flushing connection, so they commit or roll back with the
change. It does nothing until sync was set up on this database (``sync_meta.device_id``
exists): a database that never syncs keeps no outbox. Remote values are applied with Core
statements, which no flush sees, so they are not sent back. Bulk ``update(Model)`` statements
on synced rows are seen by :func:`do_orm_execute` (also registered there).

:func:`enqueue_everything` puts every synced row in the outbox once (the first upload of an
existing database).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, Result, insert, inspect, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import ORMExecuteState, Session

from app.db import models as m
from app.sync.hlc import Clock, Stamp
from app.sync.kinds import BY_MODEL, KINDS, Kind, sha256_text, syncs

DEVICE_KEY = "device_id"
_clocks: dict[str, Clock] = {}
_clocks_lock = threading.Lock()


def device_id(conn: Connection) -> str | None:
    """This database's device id, or None when sync was never set up (or no sync tables)."""
    try:
        value = conn.execute(
            select(m.SyncMeta.value).where(m.SyncMeta.key == DEVICE_KEY)
        ).scalar_one_or_none()
    except OperationalError:  # a database older than migration 0007
        return None
    return value


def clock_for(conn: Connection, device: str) -> Clock:
    """The process's clock of ``device``, started past every stamp stored for it."""
    with _clocks_lock:
        clock = _clocks.get(device)
        if clock is None:
            clock = Clock(device)
            latest = conn.execute(
                select(m.SyncRecordState.hlc).order_by(m.SyncRecordState.hlc.desc()).limit(1)
            ).scalar_one_or_none()
            if latest is not None:
                clock.observe(latest)
            _clocks[device] = clock
        return clock


ERASE_KIND = "~erase"
"""Outbox rows of this kind ask the server to forget an erased text: key ``"<sha256> <kind>
<record key>"`` (the text's blob is deleted and the record's kept conflicts erased)."""


def _changed(obj: Any, kind: Kind) -> bool:
    state = inspect(obj)
    names = set(kind.fields) | {"deleted_at"}
    if kind.name == "verdict":  # append-only: only its arrival and its deletion travel
        names = {"status", "deleted_at"}
    return any(state.attrs[name].history.has_changes() for name in names if name in state.attrs)


ERASED_FIELDS: dict[str, tuple[str, ...]] = {
    "essay": ("text",),
    "anchor": ("text",),
    "student": ("first_name", "last_name", "email", "code"),
}


def _erased(obj: Any, kind: Kind) -> str | None:
    """For a deleted essay, anchor or student whose personal content was just blanked (the
    erase of :mod:`app.operations.erase`): the outbox key asking the server to forget it."""
    fields = ERASED_FIELDS.get(kind.name)
    if fields is None or obj.deleted_at is None:
        return None
    state = inspect(obj)
    if not any(state.attrs[f].history.has_changes() for f in fields):
        return None
    sha = "-"
    if kind.text_blob:
        history = state.attrs["text"].history
        old = [t for t in history.deleted if isinstance(t, str) and t]
        if old:
            sha = sha256_text(old[0])
    return f"{sha} {kind.name} {obj.id}"


def record_change(conn: Connection, clock: Clock, kind: str, key: str, deleted: bool) -> str:
    """Stamp one local change of ``(kind, key)`` and queue it (on ``conn``'s transaction)."""
    stamp = clock.now()
    stmt = sqlite_insert(m.SyncRecordState).values(
        kind=kind, key=key, version=0, hlc=stamp, deleted=deleted
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["kind", "key"], set_={"hlc": stamp, "deleted": deleted}
        )
    )
    conn.execute(insert(m.SyncOutbox).values(kind=kind, key=key, hlc=stamp, created_at=m.utcnow()))
    return stamp


def after_flush(session: Session, _context: Any) -> None:
    if session.info.get("sync_applying"):
        return
    changes: list[tuple[str, str, bool]] = []
    erased: list[str] = []
    for obj in session.new:
        kind = syncs(obj)
        if kind is not None:
            changes.append((kind.name, obj.id, obj.deleted_at is not None))
    for obj in session.dirty:
        kind = syncs(obj)
        if kind is not None and _changed(obj, kind):
            changes.append((kind.name, obj.id, obj.deleted_at is not None))
            request = _erased(obj, kind)
            if request is not None:
                erased.append(request)
    for obj in session.deleted:
        kind = syncs(obj)
        if kind is not None:
            changes.append((kind.name, obj.id, True))
    if not changes:
        return
    conn = session.connection()
    device = device_id(conn)
    if device is None:
        return
    clock = clock_for(conn, device)
    for kind_name, key, deleted in changes:
        record_change(conn, clock, kind_name, key, deleted)
    for key in erased:
        conn.execute(
            insert(m.SyncOutbox).values(
                kind=ERASE_KIND, key=key, hlc=clock.now(), created_at=m.utcnow()
            )
        )


def do_orm_execute(state: ORMExecuteState) -> Result[Any] | None:
    """Bulk ``update(Model)`` statements on synced rows (no flush sees them): queue the rows
    they touch (of comparisons, the judged ones: the erase of a deleted batch blanks their
    justifications, and they then travel as tombstones with their run, see
    :mod:`app.sync.push`)."""
    if not state.is_update or state.session.info.get("sync_applying"):
        return None
    mapper = state.bind_mapper
    kind = BY_MODEL.get(mapper.class_) if mapper is not None else None
    if kind is None:
        return None
    statement = state.statement
    where = getattr(statement, "whereclause", None)
    conn = state.session.connection()
    if device_id(conn) is None:
        return None
    table = kind.table
    query = select(table.c.id)
    if where is not None:
        query = query.where(where)
    if kind.name == "verdict":
        query = query.where(table.c.status == m.ComparisonStatus.DONE.value)
    ids = [row[0] for row in conn.execute(query)]
    result = state.invoke_statement()
    if ids:
        clock = clock_for(conn, outbox_device(conn))
        for key, deleted_at in conn.execute(
            select(table.c.id, table.c.deleted_at).where(table.c.id.in_(ids))
        ):
            record_change(conn, clock, kind.name, key, deleted_at is not None)
    return result


def outbox_device(conn: Connection) -> str:
    device = device_id(conn)
    if device is None:  # pragma: no cover - checked by the callers
        raise RuntimeError("sync is not set up on this database")
    return device


def enqueue_everything(session: Session, device: str) -> int:
    """Set up sync on this database: store ``device`` as its id and queue every synced row once
    (tombstones too). Returns how many records were queued; 0 if sync was already set up."""
    conn = session.connection()
    if device_id(conn) is not None:
        return 0
    session.add(m.SyncMeta(key=DEVICE_KEY, value=device))
    session.flush()
    clock = clock_for(conn, device)
    count = 0
    for kind in KINDS:
        table = kind.table
        query = select(table.c.id, table.c.deleted_at)
        if kind.name == "verdict":
            query = query.where(table.c.status == m.ComparisonStatus.DONE.value)
        for key, deleted_at in conn.execute(query.order_by(table.c.created_at, table.c.id)):
            record_change(conn, clock, kind.name, key, deleted_at is not None)
            count += 1
    return count


def observe(conn: Connection, remote_hlc: str) -> None:
    """Move this device's clock past a stamp pulled from the server."""
    device = device_id(conn)
    if device is not None:
        Stamp.parse(remote_hlc)
        clock_for(conn, device).observe(remote_hlc)
