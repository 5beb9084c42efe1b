"""The Classes page: a teacher's classes on the left, the chosen class's roster on the right.

Classes can be created, renamed (with their course and school year), archived and brought
back; an archived class keeps its students and batches and is listed only with *Show
archived*. The roster is edited one student at a time (*Add…*, *Edit…* or a double-click,
*Remove…*) or filled from a class list with *Import roster…* (CSV or Excel), after which a
panel lists what happened to every row of the file.

Everything stored goes through :mod:`app.operations.classes`, run by the
:class:`~ui.tasks.TaskRunner` in a worker thread; the page never opens a database session.
Dialogs are opened with ``open()`` and awaited (:func:`ui.dialogs.open_and_wait`); the one
being shown is :attr:`ClassesPage.dialog`, and the coroutine waiting for it
:attr:`ClassesPage.asking`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QItemSelection,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.operations.base import Completed, Failed
from app.operations.classes import (
    ClassChanges,
    ClassSummary,
    ImportedRow,
    NewClass,
    RosterImport,
    RowResult,
    StudentFields,
    StudentRow,
    add_student,
    archive_class,
    class_roster,
    import_roster_lines,
    list_class_summaries,
    new_class,
    remove_student,
    unarchive_class,
    update_class,
    update_student,
)
from app.operations.erase import delete_class, plan_class_deletion
from app.operations.school import DEFAULT_COURSE
from ui.dialogs import open_and_wait
from ui.errors import ErrorDialog
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

Index = QModelIndex | QPersistentModelIndex
T = TypeVar("T")
R = TypeVar("R")

ROW_ROLE = Qt.ItemDataRole.UserRole
"""``data(index, ROW_ROLE)`` is the row's read model."""

_GREY = "#757575"


def _quietly(work: Callable[..., R], *args: Any, **_operation: object) -> R:
    """Call ``work(*args)`` as an operation (it neither reports progress nor checks)."""
    return work(*args)


def _table(name: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setShowGrid(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionsMovable(False)
    header.setMinimumSectionSize(40)
    return view


def _notice_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setMargin(16)
    return label


# ---------------------------------------------------------------------------------- models


class _SortedModel(QAbstractTableModel, Generic[T]):
    """Rows of one read model, searched and sorted inside the model (no proxy)."""

    headers: tuple[str, ...] = ()
    context = ""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[T] = []
        self._visible: list[T] = []
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.AscendingOrder

    def cells(self, row: T) -> tuple[str, ...]:
        raise NotImplementedError

    def sort_key(self, row: T, column: int) -> Any:
        return (self.cells(row)[column].casefold(), self.cells(row))

    def keep(self, row: T) -> bool:
        return True

    def set_rows(self, rows: Sequence[T]) -> None:
        self._rows = list(rows)
        self.refilter()

    def refilter(self) -> None:
        self.beginResetModel()
        self._visible = self._sorted([row for row in self._rows if self.keep(row)])
        self.endResetModel()

    def _sorted(self, rows: list[T]) -> list[T]:
        return sorted(
            rows,
            key=lambda row: self.sort_key(row, self._sort_column),
            reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
        )

    def all_rows(self) -> list[T]:
        return list(self._rows)

    def visible_rows(self) -> list[T]:
        return list(self._visible)

    def row_at(self, row: int) -> T:
        return self._visible[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.headers)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.headers)
        ):
            return translate(self.context, self.headers[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._visible):
            return None
        row = self._visible[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.cells(row)[index.column()]
        if role == ROW_ROLE:
            return row
        return self.extra_data(row, index.column(), role)

    def extra_data(self, row: T, column: int, role: int) -> Any:
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.headers):
            return
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        kept = [self._visible[index.row()] for index in old]
        self._visible = self._sorted(self._visible)
        position = {id(row): place for place, row in enumerate(self._visible)}
        moved = [
            self.index(position[id(row)], index.column())
            for row, index in zip(kept, old, strict=True)
        ]
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()


class ClassColumn(IntEnum):
    NAME = 0
    COURSE = 1
    YEAR = 2
    STUDENTS = 3


class ClassListModel(_SortedModel[ClassSummary]):
    """Classes by name; archived ones only with :meth:`set_show_archived`, greyed."""

    context = "ClassList"
    headers = (
        QT_TRANSLATE_NOOP("ClassList", "Class"),
        QT_TRANSLATE_NOOP("ClassList", "Course"),
        QT_TRANSLATE_NOOP("ClassList", "Year"),
        QT_TRANSLATE_NOOP("ClassList", "Students"),
    )

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.show_archived = False
        self.search_words: tuple[str, ...] = ()

    def cells(self, row: ClassSummary) -> tuple[str, ...]:
        name = row.name
        if row.archived:
            name = translate("ClassList", "{name} (archived)").format(name=row.name)
        return (name, row.course_code, row.school_year, str(row.students))

    def sort_key(self, row: ClassSummary, column: int) -> Any:
        name = (row.name.casefold(), row.id)
        if column == ClassColumn.STUDENTS:
            return (row.students, name)
        if column == ClassColumn.NAME:
            return name
        return (self.cells(row)[column].casefold(), name)

    def keep(self, row: ClassSummary) -> bool:
        if row.archived and not self.show_archived:
            return False
        text = f"{row.name} {row.course_code} {row.course_name} {row.school_year}".casefold()
        return all(word in text for word in self.search_words)

    def set_show_archived(self, show: bool) -> None:
        if show != self.show_archived:
            self.show_archived = show
            self.refilter()

    def set_search(self, text: str) -> None:
        words = tuple(text.casefold().split())
        if words != self.search_words:
            self.search_words = words
            self.refilter()

    def archived_count(self) -> int:
        return sum(1 for row in self._rows if row.archived)

    def position_of(self, class_id: str) -> int | None:
        for position, row in enumerate(self._visible):
            if row.id == class_id:
                return position
        return None

    def extra_data(self, row: ClassSummary, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and row.archived:
            return QBrush(QColor(_GREY))
        if role == Qt.ItemDataRole.FontRole and row.archived:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == ClassColumn.STUDENTS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class RosterColumn(IntEnum):
    LAST_NAME = 0
    FIRST_NAME = 1
    CODE = 2
    EMAIL = 3


class RosterModel(_SortedModel[StudentRow]):
    """A class's students: last name, first name, code, e-mail (sorted by last name)."""

    context = "RosterTable"
    headers = (
        QT_TRANSLATE_NOOP("RosterTable", "Last name"),
        QT_TRANSLATE_NOOP("RosterTable", "First name"),
        QT_TRANSLATE_NOOP("RosterTable", "Code"),
        QT_TRANSLATE_NOOP("RosterTable", "E-mail"),
    )

    def cells(self, row: StudentRow) -> tuple[str, ...]:
        return (row.last_name, row.first_name, row.code or "", row.email or "")

    def sort_key(self, row: StudentRow, column: int) -> Any:
        last, first, code = row.last_name.casefold(), row.first_name.casefold(), row.code or ""
        names = (last, first, code, row.id)
        if column == RosterColumn.LAST_NAME:
            return names
        if column == RosterColumn.FIRST_NAME:
            return (first, last, code, row.id)
        value = self.cells(row)[column].casefold()
        return (value == "", value, names)  # blanks last

    def position_of(self, student_id: str) -> int | None:
        for position, row in enumerate(self._visible):
            if row.id == student_id:
                return position
        return None


RESULT_TEXT: dict[RowResult, str] = {
    RowResult.ADDED: QT_TRANSLATE_NOOP("RosterImport", "Added"),
    RowResult.JOINED: QT_TRANSLATE_NOOP("RosterImport", "Added (known student)"),
    RowResult.SKIPPED: QT_TRANSLATE_NOOP("RosterImport", "Skipped"),
    RowResult.FAILED: QT_TRANSLATE_NOOP("RosterImport", "Failed"),
}
RESULT_COLOR: dict[RowResult, str] = {
    RowResult.ADDED: "#2e7d32",
    RowResult.JOINED: "#2e7d32",
    RowResult.SKIPPED: "#8d6e00",
    RowResult.FAILED: "#c62828",
}


class ImportColumn(IntEnum):
    ROW = 0
    NAME = 1
    OUTCOME = 2
    WHY = 3


class ImportResultModel(_SortedModel[ImportedRow]):
    """The rows of a roster file and what happened to each, in file order."""

    context = "RosterImport"
    headers = (
        QT_TRANSLATE_NOOP("RosterImport", "Row"),
        QT_TRANSLATE_NOOP("RosterImport", "Name"),
        QT_TRANSLATE_NOOP("RosterImport", "Outcome"),
        QT_TRANSLATE_NOOP("RosterImport", "Why"),
    )

    def cells(self, row: ImportedRow) -> tuple[str, ...]:
        return (
            str(row.row),
            row.name or "—",
            translate("RosterImport", RESULT_TEXT[row.result]),
            row.why,
        )

    def sort_key(self, row: ImportedRow, column: int) -> Any:
        if column == ImportColumn.ROW:
            return row.row
        if column == ImportColumn.OUTCOME:
            return (list(RowResult).index(row.result), row.row)
        return (self.cells(row)[column].casefold(), row.row)

    def extra_data(self, row: ImportedRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column == ImportColumn.OUTCOME:
            return QBrush(QColor(RESULT_COLOR[row.result]))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == ImportColumn.ROW:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


# ---------------------------------------------------------------------------------- dialogs


class _FormDialog(QDialog):
    """A small form with an error line and OK/Cancel; OK waits for the required fields."""

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.error = QLabel()
        self.error.setObjectName("dialogError")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setVisible(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.required: list[QLineEdit] = []
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 55)

    def field(self, label: str, value: str, *, required: bool = False) -> QLineEdit:
        edit = QLineEdit(value)
        caption = QLabel(label)
        caption.setBuddy(edit)
        self.form.addRow(caption, edit)
        if required:
            self.required.append(edit)
            edit.textChanged.connect(self._update_ok)
        return edit

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _update_ok(self) -> None:
        self.ok_button.setEnabled(all(edit.text().strip() for edit in self.required))

    def set_error(self, message: str) -> None:
        """Show why the last OK was refused (the dialog is then opened again)."""
        self.error.setText(message)
        self.error.setVisible(bool(message))


class ClassDialog(_FormDialog):
    """A class's name, course code and school year (new, or renaming ``existing``)."""

    def __init__(self, existing: ClassSummary | None, parent: QWidget | None = None) -> None:
        super().__init__(
            translate("ClassDialog", "New class")
            if existing is None
            else translate("ClassDialog", "Rename class"),
            parent,
        )
        self.setObjectName("classDialog")
        self.name = self.field(
            translate("ClassDialog", "Class &name:"),
            existing.name if existing else "",
            required=True,
        )
        self.name.setPlaceholderText(translate("ClassDialog", "e.g. 9A English"))
        self.course = self.field(
            translate("ClassDialog", "&Course code:"),
            existing.course_code if existing else DEFAULT_COURSE,
            required=True,
        )
        self.school_year = self.field(
            translate("ClassDialog", "School &year:"), existing.school_year if existing else ""
        )
        self.school_year.setPlaceholderText(translate("ClassDialog", "e.g. 2026/27"))
        self._update_ok()

    def changes(self) -> ClassChanges:
        return ClassChanges(self.name.text(), self.course.text(), self.school_year.text())


class StudentDialog(_FormDialog):
    """A student's names, code and e-mail (new, or editing ``existing``)."""

    def __init__(self, existing: StudentRow | None, parent: QWidget | None = None) -> None:
        super().__init__(
            translate("StudentDialog", "Add a student")
            if existing is None
            else translate("StudentDialog", "Edit student"),
            parent,
        )
        self.setObjectName("studentDialog")
        self.first_name = self.field(
            translate("StudentDialog", "&First name:"),
            existing.first_name if existing else "",
            required=True,
        )
        self.last_name = self.field(
            translate("StudentDialog", "&Last name:"),
            existing.last_name if existing else "",
            required=True,
        )
        self.code = self.field(
            translate("StudentDialog", "&Code:"), (existing.code or "") if existing else ""
        )
        self.code.setPlaceholderText(translate("StudentDialog", "optional, e.g. ANAN0001"))
        self.email = self.field(
            translate("StudentDialog", "&E-mail:"), (existing.email or "") if existing else ""
        )
        self.email.setPlaceholderText(translate("StudentDialog", "optional"))
        self._update_ok()

    def fields(self) -> StudentFields:
        return StudentFields(
            self.first_name.text(), self.last_name.text(), self.code.text(), self.email.text()
        )


# ---------------------------------------------------------------------------------- import panel


class ImportPanel(QFrame):
    """What a roster import did: a summary line and one row per row of the file."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.result: RosterImport | None = None
        self.failure: Failed | None = None
        self.summary = QLabel()
        self.summary.setObjectName("importSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.details_button = QPushButton(translate("RosterImport", "Details…"))
        self.details_button.clicked.connect(self._show_details)
        self.close_button = QPushButton(translate("RosterImport", "Hide"))
        self.close_button.setObjectName("importHide")
        self.close_button.setToolTip(translate("RosterImport", "Hide the outcome of the import"))
        self.close_button.clicked.connect(self.hide)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.details_button)
        top.addWidget(self.close_button)
        self.model = ImportResultModel(self)
        self.view = _table("importTable")
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(ImportColumn.ROW, Qt.SortOrder.AscendingOrder)
        header = self.view.horizontalHeader()
        for column in (ImportColumn.ROW, ImportColumn.NAME, ImportColumn.OUTCOME):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ImportColumn.WHY, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)

    def show_result(self, result: RosterImport) -> None:
        self.result, self.failure = result, None
        parts = [
            translate("RosterImport", "{file}: {n} added").format(
                file=result.file_name, n=result.added + result.joined
            ),
            translate("RosterImport", "{n} skipped").format(n=result.skipped),
            translate("RosterImport", "{n} failed").format(n=result.failed),
        ]
        text = ", ".join(parts) + "."
        if result.cancelled:
            text += " " + translate(
                "RosterImport",
                "Stopped after {done} of {found} rows; import the file again for the rest.",
            ).format(done=len(result.rows), found=result.found)
        self.summary.setText(text)
        self.model.set_rows(result.rows)
        self.view.setVisible(True)
        self.details_button.setVisible(False)
        self.show()

    def show_failure(self, failed: Failed, file_name: str) -> None:
        self.result, self.failure = None, failed
        self.summary.setText(
            translate("RosterImport", "{file} could not be imported. {why}").format(
                file=file_name, why=failed.message
            )
        )
        self.model.set_rows([])
        self.view.setVisible(False)
        self.details_button.setVisible(True)
        self.show()

    def _show_details(self) -> None:
        if self.failure is not None:
            dialog = ErrorDialog.for_failure(self.failure, self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()


# ---------------------------------------------------------------------------------- the page


class ClassesPage(QWidget):
    """Classes and their rosters.

    ``changed`` is emitted after anything stored changed (a class created, renamed, archived
    or brought back, a student added, edited or removed, a roster imported). ``loaded`` after
    each load of the class list.
    """

    changed = Signal()
    loaded = Signal()

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("classesPage")
        self.db = db
        self.runner = runner
        self.loading: Operation[list[ClassSummary]] | None = None
        self.roster_loading: Operation[list[StudentRow]] | None = None
        self.importing: Operation[RosterImport] | None = None
        self.dialog: QDialog | None = None
        """The dialog (or question, or file chooser) open now, if any."""
        self.asking: asyncio.Future[None] | None = None
        """The coroutine waiting for :attr:`dialog` and doing what was asked."""
        self.last_failure: Failed | None = None
        self._loaded_once = False
        self._class_id: str | None = None
        self._want_class: str | None = None
        self._stale = False
        """Something changed while a load was running: load again when it ends."""

        heading = QLabel(translate("ClassesPage", "Classes"))
        heading.setObjectName("pageHeading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)

        # ---- left: the classes
        self.class_model = ClassListModel(self)
        self.search = QLineEdit()
        self.search.setObjectName("classSearch")
        self.search.setPlaceholderText(translate("ClassesPage", "Search classes"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_changed)
        search_label = QLabel(translate("ClassesPage", "&Search:"))
        search_label.setBuddy(self.search)
        self.show_archived = QCheckBox(translate("ClassesPage", "Show archi&ved"))
        self.show_archived.setObjectName("showArchived")
        self.show_archived.toggled.connect(self._show_archived_toggled)
        search_row = QHBoxLayout()
        search_row.addWidget(search_label)
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.show_archived)

        self.class_view = _table("classTable")
        self.class_view.setModel(self.class_model)
        header = self.class_view.horizontalHeader()
        header.setSectionResizeMode(ClassColumn.NAME, QHeaderView.ResizeMode.Stretch)
        for column in (ClassColumn.COURSE, ClassColumn.YEAR, ClassColumn.STUDENTS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSortIndicator(ClassColumn.NAME, Qt.SortOrder.AscendingOrder)
        self.class_view.setSortingEnabled(True)
        self.class_view.selectionModel().selectionChanged.connect(self._class_selection_changed)
        self.class_view.doubleClicked.connect(lambda _index: self.ask_rename_class())

        self.class_notice = _notice_label("classNotice")
        self.class_body = QStackedWidget()
        self.class_body.addWidget(self.class_view)
        self.class_body.addWidget(self.class_notice)

        self.new_button = QPushButton(translate("ClassesPage", "&New class…"))
        self.new_button.setObjectName("newClassButton")
        self.new_button.clicked.connect(self.ask_new_class)
        self.rename_button = QPushButton(translate("ClassesPage", "&Rename…"))
        self.rename_button.setObjectName("renameClassButton")
        self.rename_button.setToolTip(
            translate("ClassesPage", "Change the class's name, course or school year")
        )
        self.rename_button.clicked.connect(self.ask_rename_class)
        self.archive_button = QPushButton(translate("ClassesPage", "Arc&hive…"))
        self.archive_button.setObjectName("archiveClassButton")
        self.archive_button.clicked.connect(self.ask_archive_toggle)
        class_buttons = QHBoxLayout()
        class_buttons.addWidget(self.new_button)
        class_buttons.addWidget(self.rename_button)
        class_buttons.addWidget(self.archive_button)
        self.delete_button = QPushButton(translate("ClassesPage", "De&lete…"))
        self.delete_button.setObjectName("deleteClassButton")
        self.delete_button.setToolTip(
            translate(
                "ClassesPage",
                "Delete the class and its batches, and erase its students' names and essays",
            )
        )
        self.delete_button.clicked.connect(self.ask_delete_class)
        class_buttons.addWidget(self.delete_button)
        class_buttons.addStretch(1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(search_row)
        left_layout.addWidget(self.class_body, 1)
        left_layout.addLayout(class_buttons)

        # ---- right: the roster of the chosen class
        self.class_title = QLabel()
        self.class_title.setObjectName("classTitle")
        self.class_title.setTextFormat(Qt.TextFormat.PlainText)
        title_font = self.class_title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.2)
        title_font.setBold(True)
        self.class_title.setFont(title_font)
        self.class_facts = QLabel()
        self.class_facts.setObjectName("classFacts")
        self.class_facts.setTextFormat(Qt.TextFormat.PlainText)
        self.class_facts.setWordWrap(True)

        self.roster_model = RosterModel(self)
        self.roster_view = _table("rosterTable")
        self.roster_view.setModel(self.roster_model)
        roster_header = self.roster_view.horizontalHeader()
        for roster_column in (RosterColumn.LAST_NAME, RosterColumn.FIRST_NAME, RosterColumn.CODE):
            roster_header.setSectionResizeMode(
                roster_column, QHeaderView.ResizeMode.ResizeToContents
            )
        roster_header.setSectionResizeMode(RosterColumn.EMAIL, QHeaderView.ResizeMode.Stretch)
        roster_header.setSortIndicator(RosterColumn.LAST_NAME, Qt.SortOrder.AscendingOrder)
        self.roster_view.setSortingEnabled(True)
        self.roster_view.doubleClicked.connect(lambda _index: self.ask_edit_student())
        self.roster_view.activated.connect(lambda _index: self.ask_edit_student())
        self.roster_view.selectionModel().selectionChanged.connect(self._update_buttons)
        QShortcut(
            QKeySequence(QKeySequence.StandardKey.Delete),
            self.roster_view,
            self.ask_remove_student,
            Qt.ShortcutContext.WidgetShortcut,
        )
        self.roster_notice = _notice_label("rosterNotice")
        self.roster_body = QStackedWidget()
        self.roster_body.addWidget(self.roster_view)
        self.roster_body.addWidget(self.roster_notice)

        self.add_button = QPushButton(translate("ClassesPage", "&Add student…"))
        self.add_button.setObjectName("addStudentButton")
        self.add_button.clicked.connect(self.ask_add_student)
        self.edit_button = QPushButton(translate("ClassesPage", "&Edit…"))
        self.edit_button.setObjectName("editStudentButton")
        self.edit_button.setToolTip(translate("ClassesPage", "Edit the selected student (Enter)"))
        self.edit_button.clicked.connect(self.ask_edit_student)
        self.remove_button = QPushButton(translate("ClassesPage", "Re&move…"))
        self.remove_button.setObjectName("removeStudentButton")
        self.remove_button.setToolTip(
            translate("ClassesPage", "Take the selected student out of this class (Delete)")
        )
        self.remove_button.clicked.connect(self.ask_remove_student)
        self.import_button = QPushButton(translate("ClassesPage", "&Import roster…"))
        self.import_button.setObjectName("importRosterButton")
        self.import_button.setToolTip(
            translate("ClassesPage", "Add the students of a class list (CSV or Excel file)")
        )
        self.import_button.clicked.connect(self.ask_import_roster)
        roster_buttons = QHBoxLayout()
        roster_buttons.addWidget(self.add_button)
        roster_buttons.addWidget(self.edit_button)
        roster_buttons.addWidget(self.remove_button)
        roster_buttons.addStretch(1)
        roster_buttons.addWidget(self.import_button)

        self.import_panel = ImportPanel()
        self.import_panel.hide()

        roster_part = QWidget()
        roster_layout = QVBoxLayout(roster_part)
        roster_layout.setContentsMargins(0, 0, 0, 0)
        roster_layout.addWidget(self.class_title)
        roster_layout.addWidget(self.class_facts)
        roster_layout.addWidget(self.roster_body, 1)
        roster_layout.addLayout(roster_buttons)
        self.right_split = QSplitter(Qt.Orientation.Vertical)
        self.right_split.setChildrenCollapsible(False)
        self.right_split.addWidget(roster_part)
        self.right_split.addWidget(self.import_panel)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 2)

        self.no_class = _notice_label("noClassNotice")
        self.right = QStackedWidget()
        self.right.addWidget(self.right_split)
        self.right.addWidget(self.no_class)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(left)
        self.split.addWidget(self.right)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.split, 1)

        QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self, self.reload)
        self.setTabOrder(self.search, self.show_archived)
        self.setTabOrder(self.show_archived, self.class_view)
        self.setTabOrder(self.class_view, self.new_button)
        self.setTabOrder(self.new_button, self.rename_button)
        self.setTabOrder(self.rename_button, self.archive_button)
        self.setTabOrder(self.archive_button, self.delete_button)
        self.setTabOrder(self.delete_button, self.roster_view)
        self.setTabOrder(self.roster_view, self.add_button)
        self.setTabOrder(self.add_button, self.edit_button)
        self.setTabOrder(self.edit_button, self.remove_button)
        self.setTabOrder(self.remove_button, self.import_button)
        self._show_class(None)
        self._update_texts()

    # ------------------------------------------------------------------ loading

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """Load whenever the page is shown (the command line may have changed the classes)."""
        super().showEvent(event)
        if not event.spontaneous():
            self.reload()

    def reload(self) -> Operation[list[ClassSummary]]:
        """Load the classes (archived ones too; the check box filters them) in a worker
        thread, and then the chosen class's roster (the running load, if one is running)."""
        if self.loading is not None and not self.loading.done:
            return self.loading
        self._stale = False
        self.loading = self.runner.start_blocking(
            translate("ClassesPage", "Loading classes"),
            partial(_quietly, partial(list_class_summaries, include_archived=True), self.db),
            show_failure=False,
            on_done=self._on_loaded,
        )
        self._update_texts()
        return self.loading

    def _on_loaded(self, operation: Operation[list[ClassSummary]]) -> None:
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.last_failure = None
            self._loaded_once = True
            want = self._want_class or self._class_id
            self._want_class = None
            self.class_model.set_rows(outcome.value)
            if want is None or not self.select_class(want):
                visible = self.class_model.visible_rows()
                if visible:
                    self.select_class(visible[0].id)
                else:
                    self._class_selection_changed()
            self._refresh_class_facts()
        elif isinstance(outcome, Failed):
            self.last_failure = outcome
        self._update_texts()
        if self._stale:
            self.reload()
        else:
            self.loaded.emit()

    def load_roster(self) -> Operation[list[StudentRow]] | None:
        """Load the chosen class's students in a worker thread (None with no class)."""
        class_id = self._class_id
        if class_id is None:
            return None

        def done(operation: Operation[list[StudentRow]]) -> None:
            if operation is self.roster_loading:
                outcome = operation.outcome
                if isinstance(outcome, Completed) and class_id == self._class_id:
                    selected = self.selected_student()
                    self.roster_model.set_rows(outcome.value)
                    if selected is not None:
                        self.select_student(selected.id)
                self._update_texts()

        self.roster_loading = self.runner.start_blocking(
            translate("ClassesPage", "Loading the class's students"),
            partial(_quietly, class_roster, self.db, class_id),
            on_done=done,
        )
        self._update_texts()
        return self.roster_loading

    # ------------------------------------------------------------------ selection

    def selected_class(self) -> ClassSummary | None:
        rows = self.class_view.selectionModel().selectedRows()
        return self.class_model.row_at(rows[0].row()) if rows else None

    def select_class(self, class_id: str) -> bool:
        """Select the class ``class_id`` if it is listed (an archived one is listed once
        *Show archived* is ticked); its roster then loads."""
        position = self.class_model.position_of(class_id)
        if position is None:
            return False
        self.class_view.selectRow(position)
        self.class_view.scrollTo(self.class_model.index(position, 0))
        return True

    def selected_student(self) -> StudentRow | None:
        rows = self.roster_view.selectionModel().selectedRows()
        return self.roster_model.row_at(rows[0].row()) if rows else None

    def select_student(self, student_id: str) -> bool:
        position = self.roster_model.position_of(student_id)
        if position is None:
            return False
        self.roster_view.selectRow(position)
        self.roster_view.scrollTo(self.roster_model.index(position, 0))
        return True

    def _class_selection_changed(
        self, _selected: QItemSelection | None = None, _deselected: QItemSelection | None = None
    ) -> None:
        chosen = self.selected_class()
        chosen_id = chosen.id if chosen is not None else None
        if chosen_id != self._class_id:
            self._show_class(chosen)
        self._refresh_class_facts()
        self._update_buttons()

    def _show_class(self, chosen: ClassSummary | None) -> None:
        self._class_id = chosen.id if chosen is not None else None
        self.roster_model.set_rows([])
        self.import_panel.hide()
        if chosen is not None:
            self.load_roster()
        self._update_texts()

    def _refresh_class_facts(self) -> None:
        chosen = self.selected_class()
        if chosen is None:
            self.class_title.setText("")
            self.class_facts.setText("")
            return
        self.class_title.setText(chosen.name)
        facts = [chosen.course_code]
        if chosen.course_name and chosen.course_name != chosen.course_code:
            facts[0] = f"{chosen.course_code} ({chosen.course_name})"
        if chosen.school_year:
            facts.append(chosen.school_year)
        facts.append(
            english_plural(
                translate("ClassesPage", "%n student(s)", "", chosen.students), chosen.students
            )
        )
        facts.append(
            english_plural(
                translate("ClassesPage", "%n batch(es)", "", chosen.batches), chosen.batches
            )
        )
        if chosen.archived:
            facts.append(translate("ClassesPage", "archived"))
        self.class_facts.setText(" · ".join(facts))

    # ------------------------------------------------------------------ presentation

    def _search_changed(self, text: str) -> None:
        self.class_model.set_search(text)
        self._after_filter()

    def _show_archived_toggled(self, show: bool) -> None:
        self.class_model.set_show_archived(show)
        self._after_filter()

    def _after_filter(self) -> None:
        if self._class_id is not None:
            self.select_class(self._class_id)
        self._class_selection_changed()
        self._update_texts()

    def _update_buttons(self, *_args: object) -> None:
        chosen = self.selected_class()
        has_class = chosen is not None
        busy = self.importing is not None and not self.importing.done
        self.rename_button.setEnabled(has_class)
        self.archive_button.setEnabled(has_class)
        self.delete_button.setEnabled(has_class)
        if chosen is not None and chosen.archived:
            self.archive_button.setText(translate("ClassesPage", "Unarc&hive"))
            self.archive_button.setToolTip(
                translate("ClassesPage", "List the class again among the working classes")
            )
        else:
            self.archive_button.setText(translate("ClassesPage", "Arc&hive…"))
            self.archive_button.setToolTip(
                translate(
                    "ClassesPage",
                    "Hide the class from working lists; its students and batches are kept",
                )
            )
        has_student = self.selected_student() is not None
        self.add_button.setEnabled(has_class)
        self.import_button.setEnabled(has_class and not busy)
        self.edit_button.setEnabled(has_student)
        self.remove_button.setEnabled(has_student)

    def _update_texts(self) -> None:
        total = len(self.class_model.all_rows())
        shown = self.class_model.rowCount()
        notice = ""
        if self.last_failure is not None:
            notice = translate("ClassesPage", "The classes could not be loaded. {why}").format(
                why=self.last_failure.message
            )
        elif not self._loaded_once:
            loading = self.loading is not None and not self.loading.done
            notice = translate("ClassesPage", "Loading classes…") if loading else ""
        elif total == 0:
            notice = translate("ClassesPage", "No classes yet. Create one with New class…")
        elif shown == 0 and self.class_model.search_words:
            notice = translate("ClassesPage", "No class matches the search.")
        elif shown == 0:
            notice = translate(
                "ClassesPage",
                "Every class is archived. Tick Show archived to see them, or create a class "
                "with New class…",
            )
        self.class_notice.setText(notice)
        self.class_body.setCurrentIndex(1 if notice else 0)

        if self._class_id is None:
            self.no_class.setText(
                translate("ClassesPage", "Choose a class to see its students.") if shown else ""
            )
            self.right.setCurrentIndex(1)
        else:
            self.right.setCurrentIndex(0)
            roster_loading = self.roster_loading is not None and not self.roster_loading.done
            roster_notice = ""
            if self.roster_model.rowCount() == 0:
                roster_notice = (
                    translate("ClassesPage", "Loading the students…")
                    if roster_loading
                    else translate(
                        "ClassesPage",
                        "No students in this class yet. Add them one at a time with Add "
                        "student…, or all at once from a class list (CSV or Excel) with "
                        "Import roster…",
                    )
                )
            self.roster_notice.setText(roster_notice)
            self.roster_body.setCurrentIndex(1 if roster_notice else 0)
        self._update_buttons()

    # ------------------------------------------------------------------ changing

    def _ask(self, flow: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        """Run a dialog flow as a task (one at a time: a second ask while one is open is
        dropped)."""
        if self.asking is not None and not self.asking.done():
            flow.close()
            return self.asking
        self.asking = asyncio.ensure_future(flow)
        return self.asking

    def _changed(self, select_class: str | None = None) -> None:
        """Something was stored: reload the list (keeping or choosing the class) and roster."""
        if select_class is not None:
            self._want_class = select_class
        self.changed.emit()
        if self.loading is not None and not self.loading.done:
            self._stale = True
        else:
            self.reload()
        self.load_roster()

    async def _store(self, title: str, work: Callable[..., R]) -> Completed[R] | Failed | None:
        """Run ``work`` in a worker thread and wait for it; failures are the caller's."""
        operation = self.runner.start_blocking(title, partial(_quietly, work), show_failure=False)
        outcome = await operation.wait()
        if isinstance(outcome, Completed | Failed):
            return outcome
        return None

    async def _form_flow(
        self,
        dialog: _FormDialog,
        title: str,
        work: Callable[[_FormDialog], Callable[[], Any]],
        done: Callable[[Any], None],
    ) -> None:
        """Open ``dialog`` until what it asks for is stored or it is cancelled; a refusal is
        shown in the dialog, which opens again with what was typed."""
        self.dialog = dialog
        try:
            while True:
                code = await open_and_wait(dialog)
                if code != QDialog.DialogCode.Accepted:
                    return
                outcome = await self._store(title, work(dialog))
                if isinstance(outcome, Completed):
                    done(outcome.value)
                    return
                if outcome is None:
                    return
                dialog.set_error(outcome.message)
        finally:
            self.dialog = None
            dialog.deleteLater()

    def ask_new_class(self) -> asyncio.Future[None]:
        dialog = ClassDialog(None, self)

        def work(d: _FormDialog) -> Callable[[], ClassSummary]:
            assert isinstance(d, ClassDialog)
            c = d.changes()
            return partial(new_class, self.db, NewClass(c.name, c.course, c.school_year))

        def done(made: ClassSummary) -> None:
            if self.search.text():  # the new class must not be hidden by the search
                self.search.clear()
            self._changed(select_class=made.id)

        return self._ask(
            self._form_flow(dialog, translate("ClassesPage", "Creating the class"), work, done)
        )

    def ask_rename_class(self) -> asyncio.Future[None] | None:
        chosen = self.selected_class()
        if chosen is None:
            return None
        dialog = ClassDialog(chosen, self)

        def work(d: _FormDialog) -> Callable[[], ClassSummary]:
            assert isinstance(d, ClassDialog)
            return partial(update_class, self.db, chosen.id, d.changes())

        return self._ask(
            self._form_flow(
                dialog,
                translate("ClassesPage", "Renaming the class"),
                work,
                lambda changed: self._changed(select_class=changed.id),
            )
        )

    def ask_add_student(self) -> asyncio.Future[None] | None:
        class_id = self._class_id
        if class_id is None:
            return None
        dialog = StudentDialog(None, self)

        def work(d: _FormDialog) -> Callable[[], StudentRow]:
            assert isinstance(d, StudentDialog)
            return partial(add_student, self.db, class_id, d.fields())

        def done(student: StudentRow) -> None:
            self._changed()
            self._select_when_loaded(student.id)

        return self._ask(
            self._form_flow(dialog, translate("ClassesPage", "Adding the student"), work, done)
        )

    def ask_edit_student(self) -> asyncio.Future[None] | None:
        class_id, student = self._class_id, self.selected_student()
        if class_id is None or student is None:
            return None
        dialog = StudentDialog(student, self)

        def work(d: _FormDialog) -> Callable[[], StudentRow]:
            assert isinstance(d, StudentDialog)
            return partial(update_student, self.db, class_id, student.id, d.fields())

        def done(changed: StudentRow) -> None:
            self._changed()
            self._select_when_loaded(changed.id)

        return self._ask(
            self._form_flow(dialog, translate("ClassesPage", "Saving the student"), work, done)
        )

    def _select_when_loaded(self, student_id: str) -> None:
        loading = self.roster_loading
        if loading is not None:
            loading.add_done_callback(lambda _op: self.select_student(student_id))

    async def _confirm(self, box: QMessageBox, yes: QPushButton) -> bool:
        self.dialog = box
        try:
            await open_and_wait(box)
            return box.clickedButton() is yes
        finally:
            self.dialog = None
            box.deleteLater()

    def _question(
        self, title: str, text: str, detail: str, yes_text: str
    ) -> tuple[QMessageBox, QPushButton]:
        box = QMessageBox(self)
        box.setObjectName("confirmBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(title)
        box.setText(text)
        box.setInformativeText(detail)
        yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
        yes.setObjectName("confirmButton")
        keep = box.addButton(translate("ClassesPage", "Cancel"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        return box, yes

    async def _simple_change(self, title: str, work: Callable[[], Any]) -> None:
        outcome = await self._store(title, work)
        if isinstance(outcome, Failed):
            self._report(outcome)
        self._changed()

    def _report(self, failed: Failed) -> None:
        dialog = ErrorDialog.for_failure(failed, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def ask_archive_toggle(self) -> asyncio.Future[None] | None:
        """Archive the chosen class (after a question), or bring an archived one back."""
        chosen = self.selected_class()
        if chosen is None:
            return None
        if chosen.archived:
            return self._ask(
                self._simple_change(
                    translate("ClassesPage", "Bringing the class back"),
                    partial(unarchive_class, self.db, chosen.id),
                )
            )
        box, yes = self._question(
            translate("ClassesPage", "Archive the class?"),
            translate("ClassesPage", "Archive {name}?").format(name=chosen.name),
            translate(
                "ClassesPage",
                "Its students and batches are kept, and it can be brought back with Show "
                "archived and Unarchive. It is no longer listed among the working classes.",
            ),
            translate("ClassesPage", "Archive"),
        )

        async def flow() -> None:
            if await self._confirm(box, yes):
                await self._simple_change(
                    translate("ClassesPage", "Archiving the class"),
                    partial(archive_class, self.db, chosen.id),
                )

        return self._ask(flow())

    def ask_delete_class(self) -> asyncio.Future[None] | None:
        """Say what deleting the chosen class removes, and delete it if the teacher agrees."""
        chosen = self.selected_class()
        if chosen is None:
            return None

        async def flow() -> None:
            planned = await self._store(
                translate("ClassesPage", "Checking what the class holds"),
                partial(plan_class_deletion, self.db, chosen.id),
            )
            if isinstance(planned, Failed):
                self._report(planned)
                return
            if planned is None:
                return
            plan = planned.value

            def counted(text: str, n: int) -> str:
                return english_plural(translate("ClassesPage", text, "", n), n)

            lines = [
                translate("ClassesPage", "Erased: {students} (names, codes, e-mail).").format(
                    students=counted("%n student(s)", plan.students_erased)
                ),
                translate("ClassesPage", "Deleted: {batches}, {essays}, {comparisons}.").format(
                    batches=counted("%n batch(es)", plan.batches),
                    essays=counted("%n essay(s)", plan.essays),
                    comparisons=counted("%n judged comparison(s)", plan.comparisons),
                ),
            ]
            if plan.students_kept:
                lines.append(
                    translate("ClassesPage", "Kept: {students} also in another class.").format(
                        students=counted("%n student(s)", plan.students_kept)
                    )
                )
            lines.append(
                translate(
                    "ClassesPage", "This cannot be undone. Exports you saved are not touched."
                )
            )
            detail = "\n".join(lines)
            box, yes = self._question(
                translate("ClassesPage", "Delete the class?"),
                translate("ClassesPage", "Delete {name} and erase its students' data?").format(
                    name=chosen.name
                ),
                detail,
                translate("ClassesPage", "Delete and erase"),
            )
            box.setIcon(QMessageBox.Icon.Warning)
            # Wide enough for each line of the list to stay on one line.
            box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 27em; }")
            if await self._confirm(box, yes):
                await self._simple_change(
                    translate("ClassesPage", "Deleting the class"),
                    partial(delete_class, self.db, chosen.id),
                )

        return self._ask(flow())

    def ask_remove_student(self) -> asyncio.Future[None] | None:
        class_id, student = self._class_id, self.selected_student()
        chosen = self.selected_class()
        if class_id is None or student is None or chosen is None:
            return None
        box, yes = self._question(
            translate("ClassesPage", "Remove the student?"),
            translate("ClassesPage", "Remove {student} from {name}?").format(
                student=student.full_name, name=chosen.name
            ),
            translate(
                "ClassesPage",
                "The student's essays and grades are kept, and so is their place in other classes.",
            ),
            translate("ClassesPage", "Remove"),
        )

        async def flow() -> None:
            if await self._confirm(box, yes):
                await self._simple_change(
                    translate("ClassesPage", "Removing the student"),
                    partial(remove_student, self.db, class_id, student.id),
                )

        return self._ask(flow())

    # ------------------------------------------------------------------ roster files

    def ask_import_roster(self) -> asyncio.Future[None] | None:
        """Choose a class list (CSV or Excel) and import it into the chosen class."""
        if self._class_id is None:
            return None
        chooser = QFileDialog(
            self,
            translate("ClassesPage", "Import a class list"),
            str(Path.home()),
            translate("ClassesPage", "Class lists (*.csv *.xlsx);;All files (*)"),
        )
        chooser.setObjectName("rosterFileDialog")
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)

        async def flow() -> None:
            self.dialog = chooser
            try:
                code = await open_and_wait(chooser)
                files = chooser.selectedFiles()
            finally:
                self.dialog = None
                chooser.deleteLater()
            if code == QDialog.DialogCode.Accepted and files:
                self.import_roster_file(Path(files[0]))

        return self._ask(flow())

    def import_roster_file(self, path: Path) -> Operation[RosterImport] | None:
        """Import ``path`` into the chosen class in a worker thread (progress in the task
        panel), then show every row's outcome below the roster."""
        class_id = self._class_id
        if class_id is None:
            return None
        path = Path(path)

        def done(operation: Operation[RosterImport]) -> None:
            outcome = operation.outcome
            if class_id == self._class_id:
                if isinstance(outcome, Completed):
                    self.import_panel.show_result(outcome.value)
                elif isinstance(outcome, Failed):
                    self.import_panel.show_failure(outcome, path.name)
            if isinstance(outcome, Completed):
                self._changed()
            self._update_buttons()

        self.importing = self.runner.start_blocking(
            translate("ClassesPage", "Importing {file}").format(file=path.name),
            partial(import_roster_lines, self.db, class_id, path),
            show_failure=False,
            on_done=done,
        )
        self._update_buttons()
        return self.importing
