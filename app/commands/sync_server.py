"""``huleedu sync-server [serve|create-user]``: the optional sync service (app/syncserver/)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, bench_sub: Any) -> None:
    try:
        from app.syncserver.cli import add_db_option, add_serve_options  # noqa: PLC0415
    except ImportError:  # a desktop bundle built without the service has no such verb
        return

    parser = sub.add_parser(
        "sync-server",
        help="run the sync service for a school (serve, the default) or add an account",
    )
    add_serve_options(parser)
    verbs = parser.add_subparsers(dest="sync_server_command", metavar="SUBCOMMAND")
    serve = verbs.add_parser("serve", help="run the service (default)")
    add_serve_options(serve)
    create = verbs.add_parser(
        "create-user", help="add an account (password from stdin or --password-env)"
    )
    create.add_argument("email")
    create.add_argument("--org", required=True, help="organisation (school) id")
    create.add_argument(
        "--role",
        action="append",
        choices=["teacher", "lead", "admin"],
        required=True,
        help="role (repeat for several)",
    )
    create.add_argument("--password-env", metavar="VAR", help="read the password from VAR")
    add_db_option(create)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from app.syncserver.cli import run_create_user, run_serve  # noqa: PLC0415

    if args.sync_server_command == "create-user":
        return run_create_user(args)
    return run_serve(args)
