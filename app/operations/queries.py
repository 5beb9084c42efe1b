"""Read models: what screens and ``huleedu list`` show, as frozen dataclasses.

Every function opens its own session (safe to call from a worker thread) and answers with a
fixed number of queries whatever the number of rows (no query per class, batch or run): the
dashboard lists a thousand batches with three. Unknown ids raise
:class:`~app.operations.base.OperationError` with :attr:`FailureKind.INPUT`.

``to_json()`` on a row gives the object ``huleedu list --json`` prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, literal_column, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.migrate import DatabaseError
from app.db.models import (
    Anchor,
    Assignment,
    Batch,
    BatchStatus,
    ClassMembership,
    Comparison,
    ComparisonStatus,
    Course,
    Essay,
    IntakeRecord,
    Run,
    SchoolClass,
    Student,
    live,
)
from app.operations.base import FailureKind, OperationError
from app.school import RecordNotFoundError, find_class
from core.stopping import StopReason

# ---------------------------------------------------------------------------------- errors


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn expected lookup and database errors into :class:`OperationError`."""
    try:
        yield
    except OperationError:
        raise
    except RecordNotFoundError as exc:
        raise OperationError(FailureKind.INPUT, _sentence(str(exc))) from exc
    except DatabaseError as exc:  # classified by cause: its message says what to do
        raise OperationError(FailureKind.DATABASE, str(exc), repr(exc)) from exc
    except SQLAlchemyError as exc:
        raise OperationError(
            FailureKind.DATABASE, f"The database cannot be used: {exc}", repr(exc)
        ) from exc


def _sentence(text: str) -> str:
    """An exception's message as it is (a ``KeyError``'s quotes taken off)."""
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


# ---------------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class ClassRow:
    """A class as lists show it: ``students`` counts its live roster."""

    id: str
    name: str
    course: str
    school_year: str
    students: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _student_counts(session: Session, class_ids: list[str] | None = None) -> dict[str, int]:
    query = (
        select(ClassMembership.school_class_id, func.count())
        .join(Student, Student.id == ClassMembership.student_id)
        .where(live(ClassMembership), live(Student))
        .group_by(ClassMembership.school_class_id)
    )
    if class_ids is not None:
        query = query.where(ClassMembership.school_class_id.in_(class_ids))
    return {cid: int(n) for cid, n in session.execute(query).all()}


def _class_rows(session: Session, where: Any = None) -> list[ClassRow]:
    query = (
        select(SchoolClass.id, SchoolClass.name, Course.code, SchoolClass.school_year)
        .join(Course, Course.id == SchoolClass.course_id)
        .where(live(SchoolClass))
        .order_by(SchoolClass.name, SchoolClass.created_at)
    )
    if where is not None:
        query = query.where(where)
    found = session.execute(query).all()
    counts = _student_counts(session, [r[0] for r in found] if where is not None else None)
    return [ClassRow(i, name, code, year, counts.get(i, 0)) for i, name, code, year in found]


def list_classes(db: Database, *, include_archived: bool = False) -> list[ClassRow]:
    """Every live class, by name; archived ones only with ``include_archived``."""
    with translated_errors(), db.read() as s:
        return _class_rows(s, None if include_archived else SchoolClass.archived_at.is_(None))


def get_class(db: Database, id_or_name: str) -> ClassRow:
    """One live class by id, or by its name when that name is unique."""
    with translated_errors(), db.read() as s:
        class_id = find_class(s, id_or_name).id
        (row,) = _class_rows(s, SchoolClass.id == class_id)
        return row


@dataclass(frozen=True)
class StudentRow:
    id: str
    first_name: str
    last_name: str
    code: str | None
    email: str | None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_students(db: Database, class_id_or_name: str) -> list[StudentRow]:
    """The live roster of a class, by last then first name."""
    with translated_errors(), db.read() as s:
        class_id = find_class(s, class_id_or_name).id
        rows = s.execute(
            select(Student.id, Student.first_name, Student.last_name, Student.code, Student.email)
            .join(ClassMembership, ClassMembership.student_id == Student.id)
            .where(
                ClassMembership.school_class_id == class_id, live(ClassMembership), live(Student)
            )
            .order_by(Student.last_name, Student.first_name)
        ).all()
        return [StudentRow(*r) for r in rows]


# ---------------------------------------------------------------------------------- assignments


@dataclass(frozen=True)
class AssignmentRow:
    """An assignment as lists show it: ``scale`` is the grade scale's id, ``anchors`` counts
    its live anchors."""

    id: str
    title: str
    scale: str
    anchors: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AssignmentDetail:
    """An assignment with the texts the judge is given."""

    id: str
    title: str
    scale: str
    anchors: int
    student_prompt: str
    assessment_criteria: str
    judge_rubric: str
    created_at: datetime


def _anchor_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Anchor.assignment_id, func.count())
        .where(live(Anchor))
        .group_by(Anchor.assignment_id)
    ).all()
    return {aid: int(n) for aid, n in rows}


def list_assignments(db: Database) -> list[AssignmentRow]:
    """Every live assignment, oldest first."""
    with translated_errors(), db.read() as s:
        anchors = _anchor_counts(s)
        rows = s.execute(
            select(Assignment.id, Assignment.title, Assignment.grade_scale)
            .where(live(Assignment))
            .order_by(Assignment.created_at)
        ).all()
        return [AssignmentRow(i, t, scale, anchors.get(i, 0)) for i, t, scale in rows]


def get_assignment(db: Database, assignment_id: str) -> AssignmentDetail:
    """One live assignment with its texts."""
    with translated_errors(), db.read() as s:
        a = s.get(Assignment, assignment_id)
        if a is None or a.deleted_at is not None:
            raise OperationError(FailureKind.INPUT, f"No assignment with id {assignment_id!r}.")
        n = s.scalar(select(func.count()).where(Anchor.assignment_id == a.id, live(Anchor)))
        return AssignmentDetail(
            a.id,
            a.title,
            a.grade_scale,
            int(n or 0),
            a.student_prompt,
            a.assessment_criteria,
            a.judge_rubric,
            a.created_at,
        )


# ---------------------------------------------------------------------------------- batches

STATUS_TEXT: dict[str, str] = {
    BatchStatus.PENDING_CONTENT.value: "Waiting for essays",
    BatchStatus.AWAITING_STUDENT_CONFIRMATION.value: "Students to confirm",
    BatchStatus.READY.value: "Ready to grade",
    BatchStatus.PROCESSING.value: "Grading",
    BatchStatus.PAUSED.value: "Grading paused",
    BatchStatus.COMPLETED_SUCCESSFULLY.value: "Graded",
    BatchStatus.COMPLETED_WITH_FAILURES.value: "Graded, with failures",
    BatchStatus.FAILED.value: "Grading failed",
    BatchStatus.CANCELLED.value: "Grading cancelled",
}
"""A teacher's words for each batch status."""


@dataclass(frozen=True)
class BatchRow:
    """A batch as the dashboard shows it.

    ``class_name`` is None for a guest batch. ``essays`` counts live student essays (anchors
    not included). ``last_run_*`` describe its newest run (None without runs). ``updated_at`` is
    when the batch or its newest run last changed.
    """

    id: str
    title: str
    class_id: str | None
    class_name: str | None
    assignment_id: str
    assignment_title: str
    status: str
    essays: int
    last_run_id: str | None
    last_run_status: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def guest(self) -> bool:
        return self.class_id is None

    @property
    def status_text(self) -> str:
        """The status in a teacher's words."""
        return STATUS_TEXT.get(self.status, self.status.replace("_", " ").capitalize())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "class": self.class_name,
            "assignment": self.assignment_title,
            "status": self.status,
            "essays": self.essays,
            "last_run_id": self.last_run_id,
            "last_run_status": self.last_run_status,
            "updated_at": self.updated_at.isoformat(),
        }


def _batch_rows(session: Session, where: Any = None) -> list[BatchRow]:
    essays = (
        select(Essay.batch_id.label("batch_id"), func.count().label("n"))
        .where(live(Essay), Essay.is_anchor.is_(False))
        .group_by(Essay.batch_id)
        .subquery()
    )
    ranked = (
        select(
            Run.batch_id.label("batch_id"),
            Run.id.label("run_id"),
            Run.status.label("status"),
            Run.updated_at.label("updated_at"),
            func.row_number()
            .over(partition_by=Run.batch_id, order_by=(Run.created_at.desc(), Run.id.desc()))
            .label("position"),
        )
        .where(live(Run))
        .subquery()
    )
    last = select(ranked).where(ranked.c.position == 1).subquery()
    query = (
        select(
            Batch.id,
            Batch.title,
            Batch.school_class_id,
            SchoolClass.name,
            Batch.assignment_id,
            Assignment.title,
            Batch.status,
            func.coalesce(essays.c.n, 0),
            last.c.run_id,
            last.c.status,
            Batch.created_at,
            Batch.updated_at,
            last.c.updated_at,
        )
        .join(Assignment, Assignment.id == Batch.assignment_id)
        .outerjoin(SchoolClass, SchoolClass.id == Batch.school_class_id)
        .outerjoin(essays, essays.c.batch_id == Batch.id)
        .outerjoin(last, last.c.batch_id == Batch.id)
        .where(live(Batch))
        .order_by(Batch.created_at, Batch.id)
    )
    if where is not None:
        query = query.where(where)
    rows = []
    for (
        batch_id,
        title,
        class_id,
        class_name,
        assignment_id,
        assignment_title,
        status,
        essay_count,
        run_id,
        run_status,
        created,
        batch_updated,
        run_updated,
    ) in session.execute(query).all():
        last_change = _as_utc(run_updated)
        updated = batch_updated if last_change is None else max(batch_updated, last_change)
        rows.append(
            BatchRow(
                batch_id,
                title,
                class_id,
                class_name,
                assignment_id,
                assignment_title,
                status,
                int(essay_count),
                run_id,
                run_status,
                created,
                updated,
            )
        )
    return rows


def _as_utc(value: datetime | None) -> datetime | None:
    """A datetime read through a subquery column (stored naive UTC) as an aware UTC value."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def list_batches(db: Database) -> list[BatchRow]:
    """Every live batch, oldest first, with its class, assignment, essays and newest run."""
    with translated_errors(), db.read() as s:
        return _batch_rows(s)


def get_batch(db: Database, batch_id: str) -> BatchRow:
    """One live batch."""
    with translated_errors(), db.read() as s:
        found = _batch_rows(s, Batch.id == batch_id)
        if not found:
            raise OperationError(FailureKind.INPUT, f"No batch with id {batch_id!r}.")
        return found[0]


# ---------------------------------------------------------------------------------- intake


@dataclass(frozen=True)
class IntakeRow:
    """One kept outcome: a file offered to a batch or to an assignment's anchors, or a roster
    row offered to a class (``source`` then names the file and the row)."""

    source: str
    outcome: str
    reason: str | None
    message: str
    format: str | None
    encoding: str | None
    size_bytes: int | None
    characters: int | None
    essay_id: str | None
    grade: str | None
    import_id: str
    created_at: datetime


IntakeOwner = Literal["batch", "assignment", "class"]

_FILE_KEYS = (
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
)
_ROW_KEYS = ("source", "outcome", "reason", "message")


@dataclass(frozen=True)
class IntakeListing:
    """The kept outcomes of one batch, assignment (anchors) or class (roster rows)."""

    owner: IntakeOwner
    owner_id: str
    rows: list[IntakeRow]

    def to_json(self) -> list[dict[str, Any]]:
        keys = _ROW_KEYS if self.owner == "class" else _FILE_KEYS
        return [{k: getattr(r, k) for k in keys} for r in self.rows]


def intake_records(db: Database, owner_id: str) -> IntakeListing:
    """Every kept outcome of a batch (by id), else of an assignment's anchors (by id), else of a
    class's roster imports (by id or unique name), oldest first, in the order written."""
    with translated_errors(), db.read() as s:
        owner: IntakeOwner
        batch = s.get(Batch, owner_id)
        if batch is not None and batch.deleted_at is None:
            owner, where = "batch", IntakeRecord.batch_id == batch.id
        else:
            assignment = s.get(Assignment, owner_id)
            if assignment is not None and assignment.deleted_at is None:
                owner, where = "assignment", IntakeRecord.assignment_id == assignment.id
            else:
                try:
                    school_class = find_class(s, owner_id)
                except RecordNotFoundError:
                    raise OperationError(
                        FailureKind.INPUT,
                        f"No batch, assignment or class with id or name {owner_id!r}.",
                    ) from None
                owner, owner_id = "class", school_class.id
                where = IntakeRecord.school_class_id == school_class.id
        records = s.scalars(
            select(IntakeRecord)
            .where(where, live(IntakeRecord))
            .order_by(IntakeRecord.created_at, literal_column("intake_records.rowid"))
        )  # rowid: the order they were written in (an import's walk, a roster's rows)
        rows = [
            IntakeRow(
                r.source,
                r.outcome,
                r.reason,
                r.message,
                r.format,
                r.encoding,
                r.size_bytes,
                r.characters,
                r.essay_id,
                r.grade,
                r.import_id,
                r.created_at,
            )
            for r in records
        ]
        return IntakeListing(owner, owner_id, rows)


# ---------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRow:
    """A run of a batch as a list shows it; ``comparisons`` counts those judged."""

    id: str
    status: str
    stop_reason: str | None
    reliability: float | None
    comparisons: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


def list_runs(db: Database, batch_id: str) -> list[RunRow]:
    """The live runs of a live batch, oldest first."""
    with translated_errors(), db.read() as s:
        batch = s.get(Batch, batch_id)
        if batch is None or batch.deleted_at is not None:
            raise OperationError(FailureKind.INPUT, f"No batch with id {batch_id!r}.")
        runs = s.execute(
            select(
                Run.id,
                Run.status,
                Run.stop_reason,
                Run.reliability,
                Run.created_at,
                Run.started_at,
                Run.completed_at,
            )
            .where(Run.batch_id == batch_id, live(Run))
            .order_by(Run.created_at, Run.id)
        ).all()
        done = dict(
            s.execute(
                select(Comparison.run_id, func.count())
                .where(
                    Comparison.run_id.in_([r[0] for r in runs]),
                    Comparison.status == ComparisonStatus.DONE.value,
                )
                .group_by(Comparison.run_id)
            ).all()
        )
        return [
            RunRow(i, st, why, rel, int(done.get(i, 0)), created, started, completed)
            for i, st, why, rel, created, started, completed in runs
        ]


_REASON_TEXT = {
    StopReason.STABLE: "the ranking is stable (reliability reached the target)",
    StopReason.PRECISE: "the standard errors reached the target",
    StopReason.BUDGET_REACHED: "the budget of comparisons was used",
    StopReason.NO_PAIRS_LEFT: "every useful pair was compared",
    StopReason.TARGET_UNREACHABLE: (
        "this judge cannot reach the target reliability within the budget, so the run stopped "
        "early with what it has"
    ),
    StopReason.FORCED_RECOVERY: "no progress for too long; graded from what was judged",
    StopReason.INSUFFICIENT_ESSAYS: "fewer than 2 essays to compare",
    StopReason.TOO_MANY_FAILURES: "too many comparisons failed",
    StopReason.STALLED: "no progress for too long with too little judged to grade",
    StopReason.CANCELLED: "cancelled",
}


def describe_stop(reason: str | None) -> str:
    """A teacher's sentence for a stored stop reason."""
    try:
        return _REASON_TEXT[StopReason(reason or "")]
    except ValueError:
        return reason or "unknown"


# ---------------------------------------------------------------------- read model


@dataclass(frozen=True)
class RunReport:
    """A run as stored: status, why it stopped, its figures and frozen settings."""

    run_id: str
    batch_id: str
    status: str
    stop_reason: str | None
    reliability: float | None
    model_reliability: float | None
    ssr: float | None
    position_bias: float | None
    fit_converged: bool | None
    comparisons_done: int
    comparisons_failed: int
    cost_usd: float
    calls: int
    """Calls made to the judge (distinct provider request ids)."""
    settings: dict[str, Any]
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def stop_text(self) -> str:
        return describe_stop(self.stop_reason)

    def to_json(self) -> dict[str, Any]:
        """The ``run`` object of ``results.json`` as first documented (its keys, in order)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "reliability": self.reliability,
            "model_reliability": self.model_reliability,
            "ssr": self.ssr,
            "position_bias": self.position_bias,
            "settings": self.settings,
            "completed_at": None if self.completed_at is None else self.completed_at.isoformat(),
        }

    def summary(self) -> dict[str, Any]:
        """:meth:`to_json` with whether the fit converged, the comparisons and the cost."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "reliability": self.reliability,
            "model_reliability": self.model_reliability,
            "ssr": self.ssr,
            "position_bias": self.position_bias,
            "fit_converged": self.fit_converged,
            "comparisons": self.comparisons_done,
            "failed_comparisons": self.comparisons_failed,
            "cost_usd": round(self.cost_usd, 6),
            "settings": self.settings,
            "completed_at": None if self.completed_at is None else self.completed_at.isoformat(),
        }


def run_report(db: Database, run_id: str) -> RunReport:
    """The stored state of a run (``OperationError(INPUT)`` for an unknown run)."""
    with translated_errors(), db.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise OperationError(FailureKind.INPUT, f"There is no run {run_id} in {db.path}.")
        counts = dict(
            s.execute(
                select(Comparison.status, func.count())
                .where(Comparison.run_id == run_id)
                .group_by(Comparison.status)
            ).all()
        )
        cost, calls = s.execute(
            select(
                func.coalesce(func.sum(Comparison.cost_usd), 0.0),
                func.count(func.distinct(Comparison.provider_request_id)),
            ).where(Comparison.run_id == run_id)
        ).one()
        return RunReport(
            run.id,
            run.batch_id,
            run.status,
            run.stop_reason,
            run.reliability,
            run.model_reliability,
            run.ssr,
            run.position_bias,
            run.fit_converged,
            int(counts.get(ComparisonStatus.DONE.value, 0)),
            int(counts.get(ComparisonStatus.FAILED.value, 0)),
            float(cost or 0.0),
            int(calls or 0),
            dict(run.settings),
            run.started_at,
            run.completed_at,
        )
