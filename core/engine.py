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

from core.bt import LOGIT_CLIP, LOGIT_EVIDENCE_VAR, BTFit, Prior, SoftModel, fit_bt
from core.calibration import ConfidenceCalibration, calibrate_confidence
from core.comparisons import ComparisonSet, FloatArray
from core.groups import group_size, plan_group_wave
from core.reliability import (
    CALIBRATION_FOLDS,
    SPLITS,
    CalibrationSlope,
    ReliabilityEstimate,
    SplitHalf,
    calibrated_reliability,
    calibration_slope,
    honest_reliability,
    model_reliability,
    scale_separation_reliability,
    split_half_check,
)
from core.scheduler import AUDIT_SHARE, SchedulerState, Strategy, plan_wave
from core.stopping import RunProgress, StopDecision, StoppingRule, StopReason, decide

#: Calibration weight from which stated confidence is used in full, as logit evidence.
TRUST_CONFIDENCE = 0.8

#: The calibration slope of a refit that fitted none.
NO_SLOPE = CalibrationSlope(float("nan"), float("nan"), 0, 0)

#: Largest wave the engine plans by default (see :func:`default_wave_size`).
WAVE_CAP = 25


def default_wave_size(n_items: int) -> int:
    """Pairs per wave: about a third of the essays, at most ``WAVE_CAP`` (at least 1).

    A wave is what the judge layer works on at once (10 pairs for 30 essays: 10 calls in flight,
    or 3 bundles of 4), and each refit between waves lets the scheduler adapt. Smaller waves
    spend fewer comparisons and take more rounds; in simulation (``huleedu bench engine``) waves
    of n/3 needed about 7 % fewer comparisons than waves of n/2 at n = 30, and capping waves at
    25 pairs about 10 % fewer at n = 100.
    """
    return max(1, min(n_items // 2, WAVE_CAP, round(n_items / 3)))


def group_wave_size(n_items: int, bundle_pairs: int) -> int:
    """Pairs per wave when bundles share essays (:func:`core.groups.plan_group_wave`): as many
    as :func:`default_wave_size`, rounded to whole groups of ``bundle_pairs`` (at least one);
    :func:`default_wave_size` itself when the batch is too small for a single group.

    A group wave shows fewer essays than a wave of separate pairs of the same size. Waves
    holding 2k/m times as many pairs (as many essays as a separate wave) ranked about 2 % better
    per comparison, but the stopping rule, read once per wave, then overshot: at 30 essays and
    target 0.80 runs stopped after 15.0 instead of 13.1 comparisons per essay (10 seeds,
    ``huleedu bench llm`` judges), so group waves keep the separate waves' size.
    """
    if n_items < group_size(bundle_pairs):
        return default_wave_size(n_items)  # no group fits: pairs one by one, as without groups
    return max(bundle_pairs, bundle_pairs * round(default_wave_size(n_items) / bundle_pairs))


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
    """The reliability reported and trusted by the stopping rule: the smaller of the split-half
    honest reliability (:func:`core.reliability.honest_reliability`) and the calibrated
    reliability (:func:`core.reliability.calibrated_reliability`); the honest figure alone when
    no calibration slope could be fitted."""
    soft_model: SoftModel
    """How soft outcomes entered ``fit``: ``"logit"`` when stated confidence was trusted."""
    converged: bool
    """True only when every fit behind the reported figures converged: the hard fit, the soft
    fits (when stated confidence was used) and every split-half fit. The calibration's fold fits
    only decide how far confidence is trusted and are not counted. A run must not trust the
    figures of a refit that did not converge (see :class:`core.stopping.RunProgress`)."""
    slope: CalibrationSlope = NO_SLOPE
    """The cross-fitted calibration slope behind the calibrated reliability."""
    honest: float = float("nan")
    """The split-half honest reliability on its own."""
    interval: tuple[float, float] = (float("nan"), float("nan"))
    """90 % interval of ``reliability`` from the calibration slope's uncertainty."""

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
    reliability_splits: int = SPLITS,
    calibration_folds: int = CALIBRATION_FOLDS,
    seed: int | str = 0,
    max_iter: int = 100,
) -> Refit:
    """Fit all verdicts so far. Reliability figures come with every refit.

    With ``use_confidence`` the judge's stated probabilities are first tested for information
    (:mod:`core.calibration`). Trusted (weight ≥ ``TRUST_CONFIDENCE``): each stated probability
    enters the fit as logit evidence of the gap (``soft_model="logit"``). Partly trusted: a
    blend of stated and hard outcome as a fractional win. Untrusted: the hard fit.

    Cost (a refit runs after every wave). Every fit starts from an earlier one: the hard fit
    from ``previous`` (the last wave's fit), the calibration's fold fits (two Newton steps each,
    :func:`core.calibration.calibrate_confidence`) and the soft fits from the hard fit, and the
    ``reliability_splits`` × 2 split-half fits from the reported fit, to a looser tolerance
    (:func:`core.reliability.split_half_check`). Standard errors are computed for the fits
    whose SEs are read (the hard fit, the reported fit, the half fits), and only the diagonal
    of the constrained inverse is formed (:func:`core.bt.centred_variances`). On simulated
    adaptive data (``python -m app.bench.refit``: 200 essays, 1,000 comparisons) a refit with
    all its checks takes about 5–6 times one plain :func:`core.bt.fit_bt` of the same data.

    The reported reliability is the smaller of the split-half figure and the calibrated one:
    ``calibration_folds`` fold fits (warm-started, loose tolerance, no standard errors) predict
    the held-out verdicts, whose calibration slope shrinks the spread the figure trusts
    (:func:`core.reliability.calibration_slope`); ``calibration_folds=0`` skips it.

    ``max_iter`` caps the Newton iterations of every fit behind the reported figures;
    ``Refit.converged`` says whether all of them converged.
    """
    m = len(verdicts)
    rows = np.array([(v.first, v.second, v.first_wins) for v in verdicts], dtype=np.intp)
    rows = rows.reshape(m, 3)
    hard = rows[:, 2].astype(np.float64)
    data = ComparisonSet.from_arrays(n_items, rows[:, 0], rows[:, 1], hard)
    hard_fit = fit_bt(
        data,
        prior=prior,
        init=None if previous is None else previous.abilities,
        init_position_bias=0.0 if previous is None else previous.position_bias,
        max_iter=max_iter,
    )
    fit = hard_fit
    fits = [hard_fit]
    calibration: ConfidenceCalibration | None = None
    soft_model: SoftModel = "fractional"
    stated = [v.stated_first for v in verdicts]
    if use_confidence and verdicts and all(s is not None for s in stated):
        q = np.asarray(stated, dtype=np.float64)
        calibration = calibrate_confidence(data, q, prior=prior, seed=seed, start=hard_fit)
        if calibration.weight >= TRUST_CONFIDENCE:
            # Trusted confidence: each stated probability is evidence of the gap itself.
            data = data.with_outcomes(np.clip(q, LOGIT_CLIP, 1.0 - LOGIT_CLIP))
            soft_model = "logit"
            # This fit only sets the evidence weight: no standard errors needed.
            first_pass = _fit_from(data, hard_fit, prior, soft_model, max_iter, compute_se=False)
            # Weigh the evidence by its observed precision, so SEs match this judge's noise.
            data = data.with_weights(np.full(data.size, _evidence_weight(first_pass, data)))
            fit = _fit_from(data, first_pass, prior, soft_model, max_iter)
            fits += [first_pass, fit]
        elif calibration.weight > 0.0:
            data = data.with_outcomes(calibration.soft_outcomes(q, hard))
            fit = _fit_from(data, hard_fit, prior, soft_model, max_iter)
            fits.append(fit)
    ssr = scale_separation_reliability(fit.abilities, fit.se)
    model = model_reliability(fit.abilities, fit.se)
    half = split_half_check(
        data,
        splits=reliability_splits,
        seed=seed,
        prior=prior,
        soft_model=soft_model,
        start=fit,
        max_iter=max_iter,
    )
    honest = honest_reliability(model, half)
    slope = NO_SLOPE
    if calibration_folds >= 2:
        slope = calibration_slope(
            data,
            hard,
            folds=calibration_folds,
            seed=seed,
            prior=prior,
            soft_model=soft_model,
            start=fit,
            se=fit.se,
            max_iter=max_iter,
        )
    calibrated = calibrated_reliability(fit.abilities, fit.se, slope)
    reported, interval = _reported(honest, calibrated)
    converged = half.converged and all(f.converged for f in fits)
    return Refit(
        fit,
        data,
        hard_fit,
        calibration,
        ssr,
        model,
        half,
        reported,
        soft_model,
        converged,
        slope=slope,
        honest=honest,
        interval=interval,
    )


def _reported(honest: float, calibrated: ReliabilityEstimate) -> tuple[float, tuple[float, float]]:
    """min(honest, calibrated) and its interval (each end capped by the honest figure)."""
    if not np.isfinite(calibrated.value):
        return honest, (honest, honest)
    if not np.isfinite(honest):
        return calibrated.value, (calibrated.low, calibrated.high)
    return min(honest, calibrated.value), (
        min(honest, calibrated.low),
        min(honest, calibrated.high),
    )


def _fit_from(
    data: ComparisonSet,
    start: BTFit,
    prior: Prior | None,
    soft_model: SoftModel,
    max_iter: int,
    *,
    compute_se: bool = True,
) -> BTFit:
    """``fit_bt`` warm-started from another fit's abilities and position bias."""
    return fit_bt(
        data,
        prior=prior,
        init=start.abilities,
        init_position_bias=start.position_bias,
        soft_model=soft_model,
        compute_se=compute_se,
        max_iter=max_iter,
    )


def _evidence_weight(fit: BTFit, data: ComparisonSet) -> float:
    """π²/3 over the residual variance of logit evidence (degrees of freedom m − n, floored).

    Logit evidence is modelled as z ~ N(η, π²/3); a judge whose stated probabilities are sharper
    or vaguer than that gets its evidence weighted by the precision it actually shows.
    """
    m, n = data.size, data.n_items
    if m == 0:
        return 1.0
    y = np.clip(data.outcome, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    z = np.log(y / (1.0 - y))
    eta = fit.abilities[data.first] - fit.abilities[data.second] + fit.position_bias
    dof = max(m - n, m / 4.0)
    residual_var = float(np.sum((z - eta) ** 2)) / dof
    return float(np.clip(LOGIT_EVIDENCE_VAR / max(residual_var, 1e-6), 0.25, 4.0))


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
    reliability_splits: int = SPLITS,
    audit_share: float | None = None,
    shared_bundles: bool = False,
) -> SimulatedRun:
    """Run the loop in memory with a (simulated) judge until the rule (or ``on_wave``) stops it.

    ``on_wave(wave, refit)`` is called after every refit; returning True stops the run early
    (used by benchmarks that watch for a target). ``boundary_uncertainty`` maps a refit to
    per-essay grade-boundary uncertainty so the scheduler spends extra comparisons there.
    ``bundle_size`` > 1 makes the judge see the wave in bundles of that many pairs.
    ``reliability_splits=0`` skips the split-half check (the reported reliability is then the
    model's own figure, unchecked, and no calibration slope is fitted either); benchmarks that
    only watch accuracy use it to save time. ``audit_share`` of every adaptive wave is uniformly
    random unused pairs (default ``core.scheduler.AUDIT_SHARE``; see :mod:`core.scheduler`).
    ``shared_bundles`` with ``bundle_size`` > 1 plans the waves as bundles whose pairs share
    essays (:func:`core.groups.plan_group_wave`), as the application does in bundle mode.
    """
    share = AUDIT_SHARE if audit_share is None else audit_share
    run = SimulatedRun()
    if shared_bundles and bundle_size > 1:
        size = wave_size or group_wave_size(n_items, bundle_size)
    else:
        size = wave_size or default_wave_size(n_items)
    shown: list[tuple[int, int]] = []
    current: Refit | None = None
    wave = 0
    while True:
        progress = _progress(n_items, run.verdicts, run.refits, pairs_available=True)
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
            soft_evidence=current is not None and current.soft_model == "logit",
            min_comparisons=rule.min_comparisons_per_essay,
            audit_share=share if strategy == "adaptive" else 0.0,
        )
        remaining = rule.budget - len(run.verdicts)
        if shared_bundles and bundle_size > 1:
            groups = plan_group_wave(
                state, min(size, remaining), bundle_size, seed=seed, wave=wave, strategy=strategy
            )
            pairs = [pair for group in groups for pair in group][:remaining]
        else:
            pairs = plan_wave(state, min(size, remaining), seed=seed, wave=wave, strategy=strategy)
        if not pairs:
            run.decision = decide(
                rule, _progress(n_items, run.verdicts, run.refits, pairs_available=False)
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
            reliability_splits=reliability_splits,
            calibration_folds=CALIBRATION_FOLDS if reliability_splits > 0 else 0,
        )
        run.refits.append(current)
        if on_wave is not None and on_wave(wave, current):
            run.decision = StopDecision(True, StopReason.CONTINUE, "Stopped by the observer.")
            return run
        wave += 1


def _progress(
    n_items: int,
    verdicts: Sequence[Verdict],
    refits: Sequence[Refit],
    *,
    pairs_available: bool,
) -> RunProgress:
    current = refits[-1] if refits else None
    ends = np.fromiter(
        (i for v in verdicts for i in (v.first, v.second)), np.intp, 2 * len(verdicts)
    )
    counts = np.bincount(ends, minlength=n_items)
    return RunProgress(
        n_essays=n_items,
        results=len(verdicts),
        failures=0,
        min_comparisons=int(counts.min()) if n_items else 0,
        reliability=float("nan") if current is None else current.reliability,
        previous_reliability=refits[-2].reliability if len(refits) > 1 else float("nan"),
        rms_se=float("nan") if current is None else current.rms_se,
        pairs_available=pairs_available,
        converged=True if current is None else current.converged,
        reliability_high=float("nan") if current is None else current.interval[1],
        previous_reliability_high=refits[-2].interval[1] if len(refits) > 1 else float("nan"),
        previous_results=refits[-2].data.size if len(refits) > 1 else 0,
    )
