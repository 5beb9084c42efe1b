"""Stopping rule: one reason per decision, checked in the documented order."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.stopping import RunProgress, StoppingRule, StopReason, decide

RULE = StoppingRule(budget=100, target_reliability=0.8, target_rms_se=0.5)


def _progress(**kw: object) -> RunProgress:
    base: dict[str, object] = {
        "n_essays": 10,
        "results": 50,
        "failures": 0,
        "min_comparisons": 6,
        "reliability": 0.5,
        "rms_se": 1.0,
        "pairs_available": True,
    }
    base.update(kw)
    # A steady reliability unless a test says otherwise.
    base.setdefault("previous_reliability", base["reliability"])
    return RunProgress(**base)  # type: ignore[arg-type]


def test_one_wave_above_target_is_not_yet_stable() -> None:
    rule = StoppingRule(budget=100, target_reliability=0.8)
    first = decide(rule, _progress(reliability=0.85, previous_reliability=0.7))
    assert not first.stop and first.reason is StopReason.CONTINUE
    second = decide(rule, _progress(reliability=0.83, previous_reliability=0.85))
    assert second.stop and second.reason is StopReason.STABLE


def test_insufficient_essays_comes_first() -> None:
    for n in (0, 1):
        d = decide(RULE, _progress(n_essays=n, results=1000, failures=1000, reliability=0.99))
        assert d.stop
        assert d.reason is StopReason.INSUFFICIENT_ESSAYS


def test_budget_reached_is_never_called_stable() -> None:
    d = decide(RULE, _progress(results=100, reliability=0.95, rms_se=0.1))
    assert d.stop
    assert d.reason is StopReason.BUDGET_REACHED
    assert "0.95" in d.message
    over = decide(RULE, _progress(results=150, reliability=0.99, pairs_available=False))
    assert over.reason is StopReason.BUDGET_REACHED
    assert decide(RULE, _progress(results=100)).message.endswith(".")


def test_too_many_failures_after_budget() -> None:
    rule = StoppingRule(budget=100, max_failures=5)
    d = decide(rule, _progress(failures=5, reliability=0.99, pairs_available=False))
    assert d.stop
    assert d.reason is StopReason.TOO_MANY_FAILURES
    assert decide(rule, _progress(failures=4)).reason is StopReason.CONTINUE


def test_default_failure_limit_is_the_budget() -> None:
    rule = StoppingRule(budget=30)
    assert rule.failure_limit == 30
    assert decide(rule, _progress(results=0, failures=29)).reason is StopReason.CONTINUE
    assert decide(rule, _progress(results=0, failures=30)).reason is StopReason.TOO_MANY_FAILURES


def test_failures_do_not_count_as_results() -> None:
    rule = StoppingRule(budget=10, max_failures=1000)
    d = decide(rule, _progress(results=9, failures=500, reliability=0.1))
    assert not d.stop
    assert d.reason is StopReason.CONTINUE


def test_no_pairs_left() -> None:
    d = decide(RULE, _progress(pairs_available=False, reliability=0.99))
    assert d.stop
    assert d.reason is StopReason.NO_PAIRS_LEFT


def test_minimum_comparisons_block_stable_and_precise() -> None:
    rule = StoppingRule(
        budget=100, target_reliability=0.8, target_rms_se=0.5, min_comparisons_per_essay=5
    )
    d = decide(rule, _progress(min_comparisons=4, reliability=0.99, rms_se=0.1))
    assert not d.stop
    assert d.reason is StopReason.CONTINUE
    assert "5" in d.message
    assert decide(rule, _progress(min_comparisons=5, reliability=0.99)).reason is StopReason.STABLE


def test_stable_before_precise() -> None:
    d = decide(RULE, _progress(reliability=0.8, rms_se=0.1))
    assert d.stop
    assert d.reason is StopReason.STABLE


def test_precise_when_reliability_short() -> None:
    d = decide(RULE, _progress(reliability=0.7, rms_se=0.5))
    assert d.stop
    assert d.reason is StopReason.PRECISE


def test_continue_when_no_target_met() -> None:
    d = decide(RULE, _progress(reliability=0.79, rms_se=0.51))
    assert not d.stop
    assert d.reason is StopReason.CONTINUE


def test_nan_and_switched_off_targets_never_stop() -> None:
    assert decide(RULE, _progress(reliability=float("nan"), rms_se=float("nan"))).reason is (
        StopReason.CONTINUE
    )
    off = StoppingRule(target_reliability=None, target_rms_se=None)
    assert decide(off, _progress(reliability=0.99, rms_se=0.01)).reason is StopReason.CONTINUE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": 0},
        {"target_reliability": 0.0},
        {"target_reliability": 1.0},
        {"target_reliability": 1.5},
        {"target_rms_se": 0.0},
        {"target_rms_se": -1.0},
        {"min_comparisons_per_essay": -1},
    ],
)
def test_invalid_rules_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        StoppingRule(**kwargs)  # type: ignore[arg-type]


def test_negative_failure_limit_is_rejected() -> None:
    with pytest.raises(ValueError):
        StoppingRule(max_failures=-1)


def test_run_without_failures_never_stops_for_failures() -> None:
    rule = StoppingRule(budget=100, max_failures=1)
    d = decide(rule, _progress(failures=0))
    assert d.reason is not StopReason.TOO_MANY_FAILURES
    with pytest.raises(ValueError, match="max_failures"):
        StoppingRule(budget=100, max_failures=0)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 50),
    results=st.integers(0, 300),
    failures=st.integers(0, 300),
    min_comp=st.integers(0, 20),
    rel=st.floats(0.0, 1.0),
    rms=st.floats(0.01, 3.0),
    pairs=st.booleans(),
)
def test_decision_properties(
    n: int, results: int, failures: int, min_comp: int, rel: float, rms: float, pairs: bool
) -> None:
    p = RunProgress(n, results, failures, min_comp, rel, rms, pairs)
    d = decide(RULE, p)
    assert d.stop == (d.reason is not StopReason.CONTINUE)
    assert d.message
    if d.reason is StopReason.STABLE:
        assert results < RULE.budget
        assert rel >= 0.8
        assert min_comp >= RULE.min_comparisons_per_essay
    if results >= RULE.budget and n >= 2:
        assert d.reason is StopReason.BUDGET_REACHED


# ---------------------------------------------------------------------- target out of reach

from core.stopping import (  # noqa: E402
    UNREACHABLE_MARGIN,
    Outlook,
    comparisons_needed,
    outlook,
    project,
)


@settings(max_examples=200, deadline=None)
@given(
    r=st.floats(0.01, 0.99),
    results=st.integers(1, 10_000),
    more=st.integers(0, 10_000),
    target=st.floats(0.05, 0.95),
)
def test_projection_grows_with_comparisons_and_inverts(
    r: float, results: int, more: int, target: float
) -> None:
    assert project(r, results, results) == pytest.approx(r)
    later = project(r, results, results + more)
    assert r - 1e-12 <= later < 1.0
    # The odds grow in proportion to the comparisons.
    assert later / (1 - later) == pytest.approx(r / (1 - r) * (results + more) / results)
    need = comparisons_needed(r, results, target)
    assert need is not None
    assert project(r, results, need) >= target - 1e-9
    if need > 1:
        assert project(r, results, need - 1) < target + 1e-9


def test_no_projection_without_a_figure() -> None:
    assert math.isnan(project(float("nan"), 10, 20))
    assert comparisons_needed(0.0, 10, 0.8) is None
    assert comparisons_needed(float("nan"), 10, 0.8) is None
    rule = StoppingRule(budget=100, target_reliability=None)
    assert outlook(rule, _progress(reliability=0.5)) is None


def _weak(**kw: object) -> RunProgress:
    """A run at 40 of 400 comparisons whose best figure projects to far below 0.80."""
    base: dict[str, object] = {
        "results": 40,
        "reliability": 0.15,
        "reliability_high": 0.2,
        "previous_results": 30,
        "previous_reliability": 0.14,
        "previous_reliability_high": 0.18,
    }
    base.update(kw)
    return _progress(**base)


def test_a_judge_too_weak_for_the_budget_is_told_so_early() -> None:
    rule = StoppingRule(budget=400, target_reliability=0.8)
    d = decide(rule, _weak())
    assert d.stop and d.reason is StopReason.TARGET_UNREACHABLE
    assert isinstance(d.outlook, Outlook)
    # The top of the interval, projected to the budget: odds 1/4 × 10 → 2.5/3.5 = 0.71.
    assert d.outlook.reachable == pytest.approx(2.5 / 3.5)
    # Odds 4 for 0.80 against 1/4 now: 16 × 40 comparisons.
    assert d.outlook.needed == comparisons_needed(0.2, 40, 0.8) == 640
    assert "0.71" in d.message and "640" in d.message and "0.80" in d.message
    # As advice only, the run goes on and still says it.
    advice = decide(replace(rule, stop_when_unreachable=False), _weak())
    assert not advice.stop and advice.reason is StopReason.CONTINUE
    assert advice.outlook == d.outlook and advice.message == d.message


def test_out_of_reach_needs_two_waves_a_margin_and_a_converged_fit() -> None:
    rule = StoppingRule(budget=400, target_reliability=0.8)
    # No previous wave: no verdict on reach yet.
    assert decide(rule, _weak(previous_results=0)).reason is StopReason.CONTINUE
    # The previous wave still projected within reach.
    assert decide(rule, _weak(previous_reliability_high=0.3)).reason is StopReason.CONTINUE
    # Within the margin of the target: not called.
    odds = (0.8 - UNREACHABLE_MARGIN / 2) / (0.2 + UNREACHABLE_MARGIN / 2) / 10
    close = odds / (1 + odds)
    d = decide(rule, _weak(reliability_high=close, previous_reliability_high=close))
    assert d.reason is StopReason.CONTINUE and d.outlook is None
    assert decide(rule, _weak(converged=False)).reason is StopReason.CONTINUE
    # Before every essay has its minimum: not called either.
    assert decide(rule, _weak(min_comparisons=2)).reason is StopReason.CONTINUE


def test_stable_and_precise_come_before_out_of_reach() -> None:
    rule = StoppingRule(budget=400, target_reliability=0.8, target_rms_se=0.5)
    d = decide(rule, _weak(rms_se=0.4))
    assert d.reason is StopReason.PRECISE


@settings(max_examples=300, deadline=None)
@given(
    rel=st.floats(0.0, 0.999),
    prev=st.floats(0.0, 0.999),
    high=st.floats(0.0, 0.999),
    results=st.integers(1, 399),
)
def test_stable_only_on_the_reported_figure_and_unreachable_only_below_target(
    rel: float, prev: float, high: float, results: int
) -> None:
    rule = StoppingRule(budget=400, target_reliability=0.8)
    p = _progress(
        results=results,
        reliability=rel,
        previous_reliability=prev,
        reliability_high=max(high, rel),
        previous_results=max(1, results - 10),
        previous_reliability_high=prev,
    )
    d = decide(rule, p)
    if d.reason is StopReason.STABLE:
        assert min(rel, prev) >= 0.8
    if d.reason is StopReason.TARGET_UNREACHABLE:
        assert d.outlook is not None and d.outlook.reachable < 0.8 - UNREACHABLE_MARGIN
        assert project(max(high, rel), results, 400) < 0.8
