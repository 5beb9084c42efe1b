"""The Batches page over a real database: 1,000 stored batches loaded through the task runner
in a worker thread, searched, filtered and sorted from its controls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

import ui.batches
from app.db.engine import Database
from app.operations.base import Completed, Failed, FailureKind, OperationError
from app.operations.queries import BatchRow, list_batches
from tests.ui.conftest import settle, wait_until
from tests.ui.data import fill_batches
from ui.batches import BatchesPage, Column
from ui.errors import ErrorDialog
from ui.tasks import TaskRunner

Shots = Callable[[QWidget, str], Path]


def _page(qtbot: QtBot, db: Database) -> BatchesPage:
    page = BatchesPage(db, TaskRunner())
    qtbot.addWidget(page)
    page.resize(1100, 640)
    return page


async def test_a_thousand_stored_batches(
    qtbot: QtBot, db: Database, shots: Shots, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = fill_batches(db, 1000)
    queried_on: list[threading.Thread] = []

    def spying_list_batches(database: Database) -> list[BatchRow]:
        queried_on.append(threading.current_thread())
        return list_batches(database)

    monkeypatch.setattr(ui.batches, "list_batches", spying_list_batches)
    page = _page(qtbot, db)
    page.show()  # the first showing loads
    assert page.loading is not None
    outcome = await asyncio.wait_for(page.loading.wait(), 20)
    assert isinstance(outcome, Completed)
    assert queried_on and queried_on[0] is not threading.main_thread()

    model = page.model
    assert model.total_count() == model.rowCount() == 1000
    assert page.count_label.text() == "1000 batches"
    by_group = model.group_counts()
    assert by_group["running"] == counts["processing"]
    assert by_group["attention"] == (
        counts["awaiting_student_confirmation"] + counts["failed"] + counts["paused"]
    )
    assert sum(by_group.values()) == 1000
    stored = {r.id: r for r in outcome.value}
    assert sum(1 for r in stored.values() if r.guest) == sum(1 for i in range(1000) if i % 7 == 3)
    assert {r.essays for r in stored.values()} == {0, 1, 2, 3}
    await settle()
    shots(page, "batches-1000")

    # The status filter lists every group with its count, and filters the table.
    combo = page.status_filter
    assert combo.count() == 1 + len(ui.batches.STATUS_GROUPS)
    assert combo.itemText(0) == "All batches (1000)"
    running = combo.findData("running")
    assert combo.itemText(running) == f"Running ({counts['processing']})"
    combo.setCurrentIndex(combo.findData("attention"))
    assert model.rowCount() == by_group["attention"]
    assert {r.status for r in model.visible_rows()} == {
        "awaiting_student_confirmation",
        "failed",
        "paused",
    }
    assert page.count_label.text() == f"{by_group['attention']} of 1000 batches"
    await settle()
    shots(page, "batches-needs-attention")

    # Search and sort from the controls.
    QTest.keyClicks(page.search, "book guest")
    assert model.rowCount() > 0
    assert all(
        r.class_name is None and r.assignment_title == "Book review" for r in model.visible_rows()
    )
    page.search.clear()
    combo.setCurrentIndex(0)
    page.view.horizontalHeader().setSortIndicator(Column.ESSAYS, Qt.SortOrder.AscendingOrder)
    essays = [r.essays for r in model.visible_rows()]
    assert essays == sorted(essays)

    # A reload keeps the filter and the selection, and shows new rows.
    combo.setCurrentIndex(running)
    assert page.select_batch(model.row_at(3).id)
    chosen = page.selected_batch()
    fill_batches(db, 9)
    reloaded = page.reload()
    assert page.reload() is reloaded  # one load at a time
    await asyncio.wait_for(reloaded.wait(), 20)
    assert model.total_count() == 1009
    assert combo.currentData() == "running"
    assert combo.itemText(0) == "All batches (1009)"
    assert {r.status for r in model.visible_rows()} == {"processing"}
    assert chosen is not None and page.selected_batch() is not None
    assert page.selected_batch().id == chosen.id  # type: ignore[union-attr]


async def test_columns_are_readable(qtbot: QtBot, db: Database, shots: Shots) -> None:
    fill_batches(db, 30)
    page = _page(qtbot, db)
    page.show()
    assert page.loading is not None
    await asyncio.wait_for(page.loading.wait(), 20)
    header = page.view.horizontalHeader()
    metrics = page.view.fontMetrics()
    title_width = max(metrics.horizontalAdvance(r.title) for r in page.model.visible_rows())
    assert header.sectionSize(Column.TITLE) >= title_width + 8
    for column in (Column.STATUS, Column.PROGRESS, Column.UPDATED, Column.ESSAYS):
        widest = max(
            metrics.horizontalAdvance(page.model.index(r, column).data())
            for r in range(page.model.rowCount())
        )
        assert header.sectionSize(column) >= widest, column
    total = sum(header.sectionSize(c) for c in Column)
    assert total <= page.view.viewport().width() + 1
    wide = {c: header.sectionSize(c) for c in Column}
    page.resize(820, 500)  # narrower: title, class and assignment give way, not below minimums
    await wait_until(lambda: header.sectionSize(Column.ASSIGNMENT) < wide[Column.ASSIGNMENT])
    assert header.sectionSize(Column.TITLE) >= min(title_width, 180)
    assert header.sectionSize(Column.ASSIGNMENT) >= 130
    for column in (Column.STATUS, Column.PROGRESS, Column.UPDATED, Column.ESSAYS):
        assert header.sectionSize(column) == wide[column]
    await settle()
    shots(page, "batches-narrow")


async def test_an_empty_database_says_how_batches_arrive(qtbot: QtBot, db: Database) -> None:
    page = _page(qtbot, db)
    page.show()
    assert page.loading is not None
    await asyncio.wait_for(page.loading.wait(), 20)
    assert page.body.currentIndex() == 1
    assert page.notice.text().startswith("No batches yet.")
    assert page.count_label.text() == "0 batches"


async def test_a_load_that_fails_is_explained_with_details(
    qtbot: QtBot, db: Database, shots: Shots, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_db: Database) -> list[BatchRow]:
        raise OperationError(
            FailureKind.DATABASE,
            "The database cannot be used: disk I/O error.",
            "sqlite3.OperationalError: disk I/O error",
        )

    monkeypatch.setattr(ui.batches, "list_batches", broken)
    page = _page(qtbot, db)
    page.show()
    assert page.loading is not None
    outcome = await asyncio.wait_for(page.loading.wait(), 20)
    assert isinstance(outcome, Failed)
    assert not page.loading.show_failure  # the page explains it itself
    assert page.body.currentIndex() == 1
    assert "could not be loaded" in page.notice.text()
    assert "disk I/O error" in page.notice.text()
    assert page.retry_button.isVisible() and page.details_button.isVisible()
    await settle()
    shots(page, "batches-failed")

    page.details_button.click()
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, ErrorDialog)]
    shown = [d for d in dialogs if d.isVisible()]
    assert len(shown) == 1
    assert "sqlite3.OperationalError" in shown[0].details_view.toPlainText()
    shown[0].accept()

    monkeypatch.setattr(ui.batches, "list_batches", lambda _db: [])
    page.retry_button.click()
    assert page.loading is not None
    await asyncio.wait_for(page.loading.wait(), 20)
    assert page.last_failure is None
    assert not page.retry_button.isVisible()
    assert page.notice.text().startswith("No batches yet.")


async def test_activating_a_row_names_its_batch(qtbot: QtBot, db: Database) -> None:
    fill_batches(db, 5)
    page = _page(qtbot, db)
    page.show()
    assert page.loading is not None
    await asyncio.wait_for(page.loading.wait(), 20)
    chosen: list[str] = []
    page.batch_activated.connect(chosen.append)
    page.view.doubleClicked.emit(page.model.index(2, Column.TITLE))
    assert chosen == [page.model.row_at(2).id]


async def test_delete_a_batch_after_saying_what_goes(
    qtbot: QtBot, db: Database, shots: Shots
) -> None:
    from PySide6.QtWidgets import QPushButton  # noqa: PLC0415

    from app.operations.first_start import seed_demo_school  # noqa: PLC0415
    from app.operations.school import NewBatch, create_batch  # noqa: PLC0415

    demo = seed_demo_school(db)
    assert demo is not None
    create_batch(db, NewBatch("Autumn essays", demo.assignment_id, demo.class_id))
    page = _page(qtbot, db)
    deleted: list[str] = []
    page.batch_deleted.connect(deleted.append)
    page.show()
    assert page.loading is not None
    await asyncio.wait_for(page.loading.wait(), 20)
    assert page.select_batch(demo.batch_id)

    click_task = page.ask_delete_selected()
    assert click_task is not None
    await wait_until(lambda: page.dialog is not None and page.dialog.isVisible())
    box = page.dialog
    assert box is not None
    assert box.text() == "Delete Phones in school?"
    assert (
        box.informativeText().splitlines()[0]
        == f"Erased: {demo.essays + demo.anchors} essays and 0 judged comparisons."
    )
    shots(box, "batches-delete-question")
    box.findChild(QPushButton, "confirmButton").click()  # type: ignore[union-attr]
    await asyncio.wait_for(click_task, 20)
    await wait_until(lambda: page.loading is not None and page.loading.done)
    await settle()
    assert deleted == [demo.batch_id]
    assert [row.title for row in list_batches(db)] == ["Autumn essays"]
    assert page.model.total_count() == 1
