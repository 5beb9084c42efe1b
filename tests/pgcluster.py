"""Pytest fixtures: a throwaway PostgreSQL cluster and the sync service on loopback.

Use from a conftest: ``from tests.pgcluster import pg_cluster, pg_database_url, sync_service``
(plus ``sync_settings`` if wanted). The cluster starts once per test process (session scope) via
:mod:`app.syncserver.pgtemp`; each test module gets a fresh database. If PostgreSQL cannot be
started the fixture FAILS with the reason (never skips): `.ci/run` installs the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.syncserver.pgtemp import ClusterError, TempCluster, start_cluster
from app.syncserver.settings import Argon2Params, Settings

#: Cheap argon2id so tests are quick; the service's defaults are the library's (64 MiB).
TEST_ARGON2 = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
TEST_SECRET = "test-secret-0123456789abcdef-0123456789"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster]:
    """A PostgreSQL cluster for the whole test process, removed afterwards."""
    try:
        cluster = start_cluster()
    except ClusterError as exc:
        pytest.fail(f"PostgreSQL could not be started for the sync tests: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_database_url(pg_cluster: TempCluster, request: pytest.FixtureRequest) -> str:
    """A fresh database named after the test module; SQLAlchemy URL (psycopg 3)."""
    name = re.sub(r"[^a-z0-9_]", "_", request.module.__name__.lower())[-60:]
    return pg_cluster.create_database(name)


def make_settings(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "db_url": db_url,
        "jwt_secret": TEST_SECRET,
        "argon2": TEST_ARGON2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class SyncService:
    """A running service: its base ``url``, ``settings`` and database engine."""

    url: str
    settings: Settings
    engine: object

    def create_user(
        self, email: str, password: str, org: str = "school1", roles: tuple[str, ...] = ("teacher",)
    ) -> int:
        from app.syncserver.auth import create_user  # noqa: PLC0415

        return create_user(self.engine, self.settings, email, password, org, list(roles))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sync_service(pg_database_url: str) -> Iterator[SyncService]:
    """The service (uvicorn in a thread) on a free 127.0.0.1 port over this module's database."""
    from app.syncserver.app import create_app  # noqa: PLC0415
    from app.syncserver.db import make_engine  # noqa: PLC0415
    from app.syncserver.serve import ServerThread  # noqa: PLC0415

    settings = make_settings(pg_database_url)
    engine = make_engine(settings.db_url, settings.pool_size)
    server = ServerThread(create_app(settings, engine))
    url = server.start()
    try:
        yield SyncService(url=url, settings=settings, engine=engine)
    finally:
        server.stop()
        engine.dispose()
