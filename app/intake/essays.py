"""Importing essay files into a batch: read, validate, de-duplicate, store, match, record.

Every file offered ends in exactly one :class:`~app.intake.outcomes.FileOutcome`, returned to the
caller and kept with the batch as an :class:`~app.db.models.IntakeRecord`. Essays are committed
in small groups, so a killed import keeps what it had stored; importing the same files again then
skips those as duplicates and carries on with the rest.

Progress is reported per file (``Progress("file", done, total, source)``, the files counted
first by a walk that reads nothing) and a :class:`~app.operations.base.CancelToken` is checked
between files: a cancelled import stores the files it has read, records their outcomes, and
returns a report with ``cancelled`` set; the files it did not reach are neither stored nor
recorded.

The work is blocking (file parsing, SQLite): the desktop runs it in a worker thread (see
:mod:`app.operations.intake`, or :func:`import_essays_async`) so the window never freezes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.errors import is_database_fault
from app.db.models import Anchor, Assignment, Batch, BatchStatus, Essay, IntakeRecord, new_id
from app.intake.matching_store import rematch_batch
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome, Reason
from app.intake.sources import (
    Document,
    count_files,
    internal_failure,
    iter_entries,
    noted,
    storable_text,
)
from app.intake.validate import check_length, content_hash
from app.operations.base import CancelToken, Progress, ProgressSink
from app.school import RecordNotFoundError, find_live, refresh_batch_status, sync_anchor_essays

COMMIT_EVERY = 25
"""Files per transaction: a crash loses at most this many files' work (they import again)."""


class IntakeError(RuntimeError):
    """The import as a whole cannot start (unknown batch, a run in progress); nothing changed."""


class ImportStoppedError(RuntimeError):
    """The database failed part-way through an import (locked, full, read-only, ...).

    ``target`` names where the files went (``"batch ID"``, ``"assignment ID"``); ``stored``
    are the outcomes committed and recorded there before it failed; ``not_stored`` the sources
    of the files read but not stored, and ``not_reached`` how many files were never read.
    ``str()`` says all of it; ``__cause__`` is the database's error.
    """

    def __init__(
        self,
        target: str,
        stored: list[FileOutcome],
        not_stored: list[str],
        not_reached: int | None,
        cause: BaseException,
    ) -> None:
        self.target = target
        self.stored = stored
        self.not_stored = not_stored
        self.not_reached = not_reached
        imported = sum(1 for o in stored if o.ok)
        missed = ", ".join(f"'{s}'" for s in not_stored[:5])
        if len(not_stored) > 5:
            missed += f" and {len(not_stored) - 5} more"
        rest = "" if not not_reached else f"; {not_reached} more files were not read"
        super().__init__(
            f"The import into {target} stopped because the database failed ({cause}). "
            f"Before that, {len(stored)} files were stored and recorded ({imported} "
            f"imported; the {target.partition(' ')[0]}'s import history lists them). Not stored: "
            f"{len(not_stored)} files read{': ' + missed if missed else ''}{rest}. When the "
            "database works again, import the same files again: those stored are skipped as "
            "duplicates and the rest are added."
        )


@dataclass(frozen=True)
class ImportReport:
    """What one import did: every file's outcome and where the batch stands afterwards."""

    batch_id: str
    import_id: str
    outcomes: list[FileOutcome]
    batch_status: str
    auto_matched: int = 0
    awaiting_confirmation: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False
    """The import was cancelled: ``outcomes`` are the files done (stored and recorded)."""
    found: int | None = None
    """Files found before reading (None when they were not counted: no progress sink)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "import_id": self.import_id,
            "batch_status": self.batch_status,
            "counts": self.counts,
            "auto_matched": self.auto_matched,
            "awaiting_confirmation": self.awaiting_confirmation,
            "cancelled": self.cancelled,
            "files": [o.to_json() for o in self.outcomes],
        }


class _HasOutcome(Protocol):
    @property
    def outcome(self) -> Outcome: ...


def count_outcomes(outcomes: Iterable[_HasOutcome]) -> dict[str, int]:
    """``{"imported": n, "skipped": n, "failed": n}`` for file outcomes or roster rows."""
    counts = {o.value: 0 for o in Outcome}
    for o in outcomes:
        counts[o.outcome.value] += 1
    return counts


def screen_documents(
    paths: Sequence[Path],
    limits: IntakeLimits,
    known_hashes: dict[str, str] | None = None,
) -> list[tuple[FileOutcome, Document | None]]:
    """Read every file and decide its outcome without touching a database.

    ``known_hashes`` maps content hashes already in the batch to the file they came from.
    Returns each file's outcome with its document when the outcome is *imported* (so far).
    """
    return list(_walk(paths, limits, dict(known_hashes or {}), _Walk()))


@dataclass(frozen=True)
class CheckReport:
    """What a check of files (nothing stored) found: every file's outcome if it were imported."""

    outcomes: list[FileOutcome]
    cancelled: bool = False
    found: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        return count_outcomes(self.outcomes)


def check_documents(
    paths: Sequence[Path],
    limits: IntakeLimits | None = None,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> CheckReport:
    """:func:`screen_documents` with per-file progress and a cancel token checked between
    files (a cancelled check lists the files it reached)."""
    walk = _Walk()
    outcomes = [o for o, _ in _walk(paths, limits or IntakeLimits(), {}, walk, progress, cancel)]
    return CheckReport(outcomes, walk.cancelled, walk.total)


@dataclass
class _Walk:
    """How a walk over the files went: whether it was cancelled, and how many files it
    counted first (None when it did not count them)."""

    cancelled: bool = False
    total: int | None = None


def _walk(
    paths: Sequence[Path],
    limits: IntakeLimits,
    seen: dict[str, str],
    state: _Walk,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> Generator[tuple[FileOutcome, Document | None], None, None]:
    """Each file's outcome so far, with its document while it is still to be imported;
    ``seen`` (content hash -> source) grows with every document accepted.

    With ``progress``, the files are counted first and a ``"file"`` event follows each file;
    with ``cancel``, the walk ends before the next file once the token is set (``state``
    then says so)."""
    state.total = count_files(paths, limits) if progress is not None else None
    done = 0
    with contextlib.closing(iter_entries(paths, limits)) as entries:
        for entry in entries:
            if cancel is not None and cancel.cancelled:
                state.cancelled = True
                return
            item = entry.read()
            screened = (
                (item, None) if isinstance(item, FileOutcome) else _screen_one(item, limits, seen)
            )
            done += 1
            if progress is not None:
                total = max(state.total or 0, done)
                progress(Progress("file", done, total, entry.source, screened[0]))
            yield screened


def _screen_one(
    doc: Document, limits: IntakeLimits, seen: dict[str, str]
) -> tuple[FileOutcome, Document | None]:
    try:
        outcome, kept = _screen_text(doc, limits, seen)
    except Exception as exc:  # one text's fault fails that file, never the import
        failed = replace(
            internal_failure(doc.source, exc, "checking its text"),
            format=doc.format,
            encoding=doc.encoding,
            size_bytes=doc.size_bytes,
        )
        return noted(failed, doc.name_note), None
    return noted(outcome, doc.name_note), kept


def _screen_text(
    doc: Document, limits: IntakeLimits, seen: dict[str, str]
) -> tuple[FileOutcome, Document | None]:
    bad = check_length(doc.source, doc.text, limits, fmt=doc.format)
    if bad is not None:
        return replace(bad, encoding=doc.encoding, size_bytes=doc.size_bytes), None
    key = content_hash(doc.text)
    details: dict[str, Any] = {
        "format": doc.format,
        "encoding": doc.encoding,
        "size_bytes": doc.size_bytes,
        "characters": len(doc.text),
    }
    if key in seen:
        first = seen[key]
        return (
            FileOutcome(
                doc.source,
                Outcome.SKIPPED,
                Reason.DUPLICATE,
                f"File '{doc.source}' has the same text as '{first}'.",
                duplicate_of=first,
                **details,
            ),
            None,
        )
    seen[key] = doc.source
    return FileOutcome(doc.source, Outcome.IMPORTED, None, "", **details), doc


def import_essays(
    db: Database,
    batch_id: str,
    paths: Sequence[Path],
    limits: IntakeLimits | None = None,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """Import essay files and folders (and zip archives) into a batch.

    Refuses (``IntakeError``, nothing changed) an unknown batch or one with a run in progress.
    In a class batch, new essays are matched against the roster (see
    :mod:`app.intake.matching`); suggestions are saved and only sure matches are accepted.
    ``progress`` gets a ``"file"`` event per file read, then a ``"status"`` event while
    students are matched; ``cancel`` is checked before each file (see the module docs).
    """
    limits = limits or IntakeLimits()
    import_id = new_id()
    with db.session() as s:
        batch = _batch_for_import(s, batch_id)
        known = _known_hashes(s, batch.id)
        removed = _removed_essays(s, batch.id)
    outcomes: list[FileOutcome] = []
    pending: list[tuple[FileOutcome, Document | None]] = []
    walk = _Walk()
    try:
        for screened in _walk(paths, limits, dict(known), walk, progress, cancel):
            pending.append(screened)
            if len(pending) >= COMMIT_EVERY:
                outcomes += _store(db, batch_id, import_id, pending, removed)
                pending = []
        outcomes += _store(db, batch_id, import_id, pending, removed)
    except Exception as exc:
        if not is_database_fault(exc):
            raise
        read = len(outcomes) + len(pending)
        not_reached = None if walk.total is None else max(walk.total - read, 0)
        raise ImportStoppedError(
            f"batch {batch_id}", outcomes, [o.source for o, _ in pending], not_reached, exc
        ) from exc
    if progress is not None:
        progress(Progress("status", len(outcomes), len(outcomes), "matching students"))
    with db.session() as s:
        batch = s.get_one(Batch, batch_id)
        summary = rematch_batch(s, batch)
        sync_anchor_essays(s, batch)
        status = refresh_batch_status(s, batch)
    return ImportReport(
        batch_id=batch_id,
        import_id=import_id,
        outcomes=outcomes,
        batch_status=status,
        auto_matched=summary.auto_accepted,
        awaiting_confirmation=summary.awaiting,
        counts=count_outcomes(outcomes),
        cancelled=walk.cancelled,
        found=walk.total,
    )


async def import_essays_async(
    db: Database,
    batch_id: str,
    paths: Sequence[Path],
    limits: IntakeLimits | None = None,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """:func:`import_essays` in a worker thread (``progress`` is called from that thread)."""
    return await asyncio.to_thread(import_essays, db, batch_id, paths, limits, progress, cancel)


def _batch_for_import(session: Session, batch_id: str) -> Batch:
    try:
        batch = find_live(session, Batch, batch_id)
    except RecordNotFoundError as exc:
        raise IntakeError(str(exc)) from exc
    if batch.status in (BatchStatus.PROCESSING.value, BatchStatus.PAUSED.value):
        raise IntakeError(
            f"batch {batch.title!r} has a run in progress ({batch.status}); "
            "let it finish or cancel it before adding essays"
        )
    return batch


def _known_hashes(session: Session, batch_id: str) -> dict[str, str]:
    """Content hash -> source of every live essay already in the batch (hashes recomputed, so
    essays stored before normalised hashing are compared the same way)."""
    rows = session.execute(
        select(Essay.text, Essay.source_file).where(
            Essay.batch_id == batch_id, Essay.deleted_at.is_(None)
        )
    )
    return {
        content_hash(text): (source or "an essay already in the batch") for text, source in rows
    }


def _store(
    db: Database,
    batch_id: str,
    import_id: str,
    screened: list[tuple[FileOutcome, Document | None]],
    removed: dict[str, str],
) -> list[FileOutcome]:
    """Store one group of screened files (essays and their records) in one transaction.

    When the group cannot be stored for a reason of one file's own (not a database fault),
    the files are stored one at a time: the file that cannot be stored ends FAILED with the
    cause, recorded like any other, and the rest are stored. A database fault raises."""
    if not screened:
        return []
    try:
        return _store_group(db, batch_id, import_id, screened, removed)
    except Exception as exc:
        if is_database_fault(exc):
            raise
    final: list[FileOutcome] = []
    for outcome, doc in screened:
        try:
            final += _store_group(db, batch_id, import_id, [(outcome, doc)], removed)
        except Exception as exc:
            if is_database_fault(exc):
                raise
            failed = replace(
                internal_failure(outcome.source, exc, "storing it"),
                format=outcome.format,
                encoding=outcome.encoding,
                size_bytes=outcome.size_bytes,
                characters=outcome.characters,
            )
            final += _store_group(db, batch_id, import_id, [(failed, None)], removed)
    return final


def _store_group(
    db: Database,
    batch_id: str,
    import_id: str,
    screened: list[tuple[FileOutcome, Document | None]],
    removed: dict[str, str],
) -> list[FileOutcome]:
    """Store screened files in one transaction; ``removed`` loses the essays it restored only
    once the transaction is committed."""
    final: list[FileOutcome] = []
    restored: list[str] = []
    new_essays: list[dict[str, Any]] = []
    with db.session() as s:
        for screened_outcome, doc in screened:
            outcome = screened_outcome
            if doc is not None:
                key = content_hash(doc.text)
                if key in removed and key not in restored:
                    essay_id = _restore(s, removed[key], doc)
                    restored.append(key)
                else:
                    essay_id = new_id()
                    new_essays.append(
                        {
                            "id": essay_id,
                            "batch_id": batch_id,
                            "text": doc.text,
                            "source_file": doc.source,
                            "content_hash": key,
                        }
                    )
                outcome = replace(outcome, essay_id=essay_id)
            final.append(outcome)
        # bulk inserts: the group's essays, then one record per file
        if new_essays:
            s.execute(insert(Essay), new_essays)
        s.execute(
            insert(IntakeRecord),
            [intake_record_values(o, import_id, batch_id=batch_id) for o in final],
        )
    for key in restored:
        removed.pop(key, None)
    return final


def _restore(session: Session, essay_id: str, doc: Document) -> str:
    """Bring back a removed essay of the batch whose text is imported again (its content hash
    is unique in the batch, removed rows included), so nothing judged about it is lost."""
    essay = session.get_one(Essay, essay_id)
    essay.restore()
    essay.text = doc.text
    essay.source_file = doc.source
    return essay.id


def _removed_essays(session: Session, batch_id: str) -> dict[str, str]:
    """Stored content hash -> id of the batch's removed (soft-deleted) essays."""
    rows = session.execute(
        select(Essay.content_hash, Essay.id).where(
            Essay.batch_id == batch_id, Essay.deleted_at.is_not(None)
        )
    )
    return {h: i for h, i in rows}


def remove_essays(db: Database, essay_ids: Sequence[str]) -> int:
    """Take student essays out of their batch (a wrong file, a withdrawn essay); returns how many.

    The essays are soft-deleted: kept, hidden, and brought back by importing the same text
    again. Anchors are removed from the assignment instead, and a batch with a run in progress
    is refused (:class:`IntakeError`, nothing changed).
    """
    with db.session() as s:
        essays = [s.get(Essay, i) for i in essay_ids]
        missing = [i for i, e in zip(essay_ids, essays, strict=True) if e is None]
        if missing:
            raise IntakeError(f"no essay with id {missing[0]!r}")
        batches = {e.batch_id: e.batch for e in essays if e is not None}
        for batch in batches.values():
            _batch_for_import(s, batch.id)
        removed = 0
        for essay in essays:
            assert essay is not None
            if essay.is_anchor:
                raise IntakeError("anchor essays are removed from their assignment, not a batch")
            if essay.deleted_at is None:
                essay.soft_delete()
                essay.match_confirmed = False
                essay.student_id = None
                removed += 1
        s.flush()
        for batch in batches.values():
            refresh_batch_status(s, batch)
        return removed


def intake_record_values(
    outcome: FileOutcome,
    import_id: str,
    *,
    batch_id: str | None = None,
    assignment_id: str | None = None,
    anchor_id: str | None = None,
) -> dict[str, Any]:
    """The column values of the database row keeping ``outcome``."""
    return {
        "batch_id": batch_id,
        "assignment_id": assignment_id,
        "import_id": import_id,
        "source": storable_text(outcome.source)[:1000],
        "outcome": outcome.outcome.value,
        "reason": outcome.reason.value if outcome.reason else None,
        "message": storable_text(outcome.message),
        "format": outcome.format,
        "encoding": outcome.encoding,
        "size_bytes": outcome.size_bytes,
        "characters": outcome.characters,
        "grade": outcome.grade,
        "essay_id": outcome.essay_id,
        "anchor_id": anchor_id,
    }


def intake_record(
    outcome: FileOutcome,
    import_id: str,
    *,
    batch_id: str | None = None,
    assignment_id: str | None = None,
    anchor_id: str | None = None,
) -> IntakeRecord:
    """The database row keeping ``outcome``."""
    return IntakeRecord(
        **intake_record_values(
            outcome, import_id, batch_id=batch_id, assignment_id=assignment_id, anchor_id=anchor_id
        )
    )


def intake_history(
    db: Database, batch_id: str | None = None, *, assignment_id: str | None = None
) -> list[FileOutcome]:
    """Every recorded file outcome of a batch (or of an assignment's anchors), oldest first."""
    owner = (
        IntakeRecord.batch_id == batch_id
        if batch_id is not None
        else IntakeRecord.assignment_id == assignment_id
    )
    with db.session() as s:
        rows = s.scalars(
            select(IntakeRecord)
            .where(owner, IntakeRecord.deleted_at.is_(None))
            .order_by(IntakeRecord.created_at, IntakeRecord.source)
        )
        return [record_outcome(r) for r in rows]


def record_outcome(r: IntakeRecord) -> FileOutcome:
    """The :class:`FileOutcome` a stored record keeps."""
    return FileOutcome(
        source=r.source,
        outcome=Outcome(r.outcome),
        reason=Reason(r.reason) if r.reason else None,
        message=r.message,
        format=r.format,
        encoding=r.encoding,
        size_bytes=r.size_bytes,
        characters=r.characters,
        essay_id=r.essay_id,
        grade=r.grade,
    )


def discard_empty_batch(db: Database, batch_id: str, *, with_assignment: bool = False) -> bool:
    """Remove a batch an import created when no student essay is in it (its anchor essays and
    intake records go with it); with ``with_assignment`` also the assignment created with it,
    when it has no anchors and no other batch. Returns whether the batch was removed."""
    with db.session() as s:
        batch = s.get(Batch, batch_id)
        if batch is None:
            return False
        students = s.scalar(
            select(Essay.id).where(Essay.batch_id == batch_id, Essay.is_anchor.is_(False)).limit(1)
        )
        if students is not None or batch.runs:
            return False
        assignment_id = batch.assignment_id
        s.delete(batch)
        s.flush()
        if with_assignment:
            others = s.scalar(select(Batch.id).where(Batch.assignment_id == assignment_id).limit(1))
            anchors = s.scalar(
                select(Anchor.id).where(Anchor.assignment_id == assignment_id).limit(1)
            )
            if others is None and anchors is None:
                assignment = s.get(Assignment, assignment_id)
                if assignment is not None:
                    s.delete(assignment)
    return True
