"""Pushing the outbox: pages of at most 1000 records, texts first, each page saved with its
``push_id`` before it is sent and cleared with the server's answer in one transaction (see
:mod:`app.sync.engine`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from app.db import models as m
from app.db.engine import Database
from app.operations.base import CancelToken, Progress, ProgressSink, ignore_progress
from app.sync import outbox, settings
from app.sync.client import SyncError, SyncHttp
from app.sync.kinds import BLOB_FIELD, BY_NAME, row_data
from app.sync.records import (
    BLOB_CHUNK_BYTES,
    MAX_PAGE,
    SyncReport,
    fetch_texts,
    keep_conflict,
    load_states,
    local_rows,
    take_remote,
)


@dataclass(frozen=True)
class PendingPage:
    """A saved page of changes (a row of ``sync_pending_pushes``)."""

    push_id: str
    scope: str
    body: dict[str, Any]
    last_outbox_id: int


def _build_page(db: Database, page_size: int) -> tuple[list[dict[str, Any]], dict[str, str], int]:
    """The next page of changes (current local values of the first queued records), their
    texts by hash and the id of the last outbox row it covers."""
    with db.read() as session:
        queued = session.execute(
            select(m.SyncOutbox.id, m.SyncOutbox.kind, m.SyncOutbox.key)
            .where(m.SyncOutbox.kind != outbox.ERASE_KIND)
            .order_by(m.SyncOutbox.id)
            .limit(page_size * 5)
        ).all()
        keys: dict[tuple[str, str], None] = {}
        last_id = 0
        for row_id, queued_kind, key in queued:
            if (queued_kind, key) not in keys and len(keys) >= page_size:
                break
            keys[(queued_kind, key)] = None
            last_id = row_id
        states = load_states(session, keys)
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        for kind_name in {k for k, _ in keys if k in BY_NAME}:
            rows[kind_name] = local_rows(
                session, kind_name, [key for k, key in keys if k == kind_name]
            )
        gone_runs = _deleted_runs(session, rows.get("verdict", {}).values())
        changes: list[dict[str, Any]] = []
        texts: dict[str, str] = {}
        for kind_name, key in keys:
            state = states.get((kind_name, key))
            if state is None:  # pragma: no cover - the listener always writes it
                continue
            version, hlc, _deleted = state
            data: dict[str, Any] = {}
            deleted = True
            if kind_name == settings.KIND:
                value = settings.data_of(session, key)
                data, deleted = value or {}, value is None
            elif (row := rows.get(kind_name, {}).get(key)) is not None:
                data, body = row_data(BY_NAME[kind_name], row)
                deleted = row.get("deleted_at") is not None or row.get("run_id") in gone_runs
                if body is not None:
                    texts[data[BLOB_FIELD]] = body
            changes.append(
                {
                    "kind": kind_name,
                    "key": key,
                    "base_version": version,
                    "hlc": hlc,
                    "deleted": deleted,
                    "data": data,
                }
            )
        return changes, texts, last_id


def _deleted_runs(session: Session, verdicts: Iterable[dict[str, Any]]) -> set[str]:
    """Runs of these verdicts that are deleted: their verdicts travel as tombstones (with the
    justifications blanked by an erase), so deleting a class everywhere reaches them too."""
    run_ids = sorted({str(v["run_id"]) for v in verdicts})
    runs = BY_NAME["run"].table
    gone: set[str] = set()
    for i in range(0, len(run_ids), 500):
        gone.update(
            run_id
            for (run_id,) in session.execute(
                select(runs.c.id).where(
                    runs.c.id.in_(run_ids[i : i + 500]), runs.c.deleted_at.is_not(None)
                )
            )
        )
    return gone


def _upload_texts(http: SyncHttp, scope: str, texts: dict[str, str]) -> int:
    if not texts:
        return 0
    hashes = list(texts)
    missing: list[str] = []
    for i in range(0, len(hashes), 5000):
        answer = http.call(
            "POST", http.path(scope, "blobs/missing"), json={"sha256": hashes[i : i + 5000]}
        )
        missing.extend(answer["missing"])
    chunk: list[dict[str, str]] = []
    size = 0
    for sha in missing:
        body = texts[sha]
        if chunk and size + len(body.encode()) > BLOB_CHUNK_BYTES:
            http.call("POST", http.path(scope, "blobs/batch"), json={"blobs": chunk})
            chunk, size = [], 0
        chunk.append({"sha256": sha, "text": body})
        size += len(body.encode()) + 100
    if chunk:
        http.call("POST", http.path(scope, "blobs/batch"), json={"blobs": chunk})
    return len(missing)


def _record_answer(
    session: Session,
    http: SyncHttp,
    pending: PendingPage,
    answer: dict[str, Any],
) -> tuple[int, int]:
    scope = pending.scope
    pushed = {(c["kind"], c["key"]): c for c in pending.body["changes"]}
    edited_since = {
        (kind, key)
        for kind, key in session.execute(
            select(m.SyncOutbox.kind, m.SyncOutbox.key).where(
                m.SyncOutbox.id > pending.last_outbox_id
            )
        )
    }
    applied = {(a["kind"], a["key"]): a for a in answer.get("applied", [])}
    if applied:
        table = m.SyncRecordState.__table__.c
        session.connection().execute(
            update(m.SyncRecordState)
            .where(table.kind == bindparam("k"), table.key == bindparam("kk"))
            .values(version=bindparam("v")),
            [{"k": k, "kk": key, "v": int(a["version"])} for (k, key), a in applied.items()],
        )
    lost = [c for c in answer.get("conflicts", []) if (c["kind"], c["key"]) not in applied]
    need = [
        c["winner"]["data"][BLOB_FIELD]
        for c in lost
        if c["kind"] in BY_NAME
        and BY_NAME[c["kind"]].text_blob
        and BLOB_FIELD in (c["winner"].get("data") or {})
    ]
    texts = fetch_texts(http, scope, need) if need else {}
    for c in answer.get("conflicts", []):
        ident = (c["kind"], c["key"])
        keep_conflict(session, scope, c["kind"], c["key"], c["winner"], c["loser"], "conflict")
        if ident not in applied and ident not in edited_since:
            session.execute(text("PRAGMA defer_foreign_keys = ON"))
            take_remote(session, scope, c["winner"], texts)
    for r in answer.get("rejected", []):
        change = pushed.get((r["kind"], r["key"]), {"kind": r["kind"], "key": r["key"]})
        keep_conflict(session, scope, r["kind"], r["key"], None, change, f"refused: {r['reason']}")
    session.execute(
        delete(m.SyncOutbox).where(
            m.SyncOutbox.id <= pending.last_outbox_id, m.SyncOutbox.kind != outbox.ERASE_KIND
        )
    )
    session.execute(delete(m.SyncPendingPush).where(m.SyncPendingPush.push_id == pending.push_id))
    return len(answer.get("conflicts", [])), len(answer.get("rejected", []))


def push(
    db: Database,
    http: SyncHttp,
    scope: str,
    report: SyncReport,
    *,
    page_size: int = MAX_PAGE,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
    before_send: Callable[[PendingPage], None] | None = None,
) -> None:
    """Push every queued change, page by page (a saved pending page goes first)."""
    page_size = max(1, min(page_size, MAX_PAGE))
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(m.SyncOutbox)) or 0
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        with db.read() as session:
            saved = session.scalars(
                select(m.SyncPendingPush)
                .where(m.SyncPendingPush.scope == scope)
                .order_by(m.SyncPendingPush.created_at)
            ).first()
            pending = (
                None
                if saved is None
                else PendingPage(saved.push_id, saved.scope, saved.body, saved.last_outbox_id)
            )
        if pending is None:
            changes, texts, last_id = _build_page(db, page_size)
            if not changes:
                return
            report.texts_uploaded += _upload_texts(http, scope, texts)
            push_id = str(uuid.uuid4())
            pending = PendingPage(
                push_id,
                scope,
                {"push_id": push_id, "device_id": http.device_id, "changes": changes},
                last_id,
            )
            with db.session() as session:
                session.add(
                    m.SyncPendingPush(
                        push_id=push_id, scope=scope, body=pending.body, last_outbox_id=last_id
                    )
                )
        if before_send is not None:
            before_send(pending)
        try:
            answer = http.call("POST", http.path(scope, "push"), json=pending.body)
        except SyncError as exc:
            if exc.code == "clock_skew":
                # the whole push was refused, nothing applied: build it afresh next time
                with db.session() as session:
                    session.execute(
                        delete(m.SyncPendingPush).where(
                            m.SyncPendingPush.push_id == pending.push_id
                        )
                    )
                raise SyncError(
                    "clock_skew",
                    f"{exc} This computer's clock is ahead of the server's: set the date and "
                    "time right; your changes stay queued.",
                    exc.status,
                ) from exc
            raise
        with db.session() as session:
            conflicts, rejected = _record_answer(session, http, pending, answer)
        report.pushed += len(pending.body["changes"])
        report.conflicts += conflicts
        report.rejected += rejected
        progress(Progress("push", report.pushed, max(total, report.pushed), "sending changes"))


def forget_erased(db: Database, http: SyncHttp, scope: str) -> int:
    """Ask the server to forget content erased here (after the tombstones were pushed): the old
    text's blob is deleted and the kept conflicts of the record erased there and here; then the
    request leaves the outbox. Repeating it is harmless."""
    with db.read() as session:
        rows = session.execute(
            select(m.SyncOutbox.id, m.SyncOutbox.key).where(m.SyncOutbox.kind == outbox.ERASE_KIND)
        ).all()
    for row_id, key in rows:
        sha, kind, record_key = key.split(" ", 2)
        if sha != "-":
            http.call("DELETE", http.path(scope, f"blobs/{sha}"))
        http.call(
            "POST",
            http.path(scope, "conflicts/erase"),
            json={"records": [{"kind": kind, "key": record_key}]},
        )
        with db.session() as session:
            session.execute(delete(m.SyncOutbox).where(m.SyncOutbox.id == row_id))
            session.execute(
                delete(m.SyncConflict).where(
                    m.SyncConflict.kind == kind, m.SyncConflict.key == record_key
                )
            )
    return len(rows)
