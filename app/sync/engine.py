"""One sync of the local database with the server: push the outbox (:mod:`app.sync.push`), then
pull by cursor (:mod:`app.sync.pull`), then the school's shared data (:mod:`app.sync.shared`).

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
* **Pull** from the scope's cursor, all pages, then applied parents before children in short
  transactions (foreign keys checked at each commit); the cursor moves with the last one, and
  a record applied before a crash is skipped by its version. A record with unsent local edits
  is left alone (the next push settles it).
"""

from __future__ import annotations

import uuid

from app.db import models as m
from app.db.engine import Database
from app.operations.base import CancelToken, Progress, ProgressSink, ignore_progress
from app.sync import outbox, settings, shared
from app.sync.client import SyncError, SyncHttp
from app.sync.pull import pull
from app.sync.push import PendingPage, forget_erased, push
from app.sync.records import MAX_PAGE, SyncReport, fetch_texts

__all__ = [
    "MAX_PAGE",
    "PendingPage",
    "SyncReport",
    "ensure_scope",
    "fetch_texts",
    "prepare",
    "pull",
    "push",
    "sync",
]


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
