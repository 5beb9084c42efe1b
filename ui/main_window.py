"""The main window: a sidebar of pages, the pages, and the running tasks in the status bar.

The window presents and asks; operations run through the :class:`~ui.tasks.TaskRunner` it is
given. Closing it does not quit by itself: it emits ``closed`` and the main coroutine
(:func:`ui.app.run_window`) stops the running operations and ends the app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.operations.base import Completed, Failed
from app.operations.first_start import DemoSchool, seed_demo_school
from app.operations.queries import get_batch, run_report
from app.operations.runs import find_interrupted
from ui.assignments import AssignmentsPage
from ui.batch_view import ESSAYS, GRADING, BatchView
from ui.batches import BatchesPage
from ui.classes import ClassesPage
from ui.dialogs import open_and_wait
from ui.errors import show_failure
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.new_batch import create_batch_interactively
from ui.settings_page import SettingsPage
from ui.tasks import Operation, TaskPanel, TaskRunner

translate = QCoreApplication.translate

PAGES: tuple[tuple[str, str], ...] = (
    ("classes", QT_TRANSLATE_NOOP("MainWindow", "Classes")),
    ("assignments", QT_TRANSLATE_NOOP("MainWindow", "Assignments")),
    ("batches", QT_TRANSLATE_NOOP("MainWindow", "Batches")),
    ("settings", QT_TRANSLATE_NOOP("MainWindow", "Settings")),
)
"""The sidebar's pages: a key and an English label (context ``MainWindow``)."""


class MainWindow(QMainWindow):
    """Sidebar navigation over stacked pages; the Batches page is the dashboard.

    ``closed`` is emitted when the teacher closes the window (the event is accepted; the
    caller ends the app).
    """

    closed = Signal()

    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        *,
        data_dir: Path | None = None,
        task_panel_delay_ms: int = 400,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(translate("MainWindow", "HuleEdu"))
        self.db = db
        self.runner = runner
        self._close_confirmed = False
        self.close_prompt: QMessageBox | None = None
        self.resume_prompt: QMessageBox | None = None
        self.asking: asyncio.Task[str | None] | None = None
        data_dir = data_dir or db.path.parent

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFrameShape(QFrame.Shape.NoFrame)
        self.nav.setIconSize(QSize(18, 18))
        self.nav.setSpacing(2)
        self.nav.setFixedWidth(176)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        font = self.nav.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.nav.setFont(font)
        self.nav.setStyleSheet(
            "QListWidget#navigation { background: palette(window); padding: 8px 6px;"
            " outline: 0; }"
            "QListWidget#navigation::item { padding: 7px 10px; border-radius: 4px; }"
            "QListWidget#navigation::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }"
        )

        self.stack = QStackedWidget()
        self.stack.setObjectName("pages")
        self.data_dir = data_dir
        self.batches_page = BatchesPage(db, runner)
        self.batches_page.batch_activated.connect(self.open_batch)
        self.batches_page.new_batch_requested.connect(self.new_batch)
        self.batches_page.batch_deleted.connect(self._batch_deleted)
        self.pages: dict[str, QWidget] = {"batches": self.batches_page}
        """Pages built so far (each is built the first time it is shown)."""
        self._batch_view: BatchView | None = None
        for key, label in PAGES:
            item = QListWidgetItem(translate("MainWindow", label))
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.nav.addItem(item)
        self.stack.addWidget(self.batches_page)
        self.nav.currentRowChanged.connect(self._nav_changed)

        separator = QFrame()
        separator.setFrameShape(QFrame.Shape.VLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(separator)
        body = QVBoxLayout()
        body.setContentsMargins(12, 8, 12, 4)
        body.addWidget(self.stack)
        layout.addLayout(body, 1)
        self.setCentralWidget(central)

        self.task_panel = TaskPanel(runner, self, show_after_ms=task_panel_delay_ms)
        self.statusBar().addPermanentWidget(self.task_panel)
        self.statusBar().setSizeGripEnabled(True)
        runner.finished.connect(self._operation_finished)

        quit_action = QAction(translate("MainWindow", "&Quit"), self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        file_menu = self.menuBar().addMenu(translate("MainWindow", "&File"))
        file_menu.addAction(quit_action)
        go_menu = self.menuBar().addMenu(translate("MainWindow", "&Go"))
        for position, (key, label) in enumerate(PAGES, start=1):
            action = QAction(translate("MainWindow", label), self)
            action.setShortcut(QKeySequence(f"Ctrl+{position}"))
            action.triggered.connect(lambda _checked=False, k=key: self.show_page(k))
            go_menu.addAction(action)

        self.resize(1180, 720)
        self.show_page("batches")

    # ------------------------------------------------------------------ pages

    def page(self, key: str) -> QWidget:
        """The page ``key`` (one of :data:`PAGES`, or ``"batch"``), built on first use."""
        page = self.pages.get(key)
        if page is None:
            page = self._build_page(key)
            self.pages[key] = page
            self.stack.addWidget(page)
        return page

    def _build_page(self, key: str) -> QWidget:
        if key == "classes":
            classes = ClassesPage(self.db, self.runner)
            classes.changed.connect(self._data_changed)
            return classes
        if key == "assignments":
            assignments = AssignmentsPage(self.db, self.runner)
            assignments.changed.connect(self._data_changed)
            return assignments
        if key == "settings":
            return SettingsPage(self.db, self.runner, self.data_dir)
        if key == "batch":
            return self.batch_view
        raise KeyError(key)

    @property
    def batch_view(self) -> BatchView:
        """The batch screen (built the first time a batch is opened)."""
        if self._batch_view is None:
            view = BatchView(self.db, self.runner, self.data_dir)
            view.back.connect(lambda: self.show_page("batches"))
            view.changed.connect(self._data_changed)
            self._batch_view = view
            self.pages["batch"] = view
            self.stack.addWidget(view)
        return self._batch_view

    def show_page(self, key: str) -> None:
        """Show the page ``key`` (one of :data:`PAGES`)."""
        keys = [k for k, _ in PAGES]
        if self.nav.currentRow() == keys.index(key):
            self._nav_changed(self.nav.currentRow())
        else:
            self.nav.setCurrentRow(keys.index(key))

    def _nav_changed(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentWidget(self.page(PAGES[row][0]))

    def current_page(self) -> str:
        current = self.stack.currentWidget()
        return next(key for key, page in self.pages.items() if page is current)

    def open_batch(self, batch_id: str, tab: int | None = None) -> BatchView:
        """Show the batch screen of ``batch_id`` (on ``tab``, else as its status calls for)."""
        view = self.batch_view
        view.set_batch(batch_id, tab)
        keys = [k for k, _ in PAGES]
        self.nav.blockSignals(True)
        self.nav.setCurrentRow(keys.index("batches"))
        self.nav.blockSignals(False)
        self.stack.setCurrentWidget(view)
        return view

    def new_batch(self) -> asyncio.Task[str | None]:
        """Ask for a new batch's title, class and assignment; then open it on *Essays*. (A
        plain task, not an operation: a dialog waiting for the teacher is not work to list in
        the task panel; the dialog's own loads and writes are operations.)"""
        if self.asking is None or self.asking.done():
            self.asking = asyncio.ensure_future(self._new_batch())
        return self.asking

    async def _new_batch(self) -> str | None:
        batch_id = await create_batch_interactively(self, self.db, self.runner)
        if batch_id is not None:
            self.batches_page.reload()
            self.open_batch(batch_id, ESSAYS)
        return batch_id

    def _data_changed(self) -> None:
        self.batches_page.reload()

    def _batch_deleted(self, batch_id: str) -> None:
        if self._batch_view is not None:
            self._batch_view.forget(batch_id)

    # ------------------------------------------------------------------ start and close

    async def start(self) -> None:
        """After the window is shown: fill an empty database with the demo, then offer to
        resume the runs a crash or a closed window left running."""
        seeded = await self.runner.start_blocking(
            translate("MainWindow", "Preparing the demo class and batch"),
            partial(_seed_demo, self.db),
        ).wait()
        if isinstance(seeded, Completed) and seeded.value is not None:
            self.batches_page.reload()
        await self.offer_resume()

    async def offer_resume(self) -> list[str]:
        """Ask whether to resume interrupted runs; resume them if the teacher agrees. Returns
        the ids of the runs resumed."""
        found = await self.runner.start_blocking(
            translate("MainWindow", "Looking for interrupted runs"),
            partial(_interrupted, self.db),
            show_failure=False,
        ).wait()
        if not isinstance(found, Completed) or not found.value:
            return []
        interrupted: list[InterruptedRun] = found.value
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(translate("MainWindow", "Resume grading?"))
        count = len(interrupted)
        box.setText(
            english_plural(
                translate(
                    "MainWindow",
                    "%n run(s) stopped before finishing: the app was closed or the computer "
                    "stopped while grading.",
                    "",
                    count,
                ),
                count,
            )
        )
        box.setInformativeText(
            "\n".join(f"• {batch}" for batch in dict.fromkeys(r.batch_title for r in interrupted))
            + "\n\n"
            + translate(
                "MainWindow",
                "Every verdict received so far is kept. Resume now, or later from the "
                "batch's Grading tab.",
            )
        )
        resume = box.addButton(
            translate("MainWindow", "&Resume"), QMessageBox.ButtonRole.AcceptRole
        )
        box.addButton(translate("MainWindow", "&Later"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(resume)
        self.resume_prompt = box
        await open_and_wait(box)
        self.resume_prompt = None
        if box.clickedButton() is not resume:
            return []
        resumed = []
        for report in interrupted:
            panel = self.batch_view.run_panel(report.batch_id)
            if panel.loading is not None:
                await panel.loading.wait()
            if panel.current_run_id() == report.run_id and not panel.is_running():
                panel.resume()
                resumed.append(report.run_id)
        if interrupted:
            self.open_batch(interrupted[0].batch_id, GRADING)
        return resumed

    def running_runs(self) -> int:
        """Runs being driven from this window now."""
        return len(self._batch_view.running_panels()) if self._batch_view else 0

    def _operation_finished(self, operation: Operation[Any]) -> None:
        if isinstance(operation.outcome, Failed) and operation.show_failure and self.isVisible():
            show_failure(operation.outcome, self)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        running = self.running_runs()
        unsaved = self.unsaved_pages()
        if (running or unsaved) and not self._close_confirmed:
            event.ignore()
            if self.close_prompt is None:
                self._ask_to_close(running, unsaved)
            return
        event.accept()
        self.closed.emit()

    def unsaved_pages(self) -> list[str]:
        """The pages holding edits not stored yet (their sidebar labels)."""
        labels = dict(PAGES)
        return [
            translate("MainWindow", labels[key])
            for key, page in self.pages.items()
            if key in labels and getattr(page, "is_dirty", lambda: False)()
        ]

    def _ask_to_close(self, running: int, unsaved: list[str]) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        lines = []
        if running:
            box.setWindowTitle(translate("MainWindow", "Grading is running"))
            lines.append(
                english_plural(
                    translate("MainWindow", "Grading is running on %n batch(es).", "", running),
                    running,
                )
            )
        else:
            box.setWindowTitle(translate("MainWindow", "Unsaved changes"))
        if unsaved:
            lines.append(
                translate("MainWindow", "Changes not saved yet on: {pages}.").format(
                    pages=", ".join(unsaved)
                )
            )
        box.setText("\n".join(lines))
        informative = []
        if running:
            informative.append(
                translate(
                    "MainWindow",
                    "Closing pauses the grading: every verdict received so far is kept, and "
                    "the next start offers to resume.",
                )
            )
        if unsaved:
            informative.append(
                translate("MainWindow", "Closing now discards the changes not saved.")
            )
        box.setInformativeText(" ".join(informative))
        close = box.addButton(
            translate("MainWindow", "&Pause and close")
            if running
            else translate("MainWindow", "&Close without saving"),
            QMessageBox.ButtonRole.AcceptRole,
        )
        stay = box.addButton(
            translate("MainWindow", "&Keep grading")
            if running
            else translate("MainWindow", "&Go back"),
            QMessageBox.ButtonRole.RejectRole,
        )
        box.setDefaultButton(stay if unsaved else close)

        def answered(_code: int) -> None:
            self.close_prompt = None
            if box.clickedButton() is close:
                self._close_confirmed = True
                self.close()

        box.finished.connect(answered)
        self.close_prompt = box
        box.open()


@dataclass(frozen=True)
class InterruptedRun:
    run_id: str
    batch_id: str
    batch_title: str


def _seed_demo(db: Database, **_operation: object) -> DemoSchool | None:
    return seed_demo_school(db)


def _interrupted(db: Database, **_operation: object) -> list[InterruptedRun]:
    runs = []
    for run_id in find_interrupted(db):
        report = run_report(db, run_id)
        runs.append(InterruptedRun(run_id, report.batch_id, get_batch(db, report.batch_id).title))
    return runs
