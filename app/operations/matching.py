"""Match review as the window needs it: one read of everything the review shows, and the
teacher's words for a suggestion's score.

:func:`match_review` reads a batch, its match overview (:func:`app.operations.intake.
match_overview`), its class roster and the text of its student essays in one call, so a screen
can show each essay's first words and a preview without a second trip. Decisions are saved with
:func:`app.operations.intake.confirm_match`; :func:`high_confidence_decisions` picks the ones
*Accept all high-confidence* saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Essay, live
from app.intake.matching_store import EssayMatch, MatchOverview
from app.operations.intake import MatchDecision, match_overview
from app.operations.queries import (
    BatchRow,
    StudentRow,
    get_batch,
    list_students,
    translated_errors,
)

__all__ = [
    "HIGH_SCORE",
    "MEDIUM_SCORE",
    "Confidence",
    "MatchReview",
    "confidence_of",
    "first_words",
    "high_confidence_decisions",
    "match_review",
]

HIGH_SCORE = 0.85
"""A suggestion at least this sure is *High*: a full name found (perhaps without its
diacritics, or with one typo), or a student code."""
MEDIUM_SCORE = 0.70
"""At least this sure is *Medium* (a name with a bigger difference); below it *Low* (only a
surname, or only a first line that may be a title)."""


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def confidence_of(score: float) -> Confidence:
    """A suggestion's score in a teacher's words (see :data:`HIGH_SCORE`)."""
    if score >= HIGH_SCORE:
        return Confidence.HIGH
    if score >= MEDIUM_SCORE:
        return Confidence.MEDIUM
    return Confidence.LOW


def first_words(text: str, n: int = 12) -> str:
    """The first ``n`` words of ``text`` on one line (with … when there are more)."""
    words = text.split()
    shown = " ".join(words[:n])
    return shown + " …" if len(words) > n else shown


@dataclass(frozen=True)
class MatchReview:
    """What the match review of one batch shows.

    ``overview`` is the batch's matching (every student essay, its student or suggestions, and
    the roster students without an essay); ``roster`` the class's students by last name (empty
    for a guest batch); ``texts`` each student essay's text by essay id.
    """

    batch: BatchRow
    overview: MatchOverview
    roster: tuple[StudentRow, ...]
    texts: dict[str, str]

    @property
    def guest(self) -> bool:
        return self.batch.guest


def match_review(db: Database, batch_id: str) -> MatchReview:
    """Everything the match review of ``batch_id`` shows (``OperationError(INPUT)`` for an
    unknown batch)."""
    batch = get_batch(db, batch_id)
    overview = match_overview(db, batch_id)
    roster = tuple(list_students(db, batch.class_id)) if batch.class_id is not None else ()
    with translated_errors(), db.read() as s:
        found = s.execute(
            select(Essay.id, Essay.text).where(
                Essay.batch_id == batch_id, live(Essay), Essay.is_anchor.is_(False)
            )
        ).all()
        texts = {essay_id: text for essay_id, text in found}
    return MatchReview(batch, overview, roster, texts)


def high_confidence_decisions(overview: MatchOverview) -> list[MatchDecision]:
    """The decisions *Accept all high-confidence* saves: each waiting essay whose best
    suggestion is *High* and the only *High* one, for a student who has no settled essay and
    is the best *High* suggestion of no other waiting essay (two essays pointing to one student
    are left to the teacher)."""
    taken = {e.student_id for e in overview.essays if e.confirmed and e.student_id}
    wanted: dict[str, list[EssayMatch]] = {}
    for essay in overview.waiting:
        top = _sole_high(essay)
        if top is not None and top not in taken:
            wanted.setdefault(top, []).append(essay)
    return [
        MatchDecision(essays[0].essay_id, student_id)
        for student_id, essays in wanted.items()
        if len(essays) == 1
    ]


def _sole_high(essay: EssayMatch) -> str | None:
    high = [s for s in essay.suggestions if confidence_of(s.score) is Confidence.HIGH]
    if len(high) != 1 or essay.suggestions[0] is not high[0]:
        return None
    return high[0].student_id
