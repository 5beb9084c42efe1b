"""The engine benchmark's judge families and keys (small settings: seconds, not minutes)."""

from __future__ import annotations

import itertools

import pytest

from app.bench.engine import (
    FAMILIES,
    REALISTIC,
    WEAK,
    Setting,
    comparisons_to_target,
    judge_accuracy,
    judge_families,
    oracle_curve,
)
from core.simulate import JudgeProfile


@pytest.mark.parametrize(
    ("profile", "low", "high"),
    [(WEAK, 0.68, 0.72), (REALISTIC, 0.82, 0.86), (FAMILIES["strong_probit"], 0.84, 0.88)],
)
def test_judges_are_as_good_as_they_are_said_to_be(
    profile: JudgeProfile, low: float, high: float
) -> None:
    assert low < judge_accuracy(profile, 4_000) < high


def test_judge_families_report_false_stable_share_and_a_row_per_family() -> None:
    out = judge_families((12,), range(1))
    assert 0.0 <= out["false_stable_share"] <= 1.0
    assert out["runs"] == len(FAMILIES)
    assert out["false_stable_stops"] <= out["stable_stops"] <= out["runs"]
    assert set(out["table"]) == {f"{name}_n12" for name in FAMILIES}
    for row in out["table"].values():
        assert sum(row["stop_reasons"].values()) == 1
        assert 0.0 <= row["true"] <= 1.0
        assert row["interval_low"] <= row["reported"] + 1e-12


def test_oracle_pairing_by_true_distance_beats_random_pairing_on_a_strong_judge() -> None:
    """A narrow kernel on the true gaps ranks faster than a flat one; curves are well formed."""
    strong = FAMILIES["strong_probit"]
    curve = oracle_curve(30, 0, strong, horizon=12.0, width=0.5)
    assert curve[0] == (0.0, 0.0)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(curve))
    assert curve[-1][0] <= 12.0 + 1e-9
    assert curve[-1][1] > 0.85
    seeds = range(4)
    setting = Setting("adaptive", strong, False)
    flat = comparisons_to_target(30, seeds, setting, 20.0, oracle_width=1e9)
    narrow = comparisons_to_target(30, seeds, setting, 20.0, oracle_width=1.0)
    assert narrow < flat
