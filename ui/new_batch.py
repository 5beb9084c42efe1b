"""A new batch: its title, its class (or none: a guest batch) and its assignment.

:class:`NewBatchDialog` is the form (validated as the teacher types; *Create batch* is the
default button, so Enter creates). :func:`create_batch_interactively` loads the classes and
assignments, opens the dialog with ``open()`` (awaited, never ``exec()``), and creates the batch
with :func:`app.operations.school.create_batch` through the task runner; a refusal is shown in
the dialog, which stays open with what was typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.operations.base import Completed, Failed
from app.operations.queries import AssignmentRow, BatchRow, ClassRow, list_assignments, list_classes
from app.operations.school import NewAssignment, NewBatch, create_batch
from ui.dialogs import open_and_wait
from ui.errors import show_failure
from ui.i18n import english_plural
from ui.tasks import TaskRunner

translate = QCoreApplication.translate

GUEST = ""
"""The class combo's data for *No class (guest batch)*."""
NEW_ASSIGNMENT = ""
"""The assignment combo's data for *New assignment…*."""


@dataclass(frozen=True)
class Choices:
    """What a new batch can be made of."""

    classes: list[ClassRow]
    assignments: list[AssignmentRow]


class NewBatchDialog(QDialog):
    """The form of a new batch. :meth:`new_batch` is what was chosen (valid once the
    *Create batch* button is enabled); :meth:`set_error` shows a refusal."""

    def __init__(
        self,
        classes: Sequence[ClassRow],
        assignments: Sequence[AssignmentRow],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("newBatchDialog")
        self.setWindowTitle(translate("NewBatchDialog", "New batch"))
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 60)

        intro = QLabel(
            translate(
                "NewBatchDialog",
                "A batch is one assignment's essays from one class. Without a class it is a "
                "guest batch: its essays are known by their file names.",
            )
        )
        intro.setWordWrap(True)

        self.title = QLineEdit()
        self.title.setObjectName("batchTitle")
        self.title.setMaxLength(300)
        self.title.setPlaceholderText(translate("NewBatchDialog", "e.g. Phones in school — 9B"))
        self.class_combo = QComboBox()
        self.class_combo.setObjectName("classCombo")
        for row in classes:
            students = english_plural(
                translate("NewBatchDialog", "%n student(s)", "", row.students), row.students
            )
            self.class_combo.addItem(f"{row.name} ({students})", row.id)
        self.class_combo.addItem(translate("NewBatchDialog", "No class (guest batch)"), GUEST)
        self.assignment_combo = QComboBox()
        self.assignment_combo.setObjectName("assignmentCombo")
        for assignment in assignments:
            self.assignment_combo.addItem(assignment.title, assignment.id)
        self.assignment_combo.addItem(
            translate("NewBatchDialog", "New assignment…"), NEW_ASSIGNMENT
        )
        self.new_assignment = QLineEdit()
        self.new_assignment.setObjectName("newAssignmentTitle")
        self.new_assignment.setMaxLength(300)
        self.new_assignment.setPlaceholderText(
            translate("NewBatchDialog", "The new assignment's title")
        )
        self.new_assignment_label = QLabel(translate("NewBatchDialog", "New assignment &title:"))
        self.new_assignment_label.setBuddy(self.new_assignment)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        title_label = QLabel(translate("NewBatchDialog", "&Batch title:"))
        title_label.setBuddy(self.title)
        class_label = QLabel(translate("NewBatchDialog", "&Class:"))
        class_label.setBuddy(self.class_combo)
        assignment_label = QLabel(translate("NewBatchDialog", "&Assignment:"))
        assignment_label.setBuddy(self.assignment_combo)
        for combo in (self.class_combo, self.assignment_combo):
            combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        form.addRow(title_label, self.title)
        form.addRow(class_label, self.class_combo)
        form.addRow(assignment_label, self.assignment_combo)
        form.addRow(self.new_assignment_label, self.new_assignment)

        self.hint = QLabel()
        self.hint.setObjectName("newBatchHint")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.create_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText(translate("NewBatchDialog", "C&reate batch"))
        self.create_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)

        self.title.textChanged.connect(self._validate)
        self.new_assignment.textChanged.connect(self._validate)
        self.assignment_combo.currentIndexChanged.connect(self._validate)
        self.class_combo.currentIndexChanged.connect(self._validate)
        self._error = ""
        self._validate()
        self.title.setFocus()

    def new_batch(self) -> NewBatch:
        """The batch as chosen (a new assignment comes with it when *New assignment…* is
        chosen)."""
        assignment_id = self.assignment_combo.currentData()
        assignment: str | NewAssignment = (
            assignment_id
            if assignment_id != NEW_ASSIGNMENT
            else NewAssignment(self.new_assignment.text().strip())
        )
        class_id = self.class_combo.currentData()
        return NewBatch(
            self.title.text().strip(),
            assignment,
            None if class_id == GUEST else class_id,
        )

    def problem(self) -> str:
        """What still keeps the batch from being created ("" when nothing)."""
        if not self.title.text().strip():
            return translate("NewBatchDialog", "Give the batch a title.")
        if self._new_assignment_chosen() and not self.new_assignment.text().strip():
            return translate("NewBatchDialog", "Give the new assignment a title.")
        return ""

    def set_error(self, message: str) -> None:
        """Show why the batch could not be created (cleared by the next change)."""
        self._error = message
        self._show_hint()

    def _new_assignment_chosen(self) -> bool:
        return bool(self.assignment_combo.currentData() == NEW_ASSIGNMENT)

    def _validate(self) -> None:
        self._error = ""
        new = self._new_assignment_chosen()
        self.new_assignment.setVisible(new)
        self.new_assignment_label.setVisible(new)
        self.create_button.setEnabled(not self.problem())
        self._show_hint()

    def _show_hint(self) -> None:
        if self._error:
            self.hint.setStyleSheet("color: #c62828;")
            self.hint.setText(self._error)
            return
        self.hint.setStyleSheet("")
        problem = self.problem()
        if problem:
            self.hint.setText(problem)
        elif self.class_combo.currentData() == GUEST:
            self.hint.setText(translate("NewBatchDialog", "A guest batch: no students to match."))
        else:
            self.hint.setText(
                translate(
                    "NewBatchDialog",
                    "Essays imported into it are matched to the class's students.",
                )
            )


async def create_batch_interactively(
    parent: QWidget | None, db: Database, runner: TaskRunner
) -> str | None:
    """Ask for a new batch and create it; its id, or None if the teacher cancelled (or the
    classes and assignments could not be loaded: the failure is shown)."""
    loading = runner.start_blocking(
        translate("NewBatchDialog", "Loading classes and assignments"),
        partial(_load_choices, db),
        show_failure=False,
    )
    outcome = await loading.wait()
    if isinstance(outcome, Failed):
        show_failure(outcome, parent)
        return None
    if not isinstance(outcome, Completed):
        return None
    choices: Choices = outcome.value
    dialog = NewBatchDialog(choices.classes, choices.assignments, parent)
    try:
        while True:
            if await open_and_wait(dialog) != QDialog.DialogCode.Accepted:
                return None
            new = dialog.new_batch()
            creating = runner.start_blocking(
                translate("NewBatchDialog", "Creating the batch"),
                partial(_create, db, new),
                show_failure=False,
            )
            created = await creating.wait()
            if isinstance(created, Completed):
                row: BatchRow = created.value
                return row.id
            if isinstance(created, Failed):
                dialog.set_error(created.message)
            # Cancelled (the window is closing): show the form again only if still wanted
            else:
                return None
    finally:
        dialog.deleteLater()


def _load_choices(db: Database, **_operation: object) -> Choices:
    return Choices(list_classes(db), list_assignments(db))


def _create(db: Database, new: NewBatch, **_operation: object) -> BatchRow:
    return create_batch(db, new)
