"""The Assignments page: a teacher creates and edits an assignment, makes a grade scale of
their own, and adds, imports, reads, regrades and removes anchor essays."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.assignments import add_anchor, list_anchors
from app.operations.queries import get_assignment, list_assignments
from app.operations.scales import list_scales, save_custom_scale
from app.operations.school import NewAssignment, create_assignment
from tests.ui.conftest import settle, wait_until
from ui.assignments import (
    AnchorDialog,
    AnchorTextDialog,
    AssignmentsPage,
    GradeDialog,
    NewAssignmentDialog,
    ScaleDialog,
    demo_state,
)
from ui.tasks import TaskRunner

pytestmark = pytest.mark.asyncio(loop_scope="function")


def essay(n: int, words: int = 30) -> str:
    return f"Essay number {n}. " + " ".join(f"word{n}_{i}" for i in range(words))


@pytest.fixture
def page(qtbot: QtBot, db: Database) -> Iterator[AssignmentsPage]:
    runner = TaskRunner()
    widget = AssignmentsPage(db, runner)
    qtbot.addWidget(widget)
    widget.resize(1200, 780)
    yield widget
    runner.deleteLater()


async def shown(page: AssignmentsPage) -> None:
    page.show()
    await wait_until(lambda: page.loading is not None and page.loading.done)
    await idle(page)


async def idle(page: AssignmentsPage) -> None:
    """Wait for the page's operations (load, open, the last action and the reloads it set off)."""
    for _ in range(3):
        for op in (page.loading, page.opening, page.action):
            if op is not None:
                await op.wait()
        await settle(0.05)


async def dialog_of(page: AssignmentsPage, kind: type[QWidget]) -> QWidget:
    await wait_until(lambda: isinstance(page.dialog, kind) and page.dialog.isVisible())
    assert page.dialog is not None
    return page.dialog


def ok(dialog: QWidget) -> None:
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    button = buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert button.isEnabled()
    button.click()


def anchor_table(page: AssignmentsPage) -> list[tuple[str, ...]]:
    model = page.anchor_model
    return [
        tuple(str(model.data(model.index(r, c))) for c in range(model.columnCount()))
        for r in range(model.rowCount())
    ]


async def test_a_teacher_creates_an_assignment_and_edits_its_texts(
    page: AssignmentsPage, db: Database, qtbot: QtBot
) -> None:
    await shown(page)
    assert "No assignments yet" in page.placeholder.text()
    changes: list[bool] = []
    page.changed.connect(lambda: changes.append(True))

    QTest.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    dialog = await dialog_of(page, NewAssignmentDialog)
    assert isinstance(dialog, NewAssignmentDialog)
    dialog.title.setFocus()
    QTest.keyClicks(dialog.title, "Phones in school")
    dialog.scale.setCurrentIndex(dialog.scale.findData("eng5_np_legacy_9_step"))
    ok(dialog)
    await wait_until(lambda: page.current is not None)
    await idle(page)
    (row,) = list_assignments(db)
    assert (row.title, row.scale) == ("Phones in school", "eng5_np_legacy_9_step")
    assert page.title_edit.text() == "Phones in school"
    assert page.count_label.text() == "1 assignment"
    assert changes
    assert not page.save_button.isEnabled()

    page.prompt_edit.setFocus()
    QTest.keyClicks(page.prompt_edit, "Should schools ban phones?")
    page.texts.setCurrentWidget(page.rubric_edit)
    QTest.keyClicks(page.rubric_edit, "Reward clear reasoning.")
    assert page.save_button.isEnabled() and page.message.text() == "Unsaved changes."
    QTest.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    await idle(page)
    stored = get_assignment(db, row.id)
    assert stored.student_prompt == "Should schools ban phones?"
    assert stored.judge_rubric == "Reward clear reasoning."
    assert page.message.text() == "Saved."
    assert not page.save_button.isEnabled()

    # an edit reverted is not saved
    QTest.keyClicks(page.title_edit, " (draft)")
    assert page.revert_button.isEnabled()
    QTest.mouseClick(page.revert_button, Qt.MouseButton.LeftButton)
    assert page.title_edit.text() == "Phones in school"
    assert not page.save_button.isEnabled()
    # an empty title is the teacher's to fix: said in the page, nothing stored
    page.title_edit.clear()
    page.save()
    await idle(page)
    assert "title is needed" in page.message.text()
    assert get_assignment(db, row.id).title == "Phones in school"


async def test_unsaved_edits_are_asked_about_when_switching(
    page: AssignmentsPage, db: Database, qtbot: QtBot
) -> None:
    first = create_assignment(db, NewAssignment("Book review"))
    second = create_assignment(db, NewAssignment("Letter to my future self"))
    await shown(page)
    assert page.current_id() == second.id  # newest first
    QTest.keyClicks(page.criteria_edit, "Voice and structure.")
    assert page.select_assignment(first.id)
    box = await dialog_of(page, QMessageBox)
    assert isinstance(box, QMessageBox)
    assert "Letter to my future self" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    await settle(0.1)
    assert page.current_id() == second.id and page.is_dirty()

    page.select_assignment(first.id)
    box = await dialog_of(page, QMessageBox)
    assert isinstance(box, QMessageBox)
    box.button(QMessageBox.StandardButton.Save).click()
    await wait_until(lambda: page.current_id() == first.id)
    await idle(page)
    assert get_assignment(db, second.id).assessment_criteria == "Voice and structure."
    assert page.title_edit.text() == "Book review"

    QTest.keyClicks(page.title_edit, "!")
    page.select_assignment(second.id)
    box = await dialog_of(page, QMessageBox)
    assert isinstance(box, QMessageBox)
    box.button(QMessageBox.StandardButton.Discard).click()
    await wait_until(lambda: page.current_id() == second.id)
    await idle(page)
    assert get_assignment(db, first.id).title == "Book review"
    # search filters in the model
    page.search.setText("book")
    assert [r.title for r in page.list_model.visible_rows()] == ["Book review"]
    assert page.count_label.text() == "1 of 2 assignments"


async def test_a_custom_scale_is_created_picked_and_edited(
    page: AssignmentsPage, db: Database, shots: Callable[[QWidget, str], Path]
) -> None:
    assignment = create_assignment(db, NewAssignment("Letters"))
    await shown(page)
    assert not page.edit_scale_button.isEnabled()  # a built-in scale is shown

    QTest.mouseClick(page.new_scale_button, Qt.MouseButton.LeftButton)
    dialog = await dialog_of(page, ScaleDialog)
    assert isinstance(dialog, ScaleDialog)
    QTest.keyClicks(dialog.name, "Pass levels")
    dialog.grades.setPlainText("Not yet\nPass\nMerit\nDistinction\n")
    dialog.below.setChecked(True)
    await settle(0.1)
    shots(dialog, "scale_dialog")
    ok(dialog)
    await idle(page)
    custom = [s for s in list_scales(db) if not s.builtin]
    assert [(s.name, s.grades, s.below_lowest) for s in custom] == [
        ("Pass levels", ("Not yet", "Pass", "Merit", "Distinction"), "Not yet")
    ]
    assert page.scale_combo.currentData() == custom[0].id
    assert page.scale_combo.currentText() == "Pass levels (your own)"
    assert "Not yet, Pass, Merit, Distinction" in page.scale_grades.text()
    assert page.save_button.isEnabled()  # picked, not saved yet
    QTest.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    await idle(page)
    assert get_assignment(db, assignment.id).scale == custom[0].id

    # edit: rename and add a grade
    assert page.edit_scale_button.isEnabled()
    QTest.mouseClick(page.edit_scale_button, Qt.MouseButton.LeftButton)
    dialog = await dialog_of(page, ScaleDialog)
    assert isinstance(dialog, ScaleDialog)
    assert dialog.name.text() == "Pass levels"
    dialog.name.setText("Levels 2026")
    dialog.grades.setPlainText("Not yet\nPass\nMerit\nDistinction\nHonours")
    ok(dialog)
    await idle(page)
    (scale,) = [s for s in list_scales(db) if not s.builtin]
    assert scale.name == "Levels 2026" and scale.grades[-1] == "Honours"
    assert page.scale_combo.currentText() == "Levels 2026 (your own)"
    assert not page.save_button.isEnabled()

    # a bad scale is refused with the reason in the page
    page.save_scale("Broken", ["Only one"])
    await idle(page)
    assert "at least 2 grades" in page.message.text()


async def test_anchors_are_added_viewed_regraded_and_removed(
    page: AssignmentsPage, db: Database, shots: Callable[[QWidget, str], Path]
) -> None:
    assignment = create_assignment(db, NewAssignment("Phones"))
    add_anchor(db, assignment.id, essay(1), "E", "Weak")
    await shown(page)
    assert anchor_table(page) == [("Weak", "E", f"{len(essay(1)):,}", "pasted text")]
    assert "Grades need anchors with at least two different grades" in page.anchor_note.text()

    # add by text
    QTest.mouseClick(page.add_anchor_button, Qt.MouseButton.LeftButton)
    dialog = await dialog_of(page, AnchorDialog)
    assert isinstance(dialog, AnchorDialog)
    assert dialog.grade.count() == 8
    dialog.text.setPlainText(essay(2, 60))
    dialog.grade.setCurrentText("B")
    QTest.keyClicks(dialog.label, "Model answer")
    await settle(0.1)
    shots(dialog, "anchor_dialog")
    ok(dialog)
    await idle(page)
    assert [(r.label, r.grade) for r in list_anchors(db, assignment.id)] == [
        ("Weak", "E"),
        ("Model answer", "B"),
    ]
    assert page.anchors_box.title() == "Anchor essays (2)"
    assert page.message.text() == "Anchor added with grade B."

    # the same text again is refused, with the reason
    page.add_anchor(essay(2, 60), "A")
    await idle(page)
    assert "already an anchor" in page.message.text()

    # view
    assert not page.view_button.isEnabled()
    page.select_anchor(list_anchors(db, assignment.id)[1].id)
    assert page.view_button.isEnabled()
    QTest.mouseClick(page.view_button, Qt.MouseButton.LeftButton)
    viewer = await dialog_of(page, AnchorTextDialog)
    assert isinstance(viewer, AnchorTextDialog)
    assert viewer.text.toPlainText() == essay(2, 60) and viewer.text.isReadOnly()
    viewer.reject()
    await wait_until(lambda: page.dialog is None)

    # change grade
    QTest.mouseClick(page.grade_button, Qt.MouseButton.LeftButton)
    grade = await dialog_of(page, GradeDialog)
    assert isinstance(grade, GradeDialog)
    assert grade.grade.currentText() == "B"
    grade.grade.setCurrentText("C+")
    ok(grade)
    await idle(page)
    assert [r.grade for r in list_anchors(db, assignment.id)] == ["E", "C+"]
    assert page.message.text() == "Grade changed to C+."

    # remove, after a question
    page.select_anchor(list_anchors(db, assignment.id)[0].id)
    QTest.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    box = await dialog_of(page, QMessageBox)
    assert isinstance(box, QMessageBox)
    assert "Weak" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    await idle(page)
    assert [r.label for r in list_anchors(db, assignment.id)] == ["Model answer"]
    assert [row[0] for row in anchor_table(page)] == ["Model answer"]
    assert list_assignments(db)[0].anchors == 1


async def test_anchor_files_are_imported_with_an_outcome_per_file(
    page: AssignmentsPage, db: Database, tmp_path: Path, shots: Callable[[QWidget, str], Path]
) -> None:
    scale = save_custom_scale(db, "Levels", ["Pass", "Merit", "Distinction"])
    assignment = create_assignment(db, NewAssignment("Letters", scale=scale.id))
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "merit_letter.txt").write_text(essay(1), encoding="utf-8")
    (folder / "distinction_letter.txt").write_text(essay(2), encoding="utf-8")
    (folder / "gold_letter.txt").write_text(essay(3), encoding="utf-8")
    (folder / "grades.csv").write_text(
        "file,grade,label\nmerit_letter.txt,Merit,Merit 2025\n"
        "distinction_letter.txt,Distinction,\ngold_letter.txt,Gold,\n",
        encoding="utf-8",
    )
    await shown(page)
    assert page.current_id() == assignment.id
    QTest.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    chooser = await dialog_of(page, QFileDialog)
    assert isinstance(chooser, QFileDialog)
    chooser.setDirectory(str(folder))
    name_box = chooser.findChild(QLineEdit, "fileNameEdit")
    assert name_box is not None
    name_box.setText('"merit_letter.txt" "distinction_letter.txt" "gold_letter.txt" "grades.csv"')
    await settle(0.1)
    assert len(chooser.selectedFiles()) == 4, chooser.selectedFiles()
    chooser.accept()
    await wait_until(lambda: page.import_report is not None)
    await idle(page)
    assert page.import_report is not None
    rows = {r[0]: r for r in page.import_report.rows()}
    assert rows["merit_letter.txt"][1:3] == ("Imported", "Merit")
    assert rows["distinction_letter.txt"][1] == "Imported"
    assert rows["gold_letter.txt"][1] == "Failed" and "Gold" in rows["gold_letter.txt"][3]
    assert page.message.text() == "Anchor import: 2 imported, 0 skipped, 1 failed."
    assert [(r.label, r.grade) for r in list_anchors(db, assignment.id)] == [
        ("Merit 2025", "Merit"),
        ("distinction_letter", "Distinction"),
    ]
    assert [row[3] for row in anchor_table(page)] == [
        "merit_letter.txt",
        "distinction_letter.txt",
    ]
    assert "No anchor yet for: Pass." in page.anchor_note.text()
    await settle(0.1)
    shots(page.import_report, "import_report")
    page.import_report.reject()


async def test_a_scale_the_anchors_do_not_fit_is_refused_with_the_grades_named(
    page: AssignmentsPage, db: Database
) -> None:
    assignment = create_assignment(db, NewAssignment("Phones"))
    add_anchor(db, assignment.id, essay(1), "C+")
    await shown(page)
    page.scale_combo.setCurrentIndex(page.scale_combo.findData("eng5_np_national_9_step"))
    page.save()
    await idle(page)
    assert "'C+' (1 anchor)" in page.message.text()
    assert get_assignment(db, assignment.id).scale == "swedish_8_anchor"
    assert page.is_dirty()


SHOT_SCALES = (1.0, 2.0)


async def test_screenshot_of_the_demo_assignment(
    page: AssignmentsPage, db: Database, shots: Callable[[QWidget, str], Path]
) -> None:
    await demo_state(page, db)
    assert page.current is not None and len(page.current.anchors) == 6
    assert [row[1] for row in anchor_table(page)] == ["E", "D", "C", "C+", "B", "A"]
    page.select_anchor(page.current.anchors[2].id)
    await settle(0.2)
    scale = os.environ.get("QT_SCALE_FACTOR", "1")
    shots(page, f"assignments_demo_x{scale}")


async def test_an_assignment_is_deleted_only_when_no_batch_uses_it(
    page: AssignmentsPage, db: Database, shots: Callable[[QWidget, str], Path]
) -> None:
    from PySide6.QtWidgets import QPushButton  # noqa: PLC0415

    from app.operations.school import NewBatch, create_batch  # noqa: PLC0415

    used = create_assignment(db, NewAssignment("Phones"))
    spare = create_assignment(db, NewAssignment("Spare draft"))
    add_anchor(db, spare.id, essay(1), "E", "Weak")
    create_batch(db, NewBatch("Spring", used.id, None))
    await shown(page)

    async def delete_shown() -> None:
        QTest.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
        box = await dialog_of(page, QMessageBox)
        assert isinstance(box, QMessageBox)
        shots(box, "assignment-delete-question")
        button = box.findChild(QPushButton, "confirmButton")
        assert button is not None
        button.click()
        await wait_until(lambda: page.dialog is None)
        await idle(page)

    assert page.select_assignment(used.id)
    await idle(page)
    await delete_shown()
    assert "Batches use this assignment (“Spring”)" in page.message.text()
    assert {a.title for a in list_assignments(db)} == {"Phones", "Spare draft"}

    assert page.select_assignment(spare.id)
    await idle(page)
    await delete_shown()
    assert page.message.text() == "Assignment “Spare draft” deleted."
    assert [a.title for a in list_assignments(db)] == ["Phones"]
    assert page.list_model.rowCount() == 1
    assert page.current_id() == used.id
