"""Student matching on stored batches: suggestions saved, confirmations and reassignments kept.

The scoring itself is pure (:mod:`app.intake.matching`); this module applies it to a batch's
essays and its class roster and keeps a person's decisions:

* :func:`rematch_batch` recomputes suggestions for every essay nobody has settled yet (after an
  import, or after the roster changed). Essays already settled, by a person or automatically,
  are never touched, and a student who already has a settled essay is not accepted again.
* :func:`confirm_student` is a person's decision: this essay is this student's (or nobody's in
  the roster). It is saved with ``match_source = "teacher"`` and a time, and replaces an earlier
  automatic or manual decision (a reassignment).
* :func:`match_overview` lists every essay with its suggestions, the essays still waiting, and
  the roster students without an essay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import (
    Batch,
    ClassMembership,
    Essay,
    MatchSuggestion,
    Student,
    live,
    utcnow,
)
from app.intake.matching import MatchResult, RosterEntry, match_batch
from app.school import find_live, refresh_batch_status


class MatchError(ValueError):
    """A confirmation that cannot be saved (guest batch, student not in the class, taken)."""


@dataclass(frozen=True)
class MatchSummary:
    auto_accepted: int
    awaiting: int


@dataclass(frozen=True)
class SuggestionView:
    student_id: str
    name: str
    score: float
    source: str
    evidence: str


@dataclass(frozen=True)
class EssayMatch:
    essay_id: str
    source_file: str | None
    student_id: str | None
    student_name: str | None
    confirmed: bool
    match_source: str | None
    confidence: float | None
    suggestions: list[SuggestionView] = field(default_factory=list)


@dataclass(frozen=True)
class StudentView:
    student_id: str
    name: str
    code: str | None
    email: str | None


@dataclass(frozen=True)
class MatchOverview:
    """Where matching of one batch stands."""

    batch_id: str
    guest: bool
    essays: list[EssayMatch]
    students_without_essay: list[StudentView]

    @property
    def waiting(self) -> list[EssayMatch]:
        """Essays nobody has settled yet."""
        return [e for e in self.essays if not e.confirmed]

    def to_json(self) -> dict[str, Any]:
        def essay(e: EssayMatch) -> dict[str, Any]:
            return {
                "essay_id": e.essay_id,
                "source_file": e.source_file,
                "student_id": e.student_id,
                "student_name": e.student_name,
                "confirmed": e.confirmed,
                "match_source": e.match_source,
                "confidence": e.confidence,
                "suggestions": [s.__dict__ for s in e.suggestions],
            }

        return {
            "batch_id": self.batch_id,
            "guest": self.guest,
            "essays": [essay(e) for e in self.essays],
            "waiting": [e.essay_id for e in self.waiting],
            "students_without_essay": [s.__dict__ for s in self.students_without_essay],
        }


def roster_of(session: Session, class_id: str) -> list[Student]:
    """Live students with a live membership in the class, by last then first name."""
    return list(
        session.scalars(
            select(Student)
            .join(ClassMembership, ClassMembership.student_id == Student.id)
            .where(
                ClassMembership.school_class_id == class_id,
                live(ClassMembership),
                live(Student),
            )
            .order_by(Student.last_name, Student.first_name)
        )
    )


def _entries(students: list[Student]) -> list[RosterEntry]:
    return [RosterEntry(s.id, s.first_name, s.last_name, s.code, s.email) for s in students]


def _student_essays(session: Session, batch_id: str) -> list[Essay]:
    return list(
        session.scalars(
            select(Essay)
            .where(Essay.batch_id == batch_id, live(Essay), Essay.is_anchor.is_(False))
            .order_by(Essay.source_file, Essay.id)
        )
    )


def rematch_batch(session: Session, batch: Batch) -> MatchSummary:
    """Recompute suggestions for every unsettled essay of a class batch (see module docs)."""
    if batch.school_class_id is None:
        return MatchSummary(0, 0)
    roster = _entries(roster_of(session, batch.school_class_id))
    essays = _student_essays(session, batch.id)
    taken = {e.student_id for e in essays if e.match_confirmed and e.student_id}
    open_essays = [e for e in essays if not e.match_confirmed]
    if not open_essays:
        return MatchSummary(0, 0)
    results = match_batch(
        [(e.id, (e.source_file or "").rsplit("/", 1)[-1], e.text) for e in open_essays], roster
    )
    session.execute(
        delete(MatchSuggestion).where(MatchSuggestion.essay_id.in_([e.id for e in open_essays]))
    )
    accepted = 0
    rows: list[dict[str, Any]] = []
    for essay in open_essays:
        result = results.get(essay.id, MatchResult((), None))
        rows += _suggestion_rows(essay, result)
        if result.accepted is not None and result.accepted not in taken:
            essay.student_id = result.accepted
            essay.match_confirmed = True
            essay.match_source = "auto"
            essay.match_confirmed_at = utcnow()
            taken.add(result.accepted)
            accepted += 1
        else:
            essay.student_id = None
    if rows:
        session.execute(insert(MatchSuggestion), rows)  # one bulk insert for the whole batch
    session.flush()
    return MatchSummary(accepted, len(open_essays) - accepted)


def _suggestion_rows(essay: Essay, result: MatchResult) -> list[dict[str, Any]]:
    """The essay's suggestions as rows to insert; sets its match confidence to the best score."""
    essay.match_confidence = round(result.suggestions[0].score, 4) if result.suggestions else None
    return [
        {
            "essay_id": essay.id,
            "student_id": s.student_id,
            "rank": rank,
            "score": round(s.score, 4),
            "source": s.source,
            "evidence": s.evidence[:500],
        }
        for rank, s in enumerate(result.suggestions, start=1)
    ]


def rematch(db: Database, batch_id: str) -> MatchSummary:
    """:func:`rematch_batch` in its own transaction (e.g. after a roster import)."""
    with db.session() as s:
        batch = find_live(s, Batch, batch_id)
        summary = rematch_batch(s, batch)
        refresh_batch_status(s, batch)
        return summary


def confirm_student(db: Database, essay_id: str, student_id: str | None) -> None:
    """Save a person's decision that the essay is ``student_id``'s (``None``: no roster student).

    Raises :class:`MatchError` for an anchor, a guest batch, a student outside the batch's class,
    or a student already settled for another essay of the batch (unassign that one first).
    """
    with db.session() as s:
        _confirm(s, essay_id, student_id)


def unconfirm(db: Database, essay_id: str) -> None:
    """Undo a settlement: the essay waits for a person again (its suggestions stay)."""
    with db.session() as s:
        _unconfirm(s, essay_id)


def accept_top_suggestions(db: Database, batch_id: str) -> int:
    """A person's bulk decision: settle every waiting essay on its best suggestion, when that
    student is free. Returns the number settled; essays without a free suggestion keep waiting.
    """
    with db.session() as s:
        return _accept_top(s, find_live(s, Batch, batch_id))


def settle(
    db: Database,
    batch_id: str,
    *,
    unassign: Sequence[str] = (),
    confirm: Sequence[tuple[str, str | None]] = (),
    accept_top: bool = False,
) -> int:
    """A person's decisions on one batch, all or none (one transaction): first ``unassign``
    (essay ids), then ``confirm`` (essay id, student id or None), then, with ``accept_top``,
    :func:`accept_top_suggestions`. Every essay must belong to the batch. Returns the number
    of essays settled by ``accept_top``; raises :class:`MatchError` (nothing saved) for the
    first decision that cannot be saved, and ``RecordNotFoundError`` for an unknown batch."""
    with db.session() as s:
        batch = find_live(s, Batch, batch_id)
        for essay_id in [*unassign, *(e for e, _ in confirm)]:
            _essay_of(s, essay_id, batch.id)
        for essay_id in unassign:
            _unconfirm(s, essay_id)
        for essay_id, student_id in confirm:
            _confirm(s, essay_id, student_id)
            s.flush()
        return _accept_top(s, batch) if accept_top else 0


def _essay_of(session: Session, essay_id: str, batch_id: str | None = None) -> Essay:
    essay = session.get(Essay, essay_id)
    if essay is None or essay.deleted_at is not None:
        raise MatchError(f"no essay with id {essay_id!r}")
    if batch_id is not None and essay.batch_id != batch_id:
        raise MatchError(f"essay {essay_id!r} is not in batch {batch_id!r}")
    return essay


def _confirm(session: Session, essay_id: str, student_id: str | None) -> None:
    essay = _essay_of(session, essay_id)
    if essay.is_anchor:
        raise MatchError("anchor essays belong to no student")
    batch = essay.batch
    if batch.school_class_id is None:
        raise MatchError("a guest batch has no roster; its essays are known by file name")
    if student_id is not None:
        roster = {st.id: st for st in roster_of(session, batch.school_class_id)}
        if student_id not in roster:
            raise MatchError(f"student {student_id!r} is not in the batch's class")
        for other in _student_essays(session, batch.id):
            if other.id != essay.id and other.match_confirmed and other.student_id == student_id:
                raise MatchError(
                    f"{roster[student_id].full_name} is already settled for "
                    f"'{other.source_file}'; unassign that essay first"
                )
        scores = {sg.student_id: sg.score for sg in essay.suggestions}
        essay.match_confidence = scores.get(student_id)
    essay.student_id = student_id
    essay.match_confirmed = True
    essay.match_source = "teacher"
    essay.match_confirmed_at = utcnow()
    refresh_batch_status(session, batch)


def _unconfirm(session: Session, essay_id: str) -> None:
    essay = _essay_of(session, essay_id)
    essay.student_id = None
    essay.match_confirmed = False
    essay.match_source = None
    essay.match_confirmed_at = None
    refresh_batch_status(session, essay.batch)


def _accept_top(session: Session, batch: Batch) -> int:
    settled = 0
    essays = _student_essays(session, batch.id)
    taken = {e.student_id for e in essays if e.match_confirmed and e.student_id}
    for essay in essays:
        if essay.match_confirmed:
            continue
        top = next((sg for sg in essay.suggestions if sg.student_id not in taken), None)
        if top is None:
            continue
        essay.student_id = top.student_id
        essay.match_confirmed = True
        essay.match_source = "teacher"
        essay.match_confirmed_at = utcnow()
        essay.match_confidence = top.score
        taken.add(top.student_id)
        settled += 1
    refresh_batch_status(session, batch)
    return settled


def match_overview(db: Database, batch_id: str) -> MatchOverview:
    """Every student essay of the batch with its match, and the students without an essay."""
    with db.session() as s:
        batch = find_live(s, Batch, batch_id)
        students = roster_of(s, batch.school_class_id) if batch.school_class_id else []
        names = {st.id: st.full_name for st in students}
        essays = _student_essays(s, batch.id)
        views = [
            EssayMatch(
                essay_id=e.id,
                source_file=e.source_file,
                student_id=e.student_id,
                student_name=names.get(e.student_id) if e.student_id else None,
                confirmed=e.match_confirmed,
                match_source=e.match_source,
                confidence=e.match_confidence,
                suggestions=[
                    SuggestionView(
                        sg.student_id,
                        names.get(sg.student_id, "?"),
                        sg.score,
                        sg.source,
                        sg.evidence,
                    )
                    for sg in e.suggestions
                ],
            )
            for e in essays
        ]
        settled = {e.student_id for e in essays if e.match_confirmed and e.student_id}
        missing = [
            StudentView(st.id, st.full_name, st.code, st.email)
            for st in students
            if st.id not in settled
        ]
        return MatchOverview(batch.id, batch.school_class_id is None, views, missing)
