"""Match review: suggestions with their confidence, accept, choose another student, accept all
high-confidence, the unmatched lists, decisions kept across a new panel, guest batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.base import Completed
from app.operations.intake import match_overview
from app.operations.matching import Confidence, confidence_of, high_confidence_decisions
from app.operations.school import NewAssignment, NewBatch, create_batch
from tests.ui.conftest import settle
from ui.matching import Column, MatchReviewPanel, demo_match_batch, file_name
from ui.tasks import TaskRunner

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.deleteLater()


def make_panel(qtbot: QtBot, db: Database, runner: TaskRunner) -> MatchReviewPanel:
    panel = MatchReviewPanel(db, runner)
    qtbot.addWidget(panel)
    panel.resize(1150, 700)
    panel.show()
    return panel


@pytest.fixture
def batch(db: Database, tmp_path: Path) -> str:
    return demo_match_batch(db, tmp_path / "essays")


async def loaded(panel: MatchReviewPanel, batch_id: str) -> None:
    panel.set_batch(batch_id)
    assert panel.loading is not None
    outcome = await panel.loading.wait()
    assert isinstance(outcome, Completed), outcome
    await settle()


def rows(panel: MatchReviewPanel) -> dict[str, tuple[str, ...]]:
    """Each essay's row as the teacher reads it, by file name."""
    model = panel.model
    return {model.cells(r)[Column.ESSAY]: model.cells(r) for r in range(model.rowCount())}


def select(panel: MatchReviewPanel, name: str) -> None:
    for essay in panel.model.essays():
        if file_name(essay) == name:
            assert panel.select_essay(essay.essay_id)
            return
    raise AssertionError(f"{name} is not listed")


def list_texts(widget: QWidget) -> list[str]:
    from PySide6.QtWidgets import QListWidget  # noqa: PLC0415

    assert isinstance(widget, QListWidget)
    return [widget.item(i).text() for i in range(widget.count())]


def settled(db: Database, batch_id: str) -> dict[str, str | None]:
    """What the database says: each settled essay's student name, by file name."""
    overview = match_overview(db, batch_id)
    return {file_name(e): e.student_name for e in overview.essays if e.confirmed}


async def test_suggestions_show_their_confidence_in_words_and_numbers(
    qtbot: QtBot,
    db: Database,
    runner: TaskRunner,
    batch: str,
    shots: Callable[[QWidget, str], Path],
) -> None:
    panel = make_panel(qtbot, db, runner)
    await loaded(panel, batch)
    table = rows(panel)
    assert len(table) == 13
    # waiting essays come first
    first_six = [panel.model.essay_at(r).confirmed for r in range(6)]
    assert first_six == [False] * 6
    assert table["viktor_holmm.txt"][Column.STUDENT] == "Viktor Holm"
    assert table["viktor_holmm.txt"][Column.CONFIDENCE] == "High (0.89)"
    assert table["saga_forsb.txt"][Column.CONFIDENCE] == "Medium (0.77)"
    assert table["frida.txt"][Column.CONFIDENCE] == "Low (0.65)"
    assert table["essay_7.txt"][Column.STUDENT] == "No suggestion"
    assert table["alva_nordin.txt"][Column.STATE] == "Matched automatically"
    assert table["alva_nordin.txt"][Column.STUDENT] == "Alva Nordin"
    assert table["saga_forsb.txt"][Column.BEGINS]  # the first words of the essay
    assert "6 essays wait for you" in panel.summary.text()
    assert "7 of 13 settled" in panel.summary.text()
    assert panel.accept_high_button.text() == "Accept all &high-confidence (1)"

    # the unmatched lists
    assert panel.open_essays_box.title() == "Essays without a student (6)"
    assert panel.open_students_box.title() == "Students without an essay (11)"
    students = list_texts(panel.open_students)
    assert "Hugo Karlsson (KAHU0907)" in students
    assert not any("Alva Nordin" in s for s in students)

    # the selected essay: its suggestion with the evidence, its text, the roster
    select(panel, "andersson.txt")
    await settle()
    html = panel.suggestion_label.text()
    assert "Suggested: <b>" in html and "Or: <b>" in html and "Low (0.65)" in html
    assert "file name" in html
    assert panel.preview.toPlainText().startswith(
        panel.review.texts[panel.selected_essay_id()][:30]  # type: ignore[union-attr,index]
    )
    combo = [panel.student_combo.itemText(i) for i in range(panel.student_combo.count())]
    assert combo[0].endswith("— Low (0.65)") and combo[1].endswith("— Low (0.65)")
    assert {combo[0].split(" — ")[0], combo[1].split(" — ")[0]} == {
        "William Andersson",
        "Åsa Andersson",
    }
    assert "Alva Nordin (now on alva_nordin.txt)" in combo
    assert combo[-1] == "Not in this class"
    assert confidence_of(0.9) is Confidence.HIGH

    select(panel, "saga_forsb.txt")
    await settle()
    shots(panel, "match-review")
    if os.environ.get("HULEEDU_UI_SHOTS"):
        panel.view.setFocus()


async def test_decisions_are_stored_at_once_and_kept_by_a_new_panel(
    qtbot: QtBot, db: Database, runner: TaskRunner, batch: str
) -> None:
    panel = make_panel(qtbot, db, runner)
    await loaded(panel, batch)
    before = settled(db, batch)
    assert len(before) == 7

    # accept a medium suggestion with the button
    select(panel, "saga_forsb.txt")
    await settle()
    assert panel.accept_button.isEnabled()
    changes: list[bool] = []
    panel.changed.connect(lambda: changes.append(True))
    panel.accept_button.click()
    assert panel.saving is not None
    await panel.saving.wait()
    await settle()
    assert settled(db, batch)["saga_forsb.txt"] == "Saga Forsberg"
    assert rows(panel)["saga_forsb.txt"][Column.STATE] == "Confirmed"
    assert "saga_forsb.txt is Saga Forsberg's." in panel.message.text()
    assert changes == [True]
    # the next waiting essay is selected
    selected = panel.selected_essay()
    assert selected is not None and not selected.confirmed

    # choose another student for frida.txt: Maja Hedlund
    select(panel, "frida.txt")
    await settle()
    position = panel.student_combo.findText("Maja Hedlund")
    assert position > 0
    panel.student_combo.setCurrentIndex(position)
    qtbot.mouseClick(panel.assign_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    assert panel.saving is not None
    await panel.saving.wait()
    await settle()
    assert settled(db, batch)["frida.txt"] == "Maja Hedlund"

    # accept all high-confidence: viktor_holmm.txt
    assert panel.accept_high_button.isEnabled()
    panel.accept_high_button.click()
    await panel.saving.wait()
    await settle()
    stored = settled(db, batch)
    assert stored["viktor_holmm.txt"] == "Viktor Holm"
    assert "1 high-confidence match accepted." in panel.message.text()
    assert not panel.accept_high_button.isEnabled()
    assert panel.accept_high_button.text() == "Accept all &high-confidence (0)"

    # the lists follow
    essays_left = list_texts(panel.open_essays)
    assert [e.split(" — ")[0] for e in essays_left] == [
        "andersson.txt",
        "essay_7.txt",
        "NyBerg.txt",
    ]
    students_left = list_texts(panel.open_students)
    assert not any(s.startswith(("Saga", "Maja", "Viktor")) for s in students_left)
    assert panel.open_students_box.title() == "Students without an essay (8)"

    # close the panel half-way; a new one shows every decision
    panel.close()
    panel.deleteLater()
    await settle()
    again = make_panel(qtbot, db, runner)
    await loaded(again, batch)
    table = rows(again)
    assert table["saga_forsb.txt"][Column.STUDENT] == "Saga Forsberg"
    assert table["frida.txt"][Column.STUDENT] == "Maja Hedlund"
    assert table["viktor_holmm.txt"][Column.STATE] == "Confirmed"
    assert "3 essays wait for you" in again.summary.text()


async def test_moving_a_student_and_not_in_class_and_undo(
    qtbot: QtBot, db: Database, runner: TaskRunner, batch: str
) -> None:
    panel = make_panel(qtbot, db, runner)
    await loaded(panel, batch)

    # Alva Nordin moved onto essay_7.txt: alva_nordin.txt waits again
    select(panel, "essay_7.txt")
    await settle()
    position = panel.student_combo.findText("Alva Nordin (now on alva_nordin.txt)")
    assert position >= 0
    panel.student_combo.setCurrentIndex(position)
    panel.assign_button.click()
    assert panel.saving is not None
    await panel.saving.wait()
    await settle()
    stored = settled(db, batch)
    assert stored["essay_7.txt"] == "Alva Nordin"
    assert "alva_nordin.txt" not in stored
    assert "taken off alva_nordin.txt" in panel.message.text()

    # the writer of NyBerg.txt is not in the class
    select(panel, "NyBerg.txt")
    await settle()
    panel.student_combo.setCurrentIndex(panel.student_combo.count() - 1)
    panel.assign_button.click()
    await panel.saving.wait()
    await settle()
    assert settled(db, batch)["NyBerg.txt"] is None
    assert rows(panel)["NyBerg.txt"][Column.STATE] == "Not in this class"
    assert any(t.startswith("NyBerg.txt") for t in list_texts(panel.open_essays))

    # undo: it waits again
    select(panel, "NyBerg.txt")
    await settle()
    assert panel.undo_button.isEnabled()
    panel.undo_button.click()
    await panel.saving.wait()
    await settle()
    assert "NyBerg.txt" not in settled(db, batch)


async def test_accept_all_leaves_doubtful_and_shared_suggestions_to_the_teacher(
    db: Database, batch: str
) -> None:
    overview = match_overview(db, batch)
    decisions = high_confidence_decisions(overview)
    names = {e.essay_id: file_name(e) for e in overview.essays}
    assert [names[d.essay_id] for d in decisions] == ["viktor_holmm.txt"]


async def test_a_guest_batch_needs_no_matching(
    qtbot: QtBot, db: Database, runner: TaskRunner
) -> None:
    guest = create_batch(db, NewBatch("Guests", NewAssignment("Letters"), None)).id
    panel = make_panel(qtbot, db, runner)
    await loaded(panel, guest)
    assert panel.body.currentIndex() == 1
    assert "matching them to students is not needed" in panel.notice.text()


async def test_an_unknown_batch_is_said_plainly(
    qtbot: QtBot, db: Database, runner: TaskRunner
) -> None:
    panel = make_panel(qtbot, db, runner)
    panel.set_batch("no-such-batch")
    assert panel.loading is not None
    await panel.loading.wait()
    assert "could not be loaded" in panel.notice.text()
