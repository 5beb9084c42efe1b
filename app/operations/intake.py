"""Intake as operations: check and import essays, import a roster or anchors, settle students.

Each operation is plain blocking code (a window runs it in a worker thread; each opens its own
database sessions) with typed inputs and a typed result, and never prints.

Progress
    ``progress`` is called on the working thread: ``Progress("file", done, total, source,
    outcome)`` after each file is read and decided (``total`` is counted first by a walk that
    reads nothing; anchors add one per name in the mapping file without a file), or
    ``Progress("row", done, total, "row N", row)`` per roster row. An essay import then sends
    one ``Progress("status", ...)`` while it matches students.
Cancelling
    ``cancel`` is checked between files (and roster rows). A cancelled import is not an error:
    it returns its usual result with ``cancelled=True``. Everything it reached is stored and
    recorded exactly as in a finished import (``outcomes``/``rows``, ``counts``); what it did
    not reach is neither stored nor recorded, and ``found`` says how many there were in all.
    Importing the same files again adds the rest (the others are skipped as duplicates).
Failures
    Raised as :class:`~app.operations.base.OperationError`: ``INPUT`` for an unknown batch,
    class or assignment, a batch with a run in progress, a file that is no roster, a mapping
    file that cannot be read, an invalid new class, assignment or batch (nothing is stored
    then); ``DATABASE`` when the database cannot be used. Files that fail are not failures of
    the operation: they are outcomes (``counts.failed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.db.engine import Database
from app.db.errors import is_database_fault
from app.intake import anchors as anchor_store
from app.intake import essays as essay_store
from app.intake import matching_store, roster_store
from app.intake.anchors import AnchorMappingError, read_mapping
from app.intake.essays import ImportStoppedError, IntakeError
from app.intake.matching_store import (
    EssayMatch,
    MatchError,
    MatchOverview,
    StudentView,
    SuggestionView,
)
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome
from app.intake.roster import RosterError, RowOutcome, read_roster
from app.operations.base import (
    CancelToken,
    FailureKind,
    OperationError,
    ProgressSink,
    ignore_progress,
)
from app.operations.queries import translated_errors
from app.operations.school import (
    NewAssignment,
    NewBatch,
    NewClass,
    check_assignment,
    check_class,
    create_assignment,
    create_batch,
    create_class,
)
from app.school import RecordNotFoundError

__all__ = [
    "AnchorImportResult",
    "CheckResult",
    "Counts",
    "EssayImportResult",
    "EssayMatch",
    "IntakeLimits",
    "MatchDecision",
    "MatchOverview",
    "MatchUpdate",
    "RosterImportResult",
    "StudentView",
    "SuggestionView",
    "check_essays",
    "confirm_match",
    "import_anchors",
    "import_essays",
    "import_roster",
    "match_overview",
]


# ---------------------------------------------------------------------------------- results


class _HasOutcome(Protocol):
    @property
    def outcome(self) -> Outcome: ...


@dataclass(frozen=True)
class Counts:
    """How many files (or rows) were imported, skipped and failed."""

    imported: int = 0
    skipped: int = 0
    failed: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[_HasOutcome]) -> Counts:
        n = {o: 0 for o in Outcome}
        for o in outcomes:
            n[o.outcome] += 1
        return cls(n[Outcome.IMPORTED], n[Outcome.SKIPPED], n[Outcome.FAILED])

    @property
    def total(self) -> int:
        return self.imported + self.skipped + self.failed

    def to_json(self) -> dict[str, int]:
        return {"imported": self.imported, "skipped": self.skipped, "failed": self.failed}


@dataclass(frozen=True)
class CheckResult:
    """Files checked, nothing stored: each file's outcome if it were imported."""

    outcomes: tuple[FileOutcome, ...]
    counts: Counts
    cancelled: bool
    found: int

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": False,
            "counts": self.counts.to_json(),
            "cancelled": self.cancelled,
            "files": [o.to_json() for o in self.outcomes],
        }


@dataclass(frozen=True)
class EssayImportResult:
    """What an essay import did, and where the batch stands afterwards."""

    batch_id: str
    import_id: str
    outcomes: tuple[FileOutcome, ...]
    """One per file reached, in walk order (``essay_id`` set for the imported ones)."""
    counts: Counts
    batch_status: str
    auto_matched: int
    """Essays settled on a student automatically (class batches)."""
    awaiting_confirmation: int
    """Essays whose student a person must confirm (``huleedu match``)."""
    cancelled: bool
    found: int
    """Files found in all (more than ``len(outcomes)`` when cancelled)."""
    batch_removed: bool = False
    """The import created the batch and stored no essay in it, so the batch was removed again
    (with the assignment created alongside it, when nothing else uses that): ``batch_id``
    names no batch then, and ``outcomes`` are the only account of the files."""

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "batch_removed": self.batch_removed,
            "import_id": self.import_id,
            "batch_status": self.batch_status,
            "counts": self.counts.to_json(),
            "auto_matched": self.auto_matched,
            "awaiting_confirmation": self.awaiting_confirmation,
            "cancelled": self.cancelled,
            "files": [o.to_json() for o in self.outcomes],
        }


@dataclass(frozen=True)
class RosterImportResult:
    """What a roster import did: one outcome per row reached."""

    class_id: str
    import_id: str
    rows: tuple[RowOutcome, ...]
    counts: Counts
    added: int
    """New students."""
    linked: int
    """Students who already existed (same code, another class) and joined this class."""
    cancelled: bool
    found: int
    """Rows in the file."""

    def to_json(self) -> dict[str, Any]:
        return {
            "class_id": self.class_id,
            "import_id": self.import_id,
            "counts": self.counts.to_json(),
            "added": self.added,
            "linked": self.linked,
            "cancelled": self.cancelled,
            "rows": [
                {
                    "row": r.row,
                    "outcome": r.outcome.value,
                    "reason": r.reason,
                    "message": r.message,
                    "student": None if r.student is None else r.student.__dict__,
                }
                for r in self.rows
            ],
        }


@dataclass(frozen=True)
class AnchorImportResult:
    """What an anchor import did: one outcome (with its grade) per file reached."""

    assignment_id: str
    import_id: str
    outcomes: tuple[FileOutcome, ...]
    counts: Counts
    cancelled: bool
    found: int

    def to_json(self) -> dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "import_id": self.import_id,
            "counts": self.counts.to_json(),
            "cancelled": self.cancelled,
            "files": [o.to_json() for o in self.outcomes],
        }


@dataclass(frozen=True)
class MatchDecision:
    """A person's decision: this essay is this student's (``student_id`` None: the writer is
    not in the roster)."""

    essay_id: str
    student_id: str | None


@dataclass(frozen=True)
class MatchUpdate:
    """Where matching stands after :func:`confirm_match`."""

    overview: MatchOverview
    accepted_top: int
    """Essays settled on their best suggestion (``accept_top``)."""


# ---------------------------------------------------------------------------------- errors


@contextmanager
def _intake_errors() -> Iterator[None]:
    """Expected refusals as ``OperationError(INPUT)``, database trouble as ``DATABASE``."""
    try:
        with translated_errors():
            yield
    except (
        IntakeError,
        RecordNotFoundError,
        RosterError,
        AnchorMappingError,
        MatchError,
    ) as exc:
        raise OperationError(FailureKind.INPUT, _sentence(str(exc))) from exc


def _sentence(text: str) -> str:
    """An exception's message as it is (a ``KeyError``'s quotes taken off)."""
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _need_paths(paths: Sequence[Path]) -> list[Path]:
    if not paths:
        raise OperationError(FailureKind.INPUT, "No files or folders were given.")
    return [Path(p) for p in paths]


# ---------------------------------------------------------------------------------- essays


def check_essays(
    paths: Sequence[Path],
    limits: IntakeLimits | None = None,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> CheckResult:
    """Read every file and say what importing it would do; touches no database."""
    report = essay_store.check_documents(_need_paths(paths), limits, progress, cancel)
    outcomes = tuple(report.outcomes)
    return CheckResult(outcomes, Counts.of(outcomes), report.cancelled, report.found or 0)


def import_essays(
    db: Database,
    paths: Sequence[Path],
    batch: str | NewBatch,
    limits: IntakeLimits | None = None,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> EssayImportResult:
    """Import essay files, folders and ``.zip`` archives into a batch: ``batch`` is a batch id,
    or a :class:`NewBatch` created first (after its class and assignment are found). In a class
    batch the new essays are matched to the roster; only sure matches are accepted.

    A batch this call creates is never left without essays: when no file was stored in it
    (all skipped or failed, cancelled before the first, the database failing part-way) it is
    removed again, with an assignment created alongside it (``batch_removed``). A database
    fault part-way is a ``DATABASE`` failure saying which files were stored and which not."""
    files = _need_paths(paths)
    created = not isinstance(batch, str)
    with _intake_errors():
        batch_id = batch if isinstance(batch, str) else create_batch(db, batch).id
        try:
            report = essay_store.import_essays(db, batch_id, files, limits, progress, cancel)
        except ImportStoppedError as exc:
            removed = created and _discard(db, batch_id, batch)
            kept = (
                f" Batch {batch_id} was created by this import and held no essay, so it was "
                "removed."
                if removed
                else ""
            )
            raise OperationError(FailureKind.DATABASE, f"{exc}{kept}", repr(exc.__cause__)) from exc
        except BaseException:
            if created:
                _discard(db, batch_id, batch)
            raise
    outcomes = tuple(report.outcomes)
    counts = Counts.of(outcomes)
    removed = created and counts.imported == 0 and _discard(db, batch_id, batch)
    return EssayImportResult(
        batch_id=report.batch_id,
        import_id=report.import_id,
        outcomes=outcomes,
        counts=counts,
        batch_status="removed" if removed else report.batch_status,
        auto_matched=report.auto_matched,
        awaiting_confirmation=report.awaiting_confirmation,
        cancelled=report.cancelled,
        found=report.found if report.found is not None else len(outcomes),
        batch_removed=removed,
    )


def _discard(db: Database, batch_id: str, batch: str | NewBatch) -> bool:
    """Remove the batch this import created when it holds no essay (best effort: when the
    database cannot be written, the batch stays and False is returned)."""
    with_assignment = isinstance(batch, NewBatch) and isinstance(batch.assignment, NewAssignment)
    try:
        return essay_store.discard_empty_batch(db, batch_id, with_assignment=with_assignment)
    except Exception as exc:
        if is_database_fault(exc):
            return False
        raise


# ---------------------------------------------------------------------------------- roster


def import_roster(
    db: Database,
    path: Path,
    school_class: str | NewClass,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> RosterImportResult:
    """Import a class list (CSV or XLSX) into a class: ``school_class`` is a class id or
    unique name, or a :class:`NewClass` created once the file has been read as a roster (a
    file that is no roster creates nothing). The class's open batches are matched again."""
    with _intake_errors():
        if isinstance(school_class, NewClass):
            new = check_class(school_class)
            read_roster(Path(path))
            class_id = create_class(db, new).id
        else:
            class_id = school_class
        report = roster_store.import_roster(db, class_id, Path(path), progress, cancel)
    rows = tuple(report.rows)
    return RosterImportResult(
        class_id=report.class_id,
        import_id=report.import_id,
        rows=rows,
        counts=Counts.of(rows),
        added=report.added,
        linked=report.linked,
        cancelled=report.cancelled,
        found=report.found,
    )


# ---------------------------------------------------------------------------------- anchors


def import_anchors(
    db: Database,
    paths: Sequence[Path],
    assignment: str | NewAssignment,
    grades: Path | None = None,
    limits: IntakeLimits | None = None,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> AnchorImportResult:
    """Import anchor essays (known grades, from their file names or the ``grades`` mapping
    file ``file,grade[,label]``) into an assignment, by id or as a :class:`NewAssignment`
    created once the mapping file has been read; they join the assignment's batches that are
    not running."""
    files = _need_paths(paths)
    with _intake_errors():
        if isinstance(assignment, NewAssignment):
            new = check_assignment(assignment)
            if grades is not None:
                _read_grades(grades)
            assignment_id = create_assignment(db, new).id
        else:
            assignment_id = assignment
            if grades is not None:
                _read_grades(grades)
        try:
            report = anchor_store.import_anchors(
                db, assignment_id, files, grades, limits, progress, cancel
            )
        except ImportStoppedError as exc:
            raise OperationError(FailureKind.DATABASE, str(exc), repr(exc.__cause__)) from exc
    outcomes = tuple(report.outcomes)
    return AnchorImportResult(
        assignment_id=report.assignment_id,
        import_id=report.import_id,
        outcomes=outcomes,
        counts=Counts.of(outcomes),
        cancelled=report.cancelled,
        found=report.found if report.found is not None else len(outcomes),
    )


def _read_grades(path: Path) -> None:
    try:
        read_mapping(path)
    except OSError as exc:
        raise OperationError(
            FailureKind.INPUT, f"The mapping file {path} cannot be read: {exc.strerror or exc}."
        ) from exc


# ---------------------------------------------------------------------------------- matching


def match_overview(db: Database, batch_id: str) -> MatchOverview:
    """Every student essay of a batch with its student (or suggestions), and the roster
    students without an essay."""
    with _intake_errors():
        return matching_store.match_overview(db, batch_id)


def confirm_match(
    db: Database,
    batch_id: str,
    confirm: Sequence[MatchDecision] = (),
    *,
    unassign: Sequence[str] = (),
    accept_top: bool = False,
) -> MatchUpdate:
    """Save a person's decisions on one batch, all or none: first ``unassign`` (essay ids: the
    essays wait again), then ``confirm``, then with ``accept_top`` every waiting essay is
    settled on its best suggestion whose student is free. Every essay must be a student essay
    of the batch, and a student is settled for one essay at most."""
    with _intake_errors():
        accepted = matching_store.settle(
            db,
            batch_id,
            unassign=list(unassign),
            confirm=[(d.essay_id, d.student_id) for d in confirm],
            accept_top=accept_top,
        )
        return MatchUpdate(matching_store.match_overview(db, batch_id), accepted)
