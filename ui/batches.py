"""The Batches page: every batch with its class, assignment, status and newest run.

:class:`BatchTableModel` holds the rows of :func:`app.operations.queries.list_batches` and does
its own searching, filtering and sorting (no ``QSortFilterProxyModel``: over a Python model it
took seconds for 10,000 rows where doing it in the model takes milliseconds). The teacher's
status filter is a :class:`StatusGroup`; :data:`STATUS_GROUPS` is the one place that says which
stored batch statuses each group covers.

:class:`BatchesPage` loads the rows through the :class:`~ui.tasks.TaskRunner` (the query runs in
a worker thread); it never opens a database session itself.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetrics,
    QIcon,
    QKeySequence,
    QPaintEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.db.models import BatchStatus, RunStatus
from app.operations.base import Completed, Failed
from app.operations.erase import delete_batch, plan_batch_deletion
from app.operations.queries import BatchRow, list_batches
from ui.dialogs import open_and_wait
from ui.errors import ErrorDialog
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.icons import dot_icon
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

Index = QModelIndex | QPersistentModelIndex

# ---------------------------------------------------------------------------------- statuses


@dataclass(frozen=True)
class StatusGroup:
    """A status as a teacher filters by it, and the stored batch statuses it covers."""

    key: str
    label: str
    """English source text (context ``StatusGroup``); :meth:`text` translates it."""
    statuses: frozenset[str]
    color: str
    """The dot drawn beside the status."""

    def text(self) -> str:
        return translate("StatusGroup", self.label)


STATUS_GROUPS: tuple[StatusGroup, ...] = (
    StatusGroup(
        "waiting",
        QT_TRANSLATE_NOOP("StatusGroup", "Waiting for essays"),
        frozenset({BatchStatus.PENDING_CONTENT}),
        "#9e9e9e",
    ),
    StatusGroup(
        "attention",
        QT_TRANSLATE_NOOP("StatusGroup", "Needs attention"),
        frozenset(
            {BatchStatus.AWAITING_STUDENT_CONFIRMATION, BatchStatus.PAUSED, BatchStatus.FAILED}
        ),
        "#e65100",
    ),
    StatusGroup(
        "ready",
        QT_TRANSLATE_NOOP("StatusGroup", "Ready to grade"),
        frozenset({BatchStatus.READY}),
        "#1e88e5",
    ),
    StatusGroup(
        "running",
        QT_TRANSLATE_NOOP("StatusGroup", "Running"),
        frozenset({BatchStatus.PROCESSING}),
        "#8e24aa",
    ),
    StatusGroup(
        "graded",
        QT_TRANSLATE_NOOP("StatusGroup", "Graded"),
        frozenset({BatchStatus.COMPLETED_SUCCESSFULLY, BatchStatus.COMPLETED_WITH_FAILURES}),
        "#2e7d32",
    ),
    StatusGroup(
        "cancelled",
        QT_TRANSLATE_NOOP("StatusGroup", "Cancelled"),
        frozenset({BatchStatus.CANCELLED}),
        "#757575",
    ),
)
"""The teacher's status filter, in the order the filter lists it. Every stored batch status
belongs to exactly one group (a test checks it); a status this version does not know belongs to
none and is shown only under *All batches*."""

_GROUP_OF: dict[str, StatusGroup] = {s: g for g in STATUS_GROUPS for s in g.statuses}
_GROUP_BY_KEY: dict[str, StatusGroup] = {g.key: g for g in STATUS_GROUPS}


def group_of(status: str) -> StatusGroup | None:
    """The teacher's group of a stored batch status (None for a status this app does not
    know)."""
    return _GROUP_OF.get(status)


def status_group(key: str) -> StatusGroup:
    """A group by its key (``KeyError`` for an unknown key)."""
    return _GROUP_BY_KEY[key]


# The batch statuses in a teacher's words come from app.operations.queries.STATUS_TEXT; listed
# here so that pyside6-lupdate offers them for translation (a test checks the two agree).
_STATUS_TEXT_SOURCES = (
    QT_TRANSLATE_NOOP("BatchStatus", "Waiting for essays"),
    QT_TRANSLATE_NOOP("BatchStatus", "Students to confirm"),
    QT_TRANSLATE_NOOP("BatchStatus", "Ready to grade"),
    QT_TRANSLATE_NOOP("BatchStatus", "Grading"),
    QT_TRANSLATE_NOOP("BatchStatus", "Grading paused"),
    QT_TRANSLATE_NOOP("BatchStatus", "Graded"),
    QT_TRANSLATE_NOOP("BatchStatus", "Graded, with failures"),
    QT_TRANSLATE_NOOP("BatchStatus", "Grading failed"),
    QT_TRANSLATE_NOOP("BatchStatus", "Grading cancelled"),
)

RUN_TEXT: dict[str, str] = {
    RunStatus.CREATED: QT_TRANSLATE_NOOP("RunStatus", "Run not started"),
    RunStatus.AWAITING_STUDENT_CONFIRMATION: QT_TRANSLATE_NOOP(
        "RunStatus", "Run waits for students"
    ),
    RunStatus.RUNNING: QT_TRANSLATE_NOOP("RunStatus", "Run in progress"),
    RunStatus.PAUSED: QT_TRANSLATE_NOOP("RunStatus", "Run paused"),
    RunStatus.COMPLETE: QT_TRANSLATE_NOOP("RunStatus", "Run finished"),
    RunStatus.FAILED: QT_TRANSLATE_NOOP("RunStatus", "Run failed"),
    RunStatus.CANCELLED: QT_TRANSLATE_NOOP("RunStatus", "Run cancelled"),
}
"""The newest run's status in a teacher's words (the *Progress* column)."""
NO_RUN_TEXT = QT_TRANSLATE_NOOP("RunStatus", "No run yet")

_DIGIT = re.compile(r"\d")

_BATCH_ORDER = {status.value: position for position, status in enumerate(BatchStatus)}
_RUN_ORDER = {status.value: position for position, status in enumerate(RunStatus)}


def status_text(row: BatchRow) -> str:
    return translate("BatchStatus", row.status_text)


def run_text(row: BatchRow) -> str:
    if row.last_run_status is None:
        return translate("RunStatus", NO_RUN_TEXT)
    known = RUN_TEXT.get(row.last_run_status)
    if known is None:
        return row.last_run_status.replace("_", " ").capitalize()
    return translate("RunStatus", known)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local_time(value: datetime) -> str:
    """A stored time as the teacher's local date and minute."""
    return _aware(value).astimezone().strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------- the model


class Column(IntEnum):
    TITLE = 0
    CLASS = 1
    ASSIGNMENT = 2
    STATUS = 3
    PROGRESS = 4
    ESSAYS = 5
    UPDATED = 6


_FLEXIBLE = (Column.TITLE, Column.CLASS, Column.ASSIGNMENT)
_FLEXIBLE_MIN = {Column.TITLE: 180, Column.CLASS: 100, Column.ASSIGNMENT: 130}
_FLEXIBLE_MAX = {Column.TITLE: 420, Column.CLASS: 200, Column.ASSIGNMENT: 280}
"""Widths (pixels) between which title, class and assignment share the table's width."""

HEADERS: dict[Column, str] = {
    Column.TITLE: QT_TRANSLATE_NOOP("BatchTable", "Batch"),
    Column.CLASS: QT_TRANSLATE_NOOP("BatchTable", "Class"),
    Column.ASSIGNMENT: QT_TRANSLATE_NOOP("BatchTable", "Assignment"),
    Column.STATUS: QT_TRANSLATE_NOOP("BatchTable", "Status"),
    Column.PROGRESS: QT_TRANSLATE_NOOP("BatchTable", "Progress"),
    Column.ESSAYS: QT_TRANSLATE_NOOP("BatchTable", "Essays"),
    Column.UPDATED: QT_TRANSLATE_NOOP("BatchTable", "Last update"),
}

ROW_ROLE = Qt.ItemDataRole.UserRole
"""``data(index, ROW_ROLE)`` is the row's :class:`BatchRow`."""


class _Entry:
    """A row with what searching and sorting need, computed once when the rows arrive. The
    *Last update* text (a time zone conversion and a ``strftime``, the dearest cell) is made
    the first time it is asked for: only the rows a teacher scrolls to need it."""

    __slots__ = ("cells", "group", "haystack", "keys", "row", "updated")

    def __init__(self, row: BatchRow, class_text: str, status: str, progress: str) -> None:
        self.row = row
        self.group = group_of(row.status)
        self.cells: tuple[str, ...] = (
            row.title,
            class_text,
            row.assignment_title,
            status,
            progress,
            str(row.essays),
        )
        """The texts of every column but :attr:`Column.UPDATED` (see :meth:`text`)."""
        self.updated: str | None = None
        self.haystack = " ".join(
            (row.title, class_text, row.assignment_title, status, progress)
        ).casefold()
        title_key = row.title.casefold()
        self.keys: tuple[Any, ...] = (
            (title_key, row.id),
            (row.class_name is None, (row.class_name or "").casefold(), title_key),
            (row.assignment_title.casefold(), title_key),
            (_BATCH_ORDER.get(row.status, len(_BATCH_ORDER)), status, title_key),
            (
                row.last_run_status is not None,
                _RUN_ORDER.get(row.last_run_status or "", len(_RUN_ORDER)),
                title_key,
            ),
            (row.essays, title_key),
            (_aware(row.updated_at), title_key),
        )

    def text(self, column: int) -> str:
        """The cell's text in ``column``."""
        if column == Column.UPDATED:
            if self.updated is None:
                self.updated = local_time(self.row.updated_at)
            return self.updated
        return self.cells[column]


def _entries(rows: Sequence[BatchRow]) -> list[_Entry]:
    """The rows as entries; each status, run status and the guest label translated once."""
    guest = translate("BatchTable", "Guest")
    statuses: dict[str, str] = {}
    runs: dict[str | None, str] = {}
    entries = []
    for row in rows:
        status = statuses.get(row.status)
        if status is None:
            status = statuses[row.status] = status_text(row)
        progress = runs.get(row.last_run_status)
        if progress is None:
            progress = runs[row.last_run_status] = run_text(row)
        class_text = row.class_name if row.class_name is not None else guest
        entries.append(_Entry(row, class_text, status, progress))
    return entries


class BatchTableModel(QAbstractTableModel):
    """Batches as a table, searched, filtered by status group and sorted inside the model.

    ``set_rows`` replaces the rows; ``set_search`` keeps rows whose title, class, assignment,
    status or progress contain every word typed (case-insensitive); ``set_status_filter``
    keeps one :class:`StatusGroup` (None: all); ``sort`` orders by any column (ties by
    title). ``rows_changed`` is emitted after any of these.
    """

    rows_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[_Entry] = []
        self._visible: list[_Entry] = []
        self._search: tuple[str, ...] = ()
        self._group: StatusGroup | None = None
        self._sort_column = Column.UPDATED
        self._sort_order = Qt.SortOrder.DescendingOrder

    # ------------------------------------------------------------------ state

    def set_rows(self, rows: Sequence[BatchRow]) -> None:
        self._entries = _entries(rows)
        self._refilter()

    def set_search(self, text: str) -> None:
        words = tuple(text.casefold().split())
        if words != self._search:
            self._search = words
            self._refilter()

    def set_status_filter(self, group: StatusGroup | str | None) -> None:
        if isinstance(group, str):
            group = status_group(group)
        if group != self._group:
            self._group = group
            self._refilter()

    @property
    def search_words(self) -> tuple[str, ...]:
        return self._search

    @property
    def status_filter(self) -> StatusGroup | None:
        return self._group

    @property
    def sort_column(self) -> Column:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    def total_count(self) -> int:
        """Rows loaded, whatever the search and filter."""
        return len(self._entries)

    def group_counts(self) -> dict[str, int]:
        """Rows loaded per status group key (every group listed, unknown statuses not)."""
        counts = {group.key: 0 for group in STATUS_GROUPS}
        for entry in self._entries:
            if entry.group is not None:
                counts[entry.group.key] += 1
        return counts

    def visible_rows(self) -> list[BatchRow]:
        return [entry.row for entry in self._visible]

    def row_at(self, row: int) -> BatchRow:
        return self._visible[row].row

    def widest_text(self, column: int, metrics: QFontMetrics) -> int:
        """The widest advance in ``metrics`` of the column's texts over every loaded row
        (whatever the search and filter). Texts are measured longest first and measuring stops
        once no shorter text can be wider; the times are measured as their format with the
        widest digit, so they need not all be formatted."""
        if not self._entries:
            return 0
        if column == Column.UPDATED:
            digit = max("0123456789", key=metrics.horizontalAdvance)
            return metrics.horizontalAdvance(_DIGIT.sub(digit, self._entries[0].text(column)))
        widest_char = max(metrics.maxWidth(), metrics.height())
        best = 0
        for text in sorted({entry.cells[column] for entry in self._entries}, key=len, reverse=True):
            if len(text) * widest_char <= best:
                break
            best = max(best, metrics.horizontalAdvance(text))
        return best

    def _matches(self, entry: _Entry) -> bool:
        if self._group is not None and entry.group is not self._group:
            return False
        return all(word in entry.haystack for word in self._search)

    def _refilter(self) -> None:
        self.beginResetModel()
        self._visible = self._sorted([e for e in self._entries if self._matches(e)])
        self.endResetModel()
        self.rows_changed.emit()

    def _sorted(self, entries: list[_Entry]) -> list[_Entry]:
        column = int(self._sort_column)
        return sorted(
            entries,
            key=lambda entry: entry.keys[column],
            reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
        )

    # ------------------------------------------------------------------ Qt's model API

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return translate("BatchTable", HEADERS[Column(section)])
        if role == Qt.ItemDataRole.TextAlignmentRole and section == Column.ESSAYS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._visible):
            return None
        entry = self._visible[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.text(column)
        if role == ROW_ROLE:
            return entry.row
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.ESSAYS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.STATUS:
            return self.status_icon(entry.group)
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and column == Column.CLASS
            and entry.row.class_name is None
        ):
            return QBrush(QColor("#757575"))
        return None

    def _tooltip(self, entry: _Entry, column: int) -> str | None:
        if column == Column.CLASS and entry.row.class_name is None:
            return translate("BatchTable", "A guest batch: no class, essays known by file name")
        if column == Column.STATUS and entry.group is not None:
            return translate("BatchTable", "Filter: {group}").format(group=entry.group.text())
        if column == Column.UPDATED:
            return _aware(entry.row.updated_at).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        return entry.text(column)

    def status_icon(self, group: StatusGroup | None) -> QIcon:
        color = group.color if group is not None else "#bdbdbd"
        return dot_icon(color)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` (called by the view when a header is clicked);
        selections and other persistent indexes follow their rows."""
        if not 0 <= column < len(Column):
            return
        self._sort_column = Column(column)
        self._sort_order = order
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        ids = [self._visible[index.row()].row.id for index in old]
        self._visible = self._sorted(self._visible)
        position = {entry.row.id: row for row, entry in enumerate(self._visible)}
        moved = [self.index(position[i], index.column()) for i, index in zip(ids, old, strict=True)]
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()
        self.rows_changed.emit()


# ---------------------------------------------------------------------------------- the page


class BatchesPage(QWidget):
    """The dashboard of batches: search, status filter, a sortable table.

    The rows are loaded with :meth:`reload` (also whenever the page is shown, and with F5),
    which runs :func:`list_batches` in a worker thread through the task runner.
    ``batch_activated`` carries a batch id when a row is double-clicked or Enter is pressed.
    """

    batch_activated = Signal(str)
    new_batch_requested = Signal()
    loaded = Signal()
    batch_deleted = Signal(str)

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batchesPage")
        self.db = db
        self.runner = runner
        self.model = BatchTableModel(self)
        self.loading: Operation[list[BatchRow]] | None = None
        self.last_failure: Failed | None = None
        self._loaded_once = False
        self._natural: dict[Column, int] = {}
        self._fitting = False
        self._user_sized = False
        self._first_frame = threading.Event()
        """Set once the page's first frame is painted: the first load waits for it."""
        self._first_frame_pending = False
        self.asking: asyncio.Future[None] | None = None
        """The delete question being asked (one at a time)."""
        self.dialog: QMessageBox | None = None

        heading = QLabel(translate("BatchesPage", "Batches"))
        heading.setObjectName("pageHeading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)

        self.search = QLineEdit()
        self.search.setObjectName("batchSearch")
        self.search.setPlaceholderText(
            translate("BatchesPage", "Search by batch, class, assignment or status")
        )
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(280)
        self.search.textChanged.connect(self.model.set_search)

        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.status_filter.currentIndexChanged.connect(self._on_filter_chosen)

        self.refresh_button = QPushButton(translate("BatchesPage", "Refresh"))
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setToolTip(translate("BatchesPage", "Load the batches again (F5)"))
        self.refresh_button.clicked.connect(self.reload)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self, self.reload)

        self.count_label = QLabel()
        self.count_label.setObjectName("countLabel")

        self.new_button = QPushButton(translate("BatchesPage", "&New batch…"))
        self.new_button.setObjectName("newBatchButton")
        self.new_button.setToolTip(
            translate("BatchesPage", "A new batch of essays for a class and an assignment")
        )
        self.new_button.clicked.connect(self.new_batch_requested.emit)
        self.open_button = QPushButton(translate("BatchesPage", "&Open"))
        self.open_button.setObjectName("openBatchButton")
        self.open_button.setToolTip(translate("BatchesPage", "Open the selected batch (Enter)"))
        self.open_button.clicked.connect(self._open_selected)
        self.delete_button = QPushButton(translate("BatchesPage", "&Delete…"))
        self.delete_button.setObjectName("deleteBatchButton")
        self.delete_button.setToolTip(
            translate("BatchesPage", "Delete the selected batch and erase its essays")
        )
        self.delete_button.clicked.connect(self.ask_delete_selected)

        tools = QHBoxLayout()
        tools.addWidget(self.search, 2)
        tools.addWidget(self.status_filter)
        tools.addStretch(1)
        tools.addWidget(self.count_label)
        tools.addWidget(self.refresh_button)
        tools.addWidget(self.open_button)
        tools.addWidget(self.delete_button)
        tools.addWidget(self.new_button)

        self.view = QTableView()
        self.view.setObjectName("batchTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setShowGrid(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsMovable(False)
        header.setStretchLastSection(False)
        header.setResizeContentsPrecision(200)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(48)
        header.sectionResized.connect(self._section_resized)
        header.setSortIndicator(self.model.sort_column, self.model.sort_order)
        self.view.setSortingEnabled(True)
        self.view.doubleClicked.connect(self._activate)
        self.view.activated.connect(self._activate)
        self._measure_columns()
        self.view.viewport().installEventFilter(self)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setMaximumWidth(620)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.details_button = QPushButton(translate("BatchesPage", "Details…"))
        self.details_button.clicked.connect(self._show_failure)
        self.retry_button = QPushButton(translate("BatchesPage", "Try again"))
        self.retry_button.clicked.connect(self.reload)
        notice_buttons = QHBoxLayout()
        notice_buttons.addStretch(1)
        notice_buttons.addWidget(self.details_button)
        notice_buttons.addWidget(self.retry_button)
        notice_buttons.addStretch(1)
        notice_page = QWidget()
        notice_layout = QVBoxLayout(notice_page)
        notice_layout.addStretch(1)
        notice_row = QHBoxLayout()  # centred, at most 620 px wide (a label aligned in a
        notice_row.addStretch(1)  # layout loses its height-for-width and is clipped)
        notice_row.addWidget(self.notice, 4)
        notice_row.addStretch(1)
        notice_layout.addLayout(notice_row)
        notice_layout.addLayout(notice_buttons)
        notice_layout.addStretch(2)

        self.body = QStackedWidget()
        self.body.addWidget(self.view)
        self.body.addWidget(notice_page)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(tools)
        layout.addWidget(self.body, 1)

        self.model.rows_changed.connect(self._update_texts)
        self._fill_filter()
        self._update_texts()

    # ------------------------------------------------------------------ loading

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """Load whenever the page is shown (first start, or navigated back to: the command
        line may have changed the batches meanwhile), not when the window is restored."""
        super().showEvent(event)
        if not event.spontaneous():
            self.reload()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        if not self._first_frame_pending:
            self._first_frame_pending = True
            # the whole frame is painted when the loop next turns
            QTimer.singleShot(0, self._first_frame.set)

    def selected_batch(self) -> BatchRow | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def select_batch(self, batch_id: str) -> bool:
        """Select the row of ``batch_id`` if it is shown."""
        for position, row in enumerate(self.model.visible_rows()):
            if row.id == batch_id:
                self.view.selectRow(position)
                self.view.scrollTo(self.model.index(position, 0))
                return True
        return False

    def reload(self) -> Operation[list[BatchRow]]:
        """Load the rows again in a worker thread (the running load, if one is running)."""
        if self.loading is not None and not self.loading.done:
            return self.loading
        self.refresh_button.setEnabled(False)
        first_frame = None
        if self.isVisible() and not self._first_frame.is_set():
            first_frame = self._first_frame
        self.loading = self.runner.start_blocking(
            translate("BatchesPage", "Loading batches"),
            partial(_load_batches, self.db, first_frame),
            show_failure=False,
            on_done=self._on_loaded,
        )
        self._update_texts()
        return self.loading

    def _on_loaded(self, operation: Operation[list[BatchRow]]) -> None:
        self.refresh_button.setEnabled(True)
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.last_failure = None
            self._loaded_once = True
            selected = self.selected_batch()
            self.model.set_rows(outcome.value)
            if selected is not None:
                self.select_batch(selected.id)
            self._fill_filter()
            self._measure_columns()
            self.fit_columns()
        elif isinstance(outcome, Failed):
            self.last_failure = outcome
        self._update_texts()
        self.loaded.emit()

    # ------------------------------------------------------------------ presentation

    def _fill_filter(self) -> None:
        current = self.status_filter.currentData()
        counts = self.model.group_counts()
        self.status_filter.blockSignals(True)
        self.status_filter.clear()
        total = self.model.total_count()
        loaded = self._loaded_once
        self.status_filter.addItem(
            translate("BatchesPage", "All batches ({n})").format(n=total)
            if loaded
            else translate("BatchesPage", "All batches"),
            None,
        )
        for group in STATUS_GROUPS:
            text = f"{group.text()} ({counts[group.key]})" if loaded else group.text()
            self.status_filter.addItem(self.model.status_icon(group), text, group.key)
        found = self.status_filter.findData(current)
        self.status_filter.setCurrentIndex(max(found, 0))
        self.status_filter.blockSignals(False)

    def _on_filter_chosen(self, _position: int) -> None:
        self.model.set_status_filter(self.status_filter.currentData())

    def _update_texts(self) -> None:
        shown, total = self.model.rowCount(), self.model.total_count()
        loading = self.loading is not None and not self.loading.done
        if total == shown:
            count = english_plural(translate("BatchesPage", "%n batch(es)", "", total), total)
        else:
            count = translate("BatchesPage", "{shown} of {total} batches").format(
                shown=shown, total=total
            )
        self.count_label.setText(count if self._loaded_once else "")
        notice = ""
        failed = self.last_failure is not None
        if failed and self.last_failure is not None:
            notice = translate("BatchesPage", "The batches could not be loaded. {why}").format(
                why=self.last_failure.message
            )
        elif not self._loaded_once:
            notice = translate("BatchesPage", "Loading batches…") if loading else ""
        elif total == 0:
            notice = translate(
                "BatchesPage",
                "No batches yet. A batch is one assignment's essays from one class; the "
                "batches you create or import will be listed here. Until the window can create "
                "them, use the command line: huleedu import essays, or huleedu grade.",
            )
        elif shown == 0:
            notice = translate("BatchesPage", "No batch matches the search and the filter.")
        self.notice.setText(notice)
        self.details_button.setVisible(failed)
        self.retry_button.setVisible(failed)
        self.body.setCurrentIndex(1 if notice else 0)

    def _measure_columns(self) -> None:
        """Each column's natural width: its header, or its widest text among the loaded rows
        measured with the view's font metrics (re-measured after each load), plus what the
        item delegate adds around the text (margins, the status dot), taken from one cell.

        Asking the view (``sizeHintForColumn``) for this cost ~13,000 calls of the model's
        ``data()`` for 200 rows on every load."""
        header = self.view.horizontalHeader()
        head_metrics = header.fontMetrics()
        metrics = self.view.fontMetrics()
        for column in Column:
            text = translate("BatchTable", HEADERS[column])
            width = head_metrics.horizontalAdvance(text) + 36  # room for the sort arrow
            if self.model.rowCount():
                first = self.model.index(0, column)
                around = self.view.sizeHintForIndex(first).width() - metrics.horizontalAdvance(
                    str(first.data())
                )
                widest = self.model.widest_text(column, metrics)
                width = max(width, widest + max(around, 0) + 12)
            self._natural[column] = width

    def fit_columns(self) -> None:
        """Share the table's width: status, progress, essays and time at their natural widths,
        the rest to title, class and assignment (up to their caps, the title taking what is
        left); when space is short those three shrink toward their minimums in proportion to
        what they would lose. Stops once the teacher resizes a column."""
        if self._user_sized:
            return
        header = self.view.horizontalHeader()
        available = self.view.viewport().width()
        widths = dict(self._natural)
        fixed = sum(widths[c] for c in Column if c not in _FLEXIBLE)
        room = available - fixed
        want = {c: min(widths[c], _FLEXIBLE_MAX[c]) for c in _FLEXIBLE}
        floor = {c: min(want[c], _FLEXIBLE_MIN[c]) for c in _FLEXIBLE}
        if room >= sum(want.values()):
            widths.update(want)
            widths[Column.TITLE] += room - sum(want.values())
        else:
            extra = max(room - sum(floor.values()), 0)
            wish = {c: want[c] - floor[c] for c in _FLEXIBLE}
            total_wish = sum(wish.values()) or 1
            for column in _FLEXIBLE:
                widths[column] = floor[column] + extra * wish[column] // total_wish
        self._fitting = True
        try:
            for column in Column:
                header.resizeSection(column, widths[column])
        finally:
            self._fitting = False

    def _section_resized(self, _column: int, _old: int, _new: int) -> None:
        if not self._fitting:
            self._user_sized = True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def _activate(self, index: QModelIndex) -> None:
        if index.isValid():
            self.batch_activated.emit(self.model.row_at(index.row()).id)

    def _open_selected(self) -> None:
        row = self.selected_batch()
        if row is not None:
            self.batch_activated.emit(row.id)

    # ------------------------------------------------------------------ deleting

    def ask_delete_selected(self) -> asyncio.Future[None] | None:
        """Say what deleting the selected batch removes; delete it if the teacher agrees."""
        row = self.selected_batch()
        if row is None or (self.asking is not None and not self.asking.done()):
            return None
        self.asking = asyncio.ensure_future(self._delete_flow(row))
        return self.asking

    async def _delete_flow(self, row: BatchRow) -> None:
        planned = await self.runner.start_blocking(
            translate("BatchesPage", "Checking what the batch holds"),
            partial(plan_batch_deletion, self.db, row.id),
            show_failure=True,
        ).wait()
        if not isinstance(planned, Completed):
            return
        plan = planned.value

        def counted(text: str, n: int) -> str:
            return english_plural(translate("BatchesPage", text, "", n), n)

        box = QMessageBox(self)
        box.setObjectName("confirmBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(translate("BatchesPage", "Delete the batch?"))
        box.setText(translate("BatchesPage", "Delete {title}?").format(title=row.title))
        box.setInformativeText(
            "\n".join(
                [
                    translate("BatchesPage", "Erased: {essays} and {comparisons}.").format(
                        essays=counted("%n essay(s)", plan.essays),
                        comparisons=counted("%n judged comparison(s)", plan.comparisons),
                    ),
                    translate("BatchesPage", "The class and its students stay."),
                    translate(
                        "BatchesPage", "This cannot be undone. Exports you saved are not touched."
                    ),
                ]
            )
        )
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 27em; }")
        yes = box.addButton(
            translate("BatchesPage", "Delete and erase"), QMessageBox.ButtonRole.AcceptRole
        )
        yes.setObjectName("confirmButton")
        keep = box.addButton(translate("BatchesPage", "Cancel"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        self.dialog = box
        try:
            await open_and_wait(box)
            agreed = box.clickedButton() is yes
        finally:
            self.dialog = None
            box.deleteLater()
        if not agreed:
            return
        deleted = await self.runner.start_blocking(
            translate("BatchesPage", "Deleting the batch"),
            partial(delete_batch, self.db, row.id),
            show_failure=True,
        ).wait()
        if isinstance(deleted, Completed):
            self.batch_deleted.emit(row.id)
        self.reload()

    def _show_failure(self) -> None:
        if self.last_failure is not None:
            dialog = ErrorDialog.for_failure(self.last_failure, self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()


FIRST_FRAME_WAIT_S = 0.5
"""How long the first load waits for the page's first frame (a window never painted, say
minimised, still loads)."""


def _load_batches(
    db: Database, first_frame: threading.Event | None = None, **_operation: object
) -> list[BatchRow]:
    """The page's load operation (runs in a worker thread; it neither reports nor checks).

    The first load starts its query once the page's first frame is painted: the query holds
    Python's GIL for tens of milliseconds, and the GUI thread, which needs it between Qt's
    calls, painted the first frame ~10 ms later when both ran at once."""
    if first_frame is not None:
        first_frame.wait(FIRST_FRAME_WAIT_S)
    return list_batches(db)
