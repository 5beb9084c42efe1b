"""Deleting a class, a batch or an assignment, with the students' personal data erased.

Students' essays and names are personal data: when a teacher deletes them they must be gone,
not hidden. Every row of the database is soft-deletable (``deleted_at``) so that a deletion can
reach other devices as a tombstone (sync), so a deletion here does both:

* the rows are marked deleted (class, memberships, batches, essays, runs, suggestions, the
  students who belong to no other class), and
* their personal content is erased at once: essay texts, file names and the phrases flagged in
  them; students' names, codes and e-mail addresses; judges' justifications and error messages
  (they may quote an essay); the provider-batch requests and answers kept for recovery (they
  carry essay texts); teachers' notes on overridden grades; the file names and messages of the
  import records; match evidence.

The erasing transaction runs with SQLite's ``secure_delete`` on, so the old content is
overwritten with zeros instead of left in free space; then the file is rewritten (``VACUUM``) so
nothing freed earlier lingers either, and the write-ahead log is emptied (best effort: another
connection inside a transaction makes SQLite put that off, and the erased rows stay erased).
Copies outside the database are not reached: exports the teacher saved, and the backups taken
before a schema upgrade (``backups/huleedu-…-before-NNNN.sqlite3`` beside the database).

A deletion is refused while a run of an affected batch is being graded (its lease is fresh);
runs that are paused or waiting are cancelled. :func:`plan_class_deletion` and the other
``plan_*`` functions say what a deletion would remove, for the confirmation a teacher reads.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import (
    Anchor,
    Assignment,
    Batch,
    ClassMembership,
    Comparison,
    Essay,
    IntakeRecord,
    MatchSuggestion,
    ProviderBatch,
    Run,
    RunStatus,
    SchoolClass,
    Student,
    TeacherOverride,
    live,
    utcnow,
)
from app.operations.base import FailureKind, OperationError
from app.operations.queries import translated_errors
from app.runs.lease import STALE_AFTER, holder_is_dead
from core.lifecycle import TERMINAL

__all__ = [
    "DeletionPlan",
    "delete_assignment",
    "delete_batch",
    "delete_class",
    "plan_assignment_deletion",
    "plan_batch_deletion",
    "plan_class_deletion",
]

ERASED_NAME = "(deleted)"
"""What an erased student's last name reads (first name, code and e-mail are emptied)."""


@dataclass(frozen=True)
class DeletionPlan:
    """What a deletion removes (before it) or removed (after it), in a teacher's terms."""

    kind: str
    """``class``, ``batch`` or ``assignment``."""
    name: str
    students_erased: int = 0
    """Students whose names and codes are erased (they belong to no other class)."""
    students_kept: int = 0
    """Students who also belong to another class: they only leave this one."""
    batches: int = 0
    essays: int = 0
    comparisons: int = 0
    anchors: int = 0
    busy: tuple[str, ...] = field(default=())
    """Batches with a run being graded now; while any is listed the deletion is refused."""

    def summary(self) -> str:
        """One sentence for a confirmation or a status line."""
        parts: list[str] = []
        if self.kind == "class":
            parts.append(f"{self.students_erased} student(s) erased")
            if self.students_kept:
                parts.append(f"{self.students_kept} kept (also in other classes)")
        if self.kind in ("class", "batch"):
            if self.kind == "class":
                parts.append(f"{self.batches} batch(es)")
            parts.append(f"{self.essays} essay(s)")
            parts.append(f"{self.comparisons} judged comparison(s)")
        if self.kind == "assignment":
            parts.append(f"{self.anchors} anchor essay(s)")
        return f"{self.kind.capitalize()} “{self.name}”: " + ", ".join(parts) + "."


def _bad(message: str) -> OperationError:
    return OperationError(FailureKind.INPUT, message)


# --------------------------------------------------------------------------------- what goes


def _class_batches(session: Session, class_id: str) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch).where(Batch.school_class_id == class_id, live(Batch)).order_by(Batch.id)
        )
    )


def _students_of(session: Session, class_id: str) -> tuple[list[Student], list[Student]]:
    """(students only in this class, students also in another live class)."""
    members = list(
        session.scalars(
            select(Student)
            .join(ClassMembership, ClassMembership.student_id == Student.id)
            .where(
                ClassMembership.school_class_id == class_id,
                live(ClassMembership),
                live(Student),
            )
            .order_by(Student.id)
        )
    )
    if not members:
        return [], []
    elsewhere = set(
        session.scalars(
            select(ClassMembership.student_id)
            .join(SchoolClass, SchoolClass.id == ClassMembership.school_class_id)
            .where(
                ClassMembership.student_id.in_([m.id for m in members]),
                ClassMembership.school_class_id != class_id,
                live(ClassMembership),
                live(SchoolClass),
            )
        )
    )
    only = [m for m in members if m.id not in elsewhere]
    kept = [m for m in members if m.id in elsewhere]
    return only, kept


def _count_content(session: Session, batch_ids: list[str]) -> tuple[int, int]:
    if not batch_ids:
        return 0, 0
    essays = session.scalar(
        select(func.count()).select_from(Essay).where(Essay.batch_id.in_(batch_ids), live(Essay))
    )
    comparisons = session.scalar(
        select(func.count())
        .select_from(Comparison)
        .join(Run, Run.id == Comparison.run_id)
        .where(Run.batch_id.in_(batch_ids), Comparison.first_wins.is_not(None))
    )
    return int(essays or 0), int(comparisons or 0)


def _busy(session: Session, batches: list[Batch], now: datetime) -> tuple[str, ...]:
    """Titles of batches whose run is being driven now (a fresh lease of a live process)."""
    if not batches:
        return ()
    titles = {b.id: b.title for b in batches}
    busy: list[str] = []
    for batch_id, holder, beat in session.execute(
        select(Run.batch_id, Run.lease_holder, Run.lease_heartbeat_at).where(
            Run.batch_id.in_(list(titles)), Run.lease_holder.is_not(None)
        )
    ):
        fresh = beat is not None and now - _aware(beat) < STALE_AFTER
        if fresh and holder is not None and not holder_is_dead(holder):
            busy.append(titles[batch_id])
    return tuple(sorted(set(busy)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _live_class(session: Session, class_id: str) -> SchoolClass:
    found = session.get(SchoolClass, class_id)
    if found is None or found.deleted_at is not None:
        raise _bad("This class no longer exists.")
    return found


def _live_batch(session: Session, batch_id: str) -> Batch:
    found = session.get(Batch, batch_id)
    if found is None or found.deleted_at is not None:
        raise _bad("This batch no longer exists.")
    return found


def _live_assignment(session: Session, assignment_id: str) -> Assignment:
    found = session.get(Assignment, assignment_id)
    if found is None or found.deleted_at is not None:
        raise _bad("This assignment no longer exists.")
    return found


def _class_plan(session: Session, class_id: str, now: datetime) -> DeletionPlan:
    school_class = _live_class(session, class_id)
    batches = _class_batches(session, class_id)
    only, kept = _students_of(session, class_id)
    essays, comparisons = _count_content(session, [b.id for b in batches])
    return DeletionPlan(
        kind="class",
        name=school_class.name,
        students_erased=len(only),
        students_kept=len(kept),
        batches=len(batches),
        essays=essays,
        comparisons=comparisons,
        busy=_busy(session, batches, now),
    )


def _batch_plan(session: Session, batch_id: str, now: datetime) -> DeletionPlan:
    batch = _live_batch(session, batch_id)
    essays, comparisons = _count_content(session, [batch.id])
    return DeletionPlan(
        kind="batch",
        name=batch.title,
        batches=1,
        essays=essays,
        comparisons=comparisons,
        busy=_busy(session, [batch], now),
    )


def _assignment_plan(session: Session, assignment_id: str) -> tuple[DeletionPlan, list[str]]:
    assignment = _live_assignment(session, assignment_id)
    anchors = session.scalar(
        select(func.count())
        .select_from(Anchor)
        .where(Anchor.assignment_id == assignment_id, live(Anchor))
    )
    users = list(
        session.scalars(
            select(Batch.title)
            .where(Batch.assignment_id == assignment_id, live(Batch))
            .order_by(Batch.title)
        )
    )
    plan = DeletionPlan(kind="assignment", name=assignment.title, anchors=int(anchors or 0))
    return plan, users


def plan_class_deletion(db: Database, class_id: str, **_operation: object) -> DeletionPlan:
    """What deleting the class would remove (nothing is changed)."""
    with translated_errors(), db.session() as s:
        return _class_plan(s, class_id, datetime.now(UTC))


def plan_batch_deletion(db: Database, batch_id: str, **_operation: object) -> DeletionPlan:
    """What deleting the batch would remove (nothing is changed)."""
    with translated_errors(), db.session() as s:
        return _batch_plan(s, batch_id, datetime.now(UTC))


def plan_assignment_deletion(
    db: Database, assignment_id: str, **_operation: object
) -> DeletionPlan:
    """What deleting the assignment would remove (nothing is changed)."""
    with translated_errors(), db.session() as s:
        return _assignment_plan(s, assignment_id)[0]


# --------------------------------------------------------------------------------- erasing


def _refuse_if_busy(plan: DeletionPlan) -> None:
    if plan.busy:
        names = ", ".join(f"“{t}”" for t in plan.busy)
        raise _bad(
            f"A run of {names} is being graded right now. Pause or cancel it first, then delete."
        )


def _erase_batch(session: Session, batch: Batch, now: datetime) -> None:
    """Mark the batch and everything in it deleted and erase its personal content."""
    run_ids = select(Run.id).where(Run.batch_id == batch.id).scalar_subquery()
    essay_ids = select(Essay.id).where(Essay.batch_id == batch.id).scalar_subquery()
    # Bulk statements for the many-row children that carry text but no identity of their own.
    session.execute(
        update(Comparison)
        .where(Comparison.run_id.in_(run_ids))
        .values(justification=None, error_message=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ProviderBatch)
        .where(ProviderBatch.run_id.in_(run_ids))
        .values(intent=None, job=None, deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(MatchSuggestion)
        .where(MatchSuggestion.essay_id.in_(essay_ids))
        .values(evidence="", deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(TeacherOverride)
        .where(TeacherOverride.essay_id.in_(essay_ids))
        .values(note=None, deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(IntakeRecord)
        .where(IntakeRecord.batch_id == batch.id)
        .values(source=ERASED_NAME, message="", deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    # Rows with an identity of their own go through the ORM, so change tracking sees them.
    for run in session.scalars(select(Run).where(Run.batch_id == batch.id)):
        if run.status not in TERMINAL:
            run.status = RunStatus.CANCELLED.value
            run.stop_reason = "cancelled"
        run.lease_holder = None
        run.lease_heartbeat_at = None
        if run.deleted_at is None:
            run.soft_delete(now)
    for essay in session.scalars(select(Essay).where(Essay.batch_id == batch.id)):
        essay.text = ""
        essay.source_file = None
        essay.addressed_to_grader = None
        essay.content_hash = f"erased:{essay.id}"
        if essay.deleted_at is None:
            essay.soft_delete(now)
    batch.soft_delete(now)


def _erase_student(session: Session, student: Student, now: datetime) -> None:
    student.first_name = ""
    student.last_name = ERASED_NAME
    student.code = None
    student.email = None
    student.soft_delete(now)
    # Essays in batches that stay (another class's, a guest batch) lose the link, not their text.
    for essay in session.scalars(select(Essay).where(Essay.student_id == student.id)):
        essay.student_id = None
        essay.match_confirmed = False
        essay.match_source = None
        essay.match_confidence = None
        essay.match_confirmed_at = None
    session.execute(
        update(MatchSuggestion)
        .where(MatchSuggestion.student_id == student.id)
        .values(evidence="", deleted_at=now)
        .execution_options(synchronize_session=False)
    )


def _secure(session: Session) -> None:
    """Overwrite content this connection frees with zeros (SQLite ``secure_delete``; it stays on
    for the connection, which suits a database of personal data)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def _compact(db: Database) -> None:
    """Rewrite the database file without free space (VACUUM), so content freed earlier (by a
    SQLite built without ``secure_delete``) does not linger either, and empty the write-ahead
    log. Best effort: another connection inside a transaction makes SQLite refuse; the rows are
    erased all the same and what they freed was zeroed (see :func:`_secure`)."""
    if db.engine.dialect.name != "sqlite":
        return
    raw = db.engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass
    finally:
        raw.close()


def delete_class(db: Database, class_id: str, **_operation: object) -> DeletionPlan:
    """Delete a class, its batches and the students who are in no other class (erased).

    Students also in another class only leave this one. Returns what was removed. Refused
    while a run of one of its batches is being graded.
    """
    now = utcnow()
    with translated_errors():
        with db.session() as s:
            plan = _class_plan(s, class_id, datetime.now(UTC))
            _refuse_if_busy(plan)
            _secure(s)
            school_class = _live_class(s, class_id)
            only, _kept = _students_of(s, class_id)
            for batch in _class_batches(s, class_id):
                _erase_batch(s, batch, now)
            for student in only:
                _erase_student(s, student, now)
            s.execute(
                update(ClassMembership)
                .where(ClassMembership.school_class_id == class_id, live(ClassMembership))
                .values(deleted_at=now)
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(IntakeRecord)
                .where(IntakeRecord.school_class_id == class_id)
                .values(source=ERASED_NAME, message="", deleted_at=now)
                .execution_options(synchronize_session=False)
            )
            school_class.soft_delete(now)
        _compact(db)
        return plan


def delete_batch(db: Database, batch_id: str, **_operation: object) -> DeletionPlan:
    """Delete a batch: its essays (texts erased), runs, comparisons and results.

    The class and its students stay. Refused while one of its runs is being graded.
    """
    now = utcnow()
    with translated_errors():
        with db.session() as s:
            plan = _batch_plan(s, batch_id, datetime.now(UTC))
            _refuse_if_busy(plan)
            _secure(s)
            _erase_batch(s, _live_batch(s, batch_id), now)
        _compact(db)
        return plan


def delete_assignment(db: Database, assignment_id: str, **_operation: object) -> DeletionPlan:
    """Delete an assignment and its anchor essays (texts erased).

    Refused while a batch uses it: those batches are graded against its texts and anchors, so
    they are deleted first.
    """
    now = utcnow()
    with translated_errors():
        with db.session() as s:
            plan, users = _assignment_plan(s, assignment_id)
            if users:
                shown = ", ".join(f"“{t}”" for t in users[:3])
                more = f" and {len(users) - 3} more" if len(users) > 3 else ""
                raise _bad(
                    f"Batches use this assignment ({shown}{more}). Delete those batches first."
                )
            _secure(s)
            assignment = _live_assignment(s, assignment_id)
            for anchor in s.scalars(select(Anchor).where(Anchor.assignment_id == assignment_id)):
                _erase_anchor(anchor, now)
            s.execute(
                update(IntakeRecord)
                .where(IntakeRecord.assignment_id == assignment_id)
                .values(source=ERASED_NAME, message="", deleted_at=now)
                .execution_options(synchronize_session=False)
            )
            assignment.soft_delete(now)
        _compact(db)
        return plan


def _erase_anchor(anchor: Anchor, now: datetime) -> None:
    anchor.text = ""
    anchor.source_file = None
    if anchor.deleted_at is None:
        anchor.soft_delete(now)
