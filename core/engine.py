"""The comparative-judgement loop as pure functions: refit after a wave, and a simulated run.

A run alternates: plan a wave (:mod:`core.scheduler`) → judge it → :func:`refit` → decide
(:mod:`core.stopping`). The application drives the same steps over durable state and a real
judge; :func:`simulate_run` drives them in memory with a :class:`~core.simulate.SimulatedJudge`
for tests, benchmarks and the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from core.bt import BTFit, Prior, fit_bt
from core.calibration import ConfidenceCalibration, calibrate_confidence
from core.comparisons import ComparisonSet, FloatArray
from core.reliability import (
    SplitHalf,
    honest_reliability,
    model_reliability,
    scale_separation_reliability,
    split_half_check,
)
from core.scheduler import SchedulerState, Strategy, plan_wave
from core.stopping import RunProgress, StopDecision, StoppingRule, StopReason, decide

#: Largest wave the engine plans by default (see :func:`default_wave_size`).
WAVE_CAP = 25


def default_wave_size(n_items: int) -> int:
    """Pairs per wave: every essay once (n/2), but at most ``WAVE_CAP``.

    A wave is what the judge layer works on at once (25 calls in flight, or 7 bundles of 4),
    and each refit between waves lets the scheduler adapt. In simulation
    (``huleedu bench engine``) capping large waves at 25 pairs cut the comparisons per essay
    needed at n = 100 by about 10 % compared with waves of n/2.
    """
    return max(1, min(n_items // 2, WAVE_CAP))


class JudgeAnswer(Protocol):
    """What a judge returns: the hard verdict and the stated probability for the first."""

    @property
    def first_wins(self) -> bool: ...

    @property
    def probability_first(self) -> float: ...


class Judge(Protocol):
    """Anything that can judge a pair shown as (first, second), e.g. a SimulatedJudge."""

    def judge(self, first: int, second: int, place_in_bundle: int = 0) -> JudgeAnswer: ...


@dataclass(frozen=True)
class Verdict:
    """A judged comparison as the engine needs it.

    ``stated_first`` is the judge's stated probability that the first-shown essay is better
    (from a calibrated confidence or token log-probabilities), or None if it gave none.
    """

    first: int
    second: int
    first_wins: bool
    stated_first: float | None = None


@dataclass(frozen=True)
class Refit:
    """The outcome of :func:`refit`: the fit used for decisions and how it was made."""

    fit: BTFit
    data: ComparisonSet
    hard_fit: BTFit
    calibration: ConfidenceCalibration | None
    ssr: float
    model_reliability: float
    split_half: SplitHalf
    reliability: float
    """The honest reliability (see :func:`core.reliability.honest_reliability`)."""

    @property
    def rms_se(self) -> float:
        return float(np.sqrt(np.mean(self.fit.se**2))) if self.fit.n_items else float("nan")


def refit(
    n_items: int,
    verdicts: Sequence[Verdict],
    *,
    use_confidence: bool = True,
    previous: BTFit | None = None,
    prior: Prior | None = None,
    reliability_splits: int = 6,
    seed: int | str = 0,
) -> Refit:
    """Fit all verdicts so far; with ``use_confidence``, calibrate stated confidence into soft
    verdicts (see :mod:`core.calibration`). Reliability figures come with every refit."""
    first = np.fromiter((v.first for v in verdicts), dtype=np.intp, count=len(verdicts))
    second = np.fromiter((v.second for v in verdicts), dtype=np.intp, count=len(verdicts))
    hard = np.fromiter((1.0 if v.first_wins else 0.0 for v in verdicts), np.float64, len(verdicts))
    data = ComparisonSet.from_arrays(n_items, first, second, hard)
    init = None if previous is None else previous.abilities
    hard_fit = fit_bt(data, prior=prior, init=init)
    fit = hard_fit
    calibration: ConfidenceCalibration | None = None
    stated = [v.stated_first for v in verdicts]
    if use_confidence and verdicts and all(s is not None for s in stated):
        q = np.asarray(stated, dtype=np.float64)
        # The stated probability must agree with the hard verdict's side.
        q = np.where(hard > 0.5, np.maximum(q, 0.5), np.minimum(q, 0.5))
        calibration = calibrate_confidence(data, q, prior=prior, seed=seed)
        if calibration.weight > 0.0:
            data = data.with_outcomes(calibration.soft_outcomes(q, hard))
        fit = fit_bt(data, prior=prior, init=hard_fit.abilities)
    ssr = scale_separation_reliability(fit.abilities, fit.se)
    model = model_reliability(fit.abilities, fit.se)
    half = split_half_check(data, splits=reliability_splits, seed=seed, prior=prior)
    honest = honest_reliability(model, half)
    return Refit(fit, data, hard_fit, calibration, ssr, model, half, honest)


@dataclass
class SimulatedRun:
    """Everything a simulated run produced."""

    verdicts: list[Verdict] = field(default_factory=list)
    refits: list[Refit] = field(default_factory=list)
    decision: StopDecision | None = None

    @property
    def final(self) -> Refit | None:
        return self.refits[-1] if self.refits else None


def simulate_run(
    judge: Judge,
    n_items: int,
    rule: StoppingRule,
    *,
    wave_size: int | None = None,
    seed: int | str = 0,
    strategy: Strategy = "adaptive",
    use_confidence: bool = False,
    boundary_uncertainty: Callable[[Refit], FloatArray | None] | None = None,
    bundle_size: int = 1,
    on_wave: Callable[[int, Refit], bool] | None = None,
    prior: Prior | None = None,
) -> SimulatedRun:
    """Run the loop in memory with a (simulated) judge until the rule (or ``on_wave``) stops it.

    ``on_wave(wave, refit)`` is called after every refit; returning True stops the run early
    (used by benchmarks that watch for a target). ``boundary_uncertainty`` maps a refit to
    per-essay grade-boundary uncertainty so the scheduler spends extra comparisons there.
    ``bundle_size`` > 1 makes the judge see the wave in bundles of that many pairs.
    """
    run = SimulatedRun()
    size = wave_size or default_wave_size(n_items)
    shown: list[tuple[int, int]] = []
    current: Refit | None = None
    wave = 0
    while True:
        progress = _progress(n_items, run.verdicts, current, pairs_available=True)
        decision = decide(rule, progress)
        if decision.stop:
            run.decision = decision
            return run
        state = SchedulerState(
            n_items=n_items,
            shown=shown,
            abilities=None if current is None else current.fit.abilities,
            se=None if current is None else current.fit.se,
            boundary_uncertainty=(
                None
                if current is None or boundary_uncertainty is None
                else boundary_uncertainty(current)
            ),
        )
        remaining = rule.budget - len(run.verdicts)
        pairs = plan_wave(state, min(size, remaining), seed=seed, wave=wave, strategy=strategy)
        if not pairs:
            run.decision = decide(
                rule, _progress(n_items, run.verdicts, current, pairs_available=False)
            )
            return run
        for place, (a, b) in enumerate(pairs):
            verdict = judge.judge(a, b, place_in_bundle=place % max(1, bundle_size))
            shown.append((a, b))
            run.verdicts.append(Verdict(a, b, verdict.first_wins, verdict.probability_first))
        current = refit(
            n_items,
            run.verdicts,
            use_confidence=use_confidence,
            previous=None if current is None else current.fit,
            prior=prior,
            seed=seed,
        )
        run.refits.append(current)
        if on_wave is not None and on_wave(wave, current):
            run.decision = StopDecision(True, StopReason.CONTINUE, "Stopped by the observer.")
            return run
        wave += 1


def _progress(
    n_items: int, verdicts: Sequence[Verdict], current: Refit | None, *, pairs_available: bool
) -> RunProgress:
    counts = np.zeros(n_items, dtype=np.intp)
    for v in verdicts:
        counts[v.first] += 1
        counts[v.second] += 1
    return RunProgress(
        n_essays=n_items,
        results=len(verdicts),
        failures=0,
        min_comparisons=int(counts.min()) if n_items else 0,
        reliability=float("nan") if current is None else current.reliability,
        rms_se=float("nan") if current is None else current.rms_se,
        pairs_available=pairs_available,
    )
