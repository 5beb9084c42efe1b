"""Class and roster operations: summaries in one query, rename/archive, roster editing with
validation, removal as a soft delete, roster files described row by row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from app.db.engine import Database, open_database
from app.db.models import ClassMembership, Essay, Student
from app.operations import classes as ops
from app.operations.base import CancelToken, FailureKind, OperationError
from app.operations.classes import (
    ClassChanges,
    NewClass,
    RowResult,
    StudentFields,
)
from app.operations.queries import list_classes
from app.operations.school import NewAssignment, NewBatch, create_assignment, create_batch


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "data")
    try:
        yield database
    finally:
        database.close()


def _refused(match: str) -> Any:
    return pytest.raises(OperationError, match=match)


def test_new_class_and_summary(db: Database) -> None:
    made = ops.new_class(db, NewClass("  9A English ", "ENG5", "2026/27"))
    assert made.name == "9A English"
    assert (made.course_code, made.course_name, made.school_year) == ("ENG5", "ENG5", "2026/27")
    assert (made.students, made.batches, made.archived) == (0, 0, False)
    assert ops.list_class_summaries(db) == [made]


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (NewClass("   "), "A class name is needed"),
        (NewClass("x" * 201), "too long"),
        (NewClass("9B", course=""), "A course code is needed"),
    ],
)
def test_new_class_refuses_bad_input(db: Database, new: NewClass, message: str) -> None:
    with _refused(message) as caught:
        ops.new_class(db, new)
    assert caught.value.kind is FailureKind.INPUT
    assert ops.list_class_summaries(db, include_archived=True) == []


def test_class_names_stay_unique(db: Database) -> None:
    ops.new_class(db, NewClass("9A"))
    other = ops.new_class(db, NewClass("9B"))
    with _refused("already a class named “9A”"):
        ops.new_class(db, NewClass("9a"))
    with _refused("already a class named"):
        ops.update_class(db, other.id, ClassChanges("9A", "ENG5"))
    # keeping its own name (another case) is fine
    assert ops.update_class(db, other.id, ClassChanges("9b", "ENG6", "2027")).name == "9b"


def test_update_class_changes_name_course_and_year(db: Database) -> None:
    made = ops.new_class(db, NewClass("9A", "ENG5", "2025/26"))
    changed = ops.update_class(db, made.id, ClassChanges(" 9A Engelska ", "ENG6", "2026/27"))
    assert (changed.name, changed.course_code, changed.school_year) == (
        "9A Engelska",
        "ENG6",
        "2026/27",
    )
    assert ops.get_class_summary(db, made.id) == changed
    with _refused("A class name is needed"):
        ops.update_class(db, made.id, ClassChanges("", "ENG6"))
    with _refused("no longer exists"):
        ops.update_class(db, "no-such-id", ClassChanges("X", "ENG6"))


def test_archive_hides_the_class_and_keeps_its_students_and_batches(db: Database) -> None:
    made = ops.new_class(db, NewClass("9A"))
    ops.add_student(db, made.id, StudentFields("Anna", "Andersson", "AN01"))
    assignment = create_assignment(db, NewAssignment("Phones in school"))
    create_batch(db, NewBatch("Spring", assignment.id, made.id))

    archived = ops.archive_class(db, made.id)
    assert archived.archived and archived.archived_at is not None
    assert (archived.students, archived.batches) == (1, 1)
    assert ops.list_class_summaries(db) == []
    assert ops.list_class_summaries(db, include_archived=True) == [archived]
    assert ops.archive_class(db, made.id).archived_at == archived.archived_at  # idempotent
    assert [s.last_name for s in ops.class_roster(db, made.id)] == ["Andersson"]

    back = ops.unarchive_class(db, made.id)
    assert not back.archived
    assert ops.list_class_summaries(db) == [back]
    with _refused("no longer exists"):
        ops.archive_class(db, "nope")


def test_summaries_are_one_query_whatever_the_number_of_classes(db: Database) -> None:
    assignment = create_assignment(db, NewAssignment("Essay"))

    def statements() -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            ops.list_class_summaries(db, include_archived=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    for i in range(12):
        made = ops.new_class(db, NewClass(f"K{i:02d}"))
        for j in range(i % 4):
            ops.add_student(db, made.id, StudentFields(f"F{j}", f"L{j}", f"K{i}S{j}"))
        for j in range(i % 3):
            create_batch(db, NewBatch(f"B{i}-{j}", assignment.id, made.id))
        if i % 5 == 0:
            ops.archive_class(db, made.id)
    assert statements() == 1
    rows = ops.list_class_summaries(db, include_archived=True)
    assert [(r.students, r.batches) for r in rows] == [(i % 4, i % 3) for i in range(12)]
    assert [r.name for r in ops.list_class_summaries(db)] == [
        f"K{i:02d}" for i in range(12) if i % 5
    ]
    # the older read model agrees on the roster sizes
    assert {r.id: r.students for r in list_classes(db, include_archived=True)} == {
        r.id: r.students for r in rows
    }
    assert len(list_classes(db)) == len([i for i in range(12) if i % 5])  # archived left out


def test_add_edit_remove_a_student(db: Database) -> None:
    made = ops.new_class(db, NewClass("9A"))
    erik = ops.add_student(db, made.id, StudentFields(" Erik ", "Berg", "ERBE02", "erik@skola.se"))
    anna = ops.add_student(db, made.id, StudentFields("Anna", "Andersson"))
    assert (erik.first_name, erik.code, erik.email) == ("Erik", "ERBE02", "erik@skola.se")
    assert anna.code is None and anna.email is None
    assert [s.id for s in ops.class_roster(db, made.id)] == [anna.id, erik.id]

    edited = ops.update_student(
        db, made.id, anna.id, StudentFields("Anna-Karin", "Andersson", "ANAN01", " ")
    )
    assert (edited.first_name, edited.code, edited.email) == ("Anna-Karin", "ANAN01", None)

    removed = ops.remove_student(db, made.id, erik.id)
    assert removed.id == erik.id
    assert [s.id for s in ops.class_roster(db, made.id)] == [anna.id]
    assert ops.get_class_summary(db, made.id).students == 1
    with db.read() as s:  # a soft delete: the student and the membership row stay
        student = s.get(Student, erik.id)
        assert student is not None and student.deleted_at is None
        membership = s.scalar(select(ClassMembership).where(ClassMembership.student_id == erik.id))
        assert membership is not None and membership.deleted_at is not None
    with _refused("no longer in the class"):
        ops.remove_student(db, made.id, erik.id)
    with _refused("no longer in the class"):
        ops.update_student(db, made.id, erik.id, StudentFields("Erik", "Berg"))

    # adding the removed student again brings the same student and membership back
    again = ops.add_student(db, made.id, StudentFields("Erik", "Berg", "erbe02"))
    assert again.id == erik.id
    assert len(ops.class_roster(db, made.id)) == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (StudentFields("", "Berg"), "A first name is needed"),
        (StudentFields("Erik", "   "), "A last name is needed"),
        (StudentFields("E" * 201, "Berg"), "first name is too long"),
        (StudentFields("Erik", "Berg", "C" * 65), "code is too long"),
        (StudentFields("Erik", "Berg", "AB 12"), "cannot contain spaces"),
        (StudentFields("Erik", "Berg", None, "erik.skola.se"), "not an e-mail address"),
    ],
)
def test_student_input_is_checked(db: Database, fields: StudentFields, message: str) -> None:
    made = ops.new_class(db, NewClass("9A"))
    anna = ops.add_student(db, made.id, StudentFields("Anna", "Andersson"))
    with _refused(message) as caught:
        ops.add_student(db, made.id, fields)
    assert caught.value.kind is FailureKind.INPUT
    with _refused(message):
        ops.update_student(db, made.id, anna.id, fields)
    assert ops.class_roster(db, made.id) == [anna]


def test_a_code_is_unique_within_the_class(db: Database) -> None:
    made = ops.new_class(db, NewClass("9A"))
    anna = ops.add_student(db, made.id, StudentFields("Anna", "Andersson", "AN01"))
    erik = ops.add_student(db, made.id, StudentFields("Erik", "Berg", "ER02"))
    with _refused("Anna Andersson in this class already has the code AN01"):
        ops.add_student(db, made.id, StudentFields("Other", "Person", "an01"))
    with _refused("already has the code AN01"):
        ops.update_student(db, made.id, erik.id, StudentFields("Erik", "Berg", "AN01"))
    # keeping one's own code is fine
    assert ops.update_student(db, made.id, anna.id, StudentFields("Anna", "A", "AN01")).code == (
        "AN01"
    )


def test_a_known_code_from_another_class_joins_that_student(db: Database) -> None:
    english = ops.new_class(db, NewClass("9A English"))
    swedish = ops.new_class(db, NewClass("9A Svenska"))
    anna = ops.add_student(db, english.id, StudentFields("Anna", "Andersson", "AN01"))
    joined = ops.add_student(
        db, swedish.id, StudentFields("anna", "ANDERSSON", "an01", "anna@skola.se")
    )
    assert joined.id == anna.id and joined.email == "anna@skola.se"
    assert [s.id for s in ops.class_roster(db, swedish.id)] == [anna.id]
    third = ops.new_class(db, NewClass("9B"))
    with _refused("belongs to Anna Andersson in another class"):
        ops.add_student(db, third.id, StudentFields("Bo", "Ek", "AN01"))
    assert ops.class_roster(db, third.id) == []
    # removing her from one class leaves her in the other
    ops.remove_student(db, swedish.id, anna.id)
    assert [s.id for s in ops.class_roster(db, english.id)] == [anna.id]


def test_removing_keeps_the_students_essays(db: Database) -> None:
    made = ops.new_class(db, NewClass("9A"))
    anna = ops.add_student(db, made.id, StudentFields("Anna", "Andersson", "AN01"))
    assignment = create_assignment(db, NewAssignment("Essay"))
    batch = create_batch(db, NewBatch("Spring", assignment.id, made.id))
    with db.session() as s:
        s.add(Essay(batch_id=batch.id, text="text " * 40, content_hash="h1", student_id=anna.id))
    ops.remove_student(db, made.id, anna.id)
    with db.read() as s:
        essay = s.scalar(select(Essay).where(Essay.batch_id == batch.id))
        assert essay is not None and essay.student_id == anna.id and essay.deleted_at is None


ROSTER = (
    "Förnamn;Efternamn;Elevkod;E-post\n"
    "Anna;Andersson;ANAN0001;anna@skola.se\n"
    "Erik;Berg;ERBE0002;\n"
    ";;;\n"
    "Åsa;Öberg;ASOB0003;inte-en-adress\n"
    "Karin;Lund;KALU0004;\n"
    "Anna;Andersson;ANAN0001;anna@skola.se\n"
)


def test_import_roster_describes_every_row(db: Database, tmp_path: Path) -> None:
    made = ops.new_class(db, NewClass("9A"))
    other = ops.new_class(db, NewClass("8A"))
    ops.add_student(db, other.id, StudentFields("Karin", "Lund", "KALU0004"))
    path = tmp_path / "klasslista.csv"
    path.write_text(ROSTER, encoding="utf-8")

    done = ops.import_roster_lines(db, made.id, path)
    assert done.file_name == "klasslista.csv" and done.class_id == made.id
    by_row = {r.row: r for r in done.rows}
    assert by_row[2].name == "Anna Andersson" and by_row[2].result is RowResult.ADDED
    assert by_row[3].result is RowResult.ADDED and by_row[3].why == ""
    assert by_row[6].result is RowResult.JOINED and "already stored" in by_row[6].why
    failed = [r for r in done.rows if r.result is RowResult.FAILED]
    assert failed and all(r.why for r in failed)
    (bad_email,) = [r for r in failed if r.row == 5]
    assert bad_email.name == "Åsa Öberg"  # read from the importer's sentence
    assert bad_email.why == "'inte-en-adress' is not an e-mail address."
    assert bad_email.message.startswith("Row 5 (Åsa Öberg)")
    skipped = [r for r in done.rows if r.result is RowResult.SKIPPED]
    assert skipped and all(r.why for r in skipped)
    assert (done.added, done.joined) == (2, 1)
    assert done.added + done.joined + done.skipped + done.failed == len(done.rows)
    names = {s.full_name for s in ops.class_roster(db, made.id)}
    assert names == {"Anna Andersson", "Erik Berg", "Karin Lund"}

    again = ops.import_roster_lines(db, made.id, path)
    assert again.added == again.joined == 0
    assert {r.result for r in again.rows} <= {RowResult.SKIPPED, RowResult.FAILED}


def test_import_roster_refusals(db: Database, tmp_path: Path) -> None:
    made = ops.new_class(db, NewClass("9A"))
    with _refused("no longer exists"):
        ops.import_roster_lines(db, "nope", tmp_path / "x.csv")
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02 not a roster")
    with pytest.raises(OperationError) as caught:
        ops.import_roster_lines(db, made.id, junk)
    assert caught.value.kind is FailureKind.INPUT
    assert ops.class_roster(db, made.id) == []


def test_import_roster_cancelled_before_it_starts(db: Database, tmp_path: Path) -> None:
    made = ops.new_class(db, NewClass("9A"))
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    token = CancelToken()
    token.cancel()
    done = ops.import_roster_lines(db, made.id, path, cancel=token)
    assert done.cancelled and done.rows == () and done.found > 0
    assert ops.class_roster(db, made.id) == []
