"""The engine benchmark's judge families and keys (small settings: seconds, not minutes)."""

from __future__ import annotations

import pytest

from app.bench.engine import FAMILIES, REALISTIC, WEAK, judge_accuracy, judge_families
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
