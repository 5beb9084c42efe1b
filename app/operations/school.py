"""Creating and finding a teacher's classes, assignments and batches, as operations.

Inputs are frozen dataclasses (:class:`NewClass`, :class:`NewAssignment`, :class:`NewBatch`),
checked completely before anything is stored: a bad name, an unknown scale, class or
assignment raises :class:`~app.operations.base.OperationError` with
:attr:`~app.operations.base.FailureKind.INPUT` and leaves the database as it was. A batch and
the assignment created with it are stored in one transaction. Results are the read models of
:mod:`app.operations.queries`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import school as store
from app.db.engine import Database
from app.db.models import Assignment
from app.operations.base import FailureKind, OperationError
from app.operations.queries import (
    AssignmentDetail,
    BatchRow,
    ClassRow,
    get_assignment,
    get_batch,
    get_class,
    list_assignments,
    list_batches,
    translated_errors,
)
from app.operations.scales import resolve_scale
from core.scales import BUILTIN_SCALES

DEFAULT_SCALE = "swedish_8_anchor"
DEFAULT_COURSE = "ENG5"

_NAME_MAX = 200
_TITLE_MAX = 300
_CODE_MAX = 32


@dataclass(frozen=True)
class NewClass:
    name: str
    course: str = DEFAULT_COURSE
    """The course code (a course is created the first time its code is used)."""
    school_year: str = ""
    """E.g. ``2026/27``."""


@dataclass(frozen=True)
class NewAssignment:
    title: str
    scale: str = DEFAULT_SCALE
    """A grade scale's id: built-in (:data:`core.scales.BUILTIN_SCALES`) or a teacher's own
    (:mod:`app.operations.scales`)."""
    prompt: str = ""
    """What the students were asked to write."""
    criteria: str = ""
    """The assessment criteria."""
    rubric: str = ""
    """Instructions for the judge."""


@dataclass(frozen=True)
class NewBatch:
    title: str
    assignment: str | NewAssignment
    """An existing assignment's id, or a new assignment stored with the batch."""
    school_class: str | None = None
    """A class id or unique class name; None for a guest batch (no roster, essays known by
    file name)."""


def _bad(message: str) -> OperationError:
    return OperationError(FailureKind.INPUT, message)


def _text(value: str, what: str, longest: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise _bad(f"A {what} is needed.")
    if len(value) > longest:
        raise _bad(f"The {what} is too long ({len(value)} characters; at most {longest}).")
    return value


def check_class(new: NewClass) -> NewClass:
    """``new`` with surrounding blanks trimmed, or ``OperationError(INPUT)``."""
    return NewClass(
        _text(new.name, "class name", _NAME_MAX),
        _text(new.course, "course code", _CODE_MAX),
        _text(new.school_year, "school year", _CODE_MAX, required=False),
    )


def check_assignment(new: NewAssignment, db: Database | None = None) -> NewAssignment:
    """``new`` with its title trimmed and its scale checked (built-in, or stored in ``db``;
    without ``db`` a custom scale is checked when the assignment is stored), or
    ``OperationError(INPUT)``."""
    if db is not None:
        resolve_scale(db, new.scale)
    elif new.scale not in BUILTIN_SCALES and not new.scale.strip():
        raise _bad("A grade scale is needed.")
    return NewAssignment(
        _text(new.title, "assignment title", _TITLE_MAX),
        new.scale,
        new.prompt,
        new.criteria,
        new.rubric,
    )


def create_class(db: Database, new: NewClass) -> ClassRow:
    """Store a new class (in its course, created if needed)."""
    new = check_class(new)
    with translated_errors():
        with db.session() as s:
            class_id = store.add_class(s, new.name, new.course, new.school_year).id
        return get_class(db, class_id)


def create_assignment(db: Database, new: NewAssignment) -> AssignmentDetail:
    """Store a new assignment."""
    new = check_assignment(new, db)
    with translated_errors():
        with db.session() as s:
            assignment_id = _add_assignment(s, new)
        return get_assignment(db, assignment_id)


def create_batch(db: Database, new: NewBatch) -> BatchRow:
    """Store a new, empty batch (and its new assignment, if it comes with one); the
    assignment's anchors join it at once. The class and assignment are looked up first."""
    title = _text(new.title, "batch title", _TITLE_MAX)
    assignment = new.assignment
    if isinstance(assignment, NewAssignment):
        assignment = check_assignment(assignment, db)
    with translated_errors():
        with db.session() as s:
            if new.school_class is not None:
                store.find_class(s, new.school_class)
            if isinstance(assignment, NewAssignment):
                assignment_id = _add_assignment(s, assignment)
            else:
                assignment_id = store.find_live(s, Assignment, assignment).id
            batch_id = store.add_batch(s, title, assignment_id, new.school_class).id
        return get_batch(db, batch_id)


def _add_assignment(session: Session, new: NewAssignment) -> str:
    return store.add_assignment(
        session,
        new.title,
        new.scale,
        student_prompt=new.prompt,
        assessment_criteria=new.criteria,
        judge_rubric=new.rubric,
    ).id


def find_class(db: Database, id_or_name: str) -> ClassRow:
    """A live class by id, or by its name when no other class has it."""
    return get_class(db, id_or_name)


def find_assignment(db: Database, id_or_title: str) -> AssignmentDetail:
    """A live assignment by id, or by its title when no other assignment has it (case and
    surrounding spaces ignored)."""
    rows = list_assignments(db)
    if any(r.id == id_or_title for r in rows):
        return get_assignment(db, id_or_title)
    matches = [r.id for r in rows if _same(r.title, id_or_title)]
    if len(matches) > 1:
        raise _ambiguous("assignments", id_or_title, matches)
    return get_assignment(db, matches[0] if matches else id_or_title)


def find_batch(db: Database, id_or_title: str) -> BatchRow:
    """A live batch by id, or by its title when no other batch has it (case and surrounding
    spaces ignored)."""
    rows = list_batches(db)
    if any(r.id == id_or_title for r in rows):
        return get_batch(db, id_or_title)
    matches = [r.id for r in rows if _same(r.title, id_or_title)]
    if len(matches) > 1:
        raise _ambiguous("batches", id_or_title, matches)
    return get_batch(db, matches[0] if matches else id_or_title)


def _same(title: str, wanted: str) -> bool:
    return title.strip().casefold() == wanted.strip().casefold()


def _ambiguous(what: str, title: str, ids: list[str]) -> OperationError:
    return OperationError(
        FailureKind.INPUT,
        f"{len(ids)} {what} are called {title!r}; give one by its id: {', '.join(ids)}.",
    )
