"""The window's sync operations against the real service on a throwaway PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

import app.operations.sync as sync_ops
from app.db.engine import Database, open_database
from app.operations.base import FailureKind, OperationError, Progress
from app.operations.classes import (
    ClassChanges,
    NewClass,
    list_class_summaries,
    new_class,
    update_class,
)
from app.sync.tokens import KeyringStore
from tests.app.test_operations_keys import MemoryKeyring
from tests.pgcluster import SyncService, pg_cluster, pg_database_url, sync_service

__all__ = ["pg_cluster", "pg_database_url", "sync_service"]

PASSWORD = "correct horse battery"
_users = itertools.count()


@pytest.fixture(autouse=True)
def fresh_sign_ins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A keyring of this test's own (whatever backend the machine has) and a fresh store."""
    before = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    monkeypatch.setattr(sync_ops, "_TOKENS", KeyringStore())
    try:
        yield
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def teacher(sync_service: SyncService) -> str:
    email = f"window-teacher{next(_users)}@example.org"
    sync_service.create_user(email, PASSWORD)
    return email


@pytest.fixture
def laptop(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "laptop") as db:
        yield db


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "home") as db:
        yield db


def test_sign_in_sync_and_a_second_computer_gets_the_class(
    sync_service: SyncService, teacher: str, laptop: Database, home: Database
) -> None:
    before = sync_ops.sync_overview(laptop)
    assert not before.set_up and not before.signed_in

    overview = sync_ops.sign_in(laptop, sync_service.url + "/", f"  {teacher} ", PASSWORD)
    assert overview.set_up and overview.signed_in
    assert overview.server_url == sync_service.url and overview.email == teacher
    made = new_class(laptop, NewClass("9A", school_year="2026/27"))
    assert sync_ops.sync_overview(laptop).pending_changes >= 1

    events: list[Progress] = []
    report = sync_ops.sync_now(laptop, progress=events.append)
    assert report.pushed >= 1 and events
    after = sync_ops.sync_overview(laptop)
    assert after.pending_changes == 0 and after.last_sync_at is not None
    assert after.last_error is None

    sync_ops.sign_in(home, sync_service.url, teacher, PASSWORD)
    got = sync_ops.sync_now(home)
    assert got.pulled >= 1
    assert [c.name for c in list_class_summaries(home)] == ["9A"]

    # An edit on each computer before either syncs: the later one wins, the other is kept.
    update_class(laptop, made.id, ClassChanges("9A English", "ENG5", "2026/27"))
    update_class(home, made.id, ClassChanges("9A Eng", "ENG5", "2026/27"))
    sync_ops.sync_now(laptop)
    sync_ops.sync_now(home)
    sync_ops.sync_now(laptop)
    names = {c.name for c in list_class_summaries(laptop)} | {
        c.name for c in list_class_summaries(home)
    }
    assert names == {"9A Eng"}
    kept = sync_ops.list_sync_conflicts(home) + sync_ops.list_sync_conflicts(laptop)
    assert any("9A English" in row.summary() for row in kept)


def test_wrong_password_no_server_and_sign_out_are_said_plainly(
    sync_service: SyncService, teacher: str, laptop: Database
) -> None:
    with pytest.raises(OperationError) as wrong:
        sync_ops.sign_in(laptop, sync_service.url, teacher, "not the password")
    assert wrong.value.kind is FailureKind.INPUT and "not accepted" in str(wrong.value)
    with pytest.raises(OperationError, match="starts with https://"):
        sync_ops.sign_in(laptop, "school.example", teacher, PASSWORD)
    with pytest.raises(OperationError, match="not set up"):
        sync_ops.sync_now(laptop)

    sync_ops.sign_in(laptop, sync_service.url, teacher, PASSWORD)
    assert not sync_ops.sign_out(laptop).signed_in
    with pytest.raises(OperationError, match="Sign in to the sync server again"):
        sync_ops.sync_now(laptop)


def test_an_unreachable_server_keeps_the_changes(teacher: str, laptop: Database) -> None:
    from app.db import models as m  # noqa: PLC0415
    from app.sync.engine import ensure_scope, prepare  # noqa: PLC0415

    prepare(laptop)  # as signing in does: this computer keeps an outbox from now on
    ensure_scope(laptop, "user:1", "http://127.0.0.1:9", teacher)  # nothing listens on port 9
    sync_ops._TOKENS.put(  # a stored sign-in, so the sync gets as far as the network
        f"http://127.0.0.1:9 {teacher.lower()}", "refresh-token"
    )
    new_class(laptop, NewClass("9B"))
    waiting = sync_ops.sync_overview(laptop).pending_changes
    assert waiting >= 1
    with pytest.raises(OperationError, match="could not be reached"):
        sync_ops.sync_now(laptop)
    assert sync_ops.sync_overview(laptop).pending_changes == waiting
    with laptop.read() as session:
        assert session.get(m.SyncScope, "user:1") is not None
