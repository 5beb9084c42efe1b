"""What ``huleedu sync status`` shows: device, pending changes, and per scope the server,
cursor, last sync and last error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select

from app.db import models as m
from app.db.engine import Database
from app.sync import outbox


@dataclass
class ScopeStatus:
    scope: str
    server_url: str
    email: str
    cursor: int
    last_sync_at: str | None
    last_error: str | None


@dataclass
class SyncStatus:
    device_id: str | None
    pending_changes: int
    pending_pushes: int
    open_conflicts: int
    scopes: list[ScopeStatus] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def sync_status(db: Database) -> SyncStatus:
    """Read the sync tables (nothing is sent)."""
    with db.read() as session:
        count = session.scalar
        status = SyncStatus(
            device_id=outbox.device_id(session.connection()),
            pending_changes=count(
                select(func.count(func.distinct(m.SyncOutbox.kind + " " + m.SyncOutbox.key)))
            )
            or 0,
            pending_pushes=count(select(func.count()).select_from(m.SyncPendingPush)) or 0,
            open_conflicts=count(
                select(func.count())
                .select_from(m.SyncConflict)
                .where(m.SyncConflict.restored_at.is_(None))
            )
            or 0,
        )
        for row in session.scalars(select(m.SyncScope).order_by(m.SyncScope.scope)):
            status.scopes.append(
                ScopeStatus(
                    row.scope,
                    row.server_url,
                    row.email,
                    row.cursor,
                    row.last_sync_at.isoformat() if row.last_sync_at else None,
                    row.last_error,
                )
            )
        return status
