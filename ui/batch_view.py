"""One batch, from its essays to its grades: a header and four tabs.

*Essays* (import and the outcome of every file), *Students* (match review), *Grading* (the run:
judge, estimate, start, pause, resume, cancel, live progress) and *Results* (ranking, chart,
export). The view opens on the tab the batch's status calls for: a batch waiting for essays on
*Essays*, one with matches to settle on *Students*, one ready or running on *Grading*, a graded
one on *Results*.

Runs go on while the teacher looks elsewhere: the view keeps one :class:`~ui.run_panel.RunPanel`
per batch it has shown (in a stack under the *Grading* tab), so a run started on one batch keeps
its panel, its progress and its pause button when another batch is opened.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.db.models import BatchStatus
from app.operations.base import Completed
from app.operations.queries import BatchRow, get_batch
from ui.batches import group_of
from ui.i18n import english_plural
from ui.importing import ImportPanel
from ui.matching import MatchReviewPanel
from ui.results import ResultsPanel
from ui.run_panel import RunPanel
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

ESSAYS, STUDENTS, GRADING, RESULTS = range(4)
"""The tabs, in order."""


def tab_for(row: BatchRow) -> int:
    """The tab a batch opens on, from its status."""
    status = row.status
    if status == BatchStatus.PENDING_CONTENT:
        return ESSAYS
    if status == BatchStatus.AWAITING_STUDENT_CONFIRMATION:
        return STUDENTS
    if status in (BatchStatus.COMPLETED_SUCCESSFULLY, BatchStatus.COMPLETED_WITH_FAILURES):
        return RESULTS
    return GRADING


class BatchView(QWidget):
    """The batch screen. ``back`` asks to return to the dashboard; ``changed`` says something
    stored changed (the dashboard reloads)."""

    back = Signal()
    changed = Signal()

    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        data_dir: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("batchView")
        self.db = db
        self.runner = runner
        self.data_dir = data_dir
        self.batch_id: str | None = None
        self.row: BatchRow | None = None
        self._open_on_load = True

        self.back_button = QPushButton(translate("BatchView", "← &Batches"))
        self.back_button.setToolTip(translate("BatchView", "Back to all batches (Esc)"))
        self.back_button.clicked.connect(self.back.emit)
        self.title = QLabel()
        self.title.setObjectName("batchTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle = QLabel()
        self.subtitle.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle.setStyleSheet("color: palette(mid);")
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.RichText)

        heading = QVBoxLayout()
        heading.setSpacing(2)
        heading.addWidget(self.title)
        heading.addWidget(self.subtitle)
        top = QHBoxLayout()
        top.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addSpacing(8)
        top.addLayout(heading, 1)
        top.addWidget(self.status, 0, Qt.AlignmentFlag.AlignTop)

        self.import_panel = ImportPanel(db, runner)
        self.match_panel = MatchReviewPanel(db, runner)
        self.run_stack = QStackedWidget()
        self.run_panels: dict[str, RunPanel] = {}
        self.results_panel = ResultsPanel(db, runner)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.import_panel, translate("BatchView", "&Essays"))
        self.tabs.addTab(self.match_panel, translate("BatchView", "&Students"))
        self.tabs.addTab(self.run_stack, translate("BatchView", "&Grading"))
        self.tabs.addTab(self.results_panel, translate("BatchView", "&Results"))
        for panel in (self.import_panel, self.match_panel):
            panel.changed.connect(self._stored_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self.back.emit)

    # ------------------------------------------------------------------ batches

    def set_batch(self, batch_id: str, tab: int | None = None) -> Operation[BatchRow]:
        """Show ``batch_id``: every tab loads it; the view opens on ``tab``, or on the tab
        its status calls for once the batch is loaded."""
        self.batch_id = batch_id
        self.row = None
        self.title.setText(translate("BatchView", "Loading…"))
        self.subtitle.clear()
        self.status.clear()
        self._open_on_load = tab is None
        if tab is not None:
            self.tabs.setCurrentIndex(tab)
        self.import_panel.set_batch(batch_id)
        self.match_panel.set_batch(batch_id)
        fresh = batch_id not in self.run_panels
        panel = self.run_panel(batch_id)
        if not fresh and not panel.is_running():
            panel.set_batch(batch_id)  # the command line may have changed it meanwhile
        self.run_stack.setCurrentWidget(panel)
        self.results_panel.set_batch(batch_id)
        return self.reload_header()

    def run_panel(self, batch_id: str) -> RunPanel:
        """The batch's run panel (made the first time it is asked for; kept while the view
        lives, so a run goes on with its panel when another batch is shown)."""
        panel = self.run_panels.get(batch_id)
        if panel is None:
            panel = RunPanel(self.db, self.runner, self.data_dir)
            panel.set_batch(batch_id)
            panel.changed.connect(self._stored_changed)
            panel.run_finished.connect(partial(self._run_finished, batch_id))
            self.run_panels[batch_id] = panel
            self.run_stack.addWidget(panel)
        return panel

    def forget(self, batch_id: str) -> None:
        """Drop what the view keeps of a deleted batch (its run panel; the batch shown)."""
        panel = self.run_panels.pop(batch_id, None)
        if panel is not None and not panel.is_running():
            self.run_stack.removeWidget(panel)
            panel.deleteLater()
        elif panel is not None:  # not expected: a batch being graded cannot be deleted
            self.run_panels[batch_id] = panel
        if self.batch_id == batch_id:
            self.batch_id = None
            self.row = None

    def running_panels(self) -> list[RunPanel]:
        """The run panels whose run is being driven now."""
        return [panel for panel in self.run_panels.values() if panel.is_running()]

    def reload_header(self) -> Operation[BatchRow]:
        batch_id = self.batch_id
        assert batch_id is not None
        return self.runner.start_blocking(
            translate("BatchView", "Loading the batch"),
            partial(_load_batch, self.db, batch_id),
            show_failure=False,
            on_done=partial(self._header_loaded, batch_id),
        )

    def _header_loaded(self, batch_id: str, operation: Operation[BatchRow]) -> None:
        if batch_id != self.batch_id:
            return
        outcome = operation.outcome
        if not isinstance(outcome, Completed):
            self.title.setText(translate("BatchView", "This batch could not be loaded"))
            return
        row: BatchRow = outcome.value
        self.row = row
        self.title.setText(row.title)
        who = row.class_name or translate("BatchView", "Guest batch (no class)")
        essays = translate("BatchView", "%n essay(s)", "", row.essays)
        self.subtitle.setText(
            f"{who}  ·  {row.assignment_title}  ·  {english_plural(essays, row.essays)}"
        )
        group = group_of(row.status)
        panel = self.run_panels.get(batch_id)
        if panel is not None and panel.is_running():
            group = group_of(BatchStatus.PROCESSING)  # stored a moment after the drive starts
        color = group.color if group else "#757575"
        text = group.text() if group else row.status_text
        self.status.setText(f'<span style="color:{color}; font-size:large">●</span> {text}')
        self.status.setToolTip(row.status_text)
        self.tabs.setTabEnabled(STUDENTS, not row.guest)
        if self._open_on_load:
            self._open_on_load = False
            self.tabs.setCurrentIndex(tab_for(row))

    def _stored_changed(self) -> None:
        if self.batch_id is not None:
            self.reload_header()
            sender = self.sender()
            if sender is not self.match_panel:
                self.match_panel.set_batch(self.batch_id)
            panel = self.run_panels.get(self.batch_id)
            if panel is not None and sender is not panel and not panel.is_running():
                panel.set_batch(self.batch_id)
        self.changed.emit()

    def _run_finished(self, batch_id: str, _run_id: str) -> None:
        if batch_id == self.batch_id:
            self.results_panel.set_batch(batch_id)
            self.reload_header()
            if self.tabs.currentIndex() == GRADING:
                self.tabs.setCurrentIndex(RESULTS)
        self.changed.emit()


def _load_batch(db: Database, batch_id: str, **_operation: object) -> BatchRow:
    return get_batch(db, batch_id)
