"""``huleedu sync``: sync this computer's data with a school's sync server.

  huleedu sync signin --server URL --email E   sign in (password asked, or $HULEEDU_SYNC_PASSWORD)
  huleedu sync [--server URL]                  send local changes, receive the others
  huleedu sync status                          pending changes, last sync, cursor per scope
  huleedu sync signout                         forget the sign-in kept in the keyring
  huleedu sync conflicts [--restore ID]        values that lost a conflict; bring one back
  huleedu sync publish --scale ID | --assignment ID   share with the school (lead, admin)

The refresh token is kept in the system keyring; without a keyring it lives only as long as the
command, so each sync signs in again (e-mail from --email or $HULEEDU_SYNC_EMAIL, password from
$HULEEDU_SYNC_PASSWORD or asked).

Exit codes: 0 done; 2 bad options; 3 the server cannot be reached (nothing lost: changes stay
queued); 4 sign-in needed or refused, or access refused (403); 5 other refusal by the server.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EMAIL_ENV = "HULEEDU_SYNC_EMAIL"
PASSWORD_ENV = "HULEEDU_SYNC_PASSWORD"


def _common(parser: Any, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        help="where the database lives (or HULEEDU_DATA_DIR)",
    )
    parser.add_argument("--json", action="store_true", default=default, help="print JSON")


def _account(parser: Any, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--server", default=default, help="the sync server's URL (remembered)")
    parser.add_argument("--email", default=default, help=f"account e-mail (or ${EMAIL_ENV})")


def register(sub: Any, bench_sub: Any) -> None:
    p = sub.add_parser(
        "sync",
        help="sync with a school's sync server (signin, status, conflicts)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, suppress=False)
    _account(p, suppress=False)
    verbs = p.add_subparsers(dest="sync_verb", metavar="SUBCOMMAND")
    signin = verbs.add_parser("signin", help="sign in and keep the refresh token in the keyring")
    _common(signin, suppress=True)
    _account(signin, suppress=True)
    signout = verbs.add_parser("signout", help="forget the sign-in (the keyring's token)")
    _common(signout, suppress=True)
    _account(signout, suppress=True)
    status = verbs.add_parser("status", help="pending changes, last sync and cursor per scope")
    _common(status, suppress=True)
    conflicts = verbs.add_parser("conflicts", help="list kept losing values; --restore ID")
    _common(conflicts, suppress=True)
    _account(conflicts, suppress=True)
    conflicts.add_argument("--restore", type=int, metavar="ID", help="make value ID current again")
    conflicts.add_argument("--all", action="store_true", help="include restored ones")
    publish = verbs.add_parser(
        "publish", help="share a grade scale or an assignment's anchor set with the school"
    )
    _common(publish, suppress=True)
    _account(publish, suppress=True)
    what = publish.add_mutually_exclusive_group(required=True)
    what.add_argument("--scale", metavar="SCALE_ID", help="a grade scale of your own")
    what.add_argument("--assignment", metavar="ID", help="an assignment with its anchors")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from app.sync.cli import run  # noqa: PLC0415

    return run(args)
