"""The local database schema: SQLAlchemy 2 typed ORM models for the domain.

Every table carries the same bookkeeping columns (:class:`Record`):

* ``id``: a UUID string generated on the client, so rows can later sync between machines without
  renumbering;
* ``created_at`` and ``updated_at`` (UTC; ``updated_at`` is refreshed on every ORM update);
* ``deleted_at``: a soft-delete tombstone. Rows are hidden, not removed, so a deletion can travel
  to another machine and a paid-for verdict is never lost by accident.

Status and stop-reason columns are plain strings, with the known values listed in the ``StrEnum``
classes below, so a new value never needs a schema migration.

Anchor essays take part in runs as ordinary essays: when a batch is prepared, each anchor of its
assignment is copied into the batch as an :class:`Essay` with ``is_anchor=True`` and ``anchor_id``
set. Comparisons and results therefore always refer to essays.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    relationship,
)
from sqlalchemy.sql.elements import ColumnElement

from core.lifecycle import RunStatus as _RunStatus
from core.stopping import StopReason as _StopReason

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations (SQLite batch mode) can refer to them."""


def new_id() -> str:
    """A fresh client-side primary key: a random UUID as a 36-character string."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and always read back as an aware UTC datetime.

    SQLite has no time-zone type; without this, values written aware would come back naive.
    Naive values given to it are taken to be UTC already.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base holding the metadata that migrations are checked against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Record:
    """Columns shared by every table: client UUID, timestamps and the soft-delete tombstone."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def is_deleted(self) -> bool:
        """Whether the row carries a soft-delete tombstone."""
        return self.deleted_at is not None

    def soft_delete(self, when: datetime | None = None) -> None:
        """Mark the row deleted (kept in the database, hidden by :func:`live`)."""
        self.deleted_at = when or utcnow()

    def restore(self) -> None:
        """Remove the soft-delete tombstone."""
        self.deleted_at = None


def live(model: type[Record]) -> ColumnElement[bool]:
    """A WHERE clause keeping only rows of ``model`` that are not soft-deleted.

    ``select(Student).where(live(Student))``
    """
    column: ColumnElement[bool] = model.deleted_at.is_(None)
    return column


# --------------------------------------------------------------------------- known values


class BatchStatus(StrEnum):
    """A batch as the teacher sees it."""

    PENDING_CONTENT = "pending_content"
    AWAITING_STUDENT_CONFIRMATION = "awaiting_student_confirmation"
    READY = "ready"
    PROCESSING = "processing"
    PAUSED = "paused"
    COMPLETED_SUCCESSFULLY = "completed_successfully"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A run's statuses and stop reasons are the engine's own vocabulary (:mod:`core.lifecycle`).
RunStatus = _RunStatus
StopReason = _StopReason


class ComparisonStatus(StrEnum):
    """A comparison's journey: planned by the engine, sent to the judge, done or failed."""

    PLANNED = "planned"
    SENT = "sent"
    DONE = "done"
    FAILED = "failed"


# --------------------------------------------------------------------------- people and classes


class TeacherProfile(Record, Base):
    """The machine's user."""

    __tablename__ = "teacher_profiles"

    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    school: Mapped[str | None] = mapped_column(String(200), default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)


class Course(Record, Base):
    """A course such as ENG5 or SV2; teachers may add their own."""

    __tablename__ = "courses"

    code: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))

    classes: Mapped[list[SchoolClass]] = relationship(back_populates="course")


class SchoolClass(Record, Base):
    """A teaching group in one course and school year, with its roster."""

    __tablename__ = "school_classes"

    name: Mapped[str] = mapped_column(String(200))
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(32))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    """When the teacher archived the class (kept with its batches, hidden from working lists)."""

    course: Mapped[Course] = relationship(back_populates="classes")
    memberships: Mapped[list[ClassMembership]] = relationship(
        back_populates="school_class", cascade="all, delete-orphan"
    )
    students: Mapped[list[Student]] = relationship(
        secondary="class_memberships",
        primaryjoin="SchoolClass.id == ClassMembership.school_class_id",
        secondaryjoin=(
            "and_(Student.id == ClassMembership.student_id, ClassMembership.deleted_at.is_(None))"
        ),
        viewonly=True,
        order_by="(Student.last_name, Student.first_name)",
    )


class Student(Record, Base):
    """A student; may belong to several classes."""

    __tablename__ = "students"

    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)

    memberships: Mapped[list[ClassMembership]] = relationship(back_populates="student")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ClassMembership(Record, Base):
    """A student's place in a class (many-to-many, soft-deletable like every row)."""

    __tablename__ = "class_memberships"
    __table_args__ = (UniqueConstraint("school_class_id", "student_id"),)

    school_class_id: Mapped[str] = mapped_column(
        ForeignKey("school_classes.id", ondelete="CASCADE"), index=True
    )
    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )

    school_class: Mapped[SchoolClass] = relationship(back_populates="memberships")
    student: Mapped[Student] = relationship(back_populates="memberships")


# --------------------------------------------------------------------------- assignments


class Assignment(Record, Base):
    """What the students were asked to write and how the judge should weigh it."""

    __tablename__ = "assignments"

    title: Mapped[str] = mapped_column(String(300))
    student_prompt: Mapped[str] = mapped_column(Text, default="")
    assessment_criteria: Mapped[str] = mapped_column(Text, default="")
    judge_rubric: Mapped[str] = mapped_column(Text, default="")
    grade_scale: Mapped[str] = mapped_column(String(64))
    """Id of the grade scale, e.g. ``swedish_8_anchor``."""

    anchors: Mapped[list[Anchor]] = relationship(
        back_populates="assignment", cascade="all, delete-orphan"
    )


class Anchor(Record, Base):
    """An essay with a known grade, reusable by every batch of its assignment."""

    __tablename__ = "anchors"

    assignment_id: Mapped[str] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    grade: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200), default="")
    source_file: Mapped[str | None] = mapped_column(String(1000), default=None)
    content_hash: Mapped[str] = mapped_column(String(64))

    assignment: Mapped[Assignment] = relationship(back_populates="anchors")


class GradeScaleRecord(Record, Base):
    """A teacher's own grade scale (see :func:`core.scales.custom_scale`); assignments name it
    by ``scale_id`` in :attr:`Assignment.grade_scale`, as they name a built-in scale."""

    __tablename__ = "grade_scales"
    __table_args__ = (UniqueConstraint("scale_id"),)

    scale_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    grades: Mapped[list[str]] = mapped_column(JSON)
    """Labels, lowest first."""
    priors: Mapped[list[float] | None] = mapped_column(JSON, default=None)
    below_lowest: Mapped[str | None] = mapped_column(String(32), default=None)


# --------------------------------------------------------------------------- batches and essays


class Batch(Record, Base):
    """An assignment given to one class (or to nobody in particular: a guest batch)."""

    __tablename__ = "batches"

    title: Mapped[str] = mapped_column(String(300))
    school_class_id: Mapped[str | None] = mapped_column(
        ForeignKey("school_classes.id", ondelete="SET NULL"), index=True, default=None
    )
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    status: Mapped[str] = mapped_column(String(40), default=BatchStatus.PENDING_CONTENT.value)

    school_class: Mapped[SchoolClass | None] = relationship()
    assignment: Mapped[Assignment] = relationship()
    essays: Mapped[list[Essay]] = relationship(back_populates="batch", cascade="all, delete-orphan")
    runs: Mapped[list[Run]] = relationship(back_populates="batch", cascade="all, delete-orphan")

    @property
    def is_guest(self) -> bool:
        """A batch with no class: file names are the only identity of its essays."""
        return self.school_class_id is None


class Essay(Record, Base):
    """One essay in a batch: a student's, or an anchor copied in for the batch's runs."""

    __tablename__ = "essays"
    __table_args__ = (UniqueConstraint("batch_id", "content_hash"),)

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    source_file: Mapped[str | None] = mapped_column(String(1000), default=None)
    content_hash: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(
        ForeignKey("students.id", ondelete="SET NULL"), index=True, default=None
    )
    match_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    match_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    match_source: Mapped[str | None] = mapped_column(String(16), default=None)
    """Who settled the student: ``auto`` (above the automatic threshold) or ``teacher``."""
    match_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    is_anchor: Mapped[bool] = mapped_column(Boolean, default=False)
    anchor_id: Mapped[str | None] = mapped_column(
        ForeignKey("anchors.id", ondelete="SET NULL"), index=True, default=None
    )
    addressed_to_grader: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    """Phrases addressed to an AI grader (:func:`core.injection.find_injection`): ``[]`` when
    none were found, None before the essay is screened (when a run is prepared)."""

    batch: Mapped[Batch] = relationship(back_populates="essays")
    student: Mapped[Student | None] = relationship()
    anchor: Mapped[Anchor | None] = relationship()
    suggestions: Mapped[list[MatchSuggestion]] = relationship(
        back_populates="essay", cascade="all, delete-orphan", order_by="MatchSuggestion.rank"
    )


class MatchSuggestion(Record, Base):
    """One of up to three students an essay may belong to, with the evidence found for it."""

    __tablename__ = "match_suggestions"

    essay_id: Mapped[str] = mapped_column(ForeignKey("essays.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))
    """Where the evidence came from: ``code``, ``email``, ``file_name``, ``header`` or
    ``first_line``."""
    evidence: Mapped[str] = mapped_column(String(500), default="")

    essay: Mapped[Essay] = relationship(back_populates="suggestions")
    student: Mapped[Student] = relationship()


class IntakeRecord(Record, Base):
    """What happened to one file offered to a batch (or to an assignment's anchors), or to one
    row of a roster offered to a class.

    Kept so a teacher can see later why a file or a student is missing: every file of every
    import has one record, imported, skipped or failed. ``import_id`` groups one import.
    """

    __tablename__ = "intake_records"

    batch_id: Mapped[str | None] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), index=True, default=None
    )
    assignment_id: Mapped[str | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True, default=None
    )
    school_class_id: Mapped[str | None] = mapped_column(
        ForeignKey("school_classes.id", ondelete="CASCADE"), index=True, default=None
    )
    """Set for the rows of a roster file (``source`` then names the file and the row)."""
    import_id: Mapped[str] = mapped_column(String(36), index=True)
    source: Mapped[str] = mapped_column(String(1000))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str | None] = mapped_column(String(16), default=None)
    encoding: Mapped[str | None] = mapped_column(String(32), default=None)
    size_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    characters: Mapped[int | None] = mapped_column(Integer, default=None)
    grade: Mapped[str | None] = mapped_column(String(32), default=None)
    essay_id: Mapped[str | None] = mapped_column(
        ForeignKey("essays.id", ondelete="SET NULL"), index=True, default=None
    )
    anchor_id: Mapped[str | None] = mapped_column(
        ForeignKey("anchors.id", ondelete="SET NULL"), index=True, default=None
    )


# --------------------------------------------------------------------------- runs


class Run(Record, Base):
    """One comparative-judgement run over a batch, with a frozen copy of its settings.

    ``settings`` holds the snapshot taken when the run was created: ``provider``, ``model``,
    ``mode``, ``bundle_size``, ``budget``, ``stopping_rule`` and ``prompt_version`` (and anything
    else needed to repeat the run). It is never edited afterwards. The reliability figures are the
    run's summary, written by the finaliser.
    """

    __tablename__ = "runs"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(40), default=RunStatus.CREATED.value)
    stop_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    reliability: Mapped[float | None] = mapped_column(Float, default=None)
    model_reliability: Mapped[float | None] = mapped_column(Float, default=None)
    ssr: Mapped[float | None] = mapped_column(Float, default=None)
    position_bias: Mapped[float | None] = mapped_column(Float, default=None)
    fit_converged: Mapped[bool | None] = mapped_column(Boolean, default=None)
    """Whether the fit behind the results converged (None before results are written)."""
    lease_holder: Mapped[str | None] = mapped_column(String(200), default=None)
    """Who drives the run now (``host:pid:token``); None when nobody does."""
    lease_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    """When the holder last renewed its lease; a lease older than the stale limit is free."""

    batch: Mapped[Batch] = relationship(back_populates="runs")
    comparisons: Mapped[list[Comparison]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Comparison.wave"
    )
    results: Mapped[list[Result]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Result.rank"
    )


class Comparison(Record, Base):
    """One judged pair and its full record: what was asked, what came back, what it cost.

    ``first_essay_id`` is the essay shown first (as "Essay A"). ``first_wins`` is the verdict
    (``None`` until done), ``probability_first`` the judge's probability that the first essay is
    better, when one is available.
    """

    __tablename__ = "comparisons"
    __table_args__ = (
        Index("ix_comparisons_run_id_status", "run_id", "status"),
        Index("ix_comparisons_provider_batch_id", "provider_batch_id"),
        CheckConstraint("first_essay_id <> second_essay_id", name="distinct_essays"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    first_essay_id: Mapped[str] = mapped_column(ForeignKey("essays.id"), index=True)
    second_essay_id: Mapped[str] = mapped_column(ForeignKey("essays.id"), index=True)
    wave: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ComparisonStatus.PLANNED.value)
    first_wins: Mapped[bool | None] = mapped_column(Boolean, default=None)
    probability_first: Mapped[float | None] = mapped_column(Float, default=None)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    justification: Mapped[str | None] = mapped_column(Text, default=None)
    input_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    cached_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    error_category: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_request_id: Mapped[str | None] = mapped_column(String(200), default=None)
    provider_batch_id: Mapped[str | None] = mapped_column(String(200), default=None)
    place_in_bundle: Mapped[int | None] = mapped_column(Integer, default=None)
    bundle_size: Mapped[int | None] = mapped_column(Integer, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    run: Mapped[Run] = relationship(back_populates="comparisons")
    first_essay: Mapped[Essay] = relationship(foreign_keys=[first_essay_id])
    second_essay: Mapped[Essay] = relationship(foreign_keys=[second_essay_id])


class Result(Record, Base):
    """One essay's place on the scale at the end of a run, and the grade it implies."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("run_id", "essay_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    essay_id: Mapped[str] = mapped_column(ForeignKey("essays.id"), index=True)
    ability: Mapped[float] = mapped_column(Float)
    se: Mapped[float | None] = mapped_column(Float, default=None)
    rank: Mapped[int] = mapped_column(Integer)
    comparisons: Mapped[int] = mapped_column(Integer, default=0)
    grade: Mapped[str | None] = mapped_column(String(32), default=None)
    grade_probabilities: Mapped[dict[str, float] | None] = mapped_column(JSON, default=None)
    confidence: Mapped[str | None] = mapped_column(String(16), default=None)
    infit: Mapped[float | None] = mapped_column(Float, default=None)
    outfit: Mapped[float | None] = mapped_column(Float, default=None)
    misfit: Mapped[bool] = mapped_column(Boolean, default=False)

    run: Mapped[Run] = relationship(back_populates="results")
    essay: Mapped[Essay] = relationship()
    overrides: Mapped[list[TeacherOverride]] = relationship(back_populates="result")


class TeacherOverride(Record, Base):
    """A grade a teacher set by hand for an essay (optionally against one run's result)."""

    __tablename__ = "teacher_overrides"

    essay_id: Mapped[str] = mapped_column(ForeignKey("essays.id", ondelete="CASCADE"), index=True)
    result_id: Mapped[str | None] = mapped_column(
        ForeignKey("results.id", ondelete="SET NULL"), index=True, default=None
    )
    grade: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, default=None)

    essay: Mapped[Essay] = relationship()
    result: Mapped[Result | None] = relationship(back_populates="overrides")


class ProviderBatch(Record, Base):
    """The provider batch (OpenAI Batch API / Anthropic Message Batches) of one wave of a run in
    provider-batch mode, saved so that it is resumed after a restart and never paid for twice
    (see :class:`app.runs.batch_store.DbJobStore`).

    ``intent`` is the :class:`~app.llm.batch.BatchIntent` saved just before the provider is
    asked to create the batch, cleared once ``job`` (the :class:`~app.llm.batch.BatchJob`) is
    saved; both are the models' JSON. ``batch_id`` and ``status`` repeat the job's, for queries;
    ``status`` is ``submitting`` while only the intent is saved.
    """

    __tablename__ = "provider_batches"
    __table_args__ = (UniqueConstraint("run_id", "wave"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    wave: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(200), default=None)
    intent: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    job: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


# --------------------------------------------------------------------------- sync bookkeeping
#
# Local tables of the optional sync with a school's server (:mod:`app.sync`). They are not
# synced themselves and carry no :class:`Record` columns. Every synced row already has a global
# key: its UUID ``id``, the same on every device, so no key mapping table is needed.


class SyncMeta(Base):
    """Key/value facts of this device's sync: ``device_id`` (present once sync was set up; the
    outbox records changes only from then on)."""

    __tablename__ = "sync_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SyncScope(Base):
    """One scope this device syncs (``user:<id>``): the server, the account and the pull
    cursor (the server's per-scope ``seq`` of the last change applied here)."""

    __tablename__ = "sync_scopes"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    server_url: Mapped[str] = mapped_column(String(1000))
    email: Mapped[str] = mapped_column(String(320), default="")
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class SyncOutbox(Base):
    """A local change not yet acknowledged by the server: written in the transaction of the
    change itself; deleted only in the transaction that records the server's answer."""

    __tablename__ = "sync_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    hlc: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncRecordState(Base):
    """Per synced record: the server version this device last saw (the next push's base), the
    hybrid logical clock of its latest value and whether it is a tombstone."""

    __tablename__ = "sync_records"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    hlc: Mapped[str] = mapped_column(String(120))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class SyncPendingPush(Base):
    """A push built and about to be (or being) sent. Saved before sending, so a client killed
    mid-push resends the same ``push_id`` (the server answers it once) and loses nothing."""

    __tablename__ = "sync_pending_pushes"

    push_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_outbox_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncConflict(Base):
    """A value that lost a conflict (or a change the server refused), kept for the teacher to
    see and restore. ``winner``/``loser`` are protocol records (``data``, ``hlc``, ...)."""

    __tablename__ = "sync_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    winner: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    loser: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), default="conflict")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


# Every ORM session, wherever it is made, records changes of synced rows in the outbox in the
# same transaction (a no-op until sync is set up on the database): see app.sync.outbox. The
# listeners import it when first called, as app.sync imports this module.
def _sync_after_flush(session: Session, context: Any) -> None:
    from app.sync.outbox import after_flush  # noqa: PLC0415

    after_flush(session, context)


def _sync_do_orm_execute(state: ORMExecuteState) -> Any:
    from app.sync.outbox import do_orm_execute  # noqa: PLC0415

    return do_orm_execute(state)


event.listen(Session, "after_flush", _sync_after_flush)
event.listen(Session, "do_orm_execute", _sync_do_orm_execute)
