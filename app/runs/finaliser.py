"""The single owner of a run's terminal transition: results, grades, status, ``completed_at``.

:func:`finalise` is idempotent: a run that already ended is left exactly as it is. Results are
written for every essay (ability, SE, rank, comparisons, grade probabilities, confidence,
infit/outfit and the misfit flag) together with the run's reliability figures, in one
transaction with the status change. An essay with text addressed to the grader (kept with the
essay by the injection screen, or found in its text now) is never given "high" confidence: it
is stored at most "medium" (:func:`core.injection.review_confidence`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import BatchStatus, Essay, Result, Run, RunStatus
from app.operations.scales import resolve_scale
from core.engine import Refit
from core.grading import AnchorObservation, GradingError, GradingResult, grade_essays
from core.injection import has_injection, review_confidence
from core.lifecycle import TERMINAL, status_for
from core.reliability import misfit
from core.stopping import StopReason

__all__ = ["TERMINAL", "finalise"]


def finalise(db: Database, run_id: str, reason: StopReason, current: Refit | None) -> str:
    """End the run for ``reason`` (see the module docstring); returns its final status, which
    :func:`core.lifecycle.status_for` derives from the reason."""
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        if run.status in TERMINAL:
            return run.status
        final = status_for(reason)
        essays = list(
            s.scalars(
                select(Essay)
                .where(Essay.batch_id == run.batch_id, Essay.deleted_at.is_(None))
                .order_by(Essay.created_at, Essay.id)
            )
        )
        s.execute(delete(Result).where(Result.run_id == run_id))
        if current is not None and current.fit.n_items == len(essays):
            _write_results(s, run, essays, current)
        run.stop_reason = reason.value
        run.lease_holder = None
        run.lease_heartbeat_at = None
        run.status = final.value
        run.completed_at = datetime.now(UTC)
        run.batch.status = {
            RunStatus.COMPLETE: BatchStatus.COMPLETED_SUCCESSFULLY,
            RunStatus.CANCELLED: BatchStatus.CANCELLED,
        }.get(final, BatchStatus.FAILED).value
        return run.status


def _write_results(s: Session, run: Run, essays: list[Essay], current: Refit) -> None:
    fit = current.fit
    grading = _grades(s, run, essays, current)
    # Misfit is judged on the verdicts themselves (hard outcomes), whatever entered the fit.
    fits = misfit(fit, current.data.hardened())
    order = np.argsort(-fit.abilities)
    rank = np.empty(len(essays), dtype=int)
    rank[order] = np.arange(1, len(essays) + 1)
    for i, essay in enumerate(essays):
        g = grading.essays[i] if grading is not None else None
        s.add(
            Result(
                run_id=run.id,
                essay_id=essay.id,
                ability=float(fit.abilities[i]),
                se=float(fit.se[i]),
                rank=int(rank[i]),
                comparisons=int(fit.comparisons_per_item[i]),
                grade=None if g is None else g.display_grade,
                grade_probabilities=None if g is None else dict(g.probabilities),
                confidence=None if g is None else review_confidence(g.confidence, _flagged(essay)),
                infit=_finite(fits.infit[i]),
                outfit=_finite(fits.outfit[i]),
                misfit=bool(fits.flagged[i]),
            )
        )
    run.reliability = _finite(current.reliability)
    run.model_reliability = _finite(current.model_reliability)
    run.ssr = _finite(current.ssr)
    run.position_bias = float(fit.position_bias)
    run.fit_converged = current.converged


def _grades(s: Session, run: Run, essays: list[Essay], current: Refit) -> GradingResult | None:
    """Grades from the batch's anchors, or None when there are not two distinct anchor grades."""
    fit = current.fit
    anchors = [
        AnchorObservation(float(fit.abilities[i]), float(fit.se[i]), e.anchor.grade, e.anchor.label)
        for i, e in enumerate(essays)
        if e.is_anchor and e.anchor is not None
    ]
    try:
        scale = resolve_scale(s, run.batch.assignment.grade_scale)
        return grade_essays(fit.abilities, fit.se, anchors, scale)
    except (GradingError, ValueError):
        return None


def _flagged(essay: Essay) -> bool:
    """True when the essay addresses an AI grader (as screened, or as its text reads now)."""
    return bool(essay.addressed_to_grader) or has_injection(essay.text)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
