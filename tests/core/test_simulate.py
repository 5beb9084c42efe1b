"""Simulated judges: stable seeds, determinism and the documented kinds of error."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from core.simulate import (
    JudgeProfile,
    SimulatedJudge,
    confidence_level,
    stable_seed,
    true_abilities,
)


def test_stable_seed_is_a_fixed_value() -> None:
    assert stable_seed("huleedu", 1, 2) == 8530034405137285786
    assert stable_seed("huleedu", 1, 2) == stable_seed("huleedu", 1, 2)
    assert stable_seed("huleedu", 1, 2) != hash(("huleedu", 1, 2))
    assert stable_seed("huleedu", 1, 2) != stable_seed("huleedu", 2, 1)
    assert 0 <= stable_seed("x") < 2**64


def test_true_abilities_are_centred_and_stable() -> None:
    a = true_abilities(15, seed=3)
    assert a.shape == (15,)
    assert abs(float(a.sum())) < 1e-9
    np.testing.assert_array_equal(a, true_abilities(15, seed=3))
    assert not np.array_equal(a, true_abilities(15, seed=4))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), first=st.integers(0, 5), second=st.integers(0, 5))
def test_judge_is_deterministic_per_seed_pair_and_occasion(
    seed: int, first: int, second: int
) -> None:
    if first == second:
        return
    theta = true_abilities(6, seed=seed)
    a = SimulatedJudge(theta, seed=seed)
    b = SimulatedJudge(theta, seed=seed)
    # Other questions asked in between do not change the answer.
    b.judge((first + 1) % 6 if (first + 1) % 6 != second else (first + 2) % 6, first)
    first_a = [a.judge(first, second) for _ in range(3)]
    first_b = [b.judge(first, second) for _ in range(3)]
    assert first_a == first_b


def test_occasions_differ() -> None:
    judge = SimulatedJudge(np.zeros(2), seed=1)
    answers = {judge.judge(0, 1).probability_first for _ in range(10)}
    assert len(answers) > 1


def test_self_comparison_raises() -> None:
    with pytest.raises(ValueError):
        SimulatedJudge(np.zeros(3)).judge(1, 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"noise_sd": 0.0}, {"lapse_rate": -0.1}, {"lapse_rate": 1.1}, {"bundle_degradation": -1}],
)
def test_invalid_profiles_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        JudgeProfile(**kwargs)  # type: ignore[arg-type]


def _first_win_rate(profile: JudgeProfile, trials: int = 1500) -> float:
    judge = SimulatedJudge(np.zeros(2), profile, seed=5)
    return float(np.mean([judge.judge(0, 1).first_wins for _ in range(trials)]))


def test_position_bias_favours_the_first_essay() -> None:
    assert _first_win_rate(JudgeProfile(position_bias=1.0)) > 0.75
    assert abs(_first_win_rate(JudgeProfile()) - 0.5) < 0.05


def test_full_lapse_rate_is_a_coin_flip() -> None:
    judge = SimulatedJudge([4.0, -4.0], JudgeProfile(lapse_rate=1.0), seed=2)
    verdicts = [judge.judge(0, 1) for _ in range(2000)]
    assert all(v.lapsed for v in verdicts)
    assert abs(np.mean([v.first_wins for v in verdicts]) - 0.5) < 0.05
    assert judge.true_probability(0, 1) == pytest.approx(0.5)


def _gap_and_strength(confidence: str) -> tuple[np.ndarray, np.ndarray]:
    theta = true_abilities(30, seed=1)
    judge = SimulatedJudge(theta, JudgeProfile(confidence=confidence), seed=1)  # type: ignore[arg-type]
    gaps, strengths = [], []
    for a, b in itertools.combinations(range(30), 2):
        v = judge.judge(a, b)
        gaps.append(abs(theta[a] - theta[b]))
        strengths.append(max(v.probability_first, 1 - v.probability_first))
    return np.asarray(gaps), np.asarray(strengths)


def test_informative_confidence_tracks_the_gap() -> None:
    gaps, strength = _gap_and_strength("informative")
    assert float(spearmanr(gaps, strength)[0]) > 0.4


def test_noise_confidence_ignores_the_gap() -> None:
    gaps, strength = _gap_and_strength("noise")
    assert abs(float(spearmanr(gaps, strength)[0])) < 0.15
    assert strength.min() >= 0.5
    assert strength.max() < 1.0


def test_stated_probability_sides_with_the_verdict() -> None:
    judge = SimulatedJudge(true_abilities(10, seed=0), seed=0)
    for a, b in itertools.permutations(range(10), 2):
        v = judge.judge(a, b)
        assert (v.probability_first >= 0.5) == v.first_wins
        assert v.outcome == (1.0 if v.first_wins else 0.0)
        assert v.confidence == confidence_level(v.probability_first)


def test_bundle_degradation_lowers_accuracy_later_in_a_bundle() -> None:
    theta = true_abilities(30, seed=2)
    judge = SimulatedJudge(theta, JudgeProfile(noise_sd=0.5, bundle_degradation=0.5), seed=2)

    def accuracy(place: int) -> float:
        right = [
            judge.judge(a, b, place).first_wins == (theta[a] > theta[b])
            for a, b in itertools.combinations(range(30), 2)
        ]
        return float(np.mean(right))

    assert accuracy(0) > accuracy(8) + 0.1
    assert judge.true_probability(0, 1, 0) != judge.true_probability(0, 1, 8)


@pytest.mark.parametrize(
    ("p", "level"),
    [
        (0.5, 1),
        (0.55, 1),
        (0.65, 2),
        (0.75, 3),
        (0.85, 4),
        (0.9, 5),
        (0.95, 5),
        (0.999, 5),
        (1.0, 5),
        (0.45, 1),
        (0.2, 4),
        (0.0, 5),
    ],
)
def test_confidence_level_bands(p: float, level: int) -> None:
    assert confidence_level(p) == level


@pytest.mark.parametrize(("p", "level"), [(0.6, 2), (0.7, 3), (0.8, 4)])
def test_confidence_level_band_lower_edges(p: float, level: int) -> None:
    """Each band includes its lower edge, as 0.9 does for level 5."""
    assert confidence_level(p) == level


@settings(max_examples=100, deadline=None)
@given(p=st.floats(0.0, 1.0))
def test_confidence_level_symmetric_and_in_range(p: float) -> None:
    level = confidence_level(p)
    assert 1 <= level <= 5
    assert abs(confidence_level(1.0 - p) - level) <= 1


def test_sampling_judge_reports_its_belief_and_sometimes_picks_the_other_essay() -> None:
    judge = SimulatedJudge([0.4, 0.0], JudgeProfile(noise_sd=0.3, verdict="sampled"), seed=1)
    answers = [judge.judge(0, 1) for _ in range(2000)]
    against_belief = [a for a in answers if a.first_wins != (a.probability_first >= 0.5)]
    # Belief ≈ σ(1.7·0.4) ≈ 0.66: about a third of the answers go against it.
    assert 0.2 < len(against_belief) / len(answers) < 0.45
    wins = np.mean([a.first_wins for a in answers])
    assert wins == pytest.approx(judge.true_probability(0, 1), abs=0.04)
