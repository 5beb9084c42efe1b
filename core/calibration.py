"""Turning a judge's stated confidence into soft verdicts only when it has earned it.

A judge states, with each verdict, how sure it is: a probability q that the first-shown essay is
better (from token log-probabilities, or a 1–5 confidence mapped to one). Feeding q to the fit
as a soft outcome helps a great deal when q is informative and hurts when it is noise (a judge
that says "5" about coin flips). So the data decide how much q is used:

1. **Out-of-sample check.** The verdicts are split in ``FOLDS`` folds (stratified per essay). The
   hard verdicts outside each fold are fitted and used to predict the fold, giving for every verdict
   an out-of-sample probability p̂ that its *stated winner* is better. Nothing a verdict says
   about itself enters its own prediction. (Given the fit of all verdicts, each fold fit is two
   Newton steps from it, see :func:`calibrate_confidence`.)
2. **Test.** If stated strength s = max(q, 1 − q) is informative, verdicts stated more strongly
   agree more with the rest of the data: the Spearman correlation ρ between s and p̂ over the m
   verdicts is positive. The statistic z = ρ·√(m − 1) is about N(0, 1) when confidence is noise
   and about N(μ, 1), μ = ``RHO_INFORMATIVE``·√(m − 1), when it is informative. The weight w is
   the posterior probability of "informative" from prior ``PRIOR_INFORMATIVE`` and this
   likelihood ratio: logit w = logit prior + z·μ − μ²/2.
3. The caller uses the stated probabilities in full when w ≥ 0.8 (see :func:`core.engine.refit`),
   otherwise ``soft_outcomes`` = w·q + (1 − w)·y, y the hard verdict (1 if the first won).

Early in a run there is little evidence either way and w stays near the prior; within a few
waves it goes to 1 for informative confidence and to 0 for noise, where the fit is the hard fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.bt import BTFit, Prior, fit_bt
from core.comparisons import ComparisonSet, FloatArray, IntArray, stratified_folds
from core.ranks import spearman
from core.simulate import stable_seed

#: Prior probability that a judge's stated confidence is informative.
PRIOR_INFORMATIVE = 0.5
#: Correlation ρ expected between stated strength and out-of-sample agreement when confidence
#: is informative (simulated judges show about 0.2 early in a run and 0.4 later).
RHO_INFORMATIVE = 0.35
#: Folds of the out-of-sample check (a power of two).
FOLDS = 4
#: Newton steps of each fold fit, started from the fit of all verdicts (see
#: :func:`calibrate_confidence`).
FOLD_NEWTON_STEPS = 2
#: Relative residual of the conjugate-gradient solve of each of those Newton steps.
FOLD_STEP_TOL = 1e-2
#: Stated probabilities are kept inside [CLIP, 1 − CLIP] so one verdict can never be certain.
CLIP = 0.02


@dataclass(frozen=True)
class ConfidenceCalibration:
    """How much stated confidence is trusted (``weight`` in [0, 1]) and the evidence for it."""

    weight: float
    statistic: float
    correlation: float
    n_verdicts: int

    def soft_outcomes(self, stated_first: FloatArray, hard: FloatArray) -> FloatArray:
        """w·q + (1 − w)·y for stated probabilities q and hard outcomes y (first won = 1)."""
        q = np.clip(np.asarray(stated_first, dtype=np.float64), CLIP, 1.0 - CLIP)
        out: FloatArray = self.weight * q + (1.0 - self.weight) * np.asarray(hard, np.float64)
        return out


def _folds(data: ComparisonSet, k: int, seed: int | str) -> IntArray:
    """Fold label 0..k−1 per comparison, spreading every essay's comparisons over the folds.

    ``k`` is a power of two (see :func:`core.comparisons.stratified_folds`).
    """
    rng = np.random.default_rng(stable_seed("calibration-folds", seed, k, data.n_items, data.size))
    return stratified_folds(data, k, rng)


def calibrate_confidence(
    hard_data: ComparisonSet,
    stated_first: FloatArray,
    *,
    prior: Prior | None = None,
    seed: int | str = 0,
    start: BTFit | None = None,
) -> ConfidenceCalibration:
    """Decide how far stated confidence is trusted (see the module docstring).

    ``hard_data`` holds the comparisons with hard outcomes; ``stated_first`` the stated
    probability that the first-shown essay is better, one per comparison. The *stated winner* is
    the essay the probability favours (a judge that samples its answer may pick the other).
    ``start``, a fit of all of ``hard_data`` (the caller has one), makes the fold fits cheap:
    each leaves out a quarter of the verdicts, so its optimum is near the full one, and each
    fold fit is ``FOLD_NEWTON_STEPS`` damped Newton steps from there instead of a fit to
    convergence from zero. Two steps are an approximation of the fold's optimum (the classic
    one-step approximation to leaving data out, taken twice); on simulated adaptive runs of
    30–200 essays (4–5 comparisons per essay) they moved ρ by at most 0.003 from the
    converged fold fits, against 0.013 for one step, at about half the cost of converging. The
    linear system of each step is solved only to ``FOLD_STEP_TOL`` (ρ moved by < 0.001 more).
    Without ``start`` every fold fit runs to convergence from zero, as before.
    """
    q = np.asarray(stated_first, dtype=np.float64)
    m = hard_data.size
    if q.shape[0] != m:
        raise ValueError("one stated probability per comparison is needed")
    if m < 8:
        return ConfidenceCalibration(0.0, 0.0, 0.0, m)
    fold = _folds(hard_data, FOLDS, seed)
    p_stated = np.full(m, 0.5)
    for f in range(FOLDS):
        train = hard_data.subset(fold != f)
        test = fold == f
        fit = fit_bt(
            train,
            prior=prior,
            compute_se=False,
            init=None if start is None else start.abilities,
            init_position_bias=0.0 if start is None else start.position_bias,
            max_iter=FOLD_NEWTON_STEPS if start is not None else 100,
            step_tol=FOLD_STEP_TOL if start is not None else 1e-10,
        )
        eta = (
            fit.abilities[hard_data.first[test]]
            - fit.abilities[hard_data.second[test]]
            + fit.position_bias
        )
        p_first = 1.0 / (1.0 + np.exp(-eta))
        p_stated[test] = np.where(q[test] >= 0.5, p_first, 1.0 - p_first)
    strength = np.maximum(q, 1.0 - q)
    if np.ptp(strength) == 0.0 or np.ptp(p_stated) == 0.0:
        return ConfidenceCalibration(0.0, 0.0, 0.0, m)
    rho = spearman(strength, p_stated)
    if not np.isfinite(rho):
        rho = 0.0
    z = rho * float(np.sqrt(m - 1))
    mu = RHO_INFORMATIVE * float(np.sqrt(m - 1))
    log_odds = float(np.log(PRIOR_INFORMATIVE / (1.0 - PRIOR_INFORMATIVE))) + z * mu - mu * mu / 2
    weight = float(1.0 / (1.0 + np.exp(-np.clip(log_odds, -50.0, 50.0))))
    return ConfidenceCalibration(weight=weight, statistic=z, correlation=rho, n_verdicts=m)
