"""Editing an assignment and its anchor essays, as operations.

An assignment's texts (title, student prompt, assessment criteria, judge rubric) and its grade
scale are changed with :func:`update_assignment`; a new scale is refused while anchors carry
grades it does not allow (the message names them). Anchors are added from pasted text
(:func:`add_anchor`) or from files (:func:`import_anchor_files`, one outcome per file), read
in full (:func:`anchor_text`), regraded (:func:`set_anchor_grade`, checked against the
assignment's scale) and removed (:func:`remove_anchor`, a soft delete).

Anchors join every batch of their assignment that is not running as anchor essays; a removed
anchor leaves the batches that have not been graded yet (:data:`_OPEN` statuses), while batches
with runs keep it as their runs saw it. Results are frozen read models; bad input raises
:class:`~app.operations.base.OperationError` with :attr:`~FailureKind.INPUT`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Anchor, Assignment, Batch, BatchStatus, Essay, live
from app.intake.outcomes import IntakeLimits
from app.intake.validate import content_hash
from app.operations.base import CancelToken, FailureKind, OperationError, ProgressSink
from app.operations.intake import AnchorImportResult, import_anchors
from app.operations.queries import AssignmentDetail, get_assignment, translated_errors
from app.operations.scales import describe_stray, resolve_scale, stray_anchor_grades
from app.operations.school import NewAssignment, check_assignment
from app.school import find_live, refresh_batch_status, sync_anchor_essays

__all__ = [
    "AnchorRow",
    "AnchorText",
    "add_anchor",
    "anchor_text",
    "import_anchor_files",
    "list_anchors",
    "remove_anchor",
    "set_anchor_grade",
    "update_assignment",
]

_LABEL_MAX = 200
_OPEN = (
    BatchStatus.PENDING_CONTENT.value,
    BatchStatus.AWAITING_STUDENT_CONFIRMATION.value,
    BatchStatus.READY.value,
)
"""Batch statuses an anchor's removal reaches (no run has graded them)."""


@dataclass(frozen=True)
class AnchorRow:
    """An anchor essay as the assignment's table shows it."""

    id: str
    assignment_id: str
    label: str
    grade: str
    characters: int
    source_file: str | None
    created_at: datetime

    @property
    def name(self) -> str:
        """The label, else the file it came from."""
        return self.label or (self.source_file or "")


@dataclass(frozen=True)
class AnchorText:
    """An anchor with its full text."""

    id: str
    label: str
    grade: str
    source_file: str | None
    text: str


def _bad(message: str) -> OperationError:
    return OperationError(FailureKind.INPUT, message)


def _row(anchor: Anchor) -> AnchorRow:
    return AnchorRow(
        anchor.id,
        anchor.assignment_id,
        anchor.label,
        anchor.grade,
        len(anchor.text.strip()),
        anchor.source_file,
        anchor.created_at,
    )


def _live_anchor(session: Session, anchor_id: str) -> Anchor:
    anchor = session.get(Anchor, anchor_id)
    if anchor is None or anchor.deleted_at is not None:
        raise _bad(f"No anchor with id {anchor_id!r}.")
    assignment = anchor.assignment
    if assignment.deleted_at is not None:
        raise _bad(f"The assignment of anchor {anchor_id!r} has been removed.")
    return anchor


def _sync_batches(session: Session, assignment_id: str) -> None:
    for batch in session.scalars(
        select(Batch).where(Batch.assignment_id == assignment_id, live(Batch))
    ):
        sync_anchor_essays(session, batch)
        refresh_batch_status(session, batch)


# ------------------------------------------------------------------------------ assignment


def update_assignment(db: Database, assignment_id: str, changes: NewAssignment) -> AssignmentDetail:
    """Store an assignment's new title, texts and grade scale (all of them, as given).

    A new scale must allow every live anchor's grade; otherwise nothing is stored and the
    message names the grades (and how many anchors carry each).
    """
    changes = check_assignment(changes, db)
    with translated_errors():
        with db.session() as s:
            assignment = find_live(s, Assignment, assignment_id)
            if changes.scale != assignment.grade_scale:
                scale = resolve_scale(s, changes.scale)
                stray = stray_anchor_grades(s, scale, [assignment.id])
                if stray:
                    raise _bad(
                        f"The scale cannot become {scale.name!r}: anchors carry grades it does "
                        f"not allow on an anchor: {describe_stray(stray)}. Change or remove "
                        "those anchors first."
                    )
            assignment.title = changes.title
            assignment.student_prompt = changes.prompt
            assignment.assessment_criteria = changes.criteria
            assignment.judge_rubric = changes.rubric
            assignment.grade_scale = changes.scale
        return get_assignment(db, assignment_id)


# ---------------------------------------------------------------------------------- anchors


def list_anchors(db: Database, assignment_id: str) -> list[AnchorRow]:
    """The live anchors of a live assignment, lowest grade first (then by label)."""
    with translated_errors(), db.read() as s:
        assignment = find_live(s, Assignment, assignment_id)
        scale = resolve_scale(s, assignment.grade_scale)
        anchors = s.scalars(
            select(Anchor).where(Anchor.assignment_id == assignment.id, live(Anchor))
        ).all()
        order = {g: i for i, g in enumerate(scale.grades)}
        rows = [_row(a) for a in anchors]
        return sorted(rows, key=lambda r: (order.get(r.grade, len(order)), r.name.casefold()))


def _check_grade(session: Session, assignment: Assignment, grade: str) -> str:
    grade = grade.strip()
    scale = resolve_scale(session, assignment.grade_scale)
    if not scale.is_anchorable(grade):
        raise _bad(
            f"{grade!r} is not an anchor grade of {scale.name}; choose one of "
            f"{', '.join(scale.anchorable_grades)}."
        )
    return grade


def add_anchor(
    db: Database,
    assignment_id: str,
    text: str,
    grade: str,
    label: str = "",
    limits: IntakeLimits | None = None,
) -> AnchorRow:
    """Store a pasted anchor essay with its grade (checked against the assignment's scale),
    and add it to the assignment's batches that are not running. A text the assignment
    already has as an anchor is refused."""
    label = label.strip()
    if len(label) > _LABEL_MAX:
        raise _bad(f"The label is too long ({len(label)} characters; at most {_LABEL_MAX}).")
    limits = limits or IntakeLimits()
    n = len(text.strip())
    if n == 0:
        raise _bad("Paste the anchor essay's text.")
    if n < limits.min_chars:
        raise _bad(
            f"The text is too short for an essay (minimum: {limits.min_chars:,}, "
            f"actual: {n:,} characters)."
        )
    if n > limits.max_chars:
        raise _bad(
            f"The text is too long (maximum: {limits.max_chars:,}, actual: {n:,} characters)."
        )
    digest = content_hash(text)
    with translated_errors(), db.session() as s:
        assignment = find_live(s, Assignment, assignment_id)
        grade = _check_grade(s, assignment, grade)
        twin = s.scalars(
            select(Anchor).where(
                Anchor.assignment_id == assignment.id,
                live(Anchor),
                Anchor.content_hash == digest,
            )
        ).first()
        if twin is not None:
            raise _bad(
                f"This text is already an anchor of the assignment "
                f"({twin.label or twin.source_file or twin.grade!s}, grade {twin.grade})."
            )
        anchor = Anchor(
            assignment_id=assignment.id,
            text=text.strip(),
            grade=grade,
            label=label,
            source_file=None,
            content_hash=digest,
        )
        s.add(anchor)
        s.flush()
        _sync_batches(s, assignment.id)
        return _row(anchor)


def import_anchor_files(
    db: Database,
    assignment_id: str,
    paths: Sequence[Path],
    grades: Path | None = None,
    limits: IntakeLimits | None = None,
    *,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> AnchorImportResult:
    """Import anchor files into an assignment: grades from the file names (``B_essay.txt``)
    or from the ``grades`` file (``file,grade[,label]``). One outcome per file: imported,
    skipped (duplicates, not essays) or failed (unreadable, no grade, grade not on the
    scale)."""
    if progress is None:
        return import_anchors(db, list(paths), assignment_id, grades, limits, cancel=cancel)
    return import_anchors(db, list(paths), assignment_id, grades, limits, progress, cancel)


def anchor_text(db: Database, anchor_id: str) -> AnchorText:
    """An anchor with its full text."""
    with translated_errors(), db.read() as s:
        anchor = _live_anchor(s, anchor_id)
        return AnchorText(anchor.id, anchor.label, anchor.grade, anchor.source_file, anchor.text)


def set_anchor_grade(db: Database, anchor_id: str, grade: str) -> AnchorRow:
    """Give an anchor another grade (one an anchor may carry on the assignment's scale).
    Runs still to come use it; finished runs keep the grades they gave."""
    with translated_errors(), db.session() as s:
        anchor = _live_anchor(s, anchor_id)
        anchor.grade = _check_grade(s, anchor.assignment, grade)
        s.flush()
        return _row(anchor)


def remove_anchor(db: Database, anchor_id: str) -> None:
    """Remove an anchor (kept in the database, hidden): it leaves the assignment's batches
    that no run has graded yet; batches with runs keep it."""
    with translated_errors(), db.session() as s:
        anchor = _live_anchor(s, anchor_id)
        anchor.soft_delete()
        for essay in s.scalars(
            select(Essay)
            .join(Batch, Essay.batch_id == Batch.id)
            .where(Essay.anchor_id == anchor.id, live(Essay), Batch.status.in_(_OPEN))
        ):
            essay.soft_delete()
