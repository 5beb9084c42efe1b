"""One vocabulary for a run's life, shared by the engine, the database and the finaliser.

A run's **status** says where it is; once it is terminal, its **stop reason** (one of
:class:`core.stopping.StopReason`) says why it ended, and :func:`status_for` says which terminal
status each reason ends in. The database stores these strings as they are, so a value written by
one layer is read by every other without translation.
"""

from __future__ import annotations

from enum import StrEnum

from core.stopping import StopReason


class RunStatus(StrEnum):
    """Where a run is in its life."""

    CREATED = "created"
    AWAITING_STUDENT_CONFIRMATION = "awaiting_student_confirmation"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Statuses a run never leaves.
TERMINAL: frozenset[str] = frozenset(
    {RunStatus.COMPLETE.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value}
)

_STATUS_OF: dict[StopReason, RunStatus] = {
    StopReason.STABLE: RunStatus.COMPLETE,
    StopReason.PRECISE: RunStatus.COMPLETE,
    StopReason.BUDGET_REACHED: RunStatus.COMPLETE,
    StopReason.NO_PAIRS_LEFT: RunStatus.COMPLETE,
    # The judge cannot reach the target within the budget: the run ends early with the results
    # it has (graded as usual) and the outlook saying what the target would need.
    StopReason.TARGET_UNREACHABLE: RunStatus.COMPLETE,
    StopReason.FORCED_RECOVERY: RunStatus.COMPLETE,
    StopReason.INSUFFICIENT_ESSAYS: RunStatus.FAILED,
    StopReason.TOO_MANY_FAILURES: RunStatus.FAILED,
    StopReason.STALLED: RunStatus.FAILED,
    StopReason.CANCELLED: RunStatus.CANCELLED,
}


def status_for(reason: StopReason) -> RunStatus:
    """The terminal status a run ends in when it stops for ``reason``.

    ``continue`` is not a reason to stop and raises ``ValueError``.
    """
    try:
        return _STATUS_OF[reason]
    except KeyError:
        raise ValueError(f"{reason!r} does not end a run") from None


#: Stop reasons stored by earlier versions of the app, and what they mean now.
LEGACY_STOP_REASONS: dict[str, StopReason] = {
    "budget": StopReason.BUDGET_REACHED,
    "error": StopReason.TOO_MANY_FAILURES,
}
