"""The teacher's list of values that lost a conflict (or that the server refused), and
restoring one: the losing value becomes a new local edit, so the next sync makes it current
everywhere (its clock is later than the winner's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.db import models as m
from app.db.engine import Database
from app.sync import outbox
from app.sync.kinds import BLOB_FIELD, BY_NAME, apply_record


@dataclass(frozen=True)
class ConflictRow:
    """One kept losing value, as listed."""

    id: int
    kind: str
    key: str
    reason: str
    created_at: datetime
    restored_at: datetime | None
    winner: dict[str, Any] | None
    loser: dict[str, Any]

    def summary(self) -> str:
        """A one-line description: what lost to what."""

        def show(record: dict[str, Any] | None) -> str:
            if record is None:
                return "-"
            if record.get("deleted"):
                return "(deleted)"
            data = dict(record.get("data") or {})
            data.pop(BLOB_FIELD, None)
            brief = ", ".join(
                f"{k}={v!r}" for k, v in list(data.items())[:4] if v not in (None, "")
            )
            return brief[:120] or "{}"

        return f"kept: {show(self.loser)}  |  current: {show(self.winner)}"


def list_conflicts(db: Database, *, include_restored: bool = False) -> list[ConflictRow]:
    """Kept losing values, oldest first."""
    with db.read() as session:
        query = select(m.SyncConflict).order_by(m.SyncConflict.id)
        if not include_restored:
            query = query.where(m.SyncConflict.restored_at.is_(None))
        return [
            ConflictRow(
                c.id, c.kind, c.key, c.reason, c.created_at, c.restored_at, c.winner, c.loser
            )
            for c in session.scalars(query)
        ]


class RestoreError(Exception):
    """A conflict that cannot be restored (unknown id, a kind this app does not keep, no
    text)."""


def restore_conflict(
    db: Database,
    conflict_id: int,
    fetch_text: Callable[[str], str | None] | None = None,
) -> ConflictRow:
    """Make conflict ``conflict_id``'s losing value the local value again, queued for the next
    sync. ``fetch_text`` gets an essay's or anchor's text by hash (from the server) when the
    losing value carries one."""
    with db.session() as session:
        row = session.get(m.SyncConflict, conflict_id)
        if row is None:
            raise RestoreError(f"No conflict number {conflict_id}.")
        kind = BY_NAME.get(row.kind)
        loser = dict(row.loser)
        data = dict(loser.get("data") or {})
        if kind is None or (not data and not loser.get("deleted")):
            raise RestoreError(f"Conflict {conflict_id} holds no value this app can restore.")
        texts: dict[str, str] = {}
        if kind.text_blob and data:
            sha = str(data.get(BLOB_FIELD))
            found = fetch_text(sha) if fetch_text is not None else None
            if found is None:
                raise RestoreError(
                    f"The text of conflict {conflict_id} is on the server; sync first."
                )
            texts[sha] = found
        deleted = bool(loser.get("deleted"))
        apply_record(session, kind, row.key, data, deleted, texts)
        conn = session.connection()
        clock = outbox.clock_for(conn, outbox.outbox_device(conn))
        outbox.record_change(conn, clock, kind.name, row.key, deleted)
        row.restored_at = m.utcnow()
        return ConflictRow(
            row.id,
            row.kind,
            row.key,
            row.reason,
            row.created_at,
            row.restored_at,
            row.winner,
            row.loser,
        )
