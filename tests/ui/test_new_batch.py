"""The new batch dialog: validated as typed, Enter creates, a class batch, a guest batch with a
new assignment, Cancel creates nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.queries import get_batch, list_assignments, list_batches
from app.operations.school import NewAssignment, NewClass, create_assignment, create_class
from tests.ui.conftest import settle, wait_until
from ui.new_batch import NewBatchDialog, create_batch_interactively
from ui.tasks import TaskRunner

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.deleteLater()


@pytest.fixture
def school(db: Database) -> tuple[str, str]:
    klass = create_class(db, NewClass("9B English", "ENG5", "2026/27")).id
    create_class(db, NewClass("9A English"))
    assignment = create_assignment(db, NewAssignment("Phones in school")).id
    return klass, assignment


async def open_dialog() -> NewBatchDialog:
    def visible() -> NewBatchDialog | None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, NewBatchDialog) and widget.isVisible():
                return widget
        return None

    await wait_until(lambda: visible() is not None)
    dialog = visible()
    assert dialog is not None
    return dialog


async def test_a_class_batch_is_created_with_enter(
    qtbot: QtBot,
    db: Database,
    runner: TaskRunner,
    school: tuple[str, str],
    shots: Callable[[QWidget, str], Path],
) -> None:
    klass, assignment = school
    task = asyncio.ensure_future(create_batch_interactively(None, db, runner))
    dialog = await open_dialog()
    classes = [dialog.class_combo.itemText(i) for i in range(dialog.class_combo.count())]
    assert classes == [
        "9A English (0 students)",
        "9B English (0 students)",
        "No class (guest batch)",
    ]
    assert dialog.assignment_combo.currentText() == "Phones in school"
    assert not dialog.new_assignment.isVisible()
    # no title yet: Create is disabled and the form says why
    assert not dialog.create_button.isEnabled()
    assert dialog.hint.text() == "Give the batch a title."

    qtbot.keyClicks(dialog.title, "Phones in school - 9B")  # type: ignore[no-untyped-call]
    dialog.class_combo.setCurrentIndex(dialog.class_combo.findData(klass))
    assert dialog.create_button.isEnabled()
    assert "matched to the class's students" in dialog.hint.text()
    await settle()
    shots(dialog, "new-batch")
    qtbot.keyClick(dialog.title, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    batch_id = await asyncio.wait_for(task, 10)
    assert batch_id is not None
    row = get_batch(db, batch_id)
    assert (row.title, row.class_id, row.assignment_id) == (
        "Phones in school - 9B",
        klass,
        assignment,
    )


async def test_a_guest_batch_with_a_new_assignment(
    qtbot: QtBot, db: Database, runner: TaskRunner, school: tuple[str, str]
) -> None:
    task = asyncio.ensure_future(create_batch_interactively(None, db, runner))
    dialog = await open_dialog()
    qtbot.keyClicks(dialog.title, "Summer school letters")  # type: ignore[no-untyped-call]
    dialog.class_combo.setCurrentIndex(dialog.class_combo.count() - 1)
    assert dialog.hint.text() == "A guest batch: no students to match."
    dialog.assignment_combo.setCurrentIndex(dialog.assignment_combo.count() - 1)
    assert dialog.new_assignment.isVisible()
    assert not dialog.create_button.isEnabled()
    assert dialog.hint.text() == "Give the new assignment a title."
    qtbot.keyClicks(dialog.new_assignment, "A letter to my future self")  # type: ignore[no-untyped-call]
    dialog.create_button.click()
    batch_id = await asyncio.wait_for(task, 10)
    assert batch_id is not None
    row = get_batch(db, batch_id)
    assert row.guest
    assert row.assignment_title == "A letter to my future self"
    assert len(list_assignments(db)) == 2


async def test_cancel_creates_nothing(
    qtbot: QtBot, db: Database, runner: TaskRunner, school: tuple[str, str]
) -> None:
    task = asyncio.ensure_future(create_batch_interactively(None, db, runner))
    dialog = await open_dialog()
    qtbot.keyClicks(dialog.title, "Not wanted")  # type: ignore[no-untyped-call]
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]
    assert await asyncio.wait_for(task, 10) is None
    assert list_batches(db) == []


async def test_a_refusal_is_shown_in_the_open_dialog(
    qtbot: QtBot, db: Database, runner: TaskRunner, school: tuple[str, str]
) -> None:
    from app import school as store  # noqa: PLC0415

    klass, _assignment = school
    task = asyncio.ensure_future(create_batch_interactively(None, db, runner))
    dialog = await open_dialog()
    qtbot.keyClicks(dialog.title, "Too late")  # type: ignore[no-untyped-call]
    dialog.class_combo.setCurrentIndex(dialog.class_combo.findData(klass))
    with db.session() as s:  # the class is deleted meanwhile (on the command line)
        store.find_class(s, klass).soft_delete()
    dialog.create_button.click()
    await wait_until(lambda: dialog.isVisible() and dialog.hint.text() != "")
    await wait_until(lambda: "class" in dialog.hint.text().lower() and dialog.isVisible())
    assert list_batches(db) == []
    dialog.reject()
    assert await asyncio.wait_for(task, 10) is None
