"""The Classes page as a teacher uses it: classes created, renamed, archived and brought back;
students added, edited and removed; a class list imported with every row's outcome shown. The
database is checked through the read models."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QLineEdit, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.base import Completed
from app.operations.classes import (
    ClassSummary,
    NewClass,
    StudentFields,
    add_student,
    class_roster,
    list_class_summaries,
    new_class,
)
from app.operations.school import NewAssignment, NewBatch, create_assignment, create_batch
from tests.ui.conftest import settle, wait_until
from ui.classes import ClassDialog, ClassesPage, StudentDialog
from ui.tasks import TaskRunner

Shots = Callable[[QWidget, str], Path]


def click(widget: QWidget, pos: QPoint | None = None) -> None:
    if pos is None:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
    else:
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def cells(model: QAbstractItemModel) -> list[tuple[str, ...]]:
    return [
        tuple(str(model.data(model.index(row, column))) for column in range(model.columnCount()))
        for row in range(model.rowCount())
    ]


async def _page(qtbot: QtBot, db: Database, width: int = 1150, height: int = 680) -> ClassesPage:
    page = ClassesPage(db, TaskRunner())
    qtbot.addWidget(page)
    page.resize(width, height)
    page.show()  # the first showing loads
    assert page.loading is not None
    assert isinstance(await asyncio.wait_for(page.loading.wait(), 20), Completed)
    if page.roster_loading is not None:
        await page.roster_loading.wait()
    await settle()
    return page


async def _dialog(page: ClassesPage) -> Any:
    await wait_until(lambda: page.dialog is not None and page.dialog.isVisible())
    return page.dialog


async def _answered(page: ClassesPage) -> None:
    """Wait for the page to finish what the dialog asked for (stored and reloaded)."""
    assert page.asking is not None
    await asyncio.wait_for(page.asking, 20)
    await _quiet(page)


async def _quiet(page: ClassesPage) -> None:
    await wait_until(lambda: not page.runner.running)
    await settle()


def _summary(db: Database, name: str) -> ClassSummary:
    (found,) = [c for c in list_class_summaries(db, include_archived=True) if c.name == name]
    return found


async def test_create_and_rename_a_class(qtbot: QtBot, db: Database) -> None:
    page = await _page(qtbot, db)
    assert page.class_notice.isVisible()
    assert page.class_notice.text() == "No classes yet. Create one with New class…"
    assert not page.rename_button.isEnabled() and not page.archive_button.isEnabled()
    changes: list[None] = []
    page.changed.connect(lambda: changes.append(None))

    click(page.new_button)
    dialog = await _dialog(page)
    assert isinstance(dialog, ClassDialog)
    assert not dialog.ok_button.isEnabled()  # a name is needed first
    QTest.keyClicks(dialog.name, "9A English")
    dialog.course.setText("ENG6")
    QTest.keyClicks(dialog.school_year, "2026/27")
    assert dialog.ok_button.isEnabled()
    click(dialog.ok_button)
    await _answered(page)

    made = _summary(db, "9A English")
    assert (made.course_code, made.school_year) == ("ENG6", "2026/27")
    assert changes
    assert cells(page.class_model) == [("9A English", "ENG6", "2026/27", "0")]
    assert page.selected_class() == made
    assert page.class_title.text() == "9A English"
    assert page.class_facts.text() == "ENG6 · 2026/27 · 0 students · 0 batches"
    assert page.roster_notice.isVisible()
    assert page.roster_notice.text().startswith("No students in this class yet.")

    # a second class with the same name is refused inside the dialog, which stays open
    click(page.new_button)
    dialog = await _dialog(page)
    QTest.keyClicks(dialog.name, "9a english")
    dialog.accept()
    await wait_until(lambda: dialog.error.isVisible() and dialog.isVisible())
    assert "already a class named" in dialog.error.text()
    dialog.reject()
    await _answered(page)
    assert len(list_class_summaries(db)) == 1

    # rename: the dialog comes filled in
    click(page.rename_button)
    dialog = await _dialog(page)
    assert (dialog.name.text(), dialog.course.text(), dialog.school_year.text()) == (
        "9A English",
        "ENG6",
        "2026/27",
    )
    dialog.name.selectAll()
    QTest.keyClicks(dialog.name, "9A Engelska")
    QTest.keyClick(dialog.name, Qt.Key.Key_Return)  # Enter accepts
    await _answered(page)
    assert [c.name for c in list_class_summaries(db)] == ["9A Engelska"]
    assert cells(page.class_model)[0][0] == "9A Engelska"
    assert page.class_title.text() == "9A Engelska"


async def test_add_edit_and_remove_a_student(qtbot: QtBot, db: Database, shots: Shots) -> None:
    made = new_class(db, NewClass("9A", "ENG5", "2026/27"))
    add_student(db, made.id, StudentFields("Anna", "Andersson", "ANAN01"))
    page = await _page(qtbot, db)
    assert page.selected_class() is not None and page.selected_class().id == made.id  # type: ignore[union-attr]
    assert cells(page.roster_model) == [("Andersson", "Anna", "ANAN01", "")]
    assert not page.edit_button.isEnabled() and not page.remove_button.isEnabled()

    # add
    click(page.add_button)
    dialog = await _dialog(page)
    assert isinstance(dialog, StudentDialog)
    QTest.keyClicks(dialog.first_name, "Erik")
    QTest.keyClicks(dialog.last_name, "Berg")
    QTest.keyClicks(dialog.code, "ANAN01")  # taken: refused in the dialog
    QTest.keyClicks(dialog.email, "erik@skola.se")
    click(dialog.ok_button)
    await wait_until(lambda: dialog.error.isVisible() and dialog.isVisible())
    assert "already has the code ANAN01" in dialog.error.text()
    shots(dialog, "student-dialog-refused")
    dialog.code.setText("ERBE02")
    click(dialog.ok_button)
    await _answered(page)
    assert cells(page.roster_model) == [
        ("Andersson", "Anna", "ANAN01", ""),
        ("Berg", "Erik", "ERBE02", "erik@skola.se"),
    ]
    assert page.selected_student() is not None
    assert page.selected_student().first_name == "Erik"  # type: ignore[union-attr]
    assert page.class_facts.text() == "ENG5 · 2026/27 · 2 students · 0 batches"
    assert cells(page.class_model)[0][3] == "2"

    # edit with a double-click on Anna
    index = page.roster_model.index(0, 0)
    rect = page.roster_view.visualRect(index)
    click(page.roster_view.viewport(), rect.center())
    QTest.mouseDClick(
        page.roster_view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        rect.center(),
    )
    dialog = await _dialog(page)
    assert dialog.first_name.text() == "Anna" and dialog.code.text() == "ANAN01"
    dialog.first_name.setText("Anna-Karin")
    dialog.email.setText("anna@skola.se")
    dialog.accept()
    await _answered(page)
    assert cells(page.roster_model)[0] == ("Andersson", "Anna-Karin", "ANAN01", "anna@skola.se")
    assert [s.first_name for s in class_roster(db, made.id)] == ["Anna-Karin", "Erik"]

    # remove Erik, answering the question (Cancel first: nothing happens)
    assert page.select_student(class_roster(db, made.id)[1].id)
    click(page.remove_button)
    box = await _dialog(page)
    assert isinstance(box, QMessageBox)
    assert box.text() == "Remove Erik Berg from 9A?"
    box.reject()
    await _answered(page)
    assert len(class_roster(db, made.id)) == 2

    click(page.remove_button)
    box = await _dialog(page)
    yes = box.findChild(QPushButton, "confirmButton")
    assert yes is not None
    click(yes)
    await _answered(page)
    assert cells(page.roster_model) == [("Andersson", "Anna-Karin", "ANAN01", "anna@skola.se")]
    assert [s.last_name for s in class_roster(db, made.id)] == ["Andersson"]
    assert page.class_facts.text() == "ENG5 · 2026/27 · 1 student · 0 batches"


async def test_archive_hides_and_unarchive_brings_back(qtbot: QtBot, db: Database) -> None:
    keep = new_class(db, NewClass("9A"))
    old = new_class(db, NewClass("8C", school_year="2024/25"))
    add_student(db, old.id, StudentFields("Bo", "Ek"))
    assignment = create_assignment(db, NewAssignment("Book review"))
    create_batch(db, NewBatch("Spring", assignment.id, old.id))
    page = await _page(qtbot, db)
    assert [r[0] for r in cells(page.class_model)] == ["8C", "9A"]
    assert page.select_class(old.id)
    await _quiet(page)
    assert page.archive_button.text() == "Arc&hive…"

    click(page.archive_button)
    box = await _dialog(page)
    assert box.text() == "Archive 8C?"
    yes = box.findChild(QPushButton, "confirmButton")
    click(yes)
    await _answered(page)
    assert _summary(db, "8C").archived
    assert [r[0] for r in cells(page.class_model)] == ["9A"]
    assert page.selected_class() is not None and page.selected_class().id == keep.id  # type: ignore[union-attr]

    click(page.show_archived)
    assert page.show_archived.isChecked()
    assert [r[0] for r in cells(page.class_model)] == ["8C (archived)", "9A"]
    assert page.select_class(old.id)
    await _quiet(page)
    assert page.archive_button.text() == "Unarc&hive"
    assert page.class_facts.text() == "ENG5 · 2024/25 · 1 student · 1 batch · archived"
    assert cells(page.roster_model) == [("Ek", "Bo", "", "")]  # kept with the class

    click(page.archive_button)  # no question
    await _answered(page)
    assert not _summary(db, "8C").archived
    click(page.show_archived)
    assert [r[0] for r in cells(page.class_model)] == ["8C", "9A"]
    assert page.selected_class() is not None and page.selected_class().id == old.id  # type: ignore[union-attr]

    # search narrows the list; nothing matching says so
    QTest.keyClicks(page.search, "zz")
    assert page.class_model.rowCount() == 0
    assert page.class_notice.text() == "No class matches the search."
    page.search.clear()
    assert page.class_model.rowCount() == 2


async def test_delete_a_class_says_what_goes_and_erases_it(
    qtbot: QtBot, db: Database, shots: Shots
) -> None:
    keep = new_class(db, NewClass("9A"))
    old = new_class(db, NewClass("8C", school_year="2024/25"))
    add_student(db, old.id, StudentFields("Bo", "Ek", code="BOEK01"))
    add_student(db, old.id, StudentFields("Ada", "Lind"))
    add_student(db, keep.id, StudentFields("Ada", "Lind"))  # another Ada, in 9A only
    add_student(db, keep.id, StudentFields("Bo", "Ek", code="BOEK01"))  # Bo is in both
    assignment = create_assignment(db, NewAssignment("Book review"))
    create_batch(db, NewBatch("Spring", assignment.id, old.id))
    page = await _page(qtbot, db)
    assert page.select_class(old.id)
    await _quiet(page)
    assert page.delete_button.isEnabled()

    # Asked, then cancelled: nothing changes.
    click(page.delete_button)
    box = await _dialog(page)
    assert box.text() == "Delete 8C and erase its students' data?"
    assert box.informativeText().splitlines() == [
        "Erased: 1 student (names, codes, e-mail).",
        "Deleted: 1 batch, 0 essays, 0 judged comparisons.",
        "Kept: 1 student also in another class.",
        "This cannot be undone. Exports you saved are not touched.",
    ]
    shots(box, "classes-delete-question")
    box.reject()
    await _answered(page)
    assert [r[0] for r in cells(page.class_model)] == ["8C", "9A"]

    click(page.delete_button)
    box = await _dialog(page)
    click(box.findChild(QPushButton, "confirmButton"))
    await _answered(page)
    assert [r[0] for r in cells(page.class_model)] == ["9A"]
    assert [c.name for c in list_class_summaries(db, include_archived=True)] == ["9A"]
    roster = sorted((r.last_name, r.first_name, r.code or "") for r in class_roster(db, keep.id))
    assert roster == [("Ek", "Bo", "BOEK01"), ("Lind", "Ada", "")]


ROSTER = (
    "Förnamn;Efternamn;Elevkod;E-post\n"
    "Anna;Andersson;ANAN0001;anna@skola.se\n"
    "Erik;Berg;ERBE0002;\n"
    "Åsa;Öberg;ASOB0003;inte-en-adress\n"
    "Karin;Lund;KALU0004;karin@skola.se\n"
    "Anna;Andersson;ANAN0001;anna@skola.se\n"
)


async def test_import_a_roster_and_see_every_row(
    qtbot: QtBot, db: Database, tmp_path: Path, shots: Shots
) -> None:
    made = new_class(db, NewClass("9A English", "ENG5", "2026/27"))
    path = tmp_path / "klasslista 9A.csv"
    path.write_text(ROSTER, encoding="utf-8")
    page = await _page(qtbot, db)
    assert not page.import_panel.isVisible()

    click(page.import_button)
    chooser = await _dialog(page)
    assert isinstance(chooser, QFileDialog)
    assert "*.csv *.xlsx" in chooser.nameFilters()[0]
    name_edit = chooser.findChild(QLineEdit, "fileNameEdit")
    assert name_edit is not None
    name_edit.setText(str(path))  # typed as a teacher would
    chooser.accept()
    await asyncio.wait_for(page.asking, 20)  # type: ignore[arg-type]
    assert page.importing is not None
    assert isinstance(await asyncio.wait_for(page.importing.wait(), 20), Completed)
    await _quiet(page)

    assert page.import_panel.isVisible()
    assert page.import_panel.summary.text() == "klasslista 9A.csv: 3 added, 1 skipped, 1 failed."
    rows = cells(page.import_panel.model)
    assert [r[:3] for r in rows] == [
        ("2", "Anna Andersson", "Added"),
        ("3", "Erik Berg", "Added"),
        ("4", "Åsa Öberg", "Failed"),
        ("5", "Karin Lund", "Added"),
        ("6", "Anna Andersson", "Skipped"),
    ]
    assert rows[2][3] == "'inte-en-adress' is not an e-mail address."
    assert rows[4][3].startswith("Repeats row 2;")
    assert [r[3] for r in rows if r[2] == "Added"] == ["", "", ""]
    assert [r[:2] for r in cells(page.roster_model)] == [
        ("Andersson", "Anna"),
        ("Berg", "Erik"),
        ("Lund", "Karin"),
    ]
    assert {s.full_name for s in class_roster(db, made.id)} == {
        "Anna Andersson",
        "Erik Berg",
        "Karin Lund",
    }
    assert page.class_facts.text() == "ENG5 · 2026/27 · 3 students · 0 batches"
    shots(page, "classes-import-outcome")

    # a file that is no class list: the panel says so, nothing stored
    junk = tmp_path / "notes.csv"
    junk.write_bytes(b"\x00\x01\x02\x03")
    operation = page.import_roster_file(junk)
    assert operation is not None
    await operation.wait()
    await _quiet(page)
    assert page.import_panel.summary.text().startswith("notes.csv could not be imported.")
    assert page.import_panel.details_button.isVisible()
    assert len(class_roster(db, made.id)) == 3

    click(page.import_panel.close_button)
    assert not page.import_panel.isVisible()


FIRST = "Alva Elsa Maja Wilma Ella Astrid Olivia Alice Saga Ebba Liam Noah Hugo Lucas Oscar"
LAST = "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson"


def fill_school(db: Database, students: int = 25) -> ClassSummary:
    """Four classes (one archived), the first with ``students`` students and two batches."""
    rng = random.Random(5)
    first, last = FIRST.split(), LAST.split()
    main = new_class(db, NewClass("9A English", "ENG5", "2026/27"))
    for i in range(students):
        given, family = rng.choice(first), rng.choice(last)
        email = f"{given}.{family}{i}@skola.se".lower() if i % 3 else None
        add_student(db, main.id, StudentFields(given, family, f"S{26000 + i}", email))
    for name, course in (("9B English", "ENG5"), ("NA22 Engelska 6", "ENG6")):
        other = new_class(db, NewClass(name, course, "2026/27"))
        for _i in range(rng.randrange(3, 9)):
            add_student(db, other.id, StudentFields(rng.choice(first), rng.choice(last)))
    old = new_class(db, NewClass("8C English", "ENG5", "2024/25"))
    from app.operations.classes import archive_class  # noqa: PLC0415

    archive_class(db, old.id)
    assignment = create_assignment(db, NewAssignment("Phones in school"))
    create_batch(db, NewBatch("Spring essay", assignment.id, main.id))
    create_batch(db, NewBatch("Mock exam", assignment.id, main.id))
    return main


async def test_screenshot_a_class_with_its_roster(qtbot: QtBot, db: Database, shots: Shots) -> None:
    main = fill_school(db)
    page = await _page(qtbot, db)
    assert page.selected_class() is not None and page.selected_class().id == main.id  # type: ignore[union-attr]
    assert page.roster_model.rowCount() == 25
    assert page.class_facts.text() == "ENG5 · 2026/27 · 25 students · 2 batches"
    shots(page, "classes-roster")
    page.show_archived.setChecked(True)
    await settle()
    shots(page, "classes-roster-archived-shown")
