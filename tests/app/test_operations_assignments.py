"""Editing assignments, their anchors and the teacher's own grade scales, as operations; and a
batch on a custom scale graded end to end against the simulated judge."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.engine import Database, open_database
from app.db.models import Essay, GradeScaleRecord, live
from app.intake.outcomes import Outcome
from app.operations.assignments import (
    add_anchor,
    anchor_text,
    import_anchor_files,
    list_anchors,
    remove_anchor,
    set_anchor_grade,
    update_assignment,
)
from app.operations.base import Completed, FailureKind, OperationError
from app.operations.export import result_rows
from app.operations.intake import import_essays
from app.operations.queries import get_assignment, get_batch
from app.operations.runs import drive_run, prepare_batch_run
from app.operations.scales import (
    delete_custom_scale,
    list_scales,
    resolve_scale,
    save_custom_scale,
)
from app.operations.school import NewAssignment, NewBatch, create_assignment, create_batch
from core.scales import SWEDISH_8_ANCHOR

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
LEVELS = ["Not yet", "Pass", "Merit", "Distinction"]


def essay(n: int, words: int = 30) -> str:
    return f"Essay number {n}. " + " ".join(f"word{n}_{i}" for i in range(words))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "data")
    try:
        yield database
    finally:
        database.close()


def _fails(call: object, match: str) -> OperationError:
    with pytest.raises(OperationError, match=match) as caught:
        assert callable(call)
        call()
    assert caught.value.kind is FailureKind.INPUT
    return caught.value


# ------------------------------------------------------------------------------------- scales


def test_custom_scales_are_listed_resolved_and_validated(db: Database) -> None:
    row = save_custom_scale(db, "  Pass levels ", ["Not yet", "", " Pass", "Merit", "Distinction"])
    assert row.id == "custom_pass_levels"
    assert row.grades == tuple(LEVELS) and not row.builtin
    scale = resolve_scale(db, row.id)
    assert scale.name == "Pass levels" and scale.grades == tuple(LEVELS)
    assert resolve_scale(db, "swedish_8_anchor") is SWEDISH_8_ANCHOR
    listed = list_scales(db)
    assert [s.builtin for s in listed] == [True, True, True, False]
    assert listed[-1].id == row.id
    # a second scale with the same name gets refused, one with another name a new id
    _fails(lambda: save_custom_scale(db, "pass LEVELS", ["a", "b"]), "already a scale named")
    other = save_custom_scale(db, "Pass levels 2", ["Low", "High"])
    assert other.id == "custom_pass_levels_2"

    _fails(lambda: save_custom_scale(db, "One", ["Only"]), "at least 2 grades")
    _fails(lambda: save_custom_scale(db, "Twice", ["A", "B", "A"]), "duplicate grade labels: A")
    _fails(lambda: save_custom_scale(db, "", ["A", "B"]), "needs a name")
    _fails(
        lambda: save_custom_scale(db, "Mine", ["A", "B"], scale_id="swedish_8_anchor"),
        "built-in scale and cannot be changed",
    )
    _fails(lambda: save_custom_scale(db, SWEDISH_8_ANCHOR.name, ["A", "B"]), "built-in scale")
    _fails(lambda: resolve_scale(db, "nope"), "Unknown grade scale 'nope'; known scales: .*custom")
    with pytest.raises(ValueError):  # as core.scales.get_scale, for the grading code
        resolve_scale(db, "nope")


def test_a_scale_is_renamed_freely_but_its_grades_are_kept_once_a_run_used_it(
    db: Database,
) -> None:
    row = save_custom_scale(db, "Levels", LEVELS)
    assignment = create_assignment(db, NewAssignment("Letters", scale=row.id))
    assert assignment.scale == row.id
    anchor = add_anchor(db, assignment.id, essay(1), "Merit")
    # grades may change while no run used the scale, if the anchors keep their grades
    _fails(
        lambda: save_custom_scale(db, "Levels", ["Low", "High"], scale_id=row.id),
        r"carry grades the new scale does not allow: 'Merit' \(1 anchor\)",
    )
    changed = save_custom_scale(db, "Levels", [*LEVELS, "Honours"], scale_id=row.id)
    assert changed.grades[-1] == "Honours"
    # a run over a batch of the assignment freezes the grades; the name still changes
    batch = create_batch(db, NewBatch("9A", assignment.id))
    import_essays(db, [_write(db.path.parent / "e", 3)], batch.id)
    prepare_batch_run(db, batch.id, {})
    _fails(
        lambda: save_custom_scale(db, "Levels", LEVELS, scale_id=row.id),
        "1 run graded with it already. Save the new grades as a new scale",
    )
    renamed = save_custom_scale(db, "Levels (2026)", [*LEVELS, "Honours"], scale_id=row.id)
    assert renamed.name == "Levels (2026)"
    assert resolve_scale(db, row.id).name == "Levels (2026)"
    assert anchor.grade == "Merit"


def test_a_scale_in_use_is_not_deleted_and_a_deleted_one_can_come_back(db: Database) -> None:
    row = save_custom_scale(db, "Levels", LEVELS)
    assignment = create_assignment(db, NewAssignment("Letters", scale=row.id))
    _fails(lambda: delete_custom_scale(db, row.id), "used by 'Letters'")
    _fails(lambda: delete_custom_scale(db, "swedish_8_anchor"), "cannot be removed")
    update_assignment(db, assignment.id, NewAssignment("Letters"))
    delete_custom_scale(db, row.id)
    assert [s.id for s in list_scales(db) if not s.builtin] == []
    _fails(lambda: resolve_scale(db, row.id), "Unknown grade scale")
    _fails(lambda: create_assignment(db, NewAssignment("X", scale=row.id)), "Unknown grade")
    again = save_custom_scale(db, "Levels", ["Low", "High"], scale_id=row.id)
    assert again.grades == ("Low", "High")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(GradeScaleRecord)) == 1


# -------------------------------------------------------------------------------- assignments


def test_an_assignment_is_updated_and_a_scale_its_anchors_do_not_fit_is_refused(
    db: Database,
) -> None:
    assignment = create_assignment(db, NewAssignment("Phones"))
    add_anchor(db, assignment.id, essay(1), "C+", "Strong C")
    add_anchor(db, assignment.id, essay(2), "E")
    updated = update_assignment(
        db,
        assignment.id,
        NewAssignment(" Phones in school ", prompt="Write.", criteria="Clear.", rubric="Judge."),
    )
    assert (updated.title, updated.student_prompt) == ("Phones in school", "Write.")
    assert (updated.assessment_criteria, updated.judge_rubric) == ("Clear.", "Judge.")
    error = _fails(
        lambda: update_assignment(
            db, assignment.id, NewAssignment("Phones", scale="eng5_np_national_9_step")
        ),
        "anchors carry grades it does not allow",
    )
    assert "'C+' (1 anchor), 'E' (1 anchor)" in error.message
    assert get_assignment(db, assignment.id).title == "Phones in school"
    _fails(lambda: update_assignment(db, assignment.id, NewAssignment("  ")), "title is needed")
    _fails(lambda: update_assignment(db, "nope", NewAssignment("T")), "no assignment")
    levels = save_custom_scale(db, "Levels", LEVELS)
    for row in list_anchors(db, assignment.id):
        remove_anchor(db, row.id)
    assert update_assignment(db, assignment.id, NewAssignment("P", scale=levels.id)).scale == (
        levels.id
    )


def test_anchors_are_added_read_regraded_and_removed(db: Database) -> None:
    assignment = create_assignment(db, NewAssignment("Phones"))
    batch = create_batch(db, NewBatch("9A", assignment.id))
    b = add_anchor(db, assignment.id, "  " + essay(1) + "\n", " B ", "Model B")
    e = add_anchor(db, assignment.id, essay(2), "E")
    assert (b.grade, b.label, b.source_file, b.characters) == ("B", "Model B", None, len(essay(1)))
    assert [r.grade for r in list_anchors(db, assignment.id)] == ["E", "B"]  # lowest first
    assert anchor_text(db, b.id).text == essay(1)
    assert get_batch(db, batch.id).essays == 0  # anchors are not counted as essays...
    with db.read() as s:  # ...but they joined the batch as anchor essays
        assert (
            s.scalar(
                select(func.count()).where(Essay.batch_id == batch.id, Essay.is_anchor, live(Essay))
            )
            == 2
        )

    _fails(lambda: add_anchor(db, assignment.id, essay(1), "A"), "already an anchor")
    _fails(lambda: add_anchor(db, assignment.id, "Too short.", "A"), "too short")
    _fails(lambda: add_anchor(db, assignment.id, essay(3), "A+"), "not an anchor grade")
    _fails(lambda: add_anchor(db, "nope", essay(3), "A"), "no assignment")

    assert set_anchor_grade(db, e.id, "D+").grade == "D+"
    _fails(lambda: set_anchor_grade(db, e.id, "Z"), "'Z' is not an anchor grade of Swedish")
    remove_anchor(db, b.id)
    assert [r.id for r in list_anchors(db, assignment.id)] == [e.id]
    assert get_assignment(db, assignment.id).anchors == 1
    _fails(lambda: anchor_text(db, b.id), "No anchor")
    _fails(lambda: remove_anchor(db, b.id), "No anchor")
    with db.read() as s:  # the batch had no run yet: the anchor left it
        assert (
            s.scalar(
                select(func.count()).where(Essay.batch_id == batch.id, Essay.is_anchor, live(Essay))
            )
            == 1
        )


def test_anchor_files_are_imported_with_an_outcome_per_file(db: Database, tmp_path: Path) -> None:
    levels = save_custom_scale(db, "Levels", LEVELS)
    assignment = create_assignment(db, NewAssignment("Letters", scale=levels.id))
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "merit_one.txt").write_text(essay(1), encoding="utf-8")
    (folder / "pass_two.txt").write_text(essay(2), encoding="utf-8")
    (folder / "broken.txt").write_text(essay(3), encoding="utf-8")
    grades = tmp_path / "grades.csv"
    grades.write_text(
        "file,grade,label\nmerit_one.txt,Merit,First\npass_two.txt,Pass,\nbroken.txt,Gold,\n",
        encoding="utf-8",
    )
    result = import_anchor_files(db, assignment.id, [folder], grades)
    outcomes = {Path(o.source).name: o for o in result.outcomes}
    assert outcomes["merit_one.txt"].outcome is Outcome.IMPORTED
    assert outcomes["pass_two.txt"].grade == "Pass"
    assert outcomes["broken.txt"].outcome is Outcome.FAILED
    assert "Gold" in outcomes["broken.txt"].message
    assert (result.counts.imported, result.counts.failed) == (2, 1)
    rows = list_anchors(db, assignment.id)
    assert [(r.grade, r.label) for r in rows] == [("Pass", "pass_two"), ("Merit", "First")]
    assert rows[0].source_file is not None and rows[0].source_file.endswith("pass_two.txt")


# ------------------------------------------------------------------------ grading end to end


def _write(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"student_{i}.txt").write_text(essay(100 + i, 40 + 7 * i), encoding="utf-8")
    return folder


def test_a_batch_on_a_custom_scale_is_graded_end_to_end(db: Database, tmp_path: Path) -> None:
    levels = save_custom_scale(db, "Levels", LEVELS, below_lowest="Not yet")
    assignment = create_assignment(db, NewAssignment("Phones", scale=levels.id))
    demo = sorted((DEMO / "anchors").glob("anchor_*.txt"))
    grades = {"E": "Pass", "D": "Pass", "C": "Merit", "Cplus": "Merit", "B": "Distinction"}
    for path in demo:
        key = path.stem.removeprefix("anchor_")
        if key in grades:
            add_anchor(db, assignment.id, path.read_text("utf-8"), grades[key], f"Demo {key}")
    _fails(lambda: add_anchor(db, assignment.id, essay(9), "Not yet"), "not an anchor grade")
    batch = create_batch(db, NewBatch("9A", assignment.id))
    essays = sorted((DEMO / "essays").glob("*.txt"))[:6]
    assert import_essays(db, essays, batch.id).counts.imported == 6

    run = prepare_batch_run(db, batch.id, {"sim_speed": 1000.0})
    outcome = asyncio.run(drive_run(db, run.run_id))
    assert isinstance(outcome, Completed), outcome
    assert outcome.value.status == "complete"
    rows = result_rows(db, run.run_id)
    assert len(rows) == 11
    assert all(r.grade in LEVELS for r in rows), [r.grade for r in rows]
    assert {r.anchor_grade for r in rows if r.is_anchor} == {"Pass", "Merit", "Distinction"}
    assert all(set(r.grade_probabilities) <= set(LEVELS) for r in rows)
