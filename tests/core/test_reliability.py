"""Reliability formulas, the split-half check and infit/outfit diagnostics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.bt import fit_bt
from core.comparisons import ComparisonSet
from core.reliability import (
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
    assert check.splits == 6
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
