"""Recovering runs that stopped making progress, and finding runs a crash left running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import Comparison, ComparisonStatus, Run, RunStatus
from app.runs.finaliser import finalise
from core.engine import Refit

#: Share of the budget with results from which a stalled run completes as forced recovery.
FORCED_RECOVERY_SHARE = 0.8


def interrupted_runs(db: Database) -> list[str]:
    """Runs left *running* (a crash or a kill): to be resumed at start-up."""
    with db.session() as s:
        return list(s.scalars(select(Run.id).where(Run.status == RunStatus.RUNNING.value)))


def recover_stalled(db: Database, idle: timedelta, now: datetime | None = None) -> list[str]:
    """Finalise runs with no progress for ``idle``: forced recovery with ≥ 80 % of the budget
    done (their results are kept), otherwise failed as stalled. Returns the runs touched."""
    now = now or datetime.now(UTC)
    touched: list[str] = []
    with db.session() as s:
        candidates = list(s.scalars(select(Run).where(Run.status == RunStatus.RUNNING.value)))
        plan: list[tuple[str, bool]] = []
        for run in candidates:
            last = run.last_progress_at or run.started_at or run.created_at
            if last is None or now - last < idle:
                continue
            done = s.scalar(
                select(func.count())
                .select_from(Comparison)
                .where(Comparison.run_id == run.id, Comparison.status == ComparisonStatus.DONE)
            )
            budget = int(run.settings.get("budget", 0)) or 1
            plan.append((run.id, (done or 0) >= FORCED_RECOVERY_SHARE * budget))
    for run_id, enough in plan:
        if enough:
            current = refit_stored(db, run_id)
            finalise(db, run_id, None, current, reason="forced_recovery", status=RunStatus.COMPLETE)
        else:
            finalise(db, run_id, None, None, reason="stalled", status=RunStatus.FAILED)
        touched.append(run_id)
    return touched


def refit_stored(db: Database, run_id: str) -> Refit | None:
    """A fit of the run's stored verdicts (None when there are none)."""
    from app.runs.orchestrator import RunSettings, _load  # noqa: PLC0415
    from core.engine import refit  # noqa: PLC0415

    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        state = _load(s, run)
        settings = RunSettings.from_json(run.settings)
    if not state.verdicts:
        return None
    return refit(
        len(state.essay_ids),
        state.verdicts,
        use_confidence=settings.use_confidence,
        seed=settings.seed,
    )
