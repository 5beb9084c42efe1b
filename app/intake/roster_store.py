"""Importing a class list into a class: one outcome per row, students reused, batches rematched.

Every row's outcome is kept with the class (:func:`roster_history`). A row becomes a student of
the class unless the class already has that student (same code, or
same name and e-mail): then it is *skipped* as ``already_in_class``. A student with the same code
in another class is the same person (a student may be in several classes): that student is
added to this class rather than created twice. After the import, every open batch of the class
is matched again, so essays imported before the roster find their students.

Progress is reported per row (``Progress("row", done, total, "row N")``) and a
:class:`~app.operations.base.CancelToken` is checked between rows: a cancelled import keeps the
rows it reached (students and records, in one transaction) and leaves the rest unrecorded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Batch, ClassMembership, IntakeRecord, Student, live, new_id
from app.intake.essays import count_outcomes
from app.intake.matching import normalise_name
from app.intake.matching_store import rematch_batch, roster_of
from app.intake.outcomes import Outcome
from app.intake.roster import RosterRow, RowOutcome, read_roster
from app.operations.base import CancelToken, Progress, ProgressSink
from app.school import find_class, refresh_batch_status


@dataclass(frozen=True)
class RosterReport:
    class_id: str
    rows: list[RowOutcome]
    added: int
    linked: int
    """Students who already existed (same code, in another class) and joined this class."""
    import_id: str = ""
    cancelled: bool = False
    """The import was cancelled: ``rows`` are the rows done (stored and recorded)."""
    found: int = 0
    """Rows read from the file (``len(rows)`` unless cancelled)."""

    @property
    def counts(self) -> dict[str, int]:
        return count_outcomes(self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "class_id": self.class_id,
            "import_id": self.import_id,
            "counts": self.counts,
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


def _name_key(first: str, last: str) -> str:
    """Case-insensitive, diacritics significant: Åsa Berg and Asa Berg are two students."""
    return normalise_name(f"{first} {last}", keep_diacritics=True)


def _same(student: Student, row: RosterRow) -> bool:
    if student.code and row.code:
        return student.code.casefold() == row.code.casefold()
    if _name_key(student.first_name, student.last_name) != _name_key(row.first_name, row.last_name):
        return False
    return not (student.email and row.email) or student.email.casefold() == row.email.casefold()


def import_roster(
    db: Database,
    class_id: str,
    path: Path,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> RosterReport:
    """Read ``path`` (CSV/XLSX, see :func:`app.intake.roster.read_roster`) into a class.

    A file that is no roster at all raises :class:`~app.intake.roster.RosterError` before
    anything is stored; bad rows are reported and the good ones imported.
    """
    rows = read_roster(path)
    added = linked = 0
    final: list[RowOutcome] = []
    cancelled = False
    import_id = new_id()
    with db.session() as s:
        school_class = find_class(s, class_id)
        members = roster_of(s, school_class.id)
        by_code = _students_by_code(s)
        for outcome in rows:
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            if progress is not None:
                progress(Progress("row", len(final) + 1, len(rows), f"row {outcome.row}", outcome))
            row = outcome.student
            if outcome.outcome is not Outcome.IMPORTED or row is None:
                final.append(outcome)
                continue
            existing = next((m for m in members if _same(m, row)), None)
            if existing is not None:
                final.append(
                    replace(
                        outcome,
                        outcome=Outcome.SKIPPED,
                        reason="already_in_class",
                        message=f"Row {outcome.row}: {existing.full_name} is already in the class.",
                    )
                )
                continue
            student = by_code.get(row.code.casefold()) if row.code else None
            if student is None:
                student = Student(
                    first_name=row.first_name,
                    last_name=row.last_name,
                    code=row.code,
                    email=row.email,
                )
                s.add(student)
                s.flush()
                if row.code:
                    by_code[row.code.casefold()] = student
                added += 1
            else:
                linked += 1
            s.add(ClassMembership(school_class_id=school_class.id, student_id=student.id))
            members.append(student)
            final.append(outcome)
        for r in final:
            s.add(
                IntakeRecord(
                    school_class_id=school_class.id,
                    import_id=import_id,
                    source=f"{path.name} row {r.row}"[:1000],
                    outcome=r.outcome.value,
                    reason=str(r.reason) if r.reason else None,
                    message=r.message,
                )
            )
        s.flush()
        for batch in s.scalars(
            select(Batch).where(Batch.school_class_id == school_class.id, live(Batch))
        ):
            rematch_batch(s, batch)
            refresh_batch_status(s, batch)
        return RosterReport(
            school_class.id, final, added, linked, import_id, cancelled, found=len(rows)
        )


def roster_history(db: Database, class_id: str) -> list[dict[str, Any]]:
    """Every recorded roster row of a class (``source``: file and row), oldest import first."""
    with db.session() as s:
        school_class = find_class(s, class_id)
        rows = s.scalars(
            select(IntakeRecord)
            .where(IntakeRecord.school_class_id == school_class.id, live(IntakeRecord))
            .order_by(IntakeRecord.created_at)
        )
        return [
            {"source": r.source, "outcome": r.outcome, "reason": r.reason, "message": r.message}
            for r in rows
        ]


async def import_roster_async(db: Database, class_id: str, path: Path) -> RosterReport:
    """:func:`import_roster` in a worker thread."""
    return await asyncio.to_thread(import_roster, db, class_id, path)


def _students_by_code(session: Session) -> dict[str, Student]:
    """Live students with a code, by their code case-folded (the first one wins)."""
    found: dict[str, Student] = {}
    for student in session.scalars(
        select(Student).where(live(Student), Student.code.is_not(None)).order_by(Student.created_at)
    ):
        if student.code:
            found.setdefault(student.code.casefold(), student)
    return found
