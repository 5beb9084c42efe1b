"""Turning a judge's stated confidence into soft verdicts only when it has earned it.

A judge states, with each verdict, how sure it is: a probability q that the first-shown essay is
better (from token log-probabilities, or a 1–5 confidence mapped to one). Feeding q to the fit
as a soft outcome helps a great deal when q is informative and hurts when it is noise (a judge
that says "5" about coin flips). So the data decide how much q is used:

1. **Out-of-sample check.** The verdicts are split in two folds (stratified per essay). The hard
   verdicts of each fold are fitted and used to predict the other fold, giving for every verdict
   an out-of-sample probability p̂ that its *stated winner* is better. Nothing a verdict says
   about itself enters its own prediction.
2. **Test.** If stated strength s = max(q, 1 − q) is informative, verdicts stated more strongly
   agree more with the rest of the data: the Spearman correlation ρ between s and p̂ over the m
   verdicts is positive. Under pure-noise confidence ρ ≈ N(0, 1/m). The statistic z = ρ·√(m − 1)
   sets the weight ``w = clip((z − Z_LOW)/(Z_HIGH − Z_LOW), 0, 1)``.
3. **Soft outcome** = w·q + (1 − w)·y, where y is the hard verdict (1 if the first won).

With noise confidence w stays 0 almost always and the fit equals the hard fit; with informative
confidence w reaches 1 after a few waves and the fit uses the stated probabilities in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from core.bt import Prior, fit_bt
from core.comparisons import ComparisonSet, FloatArray
from core.simulate import stable_seed

#: Below this test statistic confidence is ignored; above Z_HIGH it is used in full.
Z_LOW = 0.5
Z_HIGH = 2.0
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


def _two_folds(data: ComparisonSet, seed: int | str) -> FloatArray:
    """Fold label 0/1 per comparison, balancing every essay's comparisons between folds."""
    rng = np.random.default_rng(stable_seed("calibration-folds", seed, data.n_items, data.size))
    load = np.zeros((2, data.n_items))
    fold = np.zeros(data.size)
    for k in rng.permutation(data.size).tolist():
        a, b = int(data.first[k]), int(data.second[k])
        d = (load[0, a] + load[0, b]) - (load[1, a] + load[1, b])
        f = 1 if d > 0 else 0 if d < 0 else int(rng.uniform() < 0.5)
        fold[k] = f
        load[f, a] += 1
        load[f, b] += 1
    return fold


def calibrate_confidence(
    hard_data: ComparisonSet,
    stated_first: FloatArray,
    *,
    prior: Prior | None = None,
    seed: int | str = 0,
) -> ConfidenceCalibration:
    """Decide how far stated confidence is trusted (see the module docstring).

    ``hard_data`` holds the comparisons with hard outcomes; ``stated_first`` the stated
    probability that the first-shown essay is better, one per comparison, on the same side as
    the hard verdict.
    """
    q = np.asarray(stated_first, dtype=np.float64)
    m = hard_data.size
    if q.shape[0] != m:
        raise ValueError("one stated probability per comparison is needed")
    if m < 8:
        return ConfidenceCalibration(0.0, 0.0, 0.0, m)
    fold = _two_folds(hard_data, seed)
    p_stated = np.full(m, 0.5)
    for f in (0, 1):
        train = hard_data.subset(fold != f)
        test = fold == f
        fit = fit_bt(train, prior=prior, compute_se=False)
        eta = (
            fit.abilities[hard_data.first[test]]
            - fit.abilities[hard_data.second[test]]
            + fit.position_bias
        )
        p_first = 1.0 / (1.0 + np.exp(-eta))
        p_stated[test] = np.where(hard_data.outcome[test] > 0.5, p_first, 1.0 - p_first)
    strength = np.maximum(q, 1.0 - q)
    if np.ptp(strength) == 0.0 or np.ptp(p_stated) == 0.0:
        return ConfidenceCalibration(0.0, 0.0, 0.0, m)
    rho = float(spearmanr(strength, p_stated)[0])
    if not np.isfinite(rho):
        rho = 0.0
    z = rho * float(np.sqrt(m - 1))
    weight = float(np.clip((z - Z_LOW) / (Z_HIGH - Z_LOW), 0.0, 1.0))
    return ConfidenceCalibration(weight=weight, statistic=z, correlation=rho, n_verdicts=m)
