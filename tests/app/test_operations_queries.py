"""Read models and school operations: typed rows, the right numbers, a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from app.db.engine import Database, open_database
from app.db.models import (
    Assignment,
    Batch,
    Comparison,
    ComparisonStatus,
    Essay,
    Run,
    SchoolClass,
    utcnow,
)
from app.operations import queries
from app.operations.base import FailureKind, OperationError
from app.operations.intake import import_anchors, import_essays, import_roster
from app.operations.queries import (
    AssignmentRow,
    BatchRow,
    ClassRow,
    IntakeRow,
    RunReport,
    RunRow,
    StudentRow,
)
from app.operations.school import (
    NewAssignment,
    NewBatch,
    NewClass,
    create_assignment,
    create_batch,
    create_class,
    find_assignment,
    find_batch,
    find_class,
)

ROSTER = "Förnamn;Efternamn;Elevkod\nAnna;Andersson;ANAN0001\nErik;Berg;ERBE0002\nÅsa;Öberg;\n"


def _essay(i: int) -> str:
    return f"Uppsats {i}. " + " ".join(f"Mening {j} om hösten och älgarna." for j in range(12))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "data") as database:
        yield database


def _run(db: Database, batch_id: str, status: str, *, minutes_ago: int, done: int = 0) -> str:
    """A run created ``minutes_ago``, with ``done`` judged comparisons (and one planned)."""
    with db.session() as s:
        essays = list(s.scalars(select(Essay.id).where(Essay.batch_id == batch_id).limit(2)))
        when = utcnow() - timedelta(minutes=minutes_ago)
        run = Run(
            batch_id=batch_id,
            status=status,
            stop_reason="stable" if status == "complete" else None,
            reliability=0.9 if status == "complete" else None,
            settings={"budget": 10},
            created_at=when,
            updated_at=when,
        )
        s.add(run)
        s.flush()
        statuses = [ComparisonStatus.DONE.value] * done + [ComparisonStatus.PLANNED.value]
        for st in statuses:
            s.add(
                Comparison(
                    run_id=run.id, first_essay_id=essays[0], second_essay_id=essays[1], status=st
                )
            )
        return run.id


@pytest.fixture
def school(db: Database, tmp_path: Path) -> dict[str, str]:
    """Two classes (one with a roster), an assignment with anchors, a class batch with essays
    and two runs, and a guest batch without essays or runs."""
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, "utf-8")
    klass = import_roster(db, roster, NewClass("9A", "ENG6", "2026/27")).class_id
    empty = create_class(db, NewClass("8B")).id
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    for grade in ("A", "C"):
        (anchors / f"grade_{grade}.txt").write_text(_essay(ord(grade)), "utf-8")
    assignment = import_anchors(db, [anchors], NewAssignment("Hösten")).assignment_id
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "anna_andersson.txt").write_text(_essay(1), "utf-8")
    (folder / "erik_berg.txt").write_text(_essay(2), "utf-8")
    (folder / "kort.txt").write_text("Kort.", "utf-8")
    batch = import_essays(db, [folder], NewBatch("Hösten 9A", assignment, "9A")).batch_id
    old_run = _run(db, batch, "complete", minutes_ago=60, done=3)
    new_run = _run(db, batch, "paused", minutes_ago=5, done=1)
    guest = create_batch(
        db, NewBatch("Gäster", NewAssignment("Våren", scale="eng5_np_national_9_step"))
    ).id
    return {
        "class": klass,
        "empty_class": empty,
        "assignment": assignment,
        "batch": batch,
        "guest": guest,
        "old_run": old_run,
        "new_run": new_run,
    }


def test_classes_with_their_students(db: Database, school: dict[str, str]) -> None:
    rows = queries.list_classes(db)
    assert rows == [
        ClassRow(school["empty_class"], "8B", "ENG5", "", 0),
        ClassRow(school["class"], "9A", "ENG6", "2026/27", 3),
    ]
    assert find_class(db, "9A") == rows[1] == find_class(db, school["class"])
    assert rows[1].to_json() == {
        "id": school["class"],
        "name": "9A",
        "course": "ENG6",
        "school_year": "2026/27",
        "students": 3,
    }
    students = queries.list_students(db, "9A")
    assert all(isinstance(s, StudentRow) for s in students)
    assert [(s.full_name, s.code) for s in students] == [
        ("Anna Andersson", "ANAN0001"),
        ("Erik Berg", "ERBE0002"),
        ("Åsa Öberg", None),
    ]
    assert queries.list_students(db, "8B") == []


def test_assignments_with_their_anchors(db: Database, school: dict[str, str]) -> None:
    rows = queries.list_assignments(db)
    assert all(isinstance(a, AssignmentRow) for a in rows)
    assert [(a.title, a.scale, a.anchors) for a in rows] == [
        ("Hösten", "swedish_8_anchor", 2),
        ("Våren", "eng5_np_national_9_step", 0),
    ]
    detail = find_assignment(db, school["assignment"])
    assert (detail.title, detail.anchors, detail.student_prompt) == ("Hösten", 2, "")


def test_batches_with_their_class_essays_and_newest_run(
    db: Database, school: dict[str, str]
) -> None:
    class_batch, guest = queries.list_batches(db)
    assert isinstance(class_batch, BatchRow) and isinstance(guest, BatchRow)
    assert (class_batch.class_name, class_batch.assignment_title, class_batch.essays) == (
        "9A",
        "Hösten",
        2,  # anchors and the failed file do not count
    )
    assert (class_batch.last_run_id, class_batch.last_run_status) == (school["new_run"], "paused")
    assert class_batch.status == "ready" and class_batch.status_text == "Ready to grade"
    assert not class_batch.guest and class_batch.updated_at >= class_batch.created_at

    assert guest.guest and guest.class_name is None and guest.class_id is None
    assert (guest.essays, guest.last_run_id, guest.last_run_status) == (0, None, None)
    assert (guest.status, guest.status_text) == ("pending_content", "Waiting for essays")
    assert guest.to_json()["class"] is None
    assert set(guest.to_json()) == {
        "id",
        "title",
        "class",
        "assignment",
        "status",
        "essays",
        "last_run_id",
        "last_run_status",
        "updated_at",
    }
    assert find_batch(db, school["guest"]) == guest


def test_intake_records_of_a_batch_an_assignment_and_a_class(
    db: Database, school: dict[str, str]
) -> None:
    batch = queries.intake_records(db, school["batch"])
    assert batch.owner == "batch" and all(isinstance(r, IntakeRow) for r in batch.rows)
    assert sorted((r.source, r.outcome, r.reason) for r in batch.rows) == [
        ("in/anna_andersson.txt", "imported", None),
        ("in/erik_berg.txt", "imported", None),
        ("in/kort.txt", "failed", "too_short"),
    ]
    assert list(batch.to_json()[0]) == [
        "source",
        "outcome",
        "reason",
        "message",
        "format",
        "encoding",
        "size_bytes",
        "characters",
        "essay_id",
        "grade",
    ]
    anchors = queries.intake_records(db, school["assignment"])
    assert anchors.owner == "assignment"
    assert sorted(r.grade or "" for r in anchors.rows) == ["A", "C"]
    roster = queries.intake_records(db, "9A")
    assert (roster.owner, roster.owner_id) == ("class", school["class"])
    assert [r.source for r in roster.rows] == [
        "roster.csv row 2",
        "roster.csv row 3",
        "roster.csv row 4",
    ]
    assert list(roster.to_json()[0]) == ["source", "outcome", "reason", "message"]


def test_runs_of_a_batch_and_a_run_summary(db: Database, school: dict[str, str]) -> None:
    runs = queries.list_runs(db, school["batch"])
    assert all(isinstance(r, RunRow) for r in runs)
    assert [(r.id, r.status, r.comparisons) for r in runs] == [
        (school["old_run"], "complete", 3),
        (school["new_run"], "paused", 1),
    ]
    assert queries.list_runs(db, school["guest"]) == []
    summary = queries.run_report(db, school["old_run"])
    assert isinstance(summary, RunReport)
    assert (summary.status, summary.stop_reason, summary.reliability) == ("complete", "stable", 0.9)
    assert summary.settings == {"budget": 10} and summary.batch_id == school["batch"]
    assert list(summary.to_json()) == [
        "run_id",
        "status",
        "stop_reason",
        "reliability",
        "model_reliability",
        "ssr",
        "position_bias",
        "settings",
        "completed_at",
    ]


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (queries.get_class, "no-such-class"),
        (queries.list_students, "no-such-class"),
        (queries.get_assignment, "no-such-assignment"),
        (queries.get_batch, "no-such-batch"),
        (queries.list_runs, "no-such-batch"),
        (queries.run_report, "no-such-run"),
        (queries.intake_records, "no-such-owner"),
    ],
)
def test_unknown_ids_are_input_errors(db: Database, call: object, arg: str) -> None:
    with pytest.raises(OperationError) as caught:
        call(db, arg)  # type: ignore[operator]
    assert caught.value.kind is FailureKind.INPUT
    assert arg in caught.value.message


def test_listing_many_batches_takes_as_many_queries_as_listing_few(
    db: Database, school: dict[str, str]
) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def queries_for_listing() -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            queries.list_batches(db)
            queries.list_classes(db)
            queries.list_assignments(db)
            queries.list_runs(db, school["batch"])
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    few = queries_for_listing()
    for i in range(40):
        batch = create_batch(db, NewBatch(f"B{i}", school["assignment"], "9A" if i % 2 else None))
        create_class(db, NewClass(f"K{i}"))
        create_assignment(db, NewAssignment(f"A{i}"))
        _run(db, school["batch"], "complete", minutes_ago=i + 100)
        assert batch.essays == 0
    assert queries_for_listing() == few
    assert len(queries.list_batches(db)) == 42


def test_new_records_are_checked_before_anything_is_stored(db: Database) -> None:
    for bad, words in [
        (lambda: create_class(db, NewClass(" ")), "class name"),
        (lambda: create_class(db, NewClass("9A", course="")), "course code"),
        (lambda: create_class(db, NewClass("x" * 201)), "too long"),
        (lambda: create_assignment(db, NewAssignment("")), "assignment title"),
        (lambda: create_assignment(db, NewAssignment("A", scale="nope")), "Unknown grade scale"),
        (lambda: create_batch(db, NewBatch("", NewAssignment("A"))), "batch title"),
        (lambda: create_batch(db, NewBatch("B", NewAssignment("A"), "9Z")), "no class"),
        (lambda: create_batch(db, NewBatch("B", "no-such-assignment")), "no assignment"),
    ]:
        with pytest.raises(OperationError, match=words) as caught:
            bad()  # type: ignore[no-untyped-call]
        assert caught.value.kind is FailureKind.INPUT
    with db.session() as s:
        for model in (SchoolClass, Assignment, Batch):
            assert s.scalar(select(func.count()).select_from(model)) == 0

    a = create_assignment(db, NewAssignment(" Hösten ", prompt="Skriv.", rubric="Bedöm."))
    assert (a.title, a.student_prompt, a.judge_rubric) == ("Hösten", "Skriv.", "Bedöm.")
    klass = create_class(db, NewClass(" 9A ", "ENG5", "2026/27"))
    assert klass == ClassRow(klass.id, "9A", "ENG5", "2026/27", 0)
    batch = create_batch(db, NewBatch("Prov", a.id, "9A"))
    assert (batch.class_name, batch.assignment_title, batch.status) == (
        "9A",
        "Hösten",
        "pending_content",
    )
