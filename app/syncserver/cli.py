"""``huleedu sync-server`` (serve, create-user): options -> :class:`Settings`, then run."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from app.syncserver.settings import Settings

DEFAULT_SECRET_ENV = "HULEEDU_SYNC_SECRET"
DEFAULT_PORT = 8765


def default_db_url() -> str:
    """The embedded SQLite database of a one-teacher test server, in the data folder."""
    from app.db.engine import resolve_data_dir  # noqa: PLC0415

    folder = resolve_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'sync-server.sqlite3'}"


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db-url",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: an embedded "
        "SQLite file for one teacher's own test server)",
    )


def add_serve_options(p: argparse.ArgumentParser) -> None:
    add_db_option(p)
    p.add_argument(
        "--read-db-url",
        help="a PostgreSQL read replica for pulls, conflict lists and text downloads",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument(
        "--secret-env",
        default=DEFAULT_SECRET_ENV,
        metavar="VAR",
        help=f"environment variable holding the HS256 token secret (default {DEFAULT_SECRET_ENV})",
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help="without a secret, make a random one (tokens end when the service stops)",
    )
    p.add_argument("--jwt-alg", choices=["HS256", "RS256"], default="HS256")
    p.add_argument("--private-key-file", type=Path, help="RS256: PEM private key to sign with")
    p.add_argument("--public-key-file", type=Path, help="RS256: PEM public key to verify with")
    p.add_argument("--jwks-file", type=Path, help="RS256: JWKS file of the verification keys")
    p.add_argument("--jwks-url", help="RS256: JWKS URL of the school's sign-in service")
    p.add_argument("--key-id", help="RS256: the kid written into issued tokens")
    p.add_argument("--jwt-audience", help="require (and write) this 'aud' claim in tokens")
    p.add_argument("--jwt-issuer", help="require this 'iss' claim in tokens")
    p.add_argument("--access-ttl", type=int, default=900, help="access token lifetime, seconds")
    p.add_argument(
        "--signin-address-limit",
        type=int,
        default=10,
        help="failed sign-ins per client address per 5 minutes (raise it when a whole school "
        "reaches the service from one address)",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="behind a load balancer: its addresses, so sign-in limits see real client addresses",
    )


def _read(path: Path | None) -> str | None:
    return path.read_text() if path else None


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, list[str]]:
    """Settings for ``serve``; the second value lists notices for the operator."""
    notes: list[str] = []
    db_url = args.db_url or default_db_url()
    if not args.db_url:
        notes.append(f"using the embedded SQLite database {db_url} (one teacher's test server)")
    secret = os.environ.get(args.secret_env) if args.jwt_alg == "HS256" else None
    if args.jwt_alg == "HS256" and not secret:
        if not args.dev:
            raise SystemExit(
                f"error: no token secret: set the environment variable {args.secret_env} to a "
                "long random string (or pass --dev for a throwaway test server)"
            )
        secret = secrets.token_urlsafe(32)
        notes.append(
            "--dev: a random token secret was made for this run; sign-ins end when it stops"
        )
    settings = Settings(
        db_url=db_url,
        read_db_url=args.read_db_url,
        jwt_algorithm=args.jwt_alg,
        jwt_secret=secret,
        rsa_private_key_pem=_read(args.private_key_file),
        rsa_public_key_pem=_read(args.public_key_file),
        jwks_json=_read(args.jwks_file),
        jwks_url=args.jwks_url,
        jwt_key_id=args.key_id,
        jwt_audience=args.jwt_audience,
        jwt_required_issuer=args.jwt_issuer,
        access_ttl_s=args.access_ttl,
        signin_address_limit=args.signin_address_limit,
    )
    try:
        settings.check()
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    return settings, notes


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from app.syncserver.app import create_app  # noqa: PLC0415
    from app.syncserver.serve import uvicorn_config  # noqa: PLC0415

    settings, notes = settings_from_args(args)
    for note in notes:
        print(note, file=sys.stderr)
    app = create_app(settings)
    extra: dict[str, Any] = {"log_level": "info"}
    if args.forwarded_allow_ips:
        extra.update(proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips)
    print(f"sync service on http://{args.host}:{args.port}/v1/health", file=sys.stderr)
    uvicorn.Server(uvicorn_config(app, args.host, args.port, **extra)).run()
    return 0


def run_create_user(args: argparse.Namespace) -> int:
    from app.syncserver.auth import create_user  # noqa: PLC0415
    from app.syncserver.db import make_engine  # noqa: PLC0415

    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            print(f"error: the environment variable {args.password_env} is empty", file=sys.stderr)
            return 2
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    db_url = args.db_url or default_db_url()
    engine = make_engine(db_url, pool_size=1)
    settings = Settings(db_url=db_url, jwt_secret="x" * 32)
    try:
        user_id = create_user(engine, settings, args.email, password, args.org, args.role)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"created user {user_id} ({args.email}, org {args.org}, roles {','.join(args.role)})")
    return 0
