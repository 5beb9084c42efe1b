"""Ending runs from outside their loop: stalled runs, cancelled runs, and runs a crash left.

Each function here works on the runs it is given, never on every run in the database: a
process watches only the run it drives.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import Comparison, ComparisonStatus, Run, RunStatus
from app.runs.finaliser import TERMINAL, finalise
from app.runs.lease import STALE_AFTER, holder_is_dead
from app.runs.state import refit_stored
from core.stopping import StopReason

#: Share of the budget with results from which a stalled run completes as forced recovery.
FORCED_RECOVERY_SHARE = 0.8


def interrupted_runs(
    db: Database, *, stale_after: timedelta = STALE_AFTER, now: datetime | None = None
) -> list[str]:
    """Runs a crash or a kill left *running*: their lease is free, stale, or held by a process
    of this machine that no longer exists (a run whose driver is alive and renewing its lease
    is not interrupted). Oldest first."""
    moment = now or datetime.now(UTC)
    with db.read() as s:
        rows = s.execute(
            select(Run.id, Run.lease_holder, Run.lease_heartbeat_at)
            .where(Run.status == RunStatus.RUNNING.value)
            .order_by(Run.created_at, Run.id)
        ).all()
    return [
        str(run_id)
        for run_id, holder, beat in rows
        if holder is None or beat is None or beat < moment - stale_after or holder_is_dead(holder)
    ]


def last_activity(db: Database, run_id: str) -> datetime | None:
    """When the run last made progress (a verdict, a batch poll, a (re)start)."""
    with db.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        return run.last_progress_at or run.started_at or run.created_at


def is_stalled(db: Database, run_id: str, idle: timedelta, now: datetime | None = None) -> bool:
    last = last_activity(db, run_id)
    return last is not None and (now or datetime.now(UTC)) - last >= idle


def recover_stalled(
    db: Database, run_ids: Iterable[str], idle: timedelta, now: datetime | None = None
) -> list[str]:
    """Finalise those of ``run_ids`` that are *running* with no progress for ``idle``: forced
    recovery with ≥ 80 % of the budget done (results kept), otherwise failed as stalled.
    Returns the runs ended."""
    moment = now or datetime.now(UTC)
    stalled: list[str] = []
    with db.session() as s:
        for run_id in run_ids:
            run = s.get(Run, run_id)
            if run is None or run.status != RunStatus.RUNNING.value:
                continue
            last = run.last_progress_at or run.started_at or run.created_at
            if last is not None and moment - last >= idle:
                stalled.append(run_id)
    for run_id in stalled:
        end_stalled(db, run_id)
    return stalled


def end_stalled(db: Database, run_id: str) -> str:
    """End a run that made no progress for too long, whatever its live status: forced
    recovery with ≥ 80 % of its budget judged (results kept), otherwise failed as stalled."""
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        if run.status in TERMINAL:
            return run.status
        done = s.scalar(
            select(func.count())
            .select_from(Comparison)
            .where(Comparison.run_id == run_id, Comparison.status == ComparisonStatus.DONE)
        )
        budget = int(run.settings.get("budget", 0)) or 1
    if (done or 0) >= FORCED_RECOVERY_SHARE * budget:
        return finalise(db, run_id, StopReason.FORCED_RECOVERY, refit_stored(db, run_id))
    return finalise(db, run_id, StopReason.STALLED, None)


def cancel_run(db: Database, run_id: str) -> str | None:
    """Cancel a run that has not ended: results from the verdicts so far are written, the
    status becomes *cancelled*. Returns the final status (None for an unknown run). A process
    driving the run sees it ended at its next step and stops."""
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        if run.status in TERMINAL:
            return run.status
    return finalise(db, run_id, StopReason.CANCELLED, refit_stored(db, run_id))
