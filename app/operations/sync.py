"""Sync with a school's server, as operations the window calls (the command line has
``huleedu sync``; both use :mod:`app.sync`).

* :func:`sync_overview` — whether sync is set up, where, as whom, whether this computer holds a
  sign-in, and what waits: changes not yet sent, conflicts kept, the last sync and its error.
* :func:`sign_in` — sign in to a server with e-mail and password: the refresh token goes to the
  system keyring (with no keyring, to memory until the app closes: the overview says so); the
  password is never stored.
* :func:`sync_now` — push this computer's changes and pull the others' (progress, cancel);
  changes not sent stay queued, whatever happens.
* :func:`list_sync_conflicts` / :func:`restore_sync_conflict` — edits that lost to a later edit
  elsewhere, kept so the teacher can bring one back (sent with the next sync).
* :func:`sign_out` — forget this computer's sign-in (the data stays).

Problems are :class:`~app.operations.base.OperationError` with a sentence a teacher
understands: ``INPUT`` for what the teacher can fix (no server yet, wrong password, server not
reached, refused), so the page shows it in its message line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.db import models as m
from app.db.engine import Database
from app.operations.base import (
    CancelToken,
    FailureKind,
    OperationError,
    ProgressSink,
    ignore_progress,
)
from app.sync.client import SyncError, SyncHttp
from app.sync.conflicts import ConflictRow, RestoreError, list_conflicts, restore_conflict
from app.sync.engine import SyncReport, ensure_scope, fetch_texts, prepare, sync
from app.sync.status import sync_status
from app.sync.tokens import KeyringStore, account_name

__all__ = [
    "ConflictRow",
    "SyncOverview",
    "SyncReport",
    "list_sync_conflicts",
    "restore_sync_conflict",
    "sign_in",
    "sign_out",
    "sync_now",
    "sync_overview",
]

_TOKENS = KeyringStore()
"""One token store for the app's life: without a keyring a sign-in lasts until the app closes."""


@dataclass(frozen=True)
class SyncOverview:
    """What the Settings page shows about sync."""

    server_url: str | None
    email: str | None
    signed_in: bool
    """This computer holds a sign-in (a refresh token) for that server and e-mail."""
    keyring_problem: str | None
    """Why sign-ins are kept in memory only (None: the system keyring keeps them)."""
    pending_changes: int
    open_conflicts: int
    last_sync_at: datetime | None
    last_error: str | None

    @property
    def set_up(self) -> bool:
        return self.server_url is not None and self.email is not None


def _bad(message: str) -> OperationError:
    return OperationError(FailureKind.INPUT, message)


def _said(exc: SyncError) -> OperationError:
    """A teacher's sentence for a refused or failed call."""
    if exc.code == "offline":
        return _bad(
            f"The sync server could not be reached ({exc}). Nothing is lost: your changes "
            "stay on this computer and are sent at the next sync."
        )
    if exc.code == "bad_credentials":
        return _bad("That e-mail address and password were not accepted. Check them and retry.")
    if exc.code in ("signin_needed", "token_reused", "unauthorized", "token_expired"):
        return _bad("Sign in to the sync server again (your sign-in has ended).")
    if exc.code == "too_many_attempts":
        return _bad("Too many sign-in attempts: wait a few minutes, then try again.")
    if exc.code == "clock_skew":
        return _bad(f"The server refused the changes: {exc} Set this computer's clock right.")
    return _bad(f"The sync server refused: {exc}")


def _account(db: Database) -> tuple[str | None, str | None, datetime | None, str | None]:
    with db.read() as session:
        row = session.scalars(select(m.SyncScope).order_by(m.SyncScope.scope)).first()
        if row is None:
            return None, None, None, None
        return row.server_url, row.email, row.last_sync_at, row.last_error


def sync_overview(db: Database, **_operation: object) -> SyncOverview:
    """The state of sync on this computer (nothing is sent)."""
    server, email, last, error = _account(db)
    status = sync_status(db)
    signed_in = bool(server and email and _TOKENS.get(account_name(server, email)))
    return SyncOverview(
        server_url=server,
        email=email,
        signed_in=signed_in,
        keyring_problem=_TOKENS.problem,
        pending_changes=status.pending_changes,
        open_conflicts=status.open_conflicts,
        last_sync_at=last,
        last_error=error,
    )


def _check_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise _bad("The server address starts with https:// (or http:// on the school network).")
    return url


def sign_in(
    db: Database, server_url: str, email: str, password: str, **_operation: object
) -> SyncOverview:
    """Sign in to ``server_url``; remembers the server and the e-mail, not the password."""
    server = _check_server(server_url)
    email = email.strip()
    if "@" not in email:
        raise _bad("Give the e-mail address of your account on the sync server.")
    if not password:
        raise _bad("Give your password for the sync server.")
    device, _queued = prepare(db)
    http = SyncHttp(server, email, device, tokens=_TOKENS)
    try:
        http.signin(password)
        ensure_scope(db, http.scope, server, email)
    except SyncError as exc:
        raise _said(exc) from exc
    finally:
        http.close()
    return sync_overview(db)


def sign_out(db: Database, **_operation: object) -> SyncOverview:
    """Forget this computer's sign-in (the data and the queued changes stay)."""
    server, email, _last, _error = _account(db)
    if server and email:
        _TOKENS.delete(account_name(server, email))
    return sync_overview(db)


def _http(db: Database) -> SyncHttp:
    server, email, _last, _error = _account(db)
    if not server or not email:
        raise _bad("Sync is not set up: give the server address, your e-mail and password.")
    device, _queued = prepare(db)
    return SyncHttp(server, email, device, tokens=_TOKENS)


def sync_now(
    db: Database,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
    **_operation: object,
) -> SyncReport:
    """Send this computer's changes and receive the others' (one sync)."""
    http = _http(db)
    try:
        return sync(db, http, progress=progress, cancel=cancel)
    except SyncError as exc:
        raise _said(exc) from exc
    finally:
        http.close()


def list_sync_conflicts(db: Database, **_operation: object) -> list[ConflictRow]:
    """Kept losing values not restored yet, oldest first."""
    return list_conflicts(db)


def restore_sync_conflict(db: Database, conflict_id: int, **_operation: object) -> ConflictRow:
    """Bring a kept value back (sent with the next sync); an essay's text is fetched from the
    server when the value carries one."""
    http: SyncHttp | None = None

    def fetch(sha: str) -> str | None:
        nonlocal http
        http = http or _http(db)
        if not http.user:
            http.refresh()
        return fetch_texts(http, http.scope, [sha]).get(sha)

    try:
        return restore_conflict(db, conflict_id, fetch)
    except RestoreError as exc:
        raise _bad(str(exc)) from exc
    except SyncError as exc:
        raise _said(exc) from exc
    finally:
        if http is not None:
            http.close()
