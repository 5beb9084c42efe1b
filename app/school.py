"""Creating and finding the teacher's records: courses, classes, assignments and batches.

Plain functions over a :class:`~app.db.engine.Database`, shared by the command line and the
desktop window. Each returns ids (strings), never ORM objects bound to a closed session.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import (
    Anchor,
    Assignment,
    Batch,
    BatchStatus,
    Course,
    Essay,
    SchoolClass,
    live,
)
from app.operations.scales import resolve_scale


class RecordNotFoundError(LookupError):
    """An id or name that matches no live record; the message says which."""


def ensure_course(session: Session, code: str, name: str | None = None) -> Course:
    """The live course with ``code`` (case-insensitive), created when there is none."""
    code = code.strip()
    for course in session.scalars(select(Course).where(live(Course))):
        if course.code.casefold() == code.casefold():
            return course
    course = Course(code=code, name=name or code)
    session.add(course)
    session.flush()
    return course


def create_class(db: Database, name: str, course_code: str, school_year: str) -> str:
    """A new class in the course ``course_code`` (created if needed); returns its id."""
    with db.session() as s:
        return add_class(s, name, course_code, school_year).id


def add_class(session: Session, name: str, course_code: str, school_year: str) -> SchoolClass:
    """:func:`create_class` inside the caller's transaction."""
    if not name.strip():
        raise ValueError("a class needs a name")
    course = ensure_course(session, course_code)
    school_class = SchoolClass(name=name.strip(), course_id=course.id, school_year=school_year)
    session.add(school_class)
    session.flush()
    return school_class


def find_class(session: Session, id_or_name: str) -> SchoolClass:
    """A live class by id, or by its name when that name is unique."""
    found = session.get(SchoolClass, id_or_name)
    if found is not None and found.deleted_at is None:
        return found
    named = list(
        session.scalars(
            select(SchoolClass).where(live(SchoolClass), SchoolClass.name == id_or_name)
        )
    )
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise RecordNotFoundError(f"{len(named)} classes are named {id_or_name!r}; give the id")
    raise RecordNotFoundError(f"no class with id or name {id_or_name!r}")


def create_assignment(
    db: Database,
    title: str,
    scale_id: str,
    *,
    student_prompt: str = "",
    assessment_criteria: str = "",
    judge_rubric: str = "",
) -> str:
    """A new assignment on the grade scale ``scale_id`` (checked); returns its id."""
    resolve_scale(db, scale_id)
    with db.session() as s:
        return add_assignment(
            s,
            title,
            scale_id,
            student_prompt=student_prompt,
            assessment_criteria=assessment_criteria,
            judge_rubric=judge_rubric,
        ).id


def add_assignment(
    session: Session,
    title: str,
    scale_id: str,
    *,
    student_prompt: str = "",
    assessment_criteria: str = "",
    judge_rubric: str = "",
) -> Assignment:
    """:func:`create_assignment` inside the caller's transaction."""
    resolve_scale(session, scale_id)
    assignment = Assignment(
        title=title,
        grade_scale=scale_id,
        student_prompt=student_prompt,
        assessment_criteria=assessment_criteria,
        judge_rubric=judge_rubric,
    )
    session.add(assignment)
    session.flush()
    return assignment


_Found = TypeVar("_Found", Assignment, Batch, SchoolClass)


def find_live(session: Session, model: type[_Found], record_id: str) -> _Found:
    """A live row by id or :class:`RecordNotFoundError` naming the kind of record."""
    found = session.get(model, record_id)
    if found is None or found.deleted_at is not None:
        raise RecordNotFoundError(f"no {model.__name__.lower()} with id {record_id!r}")
    return found


def create_batch(db: Database, title: str, assignment_id: str, class_id: str | None) -> str:
    """A new, empty batch of ``assignment_id`` for a class (``None``: a guest batch).

    The assignment's anchors join it at once (see :func:`sync_anchor_essays`).
    """
    with db.session() as s:
        return add_batch(s, title, assignment_id, class_id).id


def add_batch(session: Session, title: str, assignment_id: str, class_id: str | None) -> Batch:
    """:func:`create_batch` inside the caller's transaction (``class_id``: an id or a unique
    class name)."""
    assignment = find_live(session, Assignment, assignment_id)
    if class_id is not None:
        class_id = find_class(session, class_id).id
    batch = Batch(title=title, assignment_id=assignment.id, school_class_id=class_id)
    session.add(batch)
    session.flush()
    sync_anchor_essays(session, batch)
    return batch


def sync_anchor_essays(session: Session, batch: Batch) -> int:
    """Copy every live anchor of the batch's assignment into the batch as an anchor essay, once.

    Anchors take part in runs as ordinary essays (the judge cannot tell them apart). Returns the
    number of anchors added. Batches with a run in progress are left alone.
    """
    if batch.status in (BatchStatus.PROCESSING.value, BatchStatus.PAUSED.value):
        return 0
    present = set(
        session.scalars(
            select(Essay.anchor_id).where(
                Essay.batch_id == batch.id, Essay.anchor_id.is_not(None), live(Essay)
            )
        )
    )
    hashes = set(
        session.scalars(select(Essay.content_hash).where(Essay.batch_id == batch.id, live(Essay)))
    )
    added = 0
    for anchor in session.scalars(
        select(Anchor).where(Anchor.assignment_id == batch.assignment_id, live(Anchor))
    ):
        if anchor.id in present or anchor.content_hash in hashes:
            continue
        session.add(
            Essay(
                batch_id=batch.id,
                text=anchor.text,
                source_file=anchor.source_file,
                content_hash=anchor.content_hash,
                is_anchor=True,
                anchor_id=anchor.id,
                match_confirmed=True,
            )
        )
        hashes.add(anchor.content_hash)
        added += 1
    session.flush()
    return added


def refresh_batch_status(session: Session, batch: Batch) -> str:
    """Set a batch that is not running to what its essays allow, and return the status.

    No student essays: *pending content*. A class batch with an essay whose student nobody has
    confirmed: *awaiting student confirmation*. Otherwise: *ready*. Batches that are processing,
    paused or finished keep their status.
    """
    if batch.status not in (
        BatchStatus.PENDING_CONTENT.value,
        BatchStatus.AWAITING_STUDENT_CONFIRMATION.value,
        BatchStatus.READY.value,
    ):
        return batch.status
    essays = list(
        session.scalars(
            select(Essay).where(Essay.batch_id == batch.id, live(Essay), Essay.is_anchor.is_(False))
        )
    )
    if not essays:
        batch.status = BatchStatus.PENDING_CONTENT.value
    elif batch.school_class_id is not None and not all(e.match_confirmed for e in essays):
        batch.status = BatchStatus.AWAITING_STUDENT_CONFIRMATION.value
    else:
        batch.status = BatchStatus.READY.value
    return batch.status
