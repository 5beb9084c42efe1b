"""Pulling a scope's changes by cursor and applying them, parents first, in short transactions
of :data:`APPLY_CHUNK` records (see :mod:`app.sync.engine`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from app.db import models as m
from app.db.engine import Database
from app.operations.base import CancelToken, Progress, ProgressSink, ignore_progress
from app.sync.client import SyncHttp
from app.sync.kinds import BLOB_FIELD, BY_NAME, ORDER
from app.sync.records import (
    MAX_PAGE,
    SyncReport,
    fetch_texts,
    load_states,
    present_rows,
    take_remote,
)

APPLY_CHUNK = 500
"""Records applied per transaction (the window's own writes wait at most one chunk)."""


def pull(
    db: Database,
    http: SyncHttp,
    scope: str,
    report: SyncReport,
    *,
    page_size: int = MAX_PAGE,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> None:
    """Fetch every change after the scope's cursor and apply it, chunk by chunk."""
    with db.read() as session:
        row = session.get(m.SyncScope, scope)
        cursor = row.cursor if row is not None else 0
    changes: list[dict[str, Any]] = []
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        answer = http.call(
            "GET", http.path(scope, "changes"), params={"after": cursor, "limit": page_size}
        )
        changes.extend(answer["changes"])
        cursor = int(answer["next"])
        progress(Progress("pull", len(changes), None, "receiving changes"))
        if not answer.get("more"):
            break
    with db.read() as session:
        states = load_states(session, ((c["kind"], c["key"]) for c in changes))
    todo = [
        c
        for c in changes
        # skip what is already here (our own push, or pulled before)
        if states.get((c["kind"], c["key"]), (0, "", False))[0] < int(c["version"])
    ]
    need = [
        c["data"][BLOB_FIELD]
        for c in todo
        if c["kind"] in BY_NAME
        and BY_NAME[c["kind"]].text_blob
        and BLOB_FIELD in (c.get("data") or {})
    ]
    texts = fetch_texts(http, scope, need) if need else {}
    todo.sort(key=lambda c: (ORDER.get(c["kind"], len(ORDER)), int(c["seq"])))
    applied = 0
    for start in range(0, max(len(todo), 1), APPLY_CHUNK):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = todo[start : start + APPLY_CHUNK]
        last = start + APPLY_CHUNK >= len(todo)
        applied += _apply(db, scope, chunk, texts, cursor if last else None)
        progress(Progress("apply", min(start + APPLY_CHUNK, len(todo)), len(todo), "applying"))
    report.pulled += applied
    report.cursor = cursor


def _apply(
    db: Database,
    scope: str,
    chunk: list[dict[str, Any]],
    texts: dict[str, str],
    cursor: int | None,
) -> int:
    """Apply one chunk in one short transaction (the window's own writes wait at most that
    long); the last chunk also moves the cursor. Chunks go parents first, so a child's parent
    is committed before it; a chunk applied twice (after a crash) is skipped by version."""
    with db.session() as session:
        # read under the write lock, so an edit made meanwhile is never overwritten
        unsent = {
            (k, key) for k, key in session.execute(select(m.SyncOutbox.kind, m.SyncOutbox.key))
        }
        chunk = [c for c in chunk if (c["kind"], c["key"]) not in unsent]
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
        present: dict[str, dict[str, Any]] = {}
        for kind_name in {c["kind"] for c in chunk if c["kind"] in BY_NAME}:
            keys = [c["key"] for c in chunk if c["kind"] == kind_name]
            present.update(present_rows(session, kind_name, keys))
        for change in chunk:
            take_remote(session, scope, change, texts, present)
        if cursor is not None:
            row = session.get(m.SyncScope, scope)
            if row is not None:
                row.cursor = cursor
    return len(chunk)
