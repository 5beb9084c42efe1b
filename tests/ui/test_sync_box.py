"""The Settings page's sync section as a teacher uses it, against the real service."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

import app.operations.sync as sync_ops
from app.db.engine import Database, open_database
from app.operations.classes import ClassChanges, NewClass, new_class, update_class
from tests.app.test_operations_sync import fresh_sign_ins
from tests.pgcluster import SyncService, pg_cluster, pg_database_url, sync_service
from tests.ui.conftest import settle, wait_until
from ui.sync_box import SyncBox
from ui.tasks import TaskRunner

__all__ = ["fresh_sign_ins", "pg_cluster", "pg_database_url", "sync_service"]  # fixtures

pytestmark = pytest.mark.asyncio(loop_scope="function")

PASSWORD = "correct horse battery"
_users = itertools.count()


@pytest.fixture
def box(qtbot: QtBot, db: Database) -> Iterator[SyncBox]:
    runner = TaskRunner()
    widget = SyncBox(db, runner)
    qtbot.addWidget(widget)
    widget.resize(760, 520)
    widget.show()
    yield widget
    runner.deleteLater()


async def settled(box: SyncBox) -> None:
    """Wait for the box's action and the reload it set off."""
    for _ in range(3):
        for op in (box.action, box.loading):
            if op is not None:
                await op.wait()
        await settle(0.05)


async def test_sign_in_sync_and_restore_a_kept_edit(
    box: SyncBox,
    db: Database,
    sync_service: SyncService,
    tmp_path: Path,
    shots: Callable[[QWidget, str], Path],
) -> None:
    email = f"box-teacher{next(_users)}@example.org"
    sync_service.create_user(email, PASSWORD)
    box.reload()
    await settled(box)
    assert box.status.text().startswith("Not set up")
    assert not box.sync_button.isEnabled()
    shots(box, "sync-not-set-up")

    box.server.setText(sync_service.url)
    box.email.setText(email)
    box.password.setText("wrong password")
    QTest.mouseClick(box.sign_in_button, Qt.MouseButton.LeftButton)
    await settled(box)
    assert "not accepted" in box.message.text()
    box.password.setText(PASSWORD)
    QTest.keyClick(box.password, Qt.Key.Key_Return)
    await settled(box)
    assert box.message.text() == "Signed in. Sync now sends your data."
    assert box.password.text() == ""  # the password is not kept
    assert f"as {email}: signed in." in box.status.text()

    made = new_class(db, NewClass("9A", school_year="2026/27"))
    box.reload()
    await settled(box)
    assert "Waiting to be sent: 2 changes." in box.status.text()  # the class and its course
    QTest.mouseClick(box.sync_button, Qt.MouseButton.LeftButton)
    await settled(box)
    assert box.message.text().startswith("Synced: 2 changes sent")
    assert "Waiting to be sent: 0 changes." in box.status.text()

    # The same teacher at home edits the class; the laptop edits it too, later: a conflict.
    with open_database(tmp_path / "home") as home:
        sync_ops.sign_in(home, sync_service.url, email, PASSWORD)
        sync_ops.sync_now(home)
        update_class(home, made.id, ClassChanges("9A at home", "ENG5", "2026/27"))
        sync_ops.sync_now(home)
    update_class(db, made.id, ClassChanges("9A on the laptop", "ENG5", "2026/27"))
    QTest.mouseClick(box.sync_button, Qt.MouseButton.LeftButton)
    await settled(box)
    await wait_until(lambda: box.conflict_view.topLevelItemCount() >= 1)
    assert box.conflict_title.text().startswith("1 edit lost to a later edit elsewhere")
    item = box.conflict_view.topLevelItem(0)
    assert item is not None
    assert item.text(1) == "class “9A on the laptop”"
    assert item.text(2) == "name: kept “9A at home”, now “9A on the laptop”"
    shots(box, "sync-with-a-conflict")

    box.conflict_view.setCurrentItem(item)
    assert box.restore_button.isEnabled()
    QTest.mouseClick(box.restore_button, Qt.MouseButton.LeftButton)
    await settled(box)
    assert box.message.text().startswith("Restored here")
    from app.operations.classes import list_class_summaries  # noqa: PLC0415

    assert [c.name for c in list_class_summaries(db)] == ["9A at home"]
    assert box.conflict_view.topLevelItemCount() == 0
