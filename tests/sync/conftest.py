"""The sync client's tests run against the real service on a throwaway PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.sync.device import Device
from app.syncserver.pgtemp import TempCluster
from tests.pgcluster import SyncService, make_settings, pg_cluster, pg_database_url, sync_service

__all__ = ["pg_cluster", "pg_database_url", "sync_service"]

PASSWORD = "correct horse battery"
_users = itertools.count()


@pytest.fixture
def make_device(sync_service: SyncService, tmp_path: Path) -> Iterator[Callable[..., Device]]:
    """``make_device(name, email=None)``: a data folder syncing as a (new) teacher."""
    made: list[Device] = []

    def make(name: str, email: str) -> Device:
        device = Device(tmp_path / name, sync_service.url, email, PASSWORD, base_delay=0.01)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


@pytest.fixture
def teacher(sync_service: SyncService) -> str:
    """A new teacher's e-mail on the service (password :data:`PASSWORD`)."""
    email = f"teacher{next(_users)}@example.org"
    sync_service.create_user(email, PASSWORD)
    return email


@dataclass
class RoomyService:
    """The service with sign-in limits out of the way (many sign-ins from one address)."""

    url: str
    create_user: Callable[[str, str], object]


@pytest.fixture(scope="module")
def roomy_service(pg_cluster: TempCluster) -> Iterator[RoomyService]:
    from app.syncserver.app import create_app  # noqa: PLC0415
    from app.syncserver.db import make_engine  # noqa: PLC0415
    from app.syncserver.serve import ServerThread  # noqa: PLC0415

    settings = make_settings(
        pg_cluster.create_database(f"roomy{next(_users)}"),
        signin_limit=10**6,
        signin_address_limit=10**6,
    )
    engine = make_engine(settings.db_url, 4)
    server = ServerThread(create_app(settings, engine))
    url = server.start()

    def create(email: str, password: str) -> object:
        from app.syncserver.auth import create_user  # noqa: PLC0415

        return create_user(engine, settings, email, password, "school1", ["teacher"])

    try:
        yield RoomyService(url, create)
    finally:
        server.stop()
        engine.dispose()
