"""Reliability and fit diagnostics for a Bradley–Terry scale.

What the run reports (``core.engine.Refit.reliability``) is the smaller of two figures: the
split-half **honest reliability** and the **calibrated reliability**, with a 90 % interval.

* **Scale Separation Reliability** (SSR): with G = SD(θ̂)/RMS(SE), SSR = (G² − 1)/G²
  = 1 − mean(SE²)/Var(θ̂), clipped at 0. It is the model's own estimate of the share of the
  variance of the estimates that is true variance. When pairs are chosen adaptively the SEs
  assume a fixed design and SSR is known to run high.
* **Model reliability** Var(θ̂)/(Var(θ̂) + mean SE²), the form that suits posterior modes.
* **Split-half check**: the verdicts are split at random into two halves, every essay's
  comparisons divided evenly (:func:`core.comparisons.stratified_halves`), and each half is
  fitted on its own; ``SPLITS`` random splits, correlations averaged on Fisher's z scale.
  Comparing 1 − r (r the halves' correlation) with the error share the model claims for the
  half fits tells by how much the model understates its error; the **honest reliability**
  scales the full fit's error share up by that factor (never down).

  What the check can and cannot see. The halves share no verdicts, so the noise of one verdict
  cannot make both halves agree. They do share the design: with adaptive pairing every pair
  was chosen from a fit of all the verdicts before it, and both halves inherit the same choice
  of pairs (and the same spread-out estimates it produces). So the halves are not independent
  replications, and adaptive pairing *does* inflate their agreement: a judge right on 70 % of
  random pairs, 100 essays, reached an honest figure of 0.80 while the true squared
  correlation was 0.45–0.62. The check is kept as a ceiling, not trusted alone.

  Cost. 3 splits; half fits warm-started from the full fit and stopped at ``HALF_TOL``.
* **Calibrated reliability** (:func:`calibration_slope`, :func:`calibrated_reliability`).
  Adaptive pairing chooses pairs near 50 %, so their verdicts cannot tell how far apart the
  essays really are, and a weak judge's abilities come out spread far wider than it can back
  (fitted variance 5–6 logits² whatever the judge). A share of every wave is uniformly random
  unused pairs (:data:`core.scheduler.AUDIT_SHARE`, 20 %); the verdicts are cross-fitted in 5
  folds, each fold's logits η̂ predicted by a fit of the other four, and one slope β is fitted
  to y ~ σ(β·η̂) over all held-out verdicts. β also carries the dilution of the fold fits' own
  error, so it reads low where the model suits the judge; the moderated slope β̃ (held-out
  logits moderated by their standard errors) corrects that but reads high where adaptive
  pairing made the standard errors too small. With b = min(β + ¼(β̃ − β), 1) and V = Var(θ̂),
  the figure is b²V/(b²V + mean SE²): the spread the held-out verdicts back, against the
  model's error. At the stop in ``huleedu bench engine`` it errs about −0.02 to −0.04 where
  the model suits the judge and about +0.04 for a 70 % judge at 100 essays (where the
  split-half figure alone ran +0.15 or more). Its interval runs from β − 1.645·SE(β) to
  β̃ + 1.645·SE(β̃): the uncertainty of the slope and what the two readings of it leave open.
* **Infit / outfit** per essay (mean-square residuals): with residual r = y − p and variance
  v = p(1 − p) for each of the essay's comparisons, outfit = mean(r²/v) and infit = Σr²/Σv.
  Both are near 1 when the judge treats the essay consistently; well above 1 (say > 1.5) flags an
  essay the judge is inconsistent about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.bt import BTFit, Prior, SoftModel, fit_bt
from core.comparisons import ComparisonSet, FloatArray, IntArray, stratified_halves
from core.simulate import stable_seed

#: Essays whose infit or outfit exceed this are flagged as judged inconsistently.
MISFIT_THRESHOLD = 1.5
#: Random splits of the split-half check.
SPLITS = 3
#: Gradient tolerance of the half fits (``tol`` of :func:`core.bt.fit_bt`): an ability error of
#: about 0.01 logits at most, against standard errors near 0.5; on simulated runs it moved the
#: half correlation by < 0.001 from fits converged to 1e-9.
HALF_TOL = 1e-3
#: Relative residual of the conjugate-gradient solve of each half-fit Newton step.
HALF_STEP_TOL = 1e-4


def scale_separation_reliability(abilities: FloatArray, se: FloatArray) -> float:
    """SSR = 1 − mean(SE²)/Var(θ̂), clipped to [0, 1]; NaN with fewer than 2 essays."""
    if abilities.shape[0] < 2 or not np.all(np.isfinite(se)):
        return float("nan")
    var = float(np.var(abilities, ddof=1))
    if var <= 0.0:
        return 0.0
    return float(np.clip(1.0 - float(np.mean(se * se)) / var, 0.0, 1.0))


def separation_index(abilities: FloatArray, se: FloatArray) -> float:
    """G = SD(θ̂)/RMS(SE) (the "separation" behind SSR)."""
    rms = float(np.sqrt(np.mean(se * se)))
    return float(np.std(abilities, ddof=1) / rms) if rms > 0 else float("inf")


def model_reliability(abilities: FloatArray, se: FloatArray) -> float:
    """Var(θ̂)/(Var(θ̂) + mean(SE²)): the reliability of posterior-mode estimates.

    SSR treats θ̂ as unbiased estimates with error variance SE², so it subtracts; posterior
    modes are already shrunk by the prior, and for them the share of true variance is
    Var(θ̂)/(Var(θ̂) + mean posterior variance).
    """
    if abilities.shape[0] < 2 or not np.all(np.isfinite(se)):
        return float("nan")
    var = float(np.var(abilities, ddof=1))
    err = float(np.mean(se * se))
    return var / (var + err) if var + err > 0 else 0.0


@dataclass(frozen=True)
class SplitHalf:
    """Split-half check of the model's reliability.

    ``half_correlation``: mean correlation of abilities fitted on disjoint random halves.
    ``model_half``: the model's own reliability of those half fits. ``inflation`` = (1 − r)/(1 −
    model_half): the factor by which real error exceeds the error the model claims (> 1 means
    the model is overconfident). ``stepped_up`` is the classical Spearman–Brown figure
    2r/(1 + r), reported for reference. ``converged``: every half fit converged.
    """

    half_correlation: float
    model_half: float
    inflation: float
    stepped_up: float
    splits: int
    converged: bool = True


def split_half_check(
    data: ComparisonSet,
    *,
    splits: int = SPLITS,
    seed: int | str = 0,
    prior: Prior | None = None,
    position_bias: bool = True,
    soft_model: SoftModel = "fractional",
    start: BTFit | None = None,
    max_iter: int = 100,
) -> SplitHalf:
    """Fit random stratified halves of the verdicts and compare them (see :class:`SplitHalf`).

    Each of ``splits`` splits divides the comparisons with
    :func:`core.comparisons.stratified_halves` and fits both halves (with standard errors, for
    the model's own half reliability). ``start``, the fit of all the data, warm-starts the half
    fits; they stop at the gradient tolerance ``HALF_TOL``. Correlations are averaged on
    Fisher's z scale. NaN when there are fewer than 3 essays or 4 comparisons, or ``splits`` is
    0. ``max_iter`` caps each half fit's Newton iterations.
    """
    n = data.n_items
    nan = float("nan")
    if n < 3 or data.size < 4 or splits < 1:
        return SplitHalf(nan, nan, nan, nan, 0)
    rng = np.random.default_rng(stable_seed("split-half", seed, n, data.size))
    init = None if start is None else start.abilities
    init_bias = 0.0 if start is None else start.position_bias
    zs: list[float] = []
    models: list[float] = []
    converged = True
    for _ in range(splits):
        half = stratified_halves(data, rng)
        fits = [
            fit_bt(
                data.subset(half == h),
                prior=prior,
                position_bias=position_bias,
                soft_model=soft_model,
                init=init,
                init_position_bias=init_bias,
                tol=HALF_TOL,
                step_tol=HALF_STEP_TOL,
                max_iter=max_iter,
            )
            for h in (0, 1)
        ]
        converged = converged and all(f.converged for f in fits)
        a, b = fits[0].abilities, fits[1].abilities
        models.extend(model_reliability(f.abilities, f.se) for f in fits)
        if np.std(a) == 0 or np.std(b) == 0:
            zs.append(0.0)
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        zs.append(float(np.arctanh(np.clip(r, -0.999999, 0.999999))))
    r_mean = float(np.tanh(np.mean(zs)))
    model_half = float(np.mean(models))
    inflation = (1.0 - r_mean) / max(1.0 - model_half, 1e-9)
    stepped = max(2.0 * r_mean / (1.0 + r_mean), 0.0) if r_mean > -1.0 else nan
    return SplitHalf(r_mean, model_half, inflation, stepped, splits, converged)


def honest_reliability(model: float, check: SplitHalf) -> float:
    """The split-half figure: 1 − max(1, inflation)·(1 − model).

    The stopping rule trusts the smaller of this and :func:`calibrated_reliability` (see
    :attr:`core.engine.Refit.reliability`); on its own it runs high under adaptive pairing.

    When disjoint halves agree less than the model says they should, the model's error share is
    scaled up by that factor; when they agree as well or better, the model figure stands. So
    adaptive pairing, position bias or a misfitting link can lower it, never raise it.
    """
    if not np.isfinite(model):
        return float("nan")
    k = check.inflation if np.isfinite(check.inflation) else 1.0
    return float(np.clip(1.0 - max(1.0, k) * (1.0 - model), 0.0, 1.0))


@dataclass(frozen=True)
class Misfit:
    """Per-essay infit and outfit mean squares and the flag (either > MISFIT_THRESHOLD)."""

    infit: FloatArray
    outfit: FloatArray
    flagged: np.ndarray


def misfit(fit: BTFit, data: ComparisonSet, threshold: float = MISFIT_THRESHOLD) -> Misfit:
    """Infit and outfit mean squares for every essay (NaN for essays never compared)."""
    n = data.n_items
    theta = fit.abilities
    eta = theta[data.first] - theta[data.second] + fit.position_bias
    p = 1.0 / (1.0 + np.exp(-eta))
    v = np.maximum(p * (1.0 - p), 1e-12)
    r2 = data.weight * (data.outcome - p) ** 2
    w = data.weight
    idx = np.concatenate([data.first, data.second])
    sum_r2 = np.bincount(idx, np.concatenate([r2, r2]), n)
    sum_v = np.bincount(idx, np.concatenate([w * v, w * v]), n)
    sum_z2 = np.bincount(idx, np.concatenate([r2 / v, r2 / v]), n)
    sum_w = np.bincount(idx, np.concatenate([w, w]), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        infit = np.where(sum_v > 0, sum_r2 / sum_v, np.nan)
        outfit = np.where(sum_w > 0, sum_z2 / sum_w, np.nan)
    flagged = (np.nan_to_num(infit) > threshold) | (np.nan_to_num(outfit) > threshold)
    return Misfit(infit=infit, outfit=outfit, flagged=flagged)


#: Folds of the cross-fitted calibration slope.
CALIBRATION_FOLDS = 5
#: How far the reported slope moves from the raw slope β towards the moderated slope β̃:
#: b = β + w·(β̃ − β). The raw slope reads low by the fold fits' dilution where the model suits
#: the judge; the moderated one reads high where adaptive pairing shrank the standard errors.
#: Measured at the stop (``huleedu bench engine``, README; mean absolute error on the argmax
#: judge, bias on the 70 % judge at 100 essays): w = 0 gave 0.053 and +0.02, w = 0.25 gave 0.046
#: and +0.04 (40 seeds); 0.5 gave 0.041 and +0.06, 1 gave 0.045 and +0.09 (20 seeds). Ten folds
#: instead of five read alike.
MODERATION_WEIGHT = 0.25
#: Normal quantile of the two-sided 90 % interval of the calibrated reliability.
INTERVAL_Z = 1.6448536269514722


@dataclass(frozen=True)
class CalibrationSlope:
    """How well abilities fitted without a verdict predict it (see :func:`calibration_slope`).

    ``slope`` β of the raw held-out logits and its standard error ``se`` (from the curvature
    of the held-out log-likelihood); ``moderated`` and ``moderated_se`` the same for the
    moderated logits (NaN when no standard errors were given); ``verdicts`` the held-out
    verdicts pooled; ``folds`` the folds fitted (0 when there were too few verdicts, and the
    slopes are then NaN).
    """

    slope: float
    se: float
    verdicts: int
    folds: int
    converged: bool = True
    moderated: float = float("nan")
    moderated_se: float = float("nan")


def fold_labels(m: int, folds: int, rng: np.random.Generator) -> IntArray:
    """A uniformly random fold (0 … folds − 1) for each of ``m`` verdicts, sizes within one."""
    labels: IntArray = (rng.permutation(m) % folds).astype(np.intp)
    return labels


def slope_fit(
    eta: FloatArray, y: FloatArray, w: FloatArray, *, max_iter: int = 50
) -> tuple[float, float]:
    """Maximum-likelihood β of y ~ Bernoulli(σ(β·η)) (weights w), and its standard error.

    The log-likelihood ℓ(β) = Σ w·[y·log σ(βη) + (1 − y)·log σ(−βη)] is concave in β; Newton
    steps β ← β + ℓ'/I with ℓ' = Σ w·(y − p)·η and I = Σ w·p(1 − p)·η², p = σ(βη), from β = 1,
    halved until ℓ does not fall. SE(β) = 1/√I at the optimum. β is bounded to [−10, 10]
    (data that a sign of η separates perfectly would push it to infinity). Returns (NaN, NaN)
    when Σ w·η² = 0 (no predicted gap to calibrate).
    """
    if eta.shape[0] == 0 or float(np.sum(w * eta * eta)) <= 0.0:
        return float("nan"), float("nan")

    def loglik(beta: float) -> float:
        z = beta * eta
        return -float(np.sum(w * (y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))))

    beta = 1.0
    value = loglik(beta)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-beta * eta))
        grad = float(np.sum(w * (y - p) * eta))
        info = float(np.sum(w * p * (1.0 - p) * eta * eta))
        step = grad / max(info, 1e-12)
        t = 1.0
        while True:
            trial = float(np.clip(beta + t * step, -10.0, 10.0))
            new = loglik(trial)
            if new >= value - 1e-12 or t < 1e-6:
                break
            t *= 0.5
        moved = abs(trial - beta)
        beta, value = trial, new
        # At a bound the next step either comes back in (the clipped jump overshot a finite
        # optimum) or is clipped to the same point (separated data): then it has not moved.
        if moved < 1e-10:
            break
    p = 1.0 / (1.0 + np.exp(-beta * eta))
    info = float(np.sum(w * p * (1.0 - p) * eta * eta))
    se = 1.0 / np.sqrt(info) if info > 1e-12 else float("inf")
    return beta, float(se)


def calibration_slope(
    data: ComparisonSet,
    outcome: FloatArray,
    *,
    folds: int = CALIBRATION_FOLDS,
    seed: int | str = 0,
    prior: Prior | None = None,
    position_bias: bool = True,
    soft_model: SoftModel = "fractional",
    start: BTFit | None = None,
    se: FloatArray | None = None,
    max_iter: int = 100,
) -> CalibrationSlope:
    """Cross-fitted calibration slope of the fitted gaps: β in y ~ σ(β·η̂₋ₖ).

    The verdicts are split at random into ``folds`` folds. For each fold k the model is fitted
    on the other folds (``data`` as it enters the reported fit: soft evidence included) and
    predicts the held-out verdicts' logits η̂₋ₖ = θ̂_f − θ̂_s + δ̂. One slope β is fitted to the
    pooled held-out pairs (η̂, ``outcome``), ``outcome`` being the hard verdicts (1 when the
    first-shown essay won) — what the judge actually said, whatever entered the fit.

    β is what the fitted gaps are worth on verdicts they never saw. β ≈ 1: gaps of the size
    fitted are as decisive as the model says. β < 1: the verdicts are less decisive than the
    fitted gaps claim — the abilities are spread out further than the judge can back, which is
    what adaptive pairing does to a weak judge (pairs are chosen near 50 %, so their verdicts
    cannot say how far apart the essays really are). Uniformly random audit pairs
    (:data:`core.scheduler.AUDIT_SHARE`) span the whole range of gaps and carry most of the
    information about β; adaptive pairs (η̂ near 0) carry little. The same dilution that makes
    any regression on noisy predictors run flat also pulls β below 1 on a judge the model suits
    (held-out gaps are estimated, not true), so β < 1 also reflects the fold fits' own error:
    the figure built on it (:func:`calibrated_reliability`) errs low rather than high.

    Moderated slope. Given the full fit's standard errors ``se``, the held-out logits are also
    *moderated* by their own uncertainty, η̃ = η̂/√(1 + π·v/8) with
    v = (SE_f² + SE_s²)·folds/(folds − 1) (the fold fits see (folds − 1)/folds of the verdicts),
    since E σ(η) over η ~ N(η̂, v) ≈ σ(η̃). If the standard errors were right, y ~ σ(β̃·η̃) would
    give β̃ ≈ 1 on any judge: the moderated slope corrects the dilution, but trusts the standard
    errors, which adaptive pairing makes too small. So β̃ ≥ β in practice, and the reliability
    built on it is the optimistic end of the interval (:func:`calibrated_reliability`).

    Fold fits start from ``start`` (the full fit) and stop at ``HALF_TOL``. With fewer than
    2·``folds`` verdicts or 3 essays no slope is fitted (NaN, ``folds`` = 0).
    """
    n, m = data.n_items, data.size
    if n < 3 or m < 2 * folds or folds < 2:
        return CalibrationSlope(float("nan"), float("nan"), 0, 0)
    rng = np.random.default_rng(stable_seed("calibration-slope", seed, n, m))
    label = fold_labels(m, folds, rng)
    eta = np.zeros(m)
    init = None if start is None else start.abilities
    init_bias = 0.0 if start is None else start.position_bias
    converged = True
    for k in range(folds):
        held = label == k
        fit = fit_bt(
            data.subset(~held),
            prior=prior,
            position_bias=position_bias,
            soft_model=soft_model,
            init=init,
            init_position_bias=init_bias,
            compute_se=False,
            tol=HALF_TOL,
            step_tol=HALF_STEP_TOL,
            max_iter=max_iter,
        )
        converged = converged and fit.converged
        theta = fit.abilities
        eta[held] = theta[data.first[held]] - theta[data.second[held]] + fit.position_bias
    y = np.asarray(outcome, np.float64)
    w = np.where(data.weight > 0, 1.0, 0.0)
    beta, beta_se = slope_fit(eta, y, w)
    mod, mod_se = float("nan"), float("nan")
    if se is not None and se.shape[0] == n and np.all(np.isfinite(se)):
        v = (se[data.first] ** 2 + se[data.second] ** 2) * folds / (folds - 1)
        mod, mod_se = slope_fit(eta / np.sqrt(1.0 + np.pi * v / 8.0), y, w)
    return CalibrationSlope(beta, beta_se, m, folds, converged, mod, mod_se)


@dataclass(frozen=True)
class ReliabilityEstimate:
    """A reliability and its 90 % interval [``low``, ``high``] (:func:`calibrated_reliability`)."""

    value: float
    low: float
    high: float


def calibrated_reliability(
    abilities: FloatArray,
    se: FloatArray,
    slope: CalibrationSlope,
    z: float = INTERVAL_Z,
    weight: float = MODERATION_WEIGHT,
) -> ReliabilityEstimate:
    """b²V/(b²V + mean SE²) with b = min(β + w·(β̃ − β), 1), and an interval around it.

    V is the variance of the fitted abilities and SE their posterior SDs; β the raw slope and
    β̃ the moderated slope of :func:`calibration_slope` (b = min(β, 1) without β̃), w
    ``weight``. Shrinking the spread of the abilities by the slope removes the part of their
    spread that held-out verdicts do not back; b is capped at 1, so the figure never exceeds the
    model reliability V/(V + mean SE²). The figure is monotone in b. The raw slope errs low
    where the fit suits the judge (it also carries the fold fits' own error), the moderated one
    high where adaptive pairing made the standard errors too small; w =
    :data:`MODERATION_WEIGHT` is the measured compromise.

    Interval: ``low`` is the figure at b = β − z·SE(β); ``high`` the figure at the moderated
    slope's β̃ + z·SE(β̃) (or β + z·SE(β) without it), each end clipped to [0, 1] in b and
    widened to hold the value: the slope's sampling error and what the two readings of it
    leave open. NaN when β is.
    """
    nan = float("nan")
    if abilities.shape[0] < 2 or not np.all(np.isfinite(se)) or not np.isfinite(slope.slope):
        return ReliabilityEstimate(nan, nan, nan)
    var = float(np.var(abilities, ddof=1))
    err = float(np.mean(se * se))

    def at(beta: float) -> float:
        b = min(max(beta, 0.0), 1.0)
        spread = b * b * var
        return spread / (spread + err) if spread + err > 0 else 0.0

    def spread(error: float) -> float:
        return z * error if np.isfinite(error) else float("inf")

    top, top_se = (
        (slope.moderated, slope.moderated_se)
        if np.isfinite(slope.moderated)
        else (slope.slope, slope.se)
    )
    centre = slope.slope
    if np.isfinite(slope.moderated):
        centre += weight * (slope.moderated - slope.slope)
    value = at(centre)
    low = min(at(slope.slope - spread(slope.se)), value)
    high = max(at(top + spread(top_se)), value)
    return ReliabilityEstimate(value, low, high)
