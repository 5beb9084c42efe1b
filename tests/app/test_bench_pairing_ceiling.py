"""The information ceiling of pairing (``app.bench.engine.pairing_ceiling``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.bench.engine import pairing_ceiling, verdict_information
from core.normal import ndtr
from core.simulate import JudgeProfile, SimulatedJudge


def test_information_of_a_plain_logistic_judge_is_p_times_one_minus_p() -> None:
    profile = JudgeProfile(noise_sd=1.7, noise="logistic")
    scale = 1.7 * np.sqrt(3.0) / np.pi
    gap = np.linspace(-5.0, 5.0, 101)
    p = 1.0 / (1.0 + np.exp(-gap / scale))
    assert verdict_information(profile, gap) == pytest.approx(p * (1.0 - p) / scale**2)


def test_the_win_chance_behind_the_information_is_the_simulated_judges() -> None:
    """The information is built on p(g); check p(g) against the simulated judge's verdicts."""
    profile = JudgeProfile(noise_sd=2.0, position_bias=0.4, lapse_rate=0.1)
    truth = np.array([0.0, 1.0])
    judge = SimulatedJudge(truth, profile, seed=3)
    wins = np.mean([judge.judge(1, 0).first_wins for _ in range(20_000)])
    # p(1) = λ/2 + (1 − λ)Φ((1 + 0.4)/2)
    expected = 0.05 + 0.9 * float(ndtr(np.array([0.7]))[0])
    assert wins == pytest.approx(expected, abs=0.01)


@settings(max_examples=40, deadline=None)
@given(
    noise_sd=st.floats(0.3, 4.0),
    bias=st.floats(-1.0, 1.0),
    lapse=st.floats(0.0, 0.3),
    logistic=st.booleans(),
    share=st.floats(0.0, 1.0),
)
def test_the_ceiling_is_at_least_one_and_falls_with_the_audit_share(
    noise_sd: float, bias: float, lapse: float, logistic: bool, share: float
) -> None:
    profile = JudgeProfile(
        noise_sd=noise_sd,
        noise="logistic" if logistic else "normal",
        position_bias=bias,
        lapse_rate=lapse,
    )
    free = pairing_ceiling(profile)
    audited = pairing_ceiling(profile, share)
    assert free >= 1.0
    assert 1.0 - 1e-9 <= audited <= free + 1e-9
    assert pairing_ceiling(profile, 1.0) == pytest.approx(1.0)


def test_a_weaker_judge_leaves_less_to_gain() -> None:
    strong, weak = (JudgeProfile(noise_sd=s) for s in (0.8, 2.7))
    assert pairing_ceiling(weak) < pairing_ceiling(strong)
