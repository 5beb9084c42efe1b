"""The Assignments page: every assignment, and an editor for one with its anchor essays.

On the left, the assignments (searched inside the model) and *New assignment…*. On the right,
the selected assignment: its title, grade scale (built-in or the teacher's own, with *New
scale…* / *Edit scale…*), the texts the judge is given (student prompt, assessment criteria,
judge rubric) with *Save* / *Revert*, and its anchors (label, grade, characters, source file)
with *Add anchor…*, *Import anchors…*, *View*, *Change grade…* and *Remove*.

Everything is read and stored through :mod:`app.operations` (assignments, scales, queries) in
worker threads via the :class:`~ui.tasks.TaskRunner`; the page never opens a database session.
Dialogs open with ``open()`` (awaited through :func:`ui.dialogs.open_and_wait`), never
``exec()``. Unsaved edits are asked about before another assignment is shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.db.engine import Database
from app.intake.outcomes import FileOutcome, Outcome
from app.operations.assignments import (
    AnchorRow,
    AnchorText,
    add_anchor,
    anchor_text,
    import_anchor_files,
    list_anchors,
    remove_anchor,
    set_anchor_grade,
    update_assignment,
)
from app.operations.base import Completed, Failed, FailureKind
from app.operations.erase import DeletionPlan, delete_assignment
from app.operations.intake import AnchorImportResult
from app.operations.queries import AssignmentDetail, AssignmentRow, list_assignments
from app.operations.scales import ScaleRow, list_scales, save_custom_scale
from app.operations.school import NewAssignment, create_assignment, find_assignment
from ui.dialogs import open_and_wait
from ui.errors import show_failure
from ui.i18n import english_plural
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

Index = QModelIndex | QPersistentModelIndex
T = TypeVar("T")

# ------------------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Listing:
    """What the page loads at once: the assignments and the grade scales."""

    assignments: list[AssignmentRow]
    scales: list[ScaleRow]


@dataclass(frozen=True)
class Opened:
    """One assignment with its anchors."""

    assignment: AssignmentDetail
    anchors: list[AnchorRow]


def _load_listing(db: Database, **_operation: object) -> Listing:
    return Listing(list_assignments(db), list_scales(db))


def _open_assignment(db: Database, assignment_id: str, **_operation: object) -> Opened:
    return Opened(find_assignment(db, assignment_id), list_anchors(db, assignment_id))


def _call(fn: Callable[..., T], *args: Any, **_operation: object) -> T:
    """``fn(*args)`` as a runner operation (it neither reports nor checks for cancel)."""
    return fn(*args)


def _import_files(
    db: Database, assignment_id: str, paths: Sequence[Path], **operation: Any
) -> AnchorImportResult:
    """Import anchor files; a ``.csv`` among them is the grades file (``file,grade,label``)."""
    grades = [p for p in paths if p.suffix.lower() == ".csv"]
    files = [p for p in paths if p.suffix.lower() != ".csv"]
    return import_anchor_files(
        db,
        assignment_id,
        files,
        grades[0] if grades else None,
        progress=operation.get("progress"),
        cancel=operation.get("cancel"),
    )


# ---------------------------------------------------------------------------------- models


class AssignmentListModel(QAbstractTableModel):
    """The assignments, searched by title or scale name inside the model; newest first."""

    HEADERS = ("Assignment", "Anchors")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[AssignmentRow] = []
        self._shown: list[AssignmentRow] = []
        self._scale_names: dict[str, str] = {}
        self._words: tuple[str, ...] = ()

    def set_rows(self, rows: Sequence[AssignmentRow], scale_names: dict[str, str]) -> None:
        self.beginResetModel()
        self._rows = list(reversed(rows))
        self._scale_names = dict(scale_names)
        self._refilter()
        self.endResetModel()

    def set_search(self, text: str) -> None:
        self.beginResetModel()
        self._words = tuple(text.casefold().split())
        self._refilter()
        self.endResetModel()

    def _refilter(self) -> None:
        def matches(row: AssignmentRow) -> bool:
            hay = f"{row.title} {self._scale_names.get(row.scale, row.scale)}".casefold()
            return all(w in hay for w in self._words)

        self._shown = [r for r in self._rows if matches(r)]

    def total_count(self) -> int:
        return len(self._rows)

    def visible_rows(self) -> list[AssignmentRow]:
        return list(self._shown)

    def row_at(self, row: int) -> AssignmentRow:
        return self._shown[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._shown)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return translate("AssignmentList", self.HEADERS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._shown[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title if index.column() == 0 else str(row.anchors)
        if role == Qt.ItemDataRole.ToolTipRole:
            return translate("AssignmentList", "{title}\nGrade scale: {scale}").format(
                title=row.title, scale=self._scale_names.get(row.scale, row.scale)
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class AnchorTableModel(QAbstractTableModel):
    """The anchors of one assignment: label, grade, characters, source file."""

    HEADERS = ("Label", "Grade", "Characters", "Source file")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[AnchorRow] = []

    def set_rows(self, rows: Sequence[AnchorRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[AnchorRow]:
        return list(self._rows)

    def row_at(self, row: int) -> AnchorRow:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return translate("AnchorTable", self.HEADERS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return row.label or translate("AnchorTable", "(no label)")
            if column == 1:
                return row.grade
            if column == 2:
                return f"{row.characters:,}"
            return (
                Path(row.source_file).name
                if row.source_file
                else translate("AnchorTable", "pasted text")
            )
        if role == Qt.ItemDataRole.ToolTipRole and column == 3 and row.source_file:
            return row.source_file
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (1, 2):
            align = Qt.AlignmentFlag.AlignRight if column == 2 else Qt.AlignmentFlag.AlignCenter
            return int(align | Qt.AlignmentFlag.AlignVCenter)
        return None


# --------------------------------------------------------------------------------- dialogs


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(ok_text)
    ok.setDefault(True)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


class NewAssignmentDialog(QDialog):
    """A title and a grade scale for a new assignment."""

    def __init__(self, scales: Sequence[ScaleRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(translate("NewAssignmentDialog", "New assignment"))
        self.title = QLineEdit()
        self.title.setObjectName("newAssignmentTitle")
        self.title.setPlaceholderText(
            translate("NewAssignmentDialog", "e.g. Argumentative essay: phones in school")
        )
        self.title.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 30)
        self.scale = QComboBox()
        for row in scales:
            self.scale.addItem(row.name, row.id)
        form = QFormLayout()
        title_label = QLabel(translate("NewAssignmentDialog", "&Title:"))
        title_label.setBuddy(self.title)
        scale_label = QLabel(translate("NewAssignmentDialog", "Grade &scale:"))
        scale_label.setBuddy(self.scale)
        form.addRow(title_label, self.title)
        form.addRow(scale_label, self.scale)
        self.buttons = _buttons(self, translate("NewAssignmentDialog", "Create"))
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setEnabled(False)
        self.title.textChanged.connect(lambda t: self.ok.setEnabled(bool(t.strip())))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    def new_assignment(self) -> NewAssignment:
        return NewAssignment(self.title.text(), str(self.scale.currentData()))


class ScaleDialog(QDialog):
    """A teacher's own grade scale: a name and its grades, one per line, lowest first."""

    def __init__(self, scale: ScaleRow | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale_id = scale.id if scale is not None else None
        self.setWindowTitle(
            translate("ScaleDialog", "Edit grade scale")
            if scale is not None
            else translate("ScaleDialog", "New grade scale")
        )
        self.name = QLineEdit(scale.name if scale is not None else "")
        self.name.setObjectName("scaleName")
        self.grades = QPlainTextEdit("\n".join(scale.grades) if scale is not None else "")
        self.grades.setObjectName("scaleGrades")
        self.grades.setTabChangesFocus(True)
        self.grades.setPlaceholderText(translate("ScaleDialog", "F\nE\nD\nC\nB\nA"))
        line = self.fontMetrics().lineSpacing()
        self.grades.setMinimumHeight(line * 8)
        self.below = QCheckBox(
            translate(
                "ScaleDialog",
                "The &lowest grade is for essays below every anchor (no anchor carries it)",
            )
        )
        self.below.setChecked(scale is not None and scale.below_lowest is not None)
        name_label = QLabel(translate("ScaleDialog", "&Name:"))
        name_label.setBuddy(self.name)
        grades_label = QLabel(translate("ScaleDialog", "&Grades, one per line, lowest first:"))
        grades_label.setBuddy(self.grades)
        note = QLabel(
            translate(
                "ScaleDialog",
                "Once a run has graded with this scale its grades are kept as they are; "
                "you can still rename it.",
            )
        )
        note.setWordWrap(True)
        self.buttons = _buttons(self, translate("ScaleDialog", "Save scale"))
        layout = QVBoxLayout(self)
        layout.addWidget(name_label)
        layout.addWidget(self.name)
        layout.addWidget(grades_label)
        layout.addWidget(self.grades, 1)
        layout.addWidget(self.below)
        layout.addWidget(note)
        layout.addWidget(self.buttons)

    def labels(self) -> list[str]:
        return [line.strip() for line in self.grades.toPlainText().splitlines() if line.strip()]

    def below_lowest(self) -> str | None:
        labels = self.labels()
        return labels[0] if self.below.isChecked() and labels else None


class AnchorDialog(QDialog):
    """A pasted anchor essay: its text, grade and an optional label."""

    def __init__(self, grades: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(translate("AnchorDialog", "Add anchor essay"))
        self.text = QPlainTextEdit()
        self.text.setObjectName("anchorText")
        self.text.setTabChangesFocus(True)
        self.text.setPlaceholderText(translate("AnchorDialog", "Paste the essay's text here."))
        metrics = self.fontMetrics()
        self.text.setMinimumSize(metrics.horizontalAdvance("M") * 40, metrics.lineSpacing() * 12)
        self.grade = QComboBox()
        self.grade.setObjectName("anchorGrade")
        self.grade.addItems(list(grades))
        self.label = QLineEdit()
        self.label.setObjectName("anchorLabel")
        self.label.setPlaceholderText(translate("AnchorDialog", "e.g. National test 2024, C"))
        text_label = QLabel(translate("AnchorDialog", "Essay &text:"))
        text_label.setBuddy(self.text)
        form = QFormLayout()
        grade_label = QLabel(translate("AnchorDialog", "&Grade:"))
        grade_label.setBuddy(self.grade)
        name_label = QLabel(translate("AnchorDialog", "&Label:"))
        name_label.setBuddy(self.label)
        form.addRow(grade_label, self.grade)
        form.addRow(name_label, self.label)
        self.buttons = _buttons(self, translate("AnchorDialog", "Add anchor"))
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setEnabled(False)
        self.text.textChanged.connect(
            lambda: self.ok.setEnabled(bool(self.text.toPlainText().strip()))
        )
        layout = QVBoxLayout(self)
        layout.addWidget(text_label)
        layout.addWidget(self.text, 1)
        layout.addLayout(form)
        layout.addWidget(self.buttons)


class GradeDialog(QDialog):
    """Another grade for one anchor."""

    def __init__(
        self, anchor: AnchorRow, grades: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(translate("GradeDialog", "Change grade"))
        self.grade = QComboBox()
        self.grade.setObjectName("newGrade")
        self.grade.addItems(list(grades))
        self.grade.setCurrentText(anchor.grade)
        what = QLabel(
            translate("GradeDialog", "Anchor: {name}\nGrade now: {grade}").format(
                name=anchor.name or translate("GradeDialog", "(no label)"), grade=anchor.grade
            )
        )
        what.setTextFormat(Qt.TextFormat.PlainText)
        grade_label = QLabel(translate("GradeDialog", "New &grade:"))
        grade_label.setBuddy(self.grade)
        row = QHBoxLayout()
        row.addWidget(grade_label)
        row.addWidget(self.grade, 1)
        self.buttons = _buttons(self, translate("GradeDialog", "Change grade"))
        layout = QVBoxLayout(self)
        layout.addWidget(what)
        layout.addLayout(row)
        layout.addWidget(self.buttons)


class AnchorTextDialog(QDialog):
    """An anchor's full text, read-only."""

    def __init__(self, anchor: AnchorText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name = anchor.label or (Path(anchor.source_file).name if anchor.source_file else "")
        self.setWindowTitle(
            translate("AnchorTextDialog", "Anchor {name} (grade {grade})").format(
                name=name, grade=anchor.grade
            )
        )
        heading = QLabel(
            translate("AnchorTextDialog", "{name} — grade {grade}").format(
                name=name or translate("AnchorTextDialog", "Anchor"), grade=anchor.grade
            )
        )
        heading.setTextFormat(Qt.TextFormat.PlainText)
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        source = QLabel(
            translate("AnchorTextDialog", "From {file}").format(file=anchor.source_file)
            if anchor.source_file
            else translate("AnchorTextDialog", "Pasted text")
        )
        source.setTextFormat(Qt.TextFormat.PlainText)
        source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit(anchor.text)
        self.text.setObjectName("anchorFullText")
        self.text.setReadOnly(True)
        metrics = self.fontMetrics()
        self.text.setMinimumSize(metrics.horizontalAdvance("M") * 42, metrics.lineSpacing() * 18)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(source)
        layout.addWidget(self.text, 1)
        layout.addWidget(box)


class ImportReportDialog(QDialog):
    """One row per file of an anchor import: outcome, grade and why."""

    def __init__(self, result: AnchorImportResult, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(translate("ImportReportDialog", "Anchors imported"))
        counts = result.counts
        summary = QLabel(
            translate(
                "ImportReportDialog", "{imported} imported, {skipped} skipped, {failed} failed."
            ).format(imported=counts.imported, skipped=counts.skipped, failed=counts.failed)
        )
        self.table = QTableWidget(len(result.outcomes), 4)
        self.table.setObjectName("importOutcomes")
        self.table.setHorizontalHeaderLabels(
            [
                translate("ImportReportDialog", "File"),
                translate("ImportReportDialog", "Outcome"),
                translate("ImportReportDialog", "Grade"),
                translate("ImportReportDialog", "Details"),
            ]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        for i, outcome in enumerate(result.outcomes):
            cells = (
                Path(outcome.source).name,
                outcome_text(outcome),
                outcome.grade or "",
                "" if outcome.ok else outcome.message,
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(outcome.source if j == 0 else text)
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader()
        for column in range(3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        metrics = self.fontMetrics()
        self.table.setMinimumSize(
            metrics.horizontalAdvance("M") * 60,
            metrics.lineSpacing() * min(18, 4 + 2 * len(result.outcomes)),
        )
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.table.resizeRowsToContents()
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(box)

    def rows(self) -> list[tuple[str, ...]]:
        """The table's texts, row by row (for tests and screen readers)."""
        rows = []
        for i in range(self.table.rowCount()):
            cells = []
            for j in range(self.table.columnCount()):
                item = self.table.item(i, j)
                cells.append(item.text() if item is not None else "")
            rows.append(tuple(cells))
        return rows


def outcome_text(outcome: FileOutcome) -> str:
    if outcome.outcome is Outcome.IMPORTED:
        return translate("ImportReportDialog", "Imported")
    if outcome.outcome is Outcome.SKIPPED:
        return translate("ImportReportDialog", "Skipped")
    return translate("ImportReportDialog", "Failed")


# ------------------------------------------------------------------------------------ page


class AssignmentsPage(QWidget):
    """Assignments and their anchors, edited through operations.

    ``changed`` is emitted after anything was stored (an assignment created or saved, a scale
    saved, anchors added, regraded or removed), so other pages can reload.
    """

    changed = Signal()
    loaded = Signal()

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assignmentsPage")
        self.db = db
        self.runner = runner
        self.loading: Operation[Listing] | None = None
        self.opening: Operation[Opened] | None = None
        self.action: Operation[Any] | None = None
        """The newest storing operation started by the page (save, add, import, …)."""
        self.dialog: QDialog | None = None
        """The dialog the page has open, if any (tests fill it in)."""
        self.import_report: ImportReportDialog | None = None
        self.last_failure: Failed | None = None
        self.scales: list[ScaleRow] = []
        self.current: Opened | None = None
        self._notice_on_switch: str | None = None
        self._loaded_once = False
        self._asking: asyncio.Future[Any] | None = None
        self._filling = False
        self._target: str | None = None
        self._pick_scale: str | None = None
        """The assignment the page is showing or opening."""

        self.list_model = AssignmentListModel(self)
        self.anchor_model = AnchorTableModel(self)

        # ---- left: the list
        heading = QLabel(translate("AssignmentsPage", "Assignments"))
        heading.setObjectName("pageHeading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)
        self.search = QLineEdit()
        self.search.setObjectName("assignmentSearch")
        self.search.setPlaceholderText(translate("AssignmentsPage", "Search assignments"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search)
        self.new_button = QPushButton(translate("AssignmentsPage", "&New assignment…"))
        self.new_button.setObjectName("newAssignmentButton")
        self.new_button.clicked.connect(self.ask_new_assignment)
        self.list_view = QTableView()
        self.list_view.setObjectName("assignmentList")
        self.list_view.setModel(self.list_model)
        self._table_look(self.list_view)
        list_header = self.list_view.horizontalHeader()
        list_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        list_header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.list_view.selectionModel().currentRowChanged.connect(self._on_row_chosen)
        self.count_label = QLabel()
        self.count_label.setObjectName("assignmentCount")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(heading)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.list_view, 1)
        self.delete_button = QPushButton(translate("AssignmentsPage", "De&lete…"))
        self.delete_button.setObjectName("deleteAssignmentButton")
        self.delete_button.setToolTip(
            translate("AssignmentsPage", "Delete the assignment shown and its anchor essays")
        )
        self.delete_button.clicked.connect(self.ask_delete_assignment)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.delete_button)
        bottom.addWidget(self.new_button)
        left_layout.addLayout(bottom)

        # ---- right: the editor
        self.title_edit = QLineEdit()
        self.title_edit.setObjectName("assignmentTitle")
        self.scale_combo = QComboBox()
        self.scale_combo.setObjectName("scaleCombo")
        self.scale_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.new_scale_button = QPushButton(translate("AssignmentsPage", "New s&cale…"))
        self.new_scale_button.setObjectName("newScaleButton")
        self.new_scale_button.clicked.connect(lambda: self.ask_scale(None))
        self.edit_scale_button = QPushButton(translate("AssignmentsPage", "&Edit scale…"))
        self.edit_scale_button.setObjectName("editScaleButton")
        self.edit_scale_button.clicked.connect(self._edit_current_scale)
        self.scale_grades = QLabel()
        self.scale_grades.setObjectName("scaleGrades")
        self.scale_grades.setWordWrap(True)
        self.scale_grades.setTextFormat(Qt.TextFormat.PlainText)

        title_label = QLabel(translate("AssignmentsPage", "&Title:"))
        title_label.setBuddy(self.title_edit)
        scale_label = QLabel(translate("AssignmentsPage", "&Grade scale:"))
        scale_label.setBuddy(self.scale_combo)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale_combo, 1)
        scale_row.addWidget(self.new_scale_button)
        scale_row.addWidget(self.edit_scale_button)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(title_label, self.title_edit)
        form.addRow(scale_label, scale_row)
        form.addRow("", self.scale_grades)

        self.prompt_edit = self._text_box("studentPrompt")
        self.criteria_edit = self._text_box("assessmentCriteria")
        self.rubric_edit = self._text_box("judgeRubric")
        self.texts = QTabWidget()
        self.texts.setObjectName("assignmentTexts")
        self.texts.addTab(self.prompt_edit, translate("AssignmentsPage", "Student &prompt"))
        self.texts.addTab(self.criteria_edit, translate("AssignmentsPage", "Assessment c&riteria"))
        self.texts.addTab(self.rubric_edit, translate("AssignmentsPage", "&Judge rubric"))

        self.message = QLabel()
        self.message.setObjectName("editorMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.revert_button = QPushButton(translate("AssignmentsPage", "Re&vert"))
        self.revert_button.setObjectName("revertButton")
        self.revert_button.clicked.connect(self.revert)
        self.save_button = QPushButton(translate("AssignmentsPage", "&Save"))
        self.save_button.setObjectName("saveButton")
        self.save_button.setToolTip(translate("AssignmentsPage", "Save the assignment (Ctrl+S)"))
        self.save_button.clicked.connect(self.save)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Save), self, self.save)
        save_row = QHBoxLayout()
        save_row.addWidget(self.message, 1)
        save_row.addWidget(self.revert_button)
        save_row.addWidget(self.save_button)

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addLayout(form)
        details_layout.addWidget(self.texts, 1)
        details_layout.addLayout(save_row)

        # ---- anchors
        self.anchors_box = QGroupBox(translate("AssignmentsPage", "Anchor essays"))
        self.anchors_box.setObjectName("anchorsBox")
        self.anchor_view = QTableView()
        self.anchor_view.setObjectName("anchorTable")
        self.anchor_view.setModel(self.anchor_model)
        self._table_look(self.anchor_view)
        anchor_header = self.anchor_view.horizontalHeader()
        anchor_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            anchor_header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        anchor_header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        anchor_header.resizeSection(3, self.fontMetrics().horizontalAdvance("M") * 12)
        self.anchor_view.doubleClicked.connect(self._anchor_activated)
        self.anchor_view.activated.connect(self._anchor_activated)
        self.anchor_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.anchor_note = QLabel()
        self.anchor_note.setObjectName("anchorNote")
        self.anchor_note.setWordWrap(True)
        self.anchor_note.setTextFormat(Qt.TextFormat.PlainText)

        self.add_anchor_button = QPushButton(translate("AssignmentsPage", "&Add anchor…"))
        self.add_anchor_button.setObjectName("addAnchorButton")
        self.add_anchor_button.clicked.connect(self.ask_anchor)
        self.import_button = QPushButton(translate("AssignmentsPage", "&Import anchors…"))
        self.import_button.setObjectName("importAnchorsButton")
        self.import_button.setToolTip(
            translate(
                "AssignmentsPage",
                "Grades come from the file names (e.g. B_essay.docx) or from a grades file "
                "(file,grade,label as .csv) chosen with the essays.",
            )
        )
        self.import_button.clicked.connect(self.ask_import)
        self.view_button = QPushButton(translate("AssignmentsPage", "Vie&w"))
        self.view_button.setObjectName("viewAnchorButton")
        self.view_button.clicked.connect(self.view_selected_anchor)
        self.grade_button = QPushButton(translate("AssignmentsPage", "C&hange grade…"))
        self.grade_button.setObjectName("changeGradeButton")
        self.grade_button.clicked.connect(self.ask_grade)
        self.remove_button = QPushButton(translate("AssignmentsPage", "Re&move"))
        self.remove_button.setObjectName("removeAnchorButton")
        self.remove_button.clicked.connect(self.ask_remove)
        anchor_buttons = QHBoxLayout()
        anchor_buttons.addWidget(self.add_anchor_button)
        anchor_buttons.addWidget(self.import_button)
        anchor_buttons.addStretch(1)
        anchor_buttons.addWidget(self.view_button)
        anchor_buttons.addWidget(self.grade_button)
        anchor_buttons.addWidget(self.remove_button)
        anchors_layout = QVBoxLayout(self.anchors_box)
        anchors_layout.addWidget(self.anchor_view, 1)
        anchors_layout.addWidget(self.anchor_note)
        anchors_layout.addLayout(anchor_buttons)

        editor_split = QSplitter(Qt.Orientation.Vertical)
        editor_split.setChildrenCollapsible(False)
        editor_split.addWidget(details)
        editor_split.addWidget(self.anchors_box)
        editor_split.setStretchFactor(0, 3)
        editor_split.setStretchFactor(1, 2)

        self.placeholder = QLabel()
        self.placeholder.setObjectName("editorPlaceholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.editor = QStackedWidget()
        self.editor.addWidget(self.placeholder)
        self.editor.addWidget(editor_split)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("assignmentsSplit")
        split.setChildrenCollapsible(False)
        split.addWidget(left)
        split.addWidget(self.editor)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        for edit in (self.prompt_edit, self.criteria_edit, self.rubric_edit):
            edit.textChanged.connect(self._update_buttons)
        self.title_edit.textChanged.connect(self._update_buttons)
        self.scale_combo.currentIndexChanged.connect(self._update_buttons)
        QWidget.setTabOrder(self.search, self.list_view)
        QWidget.setTabOrder(self.list_view, self.new_button)
        QWidget.setTabOrder(self.new_button, self.title_edit)
        QWidget.setTabOrder(self.title_edit, self.scale_combo)
        self._show_editor()

    # ------------------------------------------------------------------ building

    def _table_look(self, view: QTableView) -> None:
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setShowGrid(False)
        view.verticalHeader().setVisible(False)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
        view.horizontalHeader().setHighlightSections(False)

    def _text_box(self, name: str) -> QPlainTextEdit:
        box = QPlainTextEdit()
        box.setObjectName(name)
        box.setTabChangesFocus(True)
        return box

    # ------------------------------------------------------------------ loading

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not event.spontaneous() and not self.is_dirty():
            self.reload()

    def reload(self) -> Operation[Listing]:
        """Load the assignments and scales again (the running load, if one is running); the
        shown assignment stays shown (reopened unless it has unsaved edits)."""
        if self.loading is not None and not self.loading.done:
            return self.loading
        self.loading = self.runner.start_blocking(
            translate("AssignmentsPage", "Loading assignments"),
            partial(_load_listing, self.db),
            show_failure=False,
            on_done=self._on_loaded,
        )
        self._update_texts()
        return self.loading

    def _on_loaded(self, operation: Operation[Listing]) -> None:
        if not isValid(self):
            return
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self._loaded_once = True
            self.last_failure = None
            self.scales = outcome.value.scales
            current = self._target or self.current_id()
            self._filling = True
            try:
                self.list_model.set_rows(
                    outcome.value.assignments, {s.id: s.name for s in self.scales}
                )
                self._fill_scales()
            finally:
                self._filling = False
            if current is not None and self._select_row(current):
                if not self.is_dirty():
                    self._open(current)
                else:
                    self._apply_pick()
            elif self.list_model.rowCount():
                self.list_view.selectRow(0)
            else:
                self.current = None
                self._show_editor()
        elif isinstance(outcome, Failed):
            self.last_failure = outcome
        self._update_texts()
        self.loaded.emit()

    def _fill_scales(self) -> None:
        chosen = self.scale_combo.currentData()
        self.scale_combo.blockSignals(True)
        self.scale_combo.clear()
        for row in self.scales:
            text = (
                row.name
                if row.builtin
                else translate("AssignmentsPage", "{name} (your own)").format(name=row.name)
            )
            self.scale_combo.addItem(text, row.id)
            self.scale_combo.setItemData(
                self.scale_combo.count() - 1,
                translate("AssignmentsPage", "Grades, lowest first: {grades}").format(
                    grades=", ".join(row.grades)
                ),
                Qt.ItemDataRole.ToolTipRole,
            )
        found = self.scale_combo.findData(chosen)
        if found < 0 and self.current is not None:
            found = self.scale_combo.findData(self.current.assignment.scale)
        self.scale_combo.setCurrentIndex(max(found, 0))
        self.scale_combo.blockSignals(False)

    def _apply_pick(self) -> None:
        """Choose the scale just created in the editor's scale box (the teacher saves the
        assignment to use it)."""
        if self._pick_scale is not None:
            found = self.scale_combo.findData(self._pick_scale)
            self._pick_scale = None
            if found >= 0:
                self.scale_combo.setCurrentIndex(found)
            self._update_buttons()

    def current_id(self) -> str | None:
        return self.current.assignment.id if self.current is not None else None

    def _select_row(self, assignment_id: str) -> bool:
        for position, row in enumerate(self.list_model.visible_rows()):
            if row.id == assignment_id:
                self._filling = True
                try:
                    self.list_view.selectRow(position)
                    self.list_view.scrollTo(self.list_model.index(position, 0))
                finally:
                    self._filling = False
                return True
        return False

    def select_assignment(self, assignment_id: str) -> bool:
        """Show ``assignment_id`` (asking first about unsaved edits); False if it is not in
        the list (not loaded yet, filtered out or unknown)."""
        listed = any(r.id == assignment_id for r in self.list_model.visible_rows())
        if not listed:
            return False
        if assignment_id == self.current_id():
            return self._select_row(assignment_id)
        self._switch_to(assignment_id)
        return True

    def _on_search(self, text: str) -> None:
        self._filling = True
        try:
            self.list_model.set_search(text)
        finally:
            self._filling = False
        if self.current is not None:
            self._select_row(self.current.assignment.id)
        self._update_texts()

    def _on_row_chosen(self, index: QModelIndex, _previous: QModelIndex) -> None:
        if self._filling or not index.isValid():
            return
        chosen = self.list_model.row_at(index.row()).id
        if chosen != self.current_id():
            self._switch_to(chosen)

    def _switch_to(self, assignment_id: str) -> None:
        if not self.is_dirty():
            self._select_row(assignment_id)
            self._open(assignment_id)
            return
        if self.current is not None:  # stay on the edited one until the teacher answers
            self._select_row(self.current.assignment.id)
        self._ask_unsaved(assignment_id)

    def _ask_unsaved(self, then: str) -> None:
        if self.dialog is not None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(translate("AssignmentsPage", "Unsaved changes"))
        box.setText(
            translate("AssignmentsPage", "Save the changes to “{title}”?").format(
                title=self.current.assignment.title if self.current else ""
            )
        )
        box.setInformativeText(
            translate("AssignmentsPage", "If you do not save them, they are lost.")
        )
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        self.dialog = box

        async def ask() -> None:
            await open_and_wait(box)
            answer = box.standardButton(box.clickedButton())
            self.dialog = None
            box.deleteLater()
            if not isValid(self):
                return
            if answer == QMessageBox.StandardButton.Save:
                saving = self.save()
                if saving is not None:
                    outcome = await saving.wait()
                    if isinstance(outcome, Completed) and isValid(self):
                        self._select_row(then)
                        self._open(then)
            elif answer == QMessageBox.StandardButton.Discard:
                self._select_row(then)
                self._open(then)

        self._asking = asyncio.ensure_future(ask())

    def _open(self, assignment_id: str) -> Operation[Opened]:
        self._target = assignment_id
        self.opening = self.runner.start_blocking(
            translate("AssignmentsPage", "Opening the assignment"),
            partial(_open_assignment, self.db, assignment_id),
            show_failure=False,
            on_done=self._on_opened,
        )
        return self.opening

    def _on_opened(self, operation: Operation[Opened]) -> None:
        if not isValid(self) or operation is not self.opening:
            return
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self._show(outcome.value)
        elif isinstance(outcome, Failed):
            self._report(outcome)

    def _show(self, opened: Opened, *, texts: bool = True) -> None:
        """Fill the editor from ``opened`` (the texts only when ``texts``)."""
        switched = self.current_id() != opened.assignment.id
        self.current = opened
        detail = opened.assignment
        if switched:
            self._clear_message()
            if self._notice_on_switch is not None:
                self._show_message(self._notice_on_switch, ok=True)
                self._notice_on_switch = None
        if texts:
            self.title_edit.setText(detail.title)
            self.prompt_edit.setPlainText(detail.student_prompt)
            self.criteria_edit.setPlainText(detail.assessment_criteria)
            self.rubric_edit.setPlainText(detail.judge_rubric)
            self.scale_combo.blockSignals(True)
            self.scale_combo.setCurrentIndex(max(self.scale_combo.findData(detail.scale), 0))
            self.scale_combo.blockSignals(False)
            self._apply_pick()
        self.anchor_model.set_rows(opened.anchors)
        self._show_editor()

    def _reopen_anchors(self) -> None:
        """Load the shown assignment's anchors again, keeping the edits in the texts."""
        if self.current is None:
            return
        assignment_id = self.current.assignment.id

        def done(operation: Operation[Opened]) -> None:
            outcome = operation.outcome
            if (
                isValid(self)
                and isinstance(outcome, Completed)
                and self.current_id() == (assignment_id)
            ):
                self._show(outcome.value, texts=False)

        self.runner.start_blocking(
            translate("AssignmentsPage", "Loading the anchors"),
            partial(_open_assignment, self.db, assignment_id),
            show_failure=False,
            on_done=done,
        )

    # ------------------------------------------------------------------ editing

    def edited(self) -> NewAssignment:
        """The editor's values as they stand."""
        return NewAssignment(
            self.title_edit.text(),
            str(self.scale_combo.currentData() or ""),
            self.prompt_edit.toPlainText(),
            self.criteria_edit.toPlainText(),
            self.rubric_edit.toPlainText(),
        )

    def is_dirty(self) -> bool:
        """Whether the editor holds edits that are not stored."""
        if self.current is None:
            return False
        d = self.current.assignment
        e = self.edited()
        return (e.title.strip(), e.scale, e.prompt, e.criteria, e.rubric) != (
            d.title,
            d.scale,
            d.student_prompt,
            d.assessment_criteria,
            d.judge_rubric,
        )

    def revert(self) -> None:
        """Put the stored values back in the editor."""
        if self.current is not None:
            self._clear_message()
            self._show(self.current)

    def save(self) -> Operation[AssignmentDetail] | None:
        """Store the editor's values (None when there is nothing to save)."""
        if self.current is None or not self.is_dirty():
            return None
        assignment_id = self.current.assignment.id
        self.save_button.setEnabled(False)
        self.message.setText(translate("AssignmentsPage", "Saving…"))

        def done(operation: Operation[AssignmentDetail]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed) and self.current_id() == assignment_id:
                assert self.current is not None
                self.current = Opened(outcome.value, self.current.anchors)
                self._show(self.current)
                self._show_message(translate("AssignmentsPage", "Saved."), ok=True)
                self.changed.emit()
                self.reload()
                self._reopen_anchors()
            elif isinstance(outcome, Failed):
                self._report(outcome)
            self._update_buttons()

        return self._act(
            translate("AssignmentsPage", "Saving the assignment"),
            partial(_call, update_assignment, self.db, assignment_id, self.edited()),
            done,
        )

    def _act(
        self, title: str, work: Callable[..., T], done: Callable[[Operation[T]], object]
    ) -> Operation[T]:
        operation = self.runner.start_blocking(title, work, show_failure=False, on_done=done)
        self.action = operation
        return operation

    def _report(self, failed: Failed) -> None:
        """A teacher's mistake in the message line; anything else in the error dialog."""
        self.last_failure = failed
        if failed.kind is FailureKind.INPUT:
            self._show_message(failed.message, ok=False)
        else:
            self._clear_message()
            show_failure(failed, self)

    def _clear_message(self) -> None:
        self.message.clear()
        self.message.setProperty("failed", False)
        self.message.setStyleSheet("")

    def _show_message(self, text: str, *, ok: bool) -> None:
        self.message.setText(text)
        self.message.setProperty("failed", not ok)
        self.message.setStyleSheet("" if ok else "color: #b3261e;")

    # ------------------------------------------------------------------ new assignment

    def ask_new_assignment(self) -> None:
        if self.dialog is not None:
            return
        dialog = NewAssignmentDialog(self.scales, self)
        self.dialog = dialog

        async def ask() -> None:
            code = await open_and_wait(dialog)
            self.dialog = None
            new = dialog.new_assignment()
            dialog.deleteLater()
            if code == QDialog.DialogCode.Accepted and isValid(self):
                self.create_assignment(new)

        self._asking = asyncio.ensure_future(ask())

    def create_assignment(self, new: NewAssignment) -> Operation[AssignmentDetail]:
        """Store a new assignment and show it (after asking about unsaved edits)."""

        def done(operation: Operation[AssignmentDetail]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self.changed.emit()
                new_id = outcome.value.id
                loading = self.reload()
                loading.add_done_callback(lambda _op: self.select_assignment(new_id))
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self._act(
            translate("AssignmentsPage", "Creating the assignment"),
            partial(_call, create_assignment, self.db, new),
            done,
        )

    # ------------------------------------------------------------------ scales

    def scale_row(self, scale_id: str) -> ScaleRow | None:
        return next((s for s in self.scales if s.id == scale_id), None)

    def _edit_current_scale(self) -> None:
        row = self.scale_row(str(self.scale_combo.currentData()))
        if row is not None and not row.builtin:
            self.ask_scale(row)

    def ask_scale(self, scale: ScaleRow | None) -> None:
        """Open the scale dialog: a new scale, or ``scale`` to change."""
        if self.dialog is not None:
            return
        dialog = ScaleDialog(scale, self)
        self.dialog = dialog

        async def ask() -> None:
            code = await open_and_wait(dialog)
            self.dialog = None
            name, labels, below = dialog.name.text(), dialog.labels(), dialog.below_lowest()
            dialog.deleteLater()
            if code == QDialog.DialogCode.Accepted and isValid(self):
                self.save_scale(name, labels, below, scale_id=dialog.scale_id)

        self._asking = asyncio.ensure_future(ask())

    def save_scale(
        self,
        name: str,
        labels: Sequence[str],
        below_lowest: str | None = None,
        *,
        scale_id: str | None = None,
    ) -> Operation[ScaleRow]:
        """Store a custom scale; a new one is chosen in the editor's scale box (save the
        assignment to use it)."""

        def done(operation: Operation[ScaleRow]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                saved = outcome.value
                self.changed.emit()
                self._show_message(
                    translate("AssignmentsPage", "Scale “{name}” saved.").format(name=saved.name)
                    if scale_id is not None
                    else translate(
                        "AssignmentsPage",
                        "Scale “{name}” saved and chosen; save the assignment to use it.",
                    ).format(name=saved.name),
                    ok=True,
                )
                if scale_id is None:
                    self._pick_scale = saved.id
                self.reload()
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self._act(
            translate("AssignmentsPage", "Saving the grade scale"),
            partial(
                _call,
                partial(save_custom_scale, scale_id=scale_id, below_lowest=below_lowest),
                self.db,
                name,
                list(labels),
            ),
            done,
        )

    # ------------------------------------------------------------------ anchors

    def stored_scale(self) -> ScaleRow | None:
        """The assignment's stored scale (anchors are graded on it, not on an unsaved one)."""
        return self.scale_row(self.current.assignment.scale) if self.current else None

    def anchor_grades(self) -> tuple[str, ...]:
        scale = self.stored_scale()
        return scale.anchor_grades if scale is not None else ()

    def selected_anchor(self) -> AnchorRow | None:
        rows = self.anchor_view.selectionModel().selectedRows()
        return self.anchor_model.row_at(rows[0].row()) if rows else None

    def select_anchor(self, anchor_id: str) -> bool:
        for position, row in enumerate(self.anchor_model.rows()):
            if row.id == anchor_id:
                self.anchor_view.selectRow(position)
                return True
        return False

    def _anchors_changed(self, message: str) -> None:
        self._show_message(message, ok=True)
        self.changed.emit()
        self._reopen_anchors()
        self.reload()

    def ask_anchor(self) -> None:
        """Open the dialog for a pasted anchor essay."""
        if self.dialog is not None or self.current is None:
            return
        dialog = AnchorDialog(self.anchor_grades(), self)
        self.dialog = dialog

        async def ask() -> None:
            code = await open_and_wait(dialog)
            self.dialog = None
            text, grade, label = (
                dialog.text.toPlainText(),
                dialog.grade.currentText(),
                dialog.label.text(),
            )
            dialog.deleteLater()
            if code == QDialog.DialogCode.Accepted and isValid(self):
                self.add_anchor(text, grade, label)

        self._asking = asyncio.ensure_future(ask())

    def add_anchor(self, text: str, grade: str, label: str = "") -> Operation[AnchorRow] | None:
        if self.current is None:
            return None

        def done(operation: Operation[AnchorRow]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self._anchors_changed(
                    translate("AssignmentsPage", "Anchor added with grade {grade}.").format(
                        grade=outcome.value.grade
                    )
                )
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self._act(
            translate("AssignmentsPage", "Adding the anchor"),
            partial(_call, add_anchor, self.db, self.current.assignment.id, text, grade, label),
            done,
        )

    def ask_import(self) -> None:
        """Choose anchor files (and a grades file) to import."""
        if self.dialog is not None or self.current is None:
            return
        dialog = QFileDialog(self, translate("AssignmentsPage", "Import anchor essays"))
        dialog.setObjectName("anchorFileDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setNameFilters(
            [
                translate(
                    "AssignmentsPage",
                    "Essays and grades files (*.txt *.md *.docx *.odt *.rtf *.pdf *.zip *.csv)",
                ),
                translate("AssignmentsPage", "All files (*)"),
            ]
        )
        self.dialog = dialog

        async def ask() -> None:
            code = await open_and_wait(dialog)
            self.dialog = None
            files = [Path(f) for f in dialog.selectedFiles()]
            dialog.deleteLater()
            if code == QDialog.DialogCode.Accepted and files and isValid(self):
                self.import_anchors(files)

        self._asking = asyncio.ensure_future(ask())

    def import_anchors(self, paths: Sequence[Path]) -> Operation[AnchorImportResult] | None:
        """Import anchor files into the shown assignment; the outcome of each file is shown
        in a report dialog."""
        if self.current is None:
            return None

        def done(operation: Operation[AnchorImportResult]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                counts = outcome.value.counts
                self._anchors_changed(
                    translate(
                        "AssignmentsPage",
                        "Anchor import: {imported} imported, {skipped} skipped, {failed} failed.",
                    ).format(imported=counts.imported, skipped=counts.skipped, failed=counts.failed)
                )
                report = ImportReportDialog(outcome.value, self)
                report.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                self.import_report = report
                report.finished.connect(lambda _code: setattr(self, "import_report", None))
                report.open()
            elif isinstance(outcome, Failed):
                self._report(outcome)

        operation = self.runner.start_blocking(
            translate("AssignmentsPage", "Importing anchors"),
            partial(_import_files, self.db, self.current.assignment.id, list(paths)),
            show_failure=False,
            on_done=done,
        )
        self.action = operation
        return operation

    def _anchor_activated(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        self.anchor_view.selectRow(index.row())
        if index.column() == 1:
            self.ask_grade()
        else:
            self.view_selected_anchor()

    def view_selected_anchor(self) -> Operation[AnchorText] | None:
        """Load the selected anchor's text and show it (read-only)."""
        anchor = self.selected_anchor()
        if anchor is None or self.dialog is not None:
            return None

        def done(operation: Operation[AnchorText]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                if self.dialog is not None:
                    return
                dialog = AnchorTextDialog(outcome.value, self)
                self.dialog = dialog

                async def show() -> None:
                    await open_and_wait(dialog)
                    self.dialog = None
                    dialog.deleteLater()

                self._asking = asyncio.ensure_future(show())
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self.runner.start_blocking(
            translate("AssignmentsPage", "Reading the anchor"),
            partial(_call, anchor_text, self.db, anchor.id),
            show_failure=False,
            on_done=done,
        )

    def ask_grade(self) -> None:
        """Ask for another grade for the selected anchor."""
        anchor = self.selected_anchor()
        if anchor is None or self.dialog is not None:
            return
        dialog = GradeDialog(anchor, self.anchor_grades(), self)
        self.dialog = dialog

        async def ask() -> None:
            code = await open_and_wait(dialog)
            self.dialog = None
            grade = dialog.grade.currentText()
            dialog.deleteLater()
            if code == QDialog.DialogCode.Accepted and grade != anchor.grade and isValid(self):
                self.set_anchor_grade(anchor.id, grade)

        self._asking = asyncio.ensure_future(ask())

    def set_anchor_grade(self, anchor_id: str, grade: str) -> Operation[AnchorRow]:
        def done(operation: Operation[AnchorRow]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self._anchors_changed(
                    translate("AssignmentsPage", "Grade changed to {grade}.").format(
                        grade=outcome.value.grade
                    )
                )
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self._act(
            translate("AssignmentsPage", "Changing the anchor's grade"),
            partial(_call, set_anchor_grade, self.db, anchor_id, grade),
            done,
        )

    def ask_delete_assignment(self) -> None:
        """Say what deleting the assignment shown removes; delete it if the teacher agrees.

        A batch that uses the assignment keeps it: the refusal names those batches."""
        if self.current is None or self.dialog is not None:
            return
        assignment = self.current.assignment
        anchors = len(self.current.anchors)
        box = QMessageBox(self)
        box.setObjectName("confirmBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(translate("AssignmentsPage", "Delete the assignment?"))
        box.setText(
            translate("AssignmentsPage", "Delete the assignment “{title}”?").format(
                title=assignment.title
            )
        )
        lines = [
            english_plural(
                translate("AssignmentsPage", "Erased with it: %n anchor essay(s).", "", anchors),
                anchors,
            ),
            translate(
                "AssignmentsPage",
                "An assignment that batches use is kept until those batches are deleted.",
            ),
        ]
        if self.is_dirty():
            lines.append(translate("AssignmentsPage", "Your unsaved changes are discarded."))
        box.setInformativeText("\n".join(lines))
        box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 27em; }")
        yes = box.addButton(
            translate("AssignmentsPage", "Delete"), QMessageBox.ButtonRole.AcceptRole
        )
        yes.setObjectName("confirmButton")
        keep = box.addButton(
            translate("AssignmentsPage", "Cancel"), QMessageBox.ButtonRole.RejectRole
        )
        box.setDefaultButton(keep)
        self.dialog = box

        async def ask() -> None:
            await open_and_wait(box)
            agreed = box.clickedButton() is yes
            self.dialog = None
            box.deleteLater()
            if agreed and isValid(self):
                self.delete_assignment(assignment.id)

        self._asking = asyncio.ensure_future(ask())

    def delete_assignment(self, assignment_id: str) -> Operation[DeletionPlan]:
        def done(operation: Operation[DeletionPlan]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                notice = translate("AssignmentsPage", "Assignment “{title}” deleted.").format(
                    title=outcome.value.name
                )
                # Said once the next assignment is open (opening one clears the message line).
                self._notice_on_switch = notice
                self._show_message(notice, ok=True)
                if self.current_id() == assignment_id:
                    self.current = None
                self.reload()
                self.changed.emit()
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self._act(
            translate("AssignmentsPage", "Deleting the assignment"),
            partial(_call, delete_assignment, self.db, assignment_id),
            done,
        )

    def ask_remove(self) -> None:
        """Ask before removing the selected anchor."""
        anchor = self.selected_anchor()
        if anchor is None or self.dialog is not None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(translate("AssignmentsPage", "Remove anchor"))
        box.setText(
            translate("AssignmentsPage", "Remove the anchor “{name}” (grade {grade})?").format(
                name=anchor.name or translate("AssignmentsPage", "(no label)"),
                grade=anchor.grade,
            )
        )
        box.setInformativeText(
            translate(
                "AssignmentsPage",
                "Batches not graded yet stop using it; finished runs keep their results.",
            )
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Yes).setText(translate("AssignmentsPage", "Remove"))
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.dialog = box

        async def ask() -> None:
            await open_and_wait(box)
            answer = box.standardButton(box.clickedButton())
            self.dialog = None
            box.deleteLater()
            if answer == QMessageBox.StandardButton.Yes and isValid(self):
                self.remove_anchor(anchor.id)

        self._asking = asyncio.ensure_future(ask())

    def remove_anchor(self, anchor_id: str) -> Operation[None]:
        def done(operation: Operation[None]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self._anchors_changed(translate("AssignmentsPage", "Anchor removed."))
            elif isinstance(outcome, Failed):
                self._report(outcome)

        return self._act(
            translate("AssignmentsPage", "Removing the anchor"),
            partial(_call, remove_anchor, self.db, anchor_id),
            done,
        )

    # ------------------------------------------------------------------ presentation

    def _show_editor(self) -> None:
        self.editor.setCurrentIndex(1 if self.current is not None else 0)
        self._update_texts()
        self._update_buttons()

    def _update_buttons(self, *_args: object) -> None:
        shown = self.current is not None
        dirty = self.is_dirty()
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        chosen = self.scale_row(str(self.scale_combo.currentData()))
        self.edit_scale_button.setEnabled(chosen is not None and not chosen.builtin)
        self.edit_scale_button.setToolTip(
            translate("AssignmentsPage", "Built-in scales cannot be changed")
            if chosen is not None and chosen.builtin
            else translate("AssignmentsPage", "Rename this scale or change its grades")
        )
        if chosen is not None:
            self.scale_grades.setText(
                translate("AssignmentsPage", "Grades, lowest first: {grades}").format(
                    grades=", ".join(chosen.grades)
                )
            )
        selected = self.selected_anchor() is not None
        self.delete_button.setEnabled(shown)
        self.add_anchor_button.setEnabled(shown)
        self.import_button.setEnabled(shown)
        for button in (self.view_button, self.grade_button, self.remove_button):
            button.setEnabled(shown and selected)
        if dirty and self.message.property("failed") is not True:
            self.message.setText(translate("AssignmentsPage", "Unsaved changes."))
            self.message.setStyleSheet("")
        elif not dirty and self.message.text() == translate("AssignmentsPage", "Unsaved changes."):
            self.message.clear()

    def _update_texts(self) -> None:
        total, shown = self.list_model.total_count(), self.list_model.rowCount()
        if not self._loaded_once:
            self.count_label.setText("")
        elif total == shown:
            self.count_label.setText(
                english_plural(translate("AssignmentsPage", "%n assignment(s)", "", total), total)
            )
        else:
            self.count_label.setText(
                translate("AssignmentsPage", "{shown} of {total} assignments").format(
                    shown=shown, total=total
                )
            )
        if self.last_failure is not None and not self._loaded_once:
            placeholder = translate(
                "AssignmentsPage", "The assignments could not be loaded. {why}"
            ).format(why=self.last_failure.message)
        elif not self._loaded_once:
            placeholder = translate("AssignmentsPage", "Loading assignments…")
        elif total == 0:
            placeholder = translate(
                "AssignmentsPage",
                "No assignments yet. An assignment holds what the students were asked to "
                "write, how the judge should weigh it, its grade scale and its anchor "
                "essays. Create one with New assignment….",
            )
        else:
            placeholder = translate("AssignmentsPage", "Choose an assignment on the left.")
        self.placeholder.setText(placeholder)
        if self.current is not None:
            n = len(self.current.anchors)
            self.anchors_box.setTitle(
                english_plural(translate("AssignmentsPage", "Anchor essays (%n)", "", n), n)
            )
            scale = self.stored_scale()
            distinct = len({a.grade for a in self.current.anchors})
            if n == 0:
                note = translate(
                    "AssignmentsPage",
                    "No anchors yet. Anchors are essays with known grades; the judge ranks "
                    "them with the students' essays, and grades come from where they land. "
                    "Add at least two different grades.",
                )
            elif distinct < 2:
                note = translate(
                    "AssignmentsPage",
                    "Grades need anchors with at least two different grades.",
                )
            else:
                note = ""
            if scale is not None and note == "" and n:
                missing = [
                    g
                    for g in scale.anchor_grades
                    if g not in {a.grade for a in self.current.anchors}
                ]
                if missing:
                    note = translate("AssignmentsPage", "No anchor yet for: {grades}.").format(
                        grades=", ".join(missing)
                    )
            self.anchor_note.setText(note)
            self.anchor_note.setVisible(bool(note))


async def demo_state(page: AssignmentsPage, db: Database) -> None:
    """Put ``page`` in a state worth a screenshot: the demo assignment (six anchors) shown.

    Seeds the demo school into an empty database first; waits for the loads to finish.
    """
    from app.operations.first_start import is_empty, seed_demo_school  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    if await loop.run_in_executor(None, is_empty, db):
        await loop.run_in_executor(None, seed_demo_school, db)
    await page.reload().wait()
    rows = page.list_model.visible_rows()
    target = next((r for r in rows if r.anchors == 6), rows[0] if rows else None)
    if target is None:
        return
    page.select_assignment(target.id)
    while page.current_id() != target.id or (page.opening is not None and not page.opening.done):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
