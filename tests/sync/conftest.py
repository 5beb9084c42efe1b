"""The sync client's tests run against the real service on a throwaway PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.sync.device import Device
from tests.pgcluster import SyncService, pg_cluster, pg_database_url, sync_service

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
