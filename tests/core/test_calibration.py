"""Confidence calibration: informative stated probabilities earn weight, noise does not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.bt import fit_bt
from core.calibration import CLIP, ConfidenceCalibration, calibrate_confidence
from core.comparisons import ComparisonSet
from core.simulate import JudgeProfile, SimulatedJudge, true_abilities


def _judged(n: int, confidence: str, seed: int) -> tuple[ComparisonSet, np.ndarray]:
    theta = true_abilities(n, seed=seed)
    judge = SimulatedJudge(theta, JudgeProfile(confidence=confidence), seed=seed)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    first, second, outcome, stated = [], [], [], []
    for a, b in itertools.combinations(range(n), 2):
        f, s = (a, b) if rng.uniform() < 0.5 else (b, a)
        v = judge.judge(f, s)
        first.append(f)
        second.append(s)
        outcome.append(v.outcome)
        stated.append(v.probability_first)
    return ComparisonSet.from_arrays(n, first, second, outcome), np.asarray(stated)


def test_informative_confidence_earns_high_weight() -> None:
    for seed in range(3):
        data, stated = _judged(30, "informative", seed)
        cal = calibrate_confidence(data, stated, seed=seed)
        assert cal.weight > 0.5
        assert cal.correlation > 0
        assert cal.n_verdicts == data.size


def test_noise_confidence_earns_low_weight() -> None:
    weights = []
    for seed in range(8):
        data, stated = _judged(30, "noise", seed)
        weights.append(calibrate_confidence(data, stated, seed=seed).weight)
    assert float(np.mean(weights)) < 0.5
    assert sum(w < 0.5 for w in weights) >= 6


def test_calibration_is_deterministic() -> None:
    data, stated = _judged(20, "informative", 4)
    assert calibrate_confidence(data, stated, seed=1) == calibrate_confidence(data, stated, seed=1)


def test_fewer_than_eight_verdicts_give_zero_weight() -> None:
    data = ComparisonSet.from_arrays(4, [0, 1, 2, 0, 1, 3, 2], [1, 2, 3, 2, 3, 0, 0], [1] * 7)
    cal = calibrate_confidence(data, np.full(7, 0.9))
    assert cal.weight == 0.0
    assert cal.n_verdicts == 7


def test_constant_strength_gives_zero_weight() -> None:
    data, _ = _judged(12, "informative", 0)
    stated = np.where(data.outcome > 0.5, 0.8, 0.2)
    assert calibrate_confidence(data, stated).weight == 0.0


def test_length_mismatch_raises() -> None:
    data, stated = _judged(8, "informative", 0)
    with pytest.raises(ValueError):
        calibrate_confidence(data, stated[:-1])


def test_soft_outcomes_clip_and_blend() -> None:
    q = np.array([0.0, 1.0, 0.7, 0.3])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    full = ConfidenceCalibration(1.0, 3.0, 0.5, 100).soft_outcomes(q, y)
    np.testing.assert_allclose(full, [CLIP, 1 - CLIP, 0.7, 0.3])
    none = ConfidenceCalibration(0.0, 0.0, 0.0, 100).soft_outcomes(q, y)
    np.testing.assert_allclose(none, y)
    half = ConfidenceCalibration(0.5, 1.25, 0.1, 100).soft_outcomes(q, y)
    np.testing.assert_allclose(half, [CLIP / 2, 1 - CLIP / 2, 0.85, 0.15])


@settings(max_examples=50, deadline=None)
@given(
    w=st.floats(0.0, 1.0),
    q=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
    seed=st.integers(0, 1000),
)
def test_soft_outcomes_stay_between_verdict_and_clipped_probability(
    w: float, q: list[float], seed: int
) -> None:
    qa = np.asarray(q)
    y = (np.random.default_rng(seed).uniform(size=qa.size) < 0.5).astype(float)
    soft = ConfidenceCalibration(w, 0.0, 0.0, 10).soft_outcomes(qa, y)
    qc = np.clip(qa, CLIP, 1 - CLIP)
    assert np.all(soft >= np.minimum(qc, y) - 1e-12)
    assert np.all(soft <= np.maximum(qc, y) + 1e-12)


def test_fold_fits_started_from_the_full_fit_give_nearly_the_same_verdict() -> None:
    # With ``start`` each fold fit is two Newton steps from the fit of all verdicts; the rank
    # correlation it feeds stays within a few thousandths of fold fits run to convergence.
    for kind in ("informative", "noise"):
        for seed in range(3):
            data, stated = _judged(30, kind, seed)
            full = fit_bt(data)
            quick = calibrate_confidence(data, stated, seed=seed, start=full)
            exact = calibrate_confidence(data, stated, seed=seed)
            assert quick.correlation == pytest.approx(exact.correlation, abs=0.005)
            assert quick.n_verdicts == exact.n_verdicts
