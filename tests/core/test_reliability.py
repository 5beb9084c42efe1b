"""Reliability formulas, the split-half check and infit/outfit diagnostics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.bt import fit_bt
from core.comparisons import ComparisonSet, stratified_folds, stratified_halves
from core.reliability import (
    SPLITS,
    SplitHalf,
    honest_reliability,
    misfit,
    model_reliability,
    scale_separation_reliability,
    separation_index,
    split_half_check,
)
from core.simulate import JudgeProfile, SimulatedJudge, true_abilities


def _simulated(n: int, seed: int, reps: int = 1, noise_sd: float = 1.0) -> ComparisonSet:
    theta = true_abilities(n, seed=seed)
    judge = SimulatedJudge(theta, JudgeProfile(noise_sd=noise_sd), seed=seed)
    rng = np.random.default_rng(seed)
    first, second, outcome = [], [], []
    for _ in range(reps):
        for a, b in itertools.combinations(range(n), 2):
            f, s = (a, b) if rng.uniform() < 0.5 else (b, a)
            first.append(f)
            second.append(s)
            outcome.append(judge.judge(f, s).outcome)
    return ComparisonSet.from_arrays(n, first, second, outcome)


def test_ssr_and_model_reliability_on_hand_made_arrays() -> None:
    theta = np.array([-1.0, 0.0, 1.0])  # sample variance 1
    se = np.full(3, 0.5)  # mean SE² 0.25
    assert scale_separation_reliability(theta, se) == pytest.approx(0.75)
    assert model_reliability(theta, se) == pytest.approx(0.8)
    g = separation_index(theta, se)
    assert g == pytest.approx(2.0)
    assert scale_separation_reliability(theta, se) == pytest.approx((g * g - 1) / (g * g))


def test_reliability_edge_cases() -> None:
    theta = np.array([-1.0, 0.0, 1.0])
    assert scale_separation_reliability(theta, np.full(3, 5.0)) == 0.0
    assert scale_separation_reliability(np.zeros(3), np.full(3, 0.5)) == 0.0
    assert model_reliability(np.zeros(3), np.full(3, 0.5)) == 0.0
    assert model_reliability(np.zeros(3), np.zeros(3)) == 0.0
    assert math.isnan(scale_separation_reliability(np.array([1.0]), np.array([0.1])))
    assert math.isnan(model_reliability(np.array([1.0]), np.array([0.1])))
    bad = np.array([0.1, np.inf, 0.1])
    assert math.isnan(scale_separation_reliability(theta, bad))
    assert math.isnan(model_reliability(theta, bad))
    assert separation_index(theta, np.zeros(3)) == math.inf


@settings(max_examples=100, deadline=None)
@given(
    theta=st.lists(st.floats(-5, 5), min_size=2, max_size=15),
    se=st.floats(0.01, 3.0),
)
def test_reliabilities_are_ordered_and_bounded(theta: list[float], se: float) -> None:
    a = np.asarray(theta)
    s = np.full(a.size, se)
    ssr = scale_separation_reliability(a, s)
    mod = model_reliability(a, s)
    assert 0.0 <= ssr <= 1.0
    assert 0.0 <= mod <= 1.0
    assert ssr <= mod + 1e-12


def test_split_half_check_on_simulated_data() -> None:
    data = _simulated(20, seed=1)
    fit = fit_bt(data)
    model = model_reliability(fit.abilities, fit.se)
    check = split_half_check(data, seed=1)
    assert 0.0 < check.half_correlation < 1.0
    assert 0.0 < check.model_half < 1.0
    assert check.splits == SPLITS
    assert check.converged
    assert check.stepped_up == pytest.approx(
        2 * check.half_correlation / (1 + check.half_correlation)
    )
    honest = honest_reliability(model, check)
    if check.inflation > 1.0:
        assert honest < model
    else:
        assert honest == pytest.approx(model)
    assert split_half_check(data, seed=1) == check


def test_split_half_check_needs_enough_data() -> None:
    tiny = ComparisonSet.from_arrays(2, [0, 1, 0, 1], [1, 0, 1, 0], [1, 0, 1, 1])
    check = split_half_check(tiny)
    assert math.isnan(check.half_correlation)
    assert check.splits == 0
    few = ComparisonSet.from_arrays(5, [0, 1, 2], [1, 2, 3], [1, 1, 0])
    assert split_half_check(few).splits == 0


@settings(max_examples=60, deadline=None)
@given(model=st.floats(0.0, 1.0), inflation=st.floats(0.0, 10.0))
def test_honest_reliability_scales_error_up_never_down(model: float, inflation: float) -> None:
    check = SplitHalf(0.5, 0.5, inflation, 0.6, 6)
    honest = honest_reliability(model, check)
    assert 0.0 <= honest <= model + 1e-12
    if inflation <= 1.0:
        assert honest == pytest.approx(model)
    else:
        assert honest == pytest.approx(max(0.0, 1.0 - inflation * (1.0 - model)))


def test_honest_reliability_nan_handling() -> None:
    check = SplitHalf(0.5, 0.5, float("nan"), 0.6, 6)
    assert honest_reliability(0.7, check) == pytest.approx(0.7)
    assert math.isnan(honest_reliability(float("nan"), check))


def test_misfit_flags_an_essay_judged_at_random() -> None:
    flagged_target = 0
    flagged_regular = 0
    regular = 0
    for seed in range(4):
        data = _simulated(20, seed=seed, reps=2, noise_sd=0.5)
        theta = true_abilities(20, seed=seed)
        target = int(np.argsort(theta)[10])
        involved = (data.first == target) | (data.second == target)
        flip = involved & (np.random.default_rng(seed).uniform(size=data.size) < 0.5)
        y = data.outcome.copy()
        y[flip] = 1.0 - y[flip]
        noisy = data.with_outcomes(y)
        result = misfit(fit_bt(noisy), noisy)
        flagged_target += int(result.flagged[target])
        others = np.delete(result.flagged, target)
        flagged_regular += int(others.sum())
        regular += others.size
        assert result.outfit[target] > np.median(np.delete(result.outfit, target))
    assert flagged_target == 4
    assert flagged_regular / regular < 0.2


def test_misfit_is_nan_for_essays_never_compared() -> None:
    data = ComparisonSet.from_arrays(4, [0, 1, 0, 1], [1, 2, 2, 0], [1, 1, 0, 1])
    result = misfit(fit_bt(data), data)
    assert math.isnan(result.infit[3])
    assert math.isnan(result.outfit[3])
    assert not result.flagged[3]
    assert np.all(np.isfinite(result.infit[:3]))


def _loads(data: ComparisonSet, label: np.ndarray, k: int) -> np.ndarray:
    """Comparisons of every essay in each of the k groups (k × n)."""
    return np.stack(
        [
            np.bincount(
                np.concatenate([data.first[label == g], data.second[label == g]]),
                minlength=data.n_items,
            )
            for g in range(k)
        ]
    )


@st.composite
def _graphs(draw: st.DrawFn, bipartite: bool = False) -> ComparisonSet:
    n = draw(st.integers(2, 12))
    m = draw(st.integers(0, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if bipartite:
        left = max(1, n // 2)
        first = rng.integers(0, left, m)
        second = rng.integers(left, n, m)
        flip = rng.random(m) < 0.5
        first, second = np.where(flip, second, first), np.where(flip, first, second)
    else:
        first = rng.integers(0, n, m)
        second = (first + rng.integers(1, n, m)) % n
    return ComparisonSet.from_arrays(n, first, second, np.ones(m))


@settings(max_examples=80, deadline=None)
@given(_graphs(bipartite=True), st.integers(0, 2**32 - 1))
def test_stratified_halves_balance_every_essay_when_all_cycles_are_even(
    data: ComparisonSet, seed: int
) -> None:
    # In a bipartite comparison graph every closed chain of linked comparisons is even, so no
    # link is dropped and every essay's comparisons split ⌊c/2⌋ / ⌈c/2⌉.
    half = stratified_halves(data, np.random.default_rng(seed))
    assert half.shape == (data.size,)
    assert set(np.unique(half).tolist()) <= {0, 1}
    loads = _loads(data, half, 2)
    assert np.all(np.abs(loads[0] - loads[1]) <= 1)


@settings(max_examples=150, deadline=None)
@given(_graphs(), st.integers(0, 2**32 - 1))
def test_stratified_halves_never_leave_an_essay_off_by_more_than_three(
    data: ComparisonSet, seed: int
) -> None:
    # Odd cycles of linked comparisons are cut, which can put two extra comparisons of an essay
    # in one half; cuts at the same essay alternate, so the gap stays within 2 + parity.
    half = stratified_halves(data, np.random.default_rng(seed))
    loads = _loads(data, half, 2)
    assert np.all(np.abs(loads[0] - loads[1]) <= 3)
    assert np.array_equal(half, stratified_halves(data, np.random.default_rng(seed)))


def test_stratified_halves_are_random_and_even_on_a_large_graph() -> None:
    rng = np.random.default_rng(0)
    n, m = 200, 1000
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    data = ComparisonSet.from_arrays(n, first, second, np.ones(m))
    halves = [stratified_halves(data, rng) for _ in range(20)]
    for half in halves:
        loads = _loads(data, half, 2)
        assert np.mean(np.abs(loads[0] - loads[1]) <= 1) > 0.95
        assert abs(int(half.sum()) - m // 2) <= 30
    # Different splits, and every comparison lands in each half about as often.
    share = np.mean(halves, axis=0)
    assert len({h.tobytes() for h in halves}) == 20
    assert 0.4 < float(share.mean()) < 0.6


def test_stratified_folds_spread_every_essay() -> None:
    rng = np.random.default_rng(1)
    n, m = 50, 400
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    data = ComparisonSet.from_arrays(n, first, second, np.ones(m))
    fold = stratified_folds(data, 4, rng)
    assert set(np.unique(fold).tolist()) == {0, 1, 2, 3}
    loads = _loads(data, fold, 4)
    assert np.all(loads.max(axis=0) - loads.min(axis=0) <= 4)
    assert np.all(np.abs(np.bincount(fold) - m / 4) <= 15)
    with pytest.raises(ValueError, match="power of two"):
        stratified_folds(data, 3, rng)


def test_warm_started_half_fits_give_the_cold_figures() -> None:
    data = _simulated(20, seed=2)
    fit = fit_bt(data)
    warm = split_half_check(data, seed=3, start=fit)
    cold = split_half_check(data, seed=3)
    assert warm.half_correlation == pytest.approx(cold.half_correlation, abs=2e-3)
    assert warm.model_half == pytest.approx(cold.model_half, abs=2e-3)


def test_split_half_check_reports_non_convergence() -> None:
    data = _simulated(12, seed=4)
    assert split_half_check(data, seed=0).converged
    assert not split_half_check(data, seed=0, max_iter=1).converged


# ---------------------------------------------------------------------- calibration slope

from core.reliability import (  # noqa: E402
    MODERATION_WEIGHT,
    CalibrationSlope,
    calibrated_reliability,
    calibration_slope,
    fold_labels,
    slope_fit,
)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 500), folds=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_fold_labels_are_balanced(m: int, folds: int, seed: int) -> None:
    labels = fold_labels(m, folds, np.random.default_rng(seed))
    assert labels.shape == (m,)
    sizes = np.bincount(labels, minlength=folds)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == m


@settings(max_examples=40, deadline=None)
@given(beta=st.floats(0.2, 2.0), seed=st.integers(0, 2**32 - 1))
def test_slope_fit_recovers_the_slope(beta: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    eta = rng.normal(0.0, 2.0, 4000)
    y = (rng.uniform(size=eta.shape[0]) < 1.0 / (1.0 + np.exp(-beta * eta))).astype(float)
    b, se = slope_fit(eta, y, np.ones_like(eta))
    assert 0.0 < se < 0.2
    assert abs(b - beta) < 5.0 * se


@settings(max_examples=60, deadline=None)
@given(
    eta=st.lists(st.integers(-50, 50).map(lambda k: k / 10.0), min_size=2, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
@example(eta=[3.7, 0.0, 0.0, 0.1, 0.1], seed=0)  # a first step clipped to the bound, past β≈−1.65
def test_slope_fit_is_the_maximum_of_the_likelihood(eta: list[float], seed: int) -> None:
    x = np.asarray(eta)
    draws = np.asarray(np.random.default_rng(seed).uniform(size=x.shape[0]), dtype=np.float64)
    y = np.where(draws < 0.5, 1.0, 0.0)
    b, _ = slope_fit(x, y, np.ones_like(x))
    if not np.isfinite(b):
        assert float(np.sum(x * x)) == 0.0
        return

    def loglik(beta: float) -> float:
        z = beta * x
        return float(np.sum(y * -np.logaddexp(0.0, -z) + (1 - y) * -np.logaddexp(0.0, z)))

    signs = np.sign(x * (2 * y - 1))[x != 0]
    if np.all(signs > 0) or np.all(signs < 0):
        return  # a sign of η separates the verdicts: the likelihood rises for ever
    assert abs(b) < 10.0
    assert loglik(b) >= max(loglik(b - 1e-3), loglik(b + 1e-3)) - 1e-9


@settings(max_examples=200, deadline=None)
@given(
    abilities=st.lists(st.floats(-4.0, 4.0), min_size=2, max_size=30),
    se=st.floats(0.05, 3.0),
    beta=st.floats(-1.0, 2.0),
    beta_se=st.floats(0.0, 1.0),
    moderated=st.floats(-1.0, 2.0),
)
def test_calibrated_reliability_bounds(
    abilities: list[float], se: float, beta: float, beta_se: float, moderated: float
) -> None:
    theta = np.asarray(abilities)
    ses = np.full(theta.shape[0], se)
    top = max(moderated, beta)
    slope = CalibrationSlope(beta, beta_se, 100, 5, True, top, beta_se)
    est = calibrated_reliability(theta, ses, slope)
    model = model_reliability(theta, ses)
    assert 0.0 <= est.low <= est.value <= est.high <= model + 1e-12
    # The figure is the model reliability with the spread shrunk by b = min(β + w(β̃ − β), 1).
    b = min(max(beta + MODERATION_WEIGHT * (top - beta), 0.0), 1.0)
    var = float(np.var(theta, ddof=1))
    expected = b * b * var / (b * b * var + se * se) if b * b * var + se * se > 0 else 0.0
    assert est.value == pytest.approx(expected)
    if beta >= 1.0:
        assert est.value == pytest.approx(model)
    # Without a moderated slope the raw one alone decides.
    raw = calibrated_reliability(theta, ses, CalibrationSlope(beta, beta_se, 100, 5))
    b = min(max(beta, 0.0), 1.0)
    assert raw.value == pytest.approx(
        b * b * var / (b * b * var + se * se) if b * b * var + se * se > 0 else 0.0
    )
    assert raw.value <= est.value + 1e-12


def test_calibrated_reliability_needs_a_slope() -> None:
    theta = np.array([0.0, 1.0, 2.0])
    nan = float("nan")
    est = calibrated_reliability(theta, np.ones(3), CalibrationSlope(nan, nan, 0, 0))
    assert math.isnan(est.value) and math.isnan(est.low) and math.isnan(est.high)
    assert calibration_slope(ComparisonSet.from_arrays(3, [0], [1], [1.0]), np.ones(1)).folds == 0


def test_calibration_slope_reads_an_overspread_fit() -> None:
    """Random pairs from a weak judge: abilities fitted with a stretched scale are worth less
    than their gaps claim, and the slope says by how much."""
    n = 40
    data = _simulated(n, seed=5, reps=4, noise_sd=2.5)
    hard = data.outcome
    fit = fit_bt(data)
    honest = calibration_slope(data, hard, seed=1, start=fit)
    assert honest.folds == 5 and honest.verdicts == data.size
    assert 0.5 < honest.slope < 1.2
    assert honest.se < 0.25
    # The same verdicts read against logits twice as wide: β halves.
    eta = fit.abilities[data.first] - fit.abilities[data.second]
    b1, _ = slope_fit(eta, hard, np.ones_like(eta))
    b2, _ = slope_fit(2.0 * eta, hard, np.ones_like(eta))
    assert b2 == pytest.approx(b1 / 2.0, rel=1e-6)
