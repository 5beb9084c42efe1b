"""What push and pull share: the report of a sync, reading sync state and local rows many at a
time, applying a server record locally, keeping a losing value, fetching texts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import models as m
from app.sync import outbox, settings
from app.sync.client import SyncError, SyncHttp
from app.sync.kinds import BLOB_FIELD, BY_NAME, READ, apply_record, sha256_text

MAX_PAGE = 1000
BLOB_CHUNK_BYTES = 4_000_000
FETCH_CHUNK = 1000
_upsert = sqlite_insert(m.SyncRecordState)
_STATE_UPSERT = _upsert.on_conflict_do_update(
    index_elements=["kind", "key"],
    set_={
        "version": _upsert.excluded.version,
        "hlc": _upsert.excluded.hlc,
        "deleted": _upsert.excluded.deleted,
    },
)


@dataclass
class SyncReport:
    """What one sync did."""

    scope: str
    queued_first: int = 0
    pushed: int = 0
    pulled: int = 0
    conflicts: int = 0
    rejected: int = 0
    texts_uploaded: int = 0
    texts_erased: int = 0
    settings_problem: str | None = None
    shared_received: int = 0
    cursor: int = 0


def keep_conflict(
    session: Session, scope: str, kind: str, key: str, winner: Any, loser: Any, reason: str
) -> None:
    session.add(
        m.SyncConflict(scope=scope, kind=kind, key=key, winner=winner, loser=loser, reason=reason)
    )


def load_states(
    session: Session, idents: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str, bool]]:
    """``(version, hlc, deleted)`` of many records at once (absent ones left out)."""
    by_kind: dict[str, list[str]] = {}
    for kind, key in idents:
        by_kind.setdefault(kind, []).append(key)
    table = m.SyncRecordState.__table__.c
    found: dict[tuple[str, str], tuple[int, str, bool]] = {}
    for kind, keys in by_kind.items():
        for i in range(0, len(keys), 500):
            for row in session.execute(
                select(table.key, table.version, table.hlc, table.deleted).where(
                    table.kind == kind, table.key.in_(keys[i : i + 500])
                )
            ):
                found[(kind, row.key)] = (row.version, row.hlc, bool(row.deleted))
    return found


def local_rows(session: Session, kind_name: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Local rows of one kind by id, many at once."""
    table = BY_NAME[kind_name].table
    rows: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        for row in session.execute(
            table.select().where(table.c.id.in_(keys[i : i + 500]))
        ).mappings():
            rows[row["id"]] = dict(row)
    return rows


def present_rows(session: Session, kind_name: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Which of ``keys`` have a local row of that kind (id -> its ``deleted_at``)."""
    table = BY_NAME[kind_name].table
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        for row_id, deleted_at in session.execute(
            select(table.c.id, table.c.deleted_at).where(table.c.id.in_(keys[i : i + 500]))
        ):
            found[row_id] = {"deleted_at": deleted_at}
    return found


def fetch_texts(http: SyncHttp, scope: str, hashes: Iterable[str]) -> dict[str, str]:
    """Texts by hash from the server (those it has)."""
    wanted = sorted(set(hashes))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), FETCH_CHUNK):
        answer = http.call(
            "POST", http.path(scope, "blobs/fetch"), json={"sha256": wanted[i : i + FETCH_CHUNK]}
        )
        found.update({b["sha256"]: b["text"] for b in answer["blobs"]})
    return found


def _erased(kind: str, data: dict[str, Any]) -> bool:
    """Whether a tombstone carries erased content (a class deleted with its personal data): the
    record's kept conflict values are then erased here too."""
    if kind in ("essay", "anchor"):
        return data.get(BLOB_FIELD) in (None, sha256_text(""))
    if kind == "student":
        return not data.get("first_name") and not data.get("email") and not data.get("code")
    return False


def take_remote(
    session: Session,
    scope: str,
    record: dict[str, Any],
    texts: dict[str, str],
    present: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Apply a server record locally and remember its version and clock."""
    kind = BY_NAME.get(record["kind"])
    data = dict(record.get("data") or {})
    deleted = bool(record.get("deleted"))
    if kind is not None:
        if kind.text_blob and data and data.get(BLOB_FIELD) not in texts:
            if not deleted:
                raise SyncError(
                    "missing_text", f"The server has no text for {kind.name} {record['key']}."
                )
            data = {}
        existing: object = READ if present is None else present.get(record["key"])
        if not apply_record(session, kind, record["key"], data, deleted, texts, existing):
            session.add(
                m.SyncConflict(
                    scope=scope,
                    kind=kind.name,
                    key=record["key"],
                    winner=None,
                    loser=record,
                    reason="not stored here: it clashes with a record of this computer "
                    "(the same essay imported twice into one batch?)",
                )
            )
        if deleted and _erased(kind.name, data):
            session.execute(
                delete(m.SyncConflict).where(
                    m.SyncConflict.kind == kind.name, m.SyncConflict.key == record["key"]
                )
            )
    elif record["kind"] == settings.KIND and "value" in data and not deleted:
        settings.remember(session, record["key"], data["value"])
    session.execute(
        _STATE_UPSERT,
        {
            "kind": record["kind"],
            "key": record["key"],
            "version": int(record["version"]),
            "hlc": record["hlc"],
            "deleted": deleted,
        },
    )
    outbox.observe(session.connection(), record["hlc"])
