"""A run's durable state as the loop needs it, read from the database in one pass.

Shared by the run loop, the monitor and cancelling, so none of them imports another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Comparison, ComparisonStatus, Essay, Run, Student
from app.db.store import load_run_state
from app.runs.settings import RunSettings
from core.engine import Refit, Verdict, refit
from core.redact import redact_identity


@dataclass
class RunState:
    """Verdicts (engine indices), pairs shown, pairs still to send, failures and cost so far."""

    essay_ids: list[str]
    verdicts: list[Verdict]
    shown: list[tuple[int, int]]
    planned: list[tuple[str, int, int]]
    """(comparison id, first, second) of pairs *planned* or *sent* and not yet answered."""
    failed: int
    cost_usd: float
    next_wave: int


def load_state(session: Session, run_id: str) -> RunState:
    """The run's state through the bulk store layer (two queries and a sum)."""
    state = load_run_state(session, run_id)
    verdicts: list[Verdict] = []
    shown: list[tuple[int, int]] = []
    planned: list[tuple[str, int, int]] = []
    failed = 0
    for k, status in enumerate(state.status):
        a, b = int(state.first[k]), int(state.second[k])
        if status == ComparisonStatus.DONE and state.first_wins[k] >= 0:
            p = float(state.probability_first[k])
            verdicts.append(
                Verdict(a, b, bool(state.first_wins[k]), p if math.isfinite(p) else None)
            )
            shown.append((a, b))
        elif status in (ComparisonStatus.PLANNED, ComparisonStatus.SENT):
            planned.append((state.comparison_ids[k], a, b))
            shown.append((a, b))
        else:
            failed += 1
    cost = session.scalar(
        select(func.coalesce(func.sum(Comparison.cost_usd), 0.0)).where(Comparison.run_id == run_id)
    )
    next_wave = int(state.wave.max()) + 1 if len(state.wave) else 0
    return RunState(
        state.essay_ids, verdicts, shown, planned, failed, float(cost or 0.0), next_wave
    )


def judge_texts(session: Session, essay_ids: list[str], redact: bool = True) -> list[str]:
    """The texts the judge is shown, in ``essay_ids`` order: with ``redact``, the writer's
    identity (name lines, e-mail addresses, the student's full name and code) is replaced
    (:func:`core.redact.redact_identity`); the stored essays are never changed."""
    rows = session.execute(
        select(Essay.id, Essay.text, Student.first_name, Student.last_name, Student.code)
        .outerjoin(Student, Student.id == Essay.student_id)
        .where(Essay.id.in_(essay_ids))
    ).all()
    by_id: dict[str, str] = {}
    for essay_id, stored, first, last, code in rows:
        names = [(first, last)] if first and last else []
        by_id[essay_id] = (
            redact_identity(stored, names, [code] if code else []) if redact else stored
        )
    return [by_id[i] for i in essay_ids]


def refit_stored(db: Database, run_id: str) -> Refit | None:
    """A fit of the run's stored verdicts (None when there are none)."""
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        state = load_state(s, run_id)
        settings = RunSettings.from_json(run.settings)
    if not state.verdicts:
        return None
    return refit(
        len(state.essay_ids),
        state.verdicts,
        use_confidence=settings.use_confidence,
        seed=settings.seed,
    )
