"""Which local tables sync, under which protocol kind, and how a row becomes ``data`` and back.

Every synced row's key is its UUID ``id`` (the same on every device). ``data`` holds the row's
columns except the bookkeeping ones (``id``, ``created_at``, ``updated_at``, ``deleted_at``: a
deletion travels as the record's ``deleted`` flag) and local-only ones (a run's lease). Essay
and anchor texts travel as blobs named by their SHA-256 (``text_sha256`` in ``data``).

Kinds, in the order a pull applies them (parents before children): ``course``, ``student``,
``grade_scale`` (a teacher's own scale, which assignments name), ``assignment``, ``anchor``,
``class``, ``membership``, ``batch``, ``essay``, ``run``, ``verdict`` (a judged comparison,
append-only: only ``done`` comparisons sync), ``result``, ``override``. ``run`` syncs
``status`` (the server moves runs forward only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import models as m

BOOKKEEPING = frozenset({"id", "created_at", "updated_at", "deleted_at"})
BLOB_FIELD = "text_sha256"
READ: object = object()
"""Default of :func:`apply_record`'s ``existing``: read the local row."""


@dataclass(frozen=True)
class Kind:
    """One synced kind: its protocol name, model, columns left out and whether its ``text``
    column travels as a blob."""

    name: str
    model: type[m.Record]
    local_only: frozenset[str] = frozenset()
    text_blob: bool = False

    @property
    def table(self) -> Table:
        table: Table = self.model.__table__  # type: ignore[attr-defined]
        return table

    @property
    def fields(self) -> list[str]:
        return [
            c.name
            for c in self.table.columns
            if c.name not in BOOKKEEPING and c.name not in self.local_only
        ]


KINDS: tuple[Kind, ...] = (
    Kind("course", m.Course),
    Kind("student", m.Student),
    Kind("grade_scale", m.GradeScaleRecord),
    Kind("assignment", m.Assignment),
    Kind("anchor", m.Anchor, text_blob=True),
    Kind("class", m.SchoolClass),
    Kind("membership", m.ClassMembership),
    Kind("batch", m.Batch),
    Kind("essay", m.Essay, text_blob=True),
    Kind(
        "run",
        m.Run,
        local_only=frozenset({"lease_holder", "lease_heartbeat_at", "last_progress_at"}),
    ),
    Kind("verdict", m.Comparison),
    Kind("result", m.Result),
    Kind("override", m.TeacherOverride),
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
BY_MODEL: dict[type[Any], Kind] = {k.model: k for k in KINDS}
ORDER: dict[str, int] = {k.name: i for i, k in enumerate(KINDS)}


def sha256_text(text: str) -> str:
    """The blob name of a text: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def syncs(obj: object) -> Kind | None:
    """The kind ``obj`` syncs as, or None (local-only table, or a comparison not yet done)."""
    kind = BY_MODEL.get(type(obj))
    if kind is None:
        return None
    if kind.name == "verdict" and getattr(obj, "status", None) != m.ComparisonStatus.DONE.value:
        return None
    return kind


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def row_data(kind: Kind, row: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A row's protocol ``data`` and, for blob kinds, its text (to upload separately)."""
    data = {name: _to_json(row.get(name)) for name in kind.fields}
    text: str | None = None
    if kind.text_blob:
        text = str(data.pop("text") or "")
        data[BLOB_FIELD] = sha256_text(text)
    return data, text


def read_row(session: Session, kind: Kind, key: str) -> dict[str, Any] | None:
    """The local row of ``kind`` with id ``key`` as a column dict, or None if absent."""
    table = kind.table
    found = session.execute(table.select().where(table.c.id == key)).mappings().first()
    return dict(found) if found is not None else None


def _from_json(kind: Kind, data: dict[str, Any], texts: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in kind.fields:
        if kind.text_blob and name == "text":
            sha = str(data.get(BLOB_FIELD, ""))
            if sha not in texts:
                raise KeyError(f"text {sha} of {kind.name} missing")
            values["text"] = texts[sha]
            continue
        if name not in data:
            continue
        value = data[name]
        column = kind.table.c[name]
        if isinstance(column.type, m.UTCDateTime) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        values[name] = value
    return values


def apply_record(
    session: Session,
    kind: Kind,
    key: str,
    data: dict[str, Any],
    deleted: bool,
    texts: dict[str, str],
    existing: object = READ,
) -> bool:
    """Write a remote value into the local row (inserted if absent), with Core statements so
    the outbox listener does not see it. A tombstone soft-deletes the row (``deleted_at``).
    False when a new row could not be inserted because it clashes with a local one (the same
    essay twice in one batch, imported on two machines). ``existing`` (at least the row's
    ``deleted_at``, or None for no row) saves reading the row when the caller knows it."""
    now = m.utcnow()
    if existing is READ:
        existing = read_row(session, kind, key)
    assert existing is None or isinstance(existing, dict)
    table = kind.table
    if deleted and not data:  # a tombstone with no last value (removed outright elsewhere)
        if existing is not None and existing.get("deleted_at") is None:
            session.execute(table.update().where(table.c.id == key).values(deleted_at=now))
        return True
    values = _from_json(kind, data, texts)
    if deleted:
        values["deleted_at"] = (existing or {}).get("deleted_at") or now
    else:
        values["deleted_at"] = None
    values["updated_at"] = now
    if existing is None:
        values.update(id=key, created_at=now)
        result = session.execute(_insert(kind.name), values)
        return bool(getattr(result, "rowcount", 1))
    session.execute(_update(kind.name), {**values, "b_id": key})
    return True


@cache
def _insert(kind_name: str) -> Executable:
    """``INSERT ... ON CONFLICT DO NOTHING`` for a kind's table, built once (values bound)."""
    return sqlite_insert(BY_NAME[kind_name].table).on_conflict_do_nothing()


@cache
def _update(kind_name: str) -> Executable:
    """``UPDATE ... WHERE id = :b_id`` for a kind's table, built once (SET from the values)."""
    table = BY_NAME[kind_name].table
    return table.update().where(table.c.id == bindparam("b_id"))
