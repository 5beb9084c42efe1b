"""The ``huleedu sync`` verbs (parsing is in :mod:`app.commands.sync`)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from sqlalchemy import select

from app.db import models as m
from app.db.engine import Database, open_database
from app.db.errors import DatabaseError
from app.operations.base import CancelToken, OperationCancelledError, Progress
from app.sync.client import SyncError, SyncHttp
from app.sync.conflicts import RestoreError, list_conflicts, restore_conflict
from app.sync.engine import SyncReport, fetch_texts, prepare, sync
from app.sync.status import sync_status
from app.sync.tokens import KeyringStore

EMAIL_ENV = "HULEEDU_SYNC_EMAIL"
PASSWORD_ENV = "HULEEDU_SYNC_PASSWORD"
EXIT_OFFLINE, EXIT_AUTH, EXIT_REFUSED = 3, 4, 5


def _say(text: str) -> None:
    sys.stderr.write(f"huleedu sync: {text}\n")


def _exit_for(exc: SyncError) -> int:
    if exc.code == "offline":
        return EXIT_OFFLINE
    if exc.status in (401, 403) or exc.code in ("signin_needed", "bad_credentials"):
        return EXIT_AUTH
    return EXIT_REFUSED


def _remembered(db: Database) -> tuple[str | None, str | None]:
    with db.read() as session:
        row = session.scalars(select(m.SyncScope).order_by(m.SyncScope.scope)).first()
        return (row.server_url, row.email) if row is not None else (None, None)


def _password(email: str) -> str | None:
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {email}: ")
    return None


def _http(db: Database, args: argparse.Namespace) -> SyncHttp:
    server, email = _remembered(db)
    server = getattr(args, "server", None) or server
    email = getattr(args, "email", None) or os.environ.get(EMAIL_ENV) or email
    if not server or not email:
        raise SyncError(
            "setup",
            "No sync server yet: give --server URL and --email (or $HULEEDU_SYNC_EMAIL).",
            2,
        )
    device, _ = prepare(db)
    return SyncHttp(server.rstrip("/"), email, device, tokens=KeyringStore())


def _signin(http: SyncHttp, *, force: bool) -> None:
    if not force and http.tokens.get(http.account) is not None:
        return
    password = _password(http.email)
    if password is None:
        raise SyncError(
            "signin_needed",
            f"Not signed in to {http.server_url}: run 'huleedu sync signin' (or set "
            f"${PASSWORD_ENV}).",
            401,
        )
    http.signin(password)
    store = http.tokens
    if isinstance(store, KeyringStore) and not store.persistent:
        _say(
            f"no system keyring ({store.problem}): the sign-in lasts for this command only; "
            "you will sign in again next time."
        )


def _print_report(report: SyncReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.__dict__))
        return
    print(
        f"Synced {report.scope}: sent {report.pushed} change(s) "
        f"({report.texts_uploaded} text(s)), received {report.pulled}, "
        f"{report.conflicts} conflict(s), {report.rejected} refused; cursor {report.cursor}."
    )
    if report.conflicts or report.rejected:
        print("See them with: huleedu sync conflicts")


def _progress(event: Progress) -> None:
    if event.kind == "status" and sys.stderr.isatty():
        _say(event.detail)


def _do_sync(db: Database, args: argparse.Namespace) -> int:
    http = _http(db, args)
    cancel = CancelToken()
    try:
        _signin(http, force=False)
        try:
            report = sync(db, http, progress=_progress, cancel=cancel)
        except SyncError as exc:
            if exc.code != "signin_needed" or _password(http.email) is None:
                raise
            _signin(http, force=True)
            report = sync(db, http, progress=_progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.cancel()
        _say("stopped; changes not yet sent stay queued for the next sync.")
        return 130
    finally:
        http.close()
    _print_report(report, bool(args.json))
    return 0


def _do_conflicts(db: Database, args: argparse.Namespace) -> int:
    if args.restore is not None:
        http: SyncHttp | None = None
        try:
            http = _http(db, args)
        except SyncError:
            http = None

        def fetch(sha: str) -> str | None:
            if http is None:
                return None
            _signin(http, force=False)
            scope = http.scope if http.user else None
            if scope is None:
                http.refresh()
                scope = http.scope
            return fetch_texts(http, scope, [sha]).get(sha)

        try:
            row = restore_conflict(db, args.restore, fetch)
        except RestoreError as exc:
            _say(str(exc))
            return 2
        finally:
            if http is not None:
                http.close()
        print(f"Restored {row.kind} {row.key}; the next 'huleedu sync' sends it.")
        return 0
    rows = list_conflicts(db, include_restored=bool(getattr(args, "all", False)))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        **r.__dict__,
                        "created_at": r.created_at.isoformat(),
                        "restored_at": r.restored_at.isoformat() if r.restored_at else None,
                    }
                    for r in rows
                ]
            )
        )
        return 0
    if not rows:
        print("No conflicts: no edit lost to another.")
    for r in rows:
        mark = " (restored)" if r.restored_at else ""
        print(f"{r.id:>5}  {r.created_at:%Y-%m-%d %H:%M}  {r.kind} {r.key}  {r.reason}{mark}")
        print(f"       {r.summary()}")
    return 0


def _do_publish(db: Database, args: argparse.Namespace) -> int:
    from app.sync import shared  # noqa: PLC0415

    http = _http(db, args)
    try:
        _signin(http, force=False)
        if not http.user:
            http.refresh()
        scopes = shared.org_scopes(http)
        if not scopes:
            raise SyncError("forbidden", "This account belongs to no school on the server.", 403)
        scope = scopes[0][0]
        if args.scale:
            key = shared.publish_scale(db, http, scope, args.scale)
        else:
            key = shared.publish_anchor_set(db, http, scope, args.assignment)
    finally:
        http.close()
    print(
        f"Published {key} to {scope}; every teacher of the school receives it at their next sync."
    )
    return 0


def _do_status(db: Database, args: argparse.Namespace) -> int:
    status = sync_status(db)
    if args.json:
        print(json.dumps(status.as_json()))
        return 0
    if status.device_id is None:
        print("Sync is not set up on this computer (huleedu sync signin --server URL --email E).")
        return 0
    print(
        f"Device {status.device_id}: {status.pending_changes} change(s) waiting to be sent, "
        f"{status.open_conflicts} conflict(s) kept."
    )
    for s in status.scopes:
        print(
            f"  {s.scope} on {s.server_url} as {s.email}: cursor {s.cursor}, "
            f"last sync {s.last_sync_at or 'never'}"
            + (f"; last error: {s.last_error}" if s.last_error else "")
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch a ``huleedu sync`` command; returns the exit code."""
    verb = getattr(args, "sync_verb", None)
    try:
        db = open_database(getattr(args, "data_dir", None))
    except DatabaseError as exc:
        _say(str(exc))
        return 1
    try:
        with db:
            if verb == "status":
                return _do_status(db, args)
            if verb == "conflicts":
                return _do_conflicts(db, args)
            if verb == "signout":
                http = _http(db, args)
                http.tokens.delete(http.account)
                print(f"Signed out of {http.server_url} ({http.email}); sign in again to sync.")
                return 0
            if verb == "publish":
                return _do_publish(db, args)
            if verb == "signin":
                http = _http(db, args)
                try:
                    _signin(http, force=True)
                finally:
                    http.close()
                print(f"Signed in to {http.server_url} as {http.email} ({http.scope}).")
                from app.sync.engine import ensure_scope  # noqa: PLC0415

                ensure_scope(db, http.scope, http.server_url, http.email)
                return 0
            return _do_sync(db, args)
    except SyncError as exc:
        _say(str(exc))
        return 2 if exc.code == "setup" else _exit_for(exc)
    except OperationCancelledError:
        _say("stopped; changes not yet sent stay queued for the next sync.")
        return 130


__all__: list[Any] = ["run"]
