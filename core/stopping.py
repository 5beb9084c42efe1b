"""When a run stops, and why.

A run stops for exactly one reason, checked in this order:

1. ``insufficient_essays`` — fewer than 2 essays: nothing to compare.
2. ``budget_reached`` — the successful comparisons reached the budget. Failed comparisons are
   not results and do not use the budget.
3. ``too_many_failures`` — failed attempts reached ``max_failures`` (a provider outage must end
   in a clear failure, not an endless loop).
4. ``no_pairs_left`` — the scheduler had nothing new to propose.
5. Not before every essay has ``min_comparisons_per_essay`` results.
6. ``stable`` — the honest reliability reached ``target_reliability`` after this wave *and* the
   previous one (one lucky wave is not stability; it also keeps the figure at the stop from
   being the single high point of a noisy series).
7. ``precise`` — the root-mean-square standard error fell to ``target_rms_se``.

Neither ``stable`` nor ``precise`` is decided on a fit that did not converge
(``RunProgress.converged``): its figures are not trusted, so the run goes on.

A run that ran out of budget is therefore never called stable: the reason says what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class StopReason(StrEnum):
    """Why a run stopped (or ``continue`` while it runs)."""

    CONTINUE = "continue"
    STABLE = "stable"
    PRECISE = "precise"
    BUDGET_REACHED = "budget_reached"
    INSUFFICIENT_ESSAYS = "insufficient_essays"
    NO_PAIRS_LEFT = "no_pairs_left"
    TOO_MANY_FAILURES = "too_many_failures"
    # Ends the application decides, never :func:`decide`: a run that made no progress for too
    # long (completed with most of its budget done, or failed), and a teacher's cancel.
    FORCED_RECOVERY = "forced_recovery"
    STALLED = "stalled"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class StoppingRule:
    """Targets and limits of a run. ``None`` switches a target off."""

    budget: int = 120
    target_reliability: float | None = 0.80
    target_rms_se: float | None = None
    min_comparisons_per_essay: int = 5
    max_failures: int | None = None

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError("budget must be at least 1 comparison")
        if self.target_reliability is not None and not 0.0 < self.target_reliability < 1.0:
            raise ValueError("target_reliability must be between 0 and 1")
        if self.target_rms_se is not None and self.target_rms_se <= 0.0:
            raise ValueError("target_rms_se must be positive")
        if self.min_comparisons_per_essay < 0:
            raise ValueError("min_comparisons_per_essay must be non-negative")
        if self.max_failures is not None and self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")

    @property
    def failure_limit(self) -> int:
        """Failed attempts tolerated before the run stops (default: the budget)."""
        return self.budget if self.max_failures is None else self.max_failures


@dataclass(frozen=True)
class RunProgress:
    """What the rule looks at after each wave."""

    n_essays: int
    results: int
    failures: int
    min_comparisons: int
    reliability: float = float("nan")
    previous_reliability: float = float("nan")
    rms_se: float = float("nan")
    pairs_available: bool = True
    converged: bool = True
    """Whether the fit behind ``reliability`` and ``rms_se`` converged."""


@dataclass(frozen=True)
class StopDecision:
    """The decision and a sentence a teacher can read."""

    stop: bool
    reason: StopReason
    message: str


def decide(rule: StoppingRule, progress: RunProgress) -> StopDecision:
    """Apply the rule (see the module docstring for the order of checks)."""
    p = progress
    if p.n_essays < 2:
        return StopDecision(
            True,
            StopReason.INSUFFICIENT_ESSAYS,
            f"Only {p.n_essays} essay(s): at least 2 are needed to compare.",
        )
    if p.results >= rule.budget:
        return StopDecision(
            True,
            StopReason.BUDGET_REACHED,
            f"Budget of {rule.budget} comparisons reached"
            + (f" (reliability {p.reliability:.2f})." if math.isfinite(p.reliability) else "."),
        )
    if p.failures >= rule.failure_limit:
        return StopDecision(
            True,
            StopReason.TOO_MANY_FAILURES,
            f"{p.failures} comparisons failed (limit {rule.failure_limit}).",
        )
    if not p.pairs_available:
        return StopDecision(True, StopReason.NO_PAIRS_LEFT, "No new pairs could be proposed.")
    if not p.converged:
        return StopDecision(
            False, StopReason.CONTINUE, "The last fit did not converge; more comparisons needed."
        )
    if p.min_comparisons < rule.min_comparisons_per_essay:
        return StopDecision(
            False,
            StopReason.CONTINUE,
            f"Every essay needs {rule.min_comparisons_per_essay} comparisons "
            f"(fewest so far: {p.min_comparisons}).",
        )
    if (
        rule.target_reliability is not None
        and math.isfinite(p.reliability)
        and math.isfinite(p.previous_reliability)
        and min(p.reliability, p.previous_reliability) >= rule.target_reliability
    ):
        return StopDecision(
            True,
            StopReason.STABLE,
            f"Reliability {p.reliability:.2f} reached the target {rule.target_reliability:.2f}.",
        )
    if (
        rule.target_rms_se is not None
        and math.isfinite(p.rms_se)
        and p.rms_se <= rule.target_rms_se
    ):
        return StopDecision(
            True,
            StopReason.PRECISE,
            f"Standard errors (RMS {p.rms_se:.2f}) reached the target {rule.target_rms_se:.2f}.",
        )
    return StopDecision(False, StopReason.CONTINUE, "More comparisons needed.")
