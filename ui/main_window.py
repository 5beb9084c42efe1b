"""The main window: a sidebar of pages, the pages, and the running tasks in the status bar.

The window presents and asks; operations run through the :class:`~ui.tasks.TaskRunner` it is
given. Closing it does not quit by itself: it emits ``closed`` and the main coroutine
(:func:`ui.app.run_window`) stops the running operations and ends the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.operations.base import Failed
from ui.batches import BatchesPage
from ui.errors import show_failure
from ui.i18n import QT_TRANSLATE_NOOP
from ui.tasks import Operation, TaskPanel, TaskRunner

translate = QCoreApplication.translate

PAGES: tuple[tuple[str, str], ...] = (
    ("classes", QT_TRANSLATE_NOOP("MainWindow", "Classes")),
    ("assignments", QT_TRANSLATE_NOOP("MainWindow", "Assignments")),
    ("batches", QT_TRANSLATE_NOOP("MainWindow", "Batches")),
    ("settings", QT_TRANSLATE_NOOP("MainWindow", "Settings")),
)
"""The sidebar's pages: a key and an English label (context ``MainWindow``)."""


class PlaceholderPage(QWidget):
    """A page not built yet: its heading and what it will hold, said plainly."""

    def __init__(self, heading: str, paragraphs: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        title = QLabel(heading)
        title.setObjectName("pageHeading")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        self.texts: list[QLabel] = []
        for paragraph in paragraphs:
            label = QLabel(paragraph)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setMaximumWidth(720)
            layout.addWidget(label)
            self.texts.append(label)
        layout.addStretch(1)

    def text(self) -> str:
        return "\n".join(label.text() for label in self.texts)


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
        self.batches_page = BatchesPage(db, runner)
        self.batches_page.batch_activated.connect(self._batch_activated)
        self.pages: dict[str, QWidget] = {
            "classes": PlaceholderPage(
                translate("MainWindow", "Classes"),
                [
                    translate(
                        "MainWindow",
                        "Not built yet. This page will list your classes with their courses, "
                        "school years and number of students; you will add a class, import its "
                        "roster from a spreadsheet and correct a student's name here.",
                    ),
                    translate(
                        "MainWindow",
                        "Until then, the command line does it: huleedu import roster, and "
                        "huleedu list classes.",
                    ),
                ],
            ),
            "assignments": PlaceholderPage(
                translate("MainWindow", "Assignments"),
                [
                    translate(
                        "MainWindow",
                        "Not built yet. This page will list your assignments: what the students "
                        "were asked to write, the assessment criteria, the grade scale and the "
                        "anchor essays with known grades that turn the ranking into grades.",
                    ),
                    translate(
                        "MainWindow",
                        "Until then, the command line does it: huleedu import anchors, and "
                        "huleedu list assignments.",
                    ),
                ],
            ),
            "batches": self.batches_page,
            "settings": PlaceholderPage(
                translate("MainWindow", "Settings"),
                [
                    translate(
                        "MainWindow",
                        "Not built yet. This page will hold the judge (provider and model), "
                        "API keys (kept in the system keyring, never in the database), the "
                        "default stopping rule and the language.",
                    ),
                    translate("MainWindow", "Data folder: {path}").format(path=data_dir),
                    translate("MainWindow", "Database: {path}").format(path=db.path),
                ],
            ),
        }
        for key, label in PAGES:
            item = QListWidgetItem(translate("MainWindow", label))
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.nav.addItem(item)
            self.stack.addWidget(self.pages[key])
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)

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

    def show_page(self, key: str) -> None:
        """Show the page ``key`` (one of :data:`PAGES`)."""
        keys = [k for k, _ in PAGES]
        self.nav.setCurrentRow(keys.index(key))

    def current_page(self) -> str:
        return PAGES[self.stack.currentIndex()][0]

    def _operation_finished(self, operation: Operation[Any]) -> None:
        if isinstance(operation.outcome, Failed) and operation.show_failure and self.isVisible():
            show_failure(operation.outcome, self)

    def _batch_activated(self, _batch_id: str) -> None:
        self.statusBar().showMessage(
            translate("MainWindow", "The batch screen is not built yet."), 5000
        )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        event.accept()
        self.closed.emit()
