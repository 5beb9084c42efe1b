"""A teacher's classes and their rosters, as operations the Classes page calls.

Classes
    :func:`list_class_summaries` lists classes with their course, school year, roster size,
    number of batches and whether they are archived, in one query. :func:`new_class`,
    :func:`update_class` (name, course, school year), :func:`archive_class` and
    :func:`unarchive_class` change them. An archived class keeps its students and batches; it
    is only hidden from working lists. Two live classes never share a name (the command line
    finds classes by name).
Rosters
    :func:`class_roster` lists a class's students; :func:`add_student`, :func:`update_student`
    and :func:`remove_student` change it. Removing a student ends the membership only (a
    soft delete): the student and their essays stay. A student code is unique within a class;
    a code already used by a student of another class names that student, who then joins this
    class (a student may be in several classes), but only when the names agree.
Roster files
    :func:`import_roster_lines` imports a CSV/XLSX class list through
    :func:`app.operations.intake.import_roster` and describes every row for a table: its
    number, the name read, what happened (added, joined, skipped, failed) and why.

Bad input raises :class:`~app.operations.base.OperationError` with
:attr:`~app.operations.base.FailureKind.INPUT` and a sentence a teacher understands, before
anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import school as store
from app.db.engine import Database
from app.db.models import (
    Batch,
    ClassMembership,
    Course,
    SchoolClass,
    Student,
    live,
    utcnow,
)
from app.intake.matching import normalise_name
from app.intake.outcomes import Outcome
from app.operations.base import CancelToken, FailureKind, OperationError, ProgressSink
from app.operations.base import ignore_progress as _ignore_progress
from app.operations.intake import RosterImportResult, import_roster
from app.operations.queries import StudentRow, translated_errors
from app.operations.school import NewClass, check_class

__all__ = [
    "ClassChanges",
    "ClassSummary",
    "ImportedRow",
    "NewClass",
    "RosterImport",
    "RowResult",
    "StudentFields",
    "StudentRow",
    "add_student",
    "archive_class",
    "class_roster",
    "get_class_summary",
    "import_roster_lines",
    "list_class_summaries",
    "new_class",
    "remove_student",
    "unarchive_class",
    "update_class",
    "update_student",
]

NAME_MAX = 200
"""Longest first or last name (the column's width)."""
CODE_MAX = 64
EMAIL_MAX = 320
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def _bad(message: str) -> OperationError:
    return OperationError(FailureKind.INPUT, message)


# ---------------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class ClassSummary:
    """A class as the Classes page lists it."""

    id: str
    name: str
    course_code: str
    course_name: str
    school_year: str
    students: int
    """Live students in its roster."""
    batches: int
    """Live batches of the class."""
    archived_at: datetime | None

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


@dataclass(frozen=True)
class ClassChanges:
    """A class's new name, course code and school year (all three are stored)."""

    name: str
    course: str
    school_year: str = ""


def _summaries(
    session: Session, *, include_archived: bool, class_id: str | None = None
) -> list[ClassSummary]:
    students = (
        select(func.count())
        .select_from(ClassMembership)
        .join(Student, Student.id == ClassMembership.student_id)
        .where(
            ClassMembership.school_class_id == SchoolClass.id,
            live(ClassMembership),
            live(Student),
        )
        .correlate(SchoolClass)
        .scalar_subquery()
    )
    batches = (
        select(func.count())
        .select_from(Batch)
        .where(Batch.school_class_id == SchoolClass.id, live(Batch))
        .correlate(SchoolClass)
        .scalar_subquery()
    )
    query = (
        select(
            SchoolClass.id,
            SchoolClass.name,
            Course.code,
            Course.name,
            SchoolClass.school_year,
            students,
            batches,
            SchoolClass.archived_at,
        )
        .join(Course, Course.id == SchoolClass.course_id)
        .where(live(SchoolClass))
        .order_by(func.lower(SchoolClass.name), SchoolClass.created_at)
    )
    if not include_archived:
        query = query.where(SchoolClass.archived_at.is_(None))
    if class_id is not None:
        query = query.where(SchoolClass.id == class_id)
    return [
        ClassSummary(i, name, code, course, year, int(n_students), int(n_batches), archived)
        for i, name, code, course, year, n_students, n_batches, archived in session.execute(query)
    ]


def list_class_summaries(db: Database, *, include_archived: bool = False) -> list[ClassSummary]:
    """Live classes by name (archived ones too with ``include_archived``), in one query."""
    with translated_errors(), db.read() as s:
        return _summaries(s, include_archived=include_archived)


def get_class_summary(db: Database, class_id: str) -> ClassSummary:
    """One live class (archived or not) by id."""
    with translated_errors(), db.read() as s:
        found = _summaries(s, include_archived=True, class_id=class_id)
        if not found:
            raise _bad("This class no longer exists.")
        return found[0]


def _live_class(session: Session, class_id: str) -> SchoolClass:
    found = session.get(SchoolClass, class_id)
    if found is None or found.deleted_at is not None:
        raise _bad("This class no longer exists.")
    return found


def _check_name_free(session: Session, name: str, except_id: str | None = None) -> None:
    for other_id, other_name in session.execute(
        select(SchoolClass.id, SchoolClass.name).where(live(SchoolClass))
    ):
        if other_id != except_id and other_name.casefold() == name.casefold():
            raise _bad(f"There is already a class named “{other_name}”. Choose another name.")


def new_class(db: Database, new: NewClass) -> ClassSummary:
    """Store a new class (its course is created the first time its code is used)."""
    new = check_class(new)
    with translated_errors():
        with db.session() as s:
            _check_name_free(s, new.name)
            class_id = store.add_class(s, new.name, new.course, new.school_year).id
        return get_class_summary(db, class_id)


def update_class(db: Database, class_id: str, changes: ClassChanges) -> ClassSummary:
    """Rename a class and set its course and school year."""
    checked = check_class(NewClass(changes.name, changes.course, changes.school_year))
    with translated_errors():
        with db.session() as s:
            school_class = _live_class(s, class_id)
            _check_name_free(s, checked.name, except_id=school_class.id)
            school_class.name = checked.name
            school_class.school_year = checked.school_year
            school_class.course_id = store.ensure_course(s, checked.course).id
        return get_class_summary(db, class_id)


def _set_archived(db: Database, class_id: str, archived: bool) -> ClassSummary:
    with translated_errors():
        with db.session() as s:
            school_class = _live_class(s, class_id)
            if archived and school_class.archived_at is None:
                school_class.archived_at = utcnow()
            elif not archived:
                school_class.archived_at = None
        return get_class_summary(db, class_id)


def archive_class(db: Database, class_id: str) -> ClassSummary:
    """Hide a class from working lists; its students and batches stay (idempotent)."""
    return _set_archived(db, class_id, True)


def unarchive_class(db: Database, class_id: str) -> ClassSummary:
    """Bring an archived class back to working lists (idempotent)."""
    return _set_archived(db, class_id, False)


# ---------------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class StudentFields:
    """A student as the teacher types them: names required, code and e-mail optional."""

    first_name: str
    last_name: str
    code: str | None = None
    email: str | None = None


def check_student(fields: StudentFields) -> StudentFields:
    """``fields`` trimmed (blank code or e-mail as None), or ``OperationError(INPUT)``."""

    def name(value: str, what: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise _bad(f"A {what} is needed.")
        if len(value) > NAME_MAX:
            raise _bad(f"The {what} is too long ({len(value)} characters; at most {NAME_MAX}).")
        return value

    first = name(fields.first_name, "first name")
    last = name(fields.last_name, "last name")
    code = (fields.code or "").strip() or None
    if code is not None:
        if len(code) > CODE_MAX:
            raise _bad(
                f"The student code is too long ({len(code)} characters; at most {CODE_MAX})."
            )
        if any(c.isspace() for c in code):
            raise _bad("A student code cannot contain spaces.")
    email = (fields.email or "").strip() or None
    if email is not None:
        if len(email) > EMAIL_MAX:
            raise _bad(f"The e-mail address is too long ({len(email)} characters).")
        if not _EMAIL.fullmatch(email):
            raise _bad(f"“{email}” is not an e-mail address (like name@school.se).")
    return StudentFields(first, last, code, email)


def _row(student: Student) -> StudentRow:
    return StudentRow(
        student.id, student.first_name, student.last_name, student.code, student.email
    )


def _members(session: Session, class_id: str) -> list[Student]:
    return list(
        session.scalars(
            select(Student)
            .join(ClassMembership, ClassMembership.student_id == Student.id)
            .where(
                ClassMembership.school_class_id == class_id,
                live(ClassMembership),
                live(Student),
            )
        )
    )


def _check_code_free(members: list[Student], code: str | None, except_id: str | None) -> None:
    if code is None:
        return
    for member in members:
        if member.id != except_id and member.code and member.code.casefold() == code.casefold():
            raise _bad(
                f"{member.full_name} in this class already has the code {member.code}; "
                "a code belongs to one student."
            )


def _same_name(student: Student, fields: StudentFields) -> bool:
    def key(first: str, last: str) -> str:
        return normalise_name(f"{first} {last}", keep_diacritics=True)

    return key(student.first_name, student.last_name) == key(fields.first_name, fields.last_name)


def class_roster(db: Database, class_id: str) -> list[StudentRow]:
    """The live students of a class (archived or not), by last then first name."""
    with translated_errors(), db.read() as s:
        _live_class(s, class_id)
        students = _members(s, class_id)
        students.sort(key=lambda st: (st.last_name.casefold(), st.first_name.casefold(), st.id))
        return [_row(st) for st in students]


def add_student(db: Database, class_id: str, fields: StudentFields) -> StudentRow:
    """Add a student to a class. A code another class's student has names that student, who
    joins this class too (their names must agree); otherwise a new student is stored."""
    fields = check_student(fields)
    with translated_errors(), db.session() as s:
        _live_class(s, class_id)
        _check_code_free(_members(s, class_id), fields.code, None)
        student: Student | None = None
        if fields.code is not None:
            same_code = [
                st
                for st in s.scalars(
                    select(Student)
                    .where(live(Student), func.lower(Student.code) == fields.code.lower())
                    .order_by(Student.created_at)
                )
            ]
            if same_code:
                student = same_code[0]
                if not _same_name(student, fields):
                    raise _bad(
                        f"The code {fields.code} belongs to {student.full_name} in another "
                        "class. Use another code, or add that student with their own name."
                    )
                if fields.email and not student.email:
                    student.email = fields.email
        if student is None:
            student = Student(
                first_name=fields.first_name,
                last_name=fields.last_name,
                code=fields.code,
                email=fields.email,
            )
            s.add(student)
            s.flush()
        membership = s.scalar(
            select(ClassMembership).where(
                ClassMembership.school_class_id == class_id,
                ClassMembership.student_id == student.id,
            )
        )
        if membership is None:
            s.add(ClassMembership(school_class_id=class_id, student_id=student.id))
        else:  # removed earlier: the same place comes back
            membership.restore()
        s.flush()
        return _row(student)


def _member(session: Session, class_id: str, student_id: str) -> tuple[Student, ClassMembership]:
    _live_class(session, class_id)
    found = session.execute(
        select(Student, ClassMembership)
        .join(ClassMembership, ClassMembership.student_id == Student.id)
        .where(
            ClassMembership.school_class_id == class_id,
            ClassMembership.student_id == student_id,
            live(ClassMembership),
            live(Student),
        )
    ).first()
    if found is None:
        raise _bad("This student is no longer in the class.")
    return found[0], found[1]


def update_student(
    db: Database, class_id: str, student_id: str, fields: StudentFields
) -> StudentRow:
    """Change a student's names, code and e-mail (the same student in every class)."""
    fields = check_student(fields)
    with translated_errors(), db.session() as s:
        student, _membership = _member(s, class_id, student_id)
        _check_code_free(_members(s, class_id), fields.code, student.id)
        student.first_name = fields.first_name
        student.last_name = fields.last_name
        student.code = fields.code
        student.email = fields.email
        s.flush()
        return _row(student)


def remove_student(db: Database, class_id: str, student_id: str) -> StudentRow:
    """Take a student out of a class (their membership is soft-deleted; the student, their
    other classes and their essays stay). Returns the student removed."""
    with translated_errors(), db.session() as s:
        student, membership = _member(s, class_id, student_id)
        membership.soft_delete()
        return _row(student)


# ---------------------------------------------------------------------------------- roster files


_ROW_PREFIX = re.compile(r"Row \d+(?: \((?P<name>[^)]*)\))?")
"""How the importer's sentences begin: ``Row 4 (Åsa Öberg): …`` or ``Row 3: …``."""


class RowResult(StrEnum):
    """What happened to one row of a roster file, in a teacher's terms."""

    ADDED = "added"
    """A new student was stored and joined the class."""
    JOINED = "joined"
    """A student already stored (same code, another class) joined the class."""
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ImportedRow:
    row: int
    """1-based, as a spreadsheet numbers rows."""
    name: str
    """The student's name as read ("" when the row could not be read as a student)."""
    code: str | None
    result: RowResult
    why: str
    """Why, for skipped, failed and joined rows (the row and name it names taken off)."""
    message: str = ""
    """The importer's own sentence, naming the row."""


@dataclass(frozen=True)
class RosterImport:
    """A roster import as the Classes page shows it."""

    class_id: str
    file_name: str
    rows: tuple[ImportedRow, ...]
    added: int
    joined: int
    skipped: int
    failed: int
    cancelled: bool
    found: int

    @staticmethod
    def of(result: RosterImportResult, file_name: str, known_codes: set[str]) -> RosterImport:
        rows = []
        for r in result.rows:
            student = r.student
            name = f"{student.first_name} {student.last_name}".strip() if student else ""
            code = student.code if student else None
            named = _ROW_PREFIX.match(r.message)
            why = r.message
            if named is not None:
                name = name or (named.group("name") or "").strip()
                rest = r.message[named.end() :].lstrip(" :,;")
                why = rest[:1].upper() + rest[1:] if rest else r.message
            if r.outcome is Outcome.IMPORTED:
                if code is not None and code.casefold() in known_codes:
                    kind = RowResult.JOINED
                    why = "A student with this code was already stored and joined the class."
                else:
                    kind, why = RowResult.ADDED, ""
            elif r.outcome is Outcome.SKIPPED:
                kind = RowResult.SKIPPED
            else:
                kind = RowResult.FAILED
            rows.append(ImportedRow(r.row, name, code, kind, why, r.message))
        count = {kind: sum(1 for row in rows if row.result is kind) for kind in RowResult}
        return RosterImport(
            result.class_id,
            file_name,
            tuple(rows),
            count[RowResult.ADDED],
            count[RowResult.JOINED],
            count[RowResult.SKIPPED],
            count[RowResult.FAILED],
            result.cancelled,
            result.found,
        )


def import_roster_lines(
    db: Database,
    class_id: str,
    path: Path,
    progress: ProgressSink = _ignore_progress,
    cancel: CancelToken | None = None,
) -> RosterImport:
    """Import a class list (CSV or XLSX) into a class; one :class:`ImportedRow` per row read.

    Progress and cancelling are those of :func:`app.operations.intake.import_roster`.
    """
    path = Path(path)
    with translated_errors(), db.read() as s:
        _live_class(s, class_id)
        known = {
            code.casefold()
            for code in s.scalars(
                select(Student.code).where(live(Student), Student.code.is_not(None))
            )
            if code
        }
    result = import_roster(db, path, class_id, progress=progress, cancel=cancel)
    return RosterImport.of(result, path.name, known)
