"""When a run stops, and why.

A run stops for exactly one reason, checked in this order:

1. ``insufficient_essays`` — fewer than 2 essays: nothing to compare.
2. ``budget_reached`` — the successful comparisons reached the budget. Failed comparisons are
   not results and do not use the budget.
3. ``too_many_failures`` — failed attempts reached ``max_failures`` (a provider outage must end
   in a clear failure, not an endless loop).
4. ``no_pairs_left`` — the scheduler had nothing new to propose.
5. Not before every essay has ``min_comparisons_per_essay`` results.
6. ``stable`` — the reported reliability reached ``target_reliability`` after this wave *and*
   the previous one (one lucky wave is not stability; it also keeps the figure at the stop from
   being the single high point of a noisy series). The reported reliability is the smaller of
   the split-half figure and the calibrated one (:attr:`core.engine.Refit.reliability`), so a
   figure that held-out verdicts do not back never stops a run as stable.
7. ``precise`` — the root-mean-square standard error fell to ``target_rms_se``.
8. ``target_unreachable`` — even the top of the reliability's interval, projected to the whole
   budget, stays below the target by ``UNREACHABLE_MARGIN``, after this wave and the previous
   one (see :func:`project`): the judge is too weak for the target within this budget. The decision
   carries an :class:`Outlook` (the figure the budget can reach, the comparisons the target
   would need), so a teacher can choose a stronger judge, stated confidence or more budget
   before paying for the rest. With ``stop_when_unreachable=False`` the run goes on and the
   outlook is only advice.

Neither ``stable``, ``precise`` nor ``target_unreachable`` is decided on a fit that did not
converge (``RunProgress.converged``): its figures are not trusted, so the run goes on.

A run that ran out of budget is therefore never called stable: the reason says what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: How far below the target the projected top of the interval must fall (after this wave and
#: the previous one) before a run is called ``target_unreachable``: projections from early waves
#: are rough, and stopping a run that could have made it wastes what it already cost.
UNREACHABLE_MARGIN = 0.03


class StopReason(StrEnum):
    """Why a run stopped (or ``continue`` while it runs)."""

    CONTINUE = "continue"
    STABLE = "stable"
    PRECISE = "precise"
    BUDGET_REACHED = "budget_reached"
    INSUFFICIENT_ESSAYS = "insufficient_essays"
    NO_PAIRS_LEFT = "no_pairs_left"
    TARGET_UNREACHABLE = "target_unreachable"
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
    stop_when_unreachable: bool = True

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
    reliability_high: float = float("nan")
    """Top of the reliability's interval now (NaN: ``reliability`` itself is used)."""
    previous_reliability_high: float = float("nan")
    """The same after the previous wave (NaN: no outlook from that wave)."""
    previous_results: int = 0
    """Results behind ``previous_reliability``."""


@dataclass(frozen=True)
class Outlook:
    """What the budget can buy: a projection of the reliability (see :func:`project`).

    ``reachable``: the reliability projected at the whole budget from the top of the current
    interval (an optimistic figure: the likely one is lower). ``needed``: the comparisons in
    all that the target would need on the same projection (None when it cannot be projected).
    """

    reachable: float
    needed: int | None
    budget: int
    target: float

    def sentence(self) -> str:
        """A teacher's sentence: what the judge can reach and what the target would need."""
        need = (
            f"about {self.needed:,} comparisons would be needed"
            if self.needed is not None
            else "the comparisons it would need cannot be estimated"
        )
        return (
            f"With this judge the budget of {self.budget:,} comparisons reaches a reliability "
            f"of about {self.reachable:.2f} at best, short of the target {self.target:.2f}; "
            f"{need}. A stronger model, stated confidence or a larger budget would help."
        )


def project(reliability: float, results: int, comparisons: int) -> float:
    """The reliability after ``comparisons`` results, projected from ``reliability`` now.

    Each essay's error variance falls as 1/k with its k comparisons, so R = V/(V + c/k) and the
    odds R/(1 − R) = k·V/c grow in proportion to the comparisons:
    odds(K) = odds(k)·K/k. (With adaptive pairing the odds grow at least that fast, so the
    projection errs low only as far as the figure it starts from does.)
    """
    if not math.isfinite(reliability) or results <= 0:
        return float("nan")
    r = min(max(reliability, 0.0), 1.0 - 1e-9)
    odds = r / (1.0 - r) * comparisons / results
    return odds / (1.0 + odds)


def comparisons_needed(reliability: float, results: int, target: float) -> int | None:
    """Comparisons in all for ``target`` on the projection of :func:`project` (None if R ≤ 0)."""
    if not math.isfinite(reliability) or reliability <= 0.0 or results <= 0:
        return None
    r = min(reliability, 1.0 - 1e-9)
    need = results * (target / (1.0 - target)) / (r / (1.0 - r))
    # Rounding error must not add a comparison: 640.0000001 is 640.
    return math.ceil(need * (1.0 - 1e-12)) if need < 1e12 else None


def outlook(rule: StoppingRule, progress: RunProgress) -> Outlook | None:
    """The projection behind ``target_unreachable`` (None without a target or a figure)."""
    p = progress
    if rule.target_reliability is None or p.results <= 0:
        return None
    top = p.reliability_high if math.isfinite(p.reliability_high) else p.reliability
    if not math.isfinite(top):
        return None
    return Outlook(
        reachable=project(top, p.results, rule.budget),
        needed=comparisons_needed(top, p.results, rule.target_reliability),
        budget=rule.budget,
        target=rule.target_reliability,
    )


def _unreachable(rule: StoppingRule, progress: RunProgress) -> Outlook | None:
    """The outlook when the target is out of reach now *and* after the previous wave."""
    p = progress
    now = outlook(rule, p)
    if rule.target_reliability is None:
        return None
    bar = rule.target_reliability - UNREACHABLE_MARGIN
    if now is None or now.reachable >= bar:
        return None
    before = (
        p.previous_reliability_high
        if math.isfinite(p.previous_reliability_high)
        else p.previous_reliability
    )
    if not math.isfinite(before) or p.previous_results <= 0:
        return None
    if project(before, p.previous_results, rule.budget) >= bar:
        return None
    return now


@dataclass(frozen=True)
class StopDecision:
    """The decision and a sentence a teacher can read."""

    stop: bool
    reason: StopReason
    message: str
    outlook: Outlook | None = None
    """Set when the target is out of reach within the budget (see ``target_unreachable``)."""


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
    short = _unreachable(rule, p)
    if short is not None:
        if rule.stop_when_unreachable:
            return StopDecision(True, StopReason.TARGET_UNREACHABLE, short.sentence(), short)
        return StopDecision(False, StopReason.CONTINUE, short.sentence(), short)
    return StopDecision(False, StopReason.CONTINUE, "More comparisons needed.")
