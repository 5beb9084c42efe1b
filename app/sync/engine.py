"""One sync of the local database with the server: push the outbox, then pull by cursor.

Contract (protocol v1, /work/notes is the source; README "Sync"):

* **Setup** (:func:`prepare`): the first sync gives the database a device id and queues every
  synced row once (first upload); the pull from cursor 0 is the first download.
* **Push** in pages of at most ``page_size`` records: texts first (only those the server is
  missing), then the changes. The page is saved (``sync_pending_pushes``, with its ``push_id``)
  *before* it is sent, and the answer is recorded, the page's outbox rows deleted and the
  pending page removed in one transaction; a client killed anywhere in between resends the same
  ``push_id`` next time, which the server answers once. Nothing is lost, nothing repeated.
* **Answer**: an applied change sets the record's base version; a change that lost takes the
  winner locally (unless the record was edited again meanwhile: then the next push meets the
  conflict again and the later clock wins); every losing value, pushed or remote, and every
  refused change is kept in ``sync_conflicts`` for the teacher.
* **Pull** from the scope's cursor, all pages, then applied in one transaction, parents before
  children, with foreign keys checked at commit; the cursor moves in that transaction. A
  record with unsent local edits is left alone (the next push settles it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import models as m
from app.db.engine import Database
from app.operations.base import CancelToken, Progress, ProgressSink, ignore_progress
from app.sync import outbox, settings, shared
from app.sync.client import SyncError, SyncHttp
from app.sync.kinds import BLOB_FIELD, BY_NAME, ORDER, READ, apply_record, row_data, sha256_text

MAX_PAGE = 1000
_upsert = sqlite_insert(m.SyncRecordState)
_STATE_UPSERT = _upsert.on_conflict_do_update(
    index_elements=["kind", "key"],
    set_={
        "version": _upsert.excluded.version,
        "hlc": _upsert.excluded.hlc,
        "deleted": _upsert.excluded.deleted,
    },
)
BLOB_CHUNK_BYTES = 4_000_000
FETCH_CHUNK = 1000


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


@dataclass(frozen=True)
class PendingPage:
    """A saved page of changes (a row of ``sync_pending_pushes``)."""

    push_id: str
    scope: str
    body: dict[str, Any]
    last_outbox_id: int


def new_device_id() -> str:
    return uuid.uuid4().hex


def prepare(db: Database) -> tuple[str, int]:
    """This database's device id, setting sync up (every row queued once) on first use."""
    with db.session() as session:
        existing = outbox.device_id(session.connection())
        if existing is not None:
            return existing, 0
        device = new_device_id()
        return device, outbox.enqueue_everything(session, device)


def ensure_scope(db: Database, scope: str, server_url: str, email: str) -> None:
    """Remember the scope this database syncs with (its cursor starts at 0)."""
    with db.session() as session:
        row = session.get(m.SyncScope, scope)
        if row is None:
            session.add(m.SyncScope(scope=scope, server_url=server_url, email=email, cursor=0))
        else:
            row.server_url, row.email = server_url, email


# ---------------------------------------------------------------------------- push


def _conflict(
    session: Session, scope: str, kind: str, key: str, winner: Any, loser: Any, reason: str
) -> None:
    session.add(
        m.SyncConflict(scope=scope, kind=kind, key=key, winner=winner, loser=loser, reason=reason)
    )


def _states(
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


def _rows(session: Session, kind_name: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Local rows of one kind by id, many at once."""
    table = BY_NAME[kind_name].table
    rows: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        for row in session.execute(
            table.select().where(table.c.id.in_(keys[i : i + 500]))
        ).mappings():
            rows[row["id"]] = dict(row)
    return rows


def _present(session: Session, kind_name: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Which of ``keys`` have a local row of that kind (id -> its ``deleted_at``)."""
    table = BY_NAME[kind_name].table
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 500):
        for row_id, deleted_at in session.execute(
            select(table.c.id, table.c.deleted_at).where(table.c.id.in_(keys[i : i + 500]))
        ):
            found[row_id] = {"deleted_at": deleted_at}
    return found


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
        states = _states(session, keys)
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        for kind_name in {k for k, _ in keys if k in BY_NAME}:
            rows[kind_name] = _rows(session, kind_name, [key for k, key in keys if k == kind_name])
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
                deleted = row.get("deleted_at") is not None
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


def _take_remote(
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
        _conflict(session, scope, c["kind"], c["key"], c["winner"], c["loser"], "conflict")
        if ident not in applied and ident not in edited_since:
            session.execute(text("PRAGMA defer_foreign_keys = ON"))
            _take_remote(session, scope, c["winner"], texts)
    for r in answer.get("rejected", []):
        change = pushed.get((r["kind"], r["key"]), {"kind": r["kind"], "key": r["key"]})
        _conflict(session, scope, r["kind"], r["key"], None, change, f"refused: {r['reason']}")
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


# ---------------------------------------------------------------------------- pull


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
    """Fetch every change after the scope's cursor and apply it (one transaction)."""
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
        states = _states(session, ((c["kind"], c["key"]) for c in changes))
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
    with db.session() as session:
        # read under the write lock, so an edit made meanwhile is never overwritten
        unsent = {
            (k, key) for k, key in session.execute(select(m.SyncOutbox.kind, m.SyncOutbox.key))
        }
        todo = [c for c in todo if (c["kind"], c["key"]) not in unsent]
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
        present: dict[str, dict[str, Any]] = {}
        for kind_name in {c["kind"] for c in todo if c["kind"] in BY_NAME}:
            present.update(
                _present(session, kind_name, [c["key"] for c in todo if c["kind"] == kind_name])
            )
        for change in todo:
            _take_remote(session, scope, change, texts, present)
        row = session.get(m.SyncScope, scope)
        if row is not None:
            row.cursor = cursor
    report.pulled += len(todo)
    report.cursor = cursor


# ---------------------------------------------------------------------------- one sync


def sync(
    db: Database,
    http: SyncHttp,
    *,
    page_size: int = MAX_PAGE,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> SyncReport:
    """Set up if needed, push, pull; the scope's ``last_sync_at`` is set when all went well.

    ``http`` must be signed in (or hold a refresh token). Raises :class:`SyncError` (nothing
    is lost: unsent changes stay queued) or ``OperationCancelledError``.
    """
    device, queued = prepare(db)
    if http.device_id != device:
        http.device_id = device
    if not http.user:
        http.refresh()
    scope = http.scope
    ensure_scope(db, scope, http.server_url, http.email)
    report = SyncReport(scope=scope, queued_first=queued)
    http.cancel = cancel
    try:
        settings.capture(db)
        progress(Progress("status", 0, None, "sending changes"))
        push(db, http, scope, report, page_size=page_size, progress=progress, cancel=cancel)
        report.texts_erased = forget_erased(db, http, scope)
        progress(Progress("status", 0, None, "receiving changes"))
        pull(db, http, scope, report, page_size=page_size, progress=progress, cancel=cancel)
        report.settings_problem = settings.write_file(db)
        progress(Progress("status", 0, None, "receiving the school's shared data"))
        for org_scope, _can_write in shared.org_scopes(http):
            report.shared_received += shared.pull_shared(
                db, http, org_scope, http.server_url, http.email
            )
    except SyncError as exc:
        with db.session() as session:
            row = session.get(m.SyncScope, scope)
            if row is not None:
                row.last_error = str(exc)
        raise
    with db.session() as session:
        row = session.get(m.SyncScope, scope)
        if row is not None:
            row.last_sync_at = m.utcnow()
            row.last_error = None
            report.cursor = row.cursor
    return report
