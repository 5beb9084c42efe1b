"""Deleting a class, a batch or an assignment erases the students' personal data."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, select

from app.db.engine import Database, database_path, open_database
from app.db.models import Anchor, Comparison, Essay, Run, SchoolClass, Student
from app.operations.base import CancelToken, Completed, OperationError
from app.operations.classes import StudentFields, add_student, list_class_summaries
from app.operations.erase import (
    ERASED_NAME,
    delete_assignment,
    delete_batch,
    delete_class,
    plan_assignment_deletion,
    plan_batch_deletion,
    plan_class_deletion,
)
from app.operations.first_start import DemoSchool, seed_demo_school
from app.operations.runs import drive_run, prepare_batch_run
from app.operations.school import NewClass, create_class
from app.runs.lease import new_holder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def db(data_dir: Path) -> Iterator[Database]:
    with open_database(data_dir) as database:
        yield database


def graded_demo(db: Database) -> DemoSchool:
    demo = seed_demo_school(db)
    assert demo is not None
    prepared = prepare_batch_run(db, demo.batch_id, {"sim_speed": 1000.0})
    outcome = asyncio.run(drive_run(db, prepared.run_id, cancel=CancelToken()))
    assert isinstance(outcome, Completed), outcome
    return demo


def a_sentence_of(db: Database, batch_id: str) -> bytes:
    """A distinctive stretch of one student's stored essay, as it would sit in the file."""
    with db.session() as s:
        text = s.scalars(
            select(Essay.text).where(Essay.batch_id == batch_id, Essay.is_anchor.is_(False))
        ).first()
    assert text and len(text) > 200
    return text[100:160].encode("utf-8")


def file_bytes(data_dir: Path) -> bytes:
    path = database_path(data_dir)
    content = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return content + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("sqlite_default", ["as built", "secure_delete off"])
def test_deleting_a_class_erases_its_students_essays_and_verdict_texts(
    db: Database, data_dir: Path, sqlite_default: str
) -> None:
    if sqlite_default == "secure_delete off":
        # SQLite builds differ (Debian's zeroes freed content by default, others do not): the
        # erasure must not depend on the build.
        @event.listens_for(db.engine, "connect")
        def _plain(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.execute("PRAGMA secure_delete = OFF")

        db.engine.dispose()
    demo = graded_demo(db)
    sentence = a_sentence_of(db, demo.batch_id)
    # A long essay too: its text spills into overflow pages, which a plain delete would leave
    # on the free list with their content.
    long_text = " ".join(f"Paragraph {i} of the long essay says something new." for i in range(400))
    with db.session() as s:
        essay = s.scalars(
            select(Essay).where(Essay.batch_id == demo.batch_id, Essay.is_anchor.is_(False))
        ).all()[-1]
        essay.text = long_text
    with db.session() as s:
        student_names = [st.last_name for st in s.scalars(select(Student))]
        judged = s.scalars(select(Comparison).where(Comparison.justification.is_not(None))).all()
        assert judged, "the simulated judge gives reasons"
    plan = plan_class_deletion(db, demo.class_id)
    assert (plan.students_erased, plan.students_kept, plan.batches) == (demo.students, 0, 1)
    assert plan.essays >= demo.essays  # the students' essays and the anchors' copies
    assert plan.comparisons > 0 and not plan.busy
    assert "student(s) erased" in plan.summary()

    done = delete_class(db, demo.class_id)
    assert done.students_erased == demo.students
    assert all(c.id != demo.class_id for c in list_class_summaries(db, include_archived=True))
    with db.session() as s:
        assert s.get(SchoolClass, demo.class_id).deleted_at is not None  # type: ignore[union-attr]
        for student in s.scalars(select(Student)):
            assert student.deleted_at is not None
            assert (student.first_name, student.last_name) == ("", ERASED_NAME)
            assert student.code is None and student.email is None
        for essay in s.scalars(select(Essay)):
            assert essay.text == "" and essay.source_file is None and essay.deleted_at
        assert not s.scalars(select(Comparison).where(Comparison.justification.is_not(None))).all()
        assert all(
            r.status in ("complete", "cancelled") and r.deleted_at for r in s.scalars(select(Run))
        )
    # Gone from the file too, not only hidden: not a name, not a sentence.
    stored = file_bytes(data_dir)
    assert sentence not in stored
    assert b"Paragraph 123 of the long essay" not in stored
    for name in student_names:
        assert name.encode("utf-8") not in stored, name
    with sqlite3.connect(database_path(data_dir)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_student_in_another_class_only_leaves_the_deleted_one(db: Database) -> None:
    demo = seed_demo_school(db)
    assert demo is not None
    other = create_class(db, NewClass("8B", school_year="2026/27"))
    with db.session() as s:
        kept = s.scalars(select(Student).order_by(Student.last_name)).first()
        assert kept is not None and kept.code
        kept_id, first, last, code = kept.id, kept.first_name, kept.last_name, kept.code
    add_student(db, other.id, StudentFields(first, last, code=code))
    plan = plan_class_deletion(db, demo.class_id)
    assert (plan.students_erased, plan.students_kept) == (demo.students - 1, 1)
    delete_class(db, demo.class_id)
    with db.session() as s:
        survivor = s.get(Student, kept_id)
        assert survivor is not None and survivor.deleted_at is None
        assert (survivor.first_name, survivor.last_name) == (first, last)


def test_a_batch_being_graded_cannot_be_deleted_and_a_deleted_one_is_gone(db: Database) -> None:
    demo = graded_demo(db)
    with db.session() as s:
        run = s.scalars(select(Run).where(Run.batch_id == demo.batch_id)).one()
        run.lease_holder = new_holder()
        run.lease_heartbeat_at = datetime.now(UTC)
    assert (
        plan_batch_deletion(db, demo.batch_id).busy == ("Phones in school",)
        or plan_batch_deletion(db, demo.batch_id).busy
    )
    with pytest.raises(OperationError, match="being graded right now"):
        delete_batch(db, demo.batch_id)
    with db.session() as s:
        run = s.scalars(select(Run).where(Run.batch_id == demo.batch_id)).one()
        run.lease_holder = None
    done = delete_batch(db, demo.batch_id)
    assert done.essays > 0
    with pytest.raises(OperationError, match="no longer exists"):
        delete_batch(db, demo.batch_id)
    # The class and its students stay.
    assert any(c.id == demo.class_id for c in list_class_summaries(db))
    with db.session() as s:
        assert all(st.deleted_at is None for st in s.scalars(select(Student)))


def test_an_assignment_in_use_is_kept_until_its_batches_are_deleted(db: Database) -> None:
    demo = seed_demo_school(db)
    assert demo is not None
    assert plan_assignment_deletion(db, demo.assignment_id).anchors == demo.anchors
    with pytest.raises(OperationError, match="Delete those batches first"):
        delete_assignment(db, demo.assignment_id)
    delete_batch(db, demo.batch_id)
    delete_assignment(db, demo.assignment_id)
    with db.session() as s:
        anchors = s.scalars(select(Anchor).where(Anchor.assignment_id == demo.assignment_id))
        for anchor in anchors:
            assert anchor.text == "" and anchor.deleted_at is not None
