"""Grades from anchors by the cumulative probit model, through the public API."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from core.grading import (
    AnchorObservation,
    GradeCalibration,
    GradingError,
    calibrate,
    grade_essays,
)
from core.scales import custom_scale, get_scale, swedish_modifier

SWEDISH = get_scale("swedish_8_anchor")
LEGACY = get_scale("eng5_np_legacy_9_step")
NATIONAL = get_scale("eng5_np_national_9_step")

# The national-test anchor set shape: 12 anchors on the legacy scale.
LEGACY_ANCHORS = [
    AnchorObservation(-2.3, 0.45, "F+", "f1"),
    AnchorObservation(-2.0, 0.40, "F+", "f2"),
    AnchorObservation(-1.5, 0.40, "E-", "e-"),
    AnchorObservation(-1.0, 0.35, "E+", "e+"),
    AnchorObservation(-0.5, 0.35, "D-", "d-"),
    AnchorObservation(0.0, 0.35, "D+", "d+"),
    AnchorObservation(0.5, 0.35, "C-", "c-"),
    AnchorObservation(1.0, 0.35, "C+", "c+"),
    AnchorObservation(1.5, 0.40, "B", "b1"),
    AnchorObservation(1.7, 0.40, "B", "b2"),
    AnchorObservation(2.3, 0.45, "A", "a1"),
    AnchorObservation(2.6, 0.45, "A", "a2"),
]

SWEDISH_ANCHORS = [
    AnchorObservation(theta, 0.3, grade)
    for theta, grade in [
        (-2.1, "F"),
        (-1.2, "E"),
        (-1.0, "E"),
        (-0.6, "D"),
        (0.0, "D+"),
        (0.5, "C"),
        (0.7, "C"),
        (1.3, "C+"),
        (2.0, "B"),
        (2.8, "A"),
    ]
]


@cache
def legacy_calibration() -> GradeCalibration:
    return calibrate(LEGACY_ANCHORS, LEGACY)


@cache
def swedish_calibration() -> GradeCalibration:
    return calibrate(SWEDISH_ANCHORS, SWEDISH)


def calibrations() -> st.SearchStrategy[GradeCalibration]:
    return st.sampled_from(["legacy", "swedish"]).map(
        lambda name: legacy_calibration() if name == "legacy" else swedish_calibration()
    )


abilities = st.floats(-40.0, 40.0, allow_nan=False)
standard_errors = st.floats(0.0, 20.0, allow_nan=False)


# --- fitting -------------------------------------------------------------------------------------


def test_recovers_thresholds_and_spread_from_many_anchors() -> None:
    rng = np.random.default_rng(20240611)
    true_tau = np.array([-2.4, -1.5, -0.8, -0.1, 0.7, 1.3, 2.1])
    true_spread = 0.3
    n = 800
    theta = rng.uniform(-3.5, 3.5, n)
    se = rng.uniform(0.05, 0.3, n)
    # Grade from the ordinal probit model at the true ability; the anchor is seen as θ̂.
    grade_idx = np.searchsorted(true_tau, theta + true_spread * rng.standard_normal(n))
    estimate = theta + se * rng.standard_normal(n)
    anchors = [
        AnchorObservation(float(e), float(s), SWEDISH.grades[int(k)])
        for e, s, k in zip(estimate, se, grade_idx, strict=True)
    ]
    cal = calibrate(anchors, SWEDISH)
    np.testing.assert_allclose(cal.thresholds, true_tau, atol=0.15)
    assert cal.spread == pytest.approx(true_spread, abs=0.08)


def test_fit_is_deterministic_and_invariant_to_shift_and_scale() -> None:
    base = calibrate(LEGACY_ANCHORS, LEGACY)
    again = calibrate(LEGACY_ANCHORS, LEGACY)
    np.testing.assert_array_equal(base.thresholds, again.thresholds)
    moved = [AnchorObservation(3.0 * a.ability + 10.0, 3.0 * a.se, a.grade) for a in LEGACY_ANCHORS]
    cal = calibrate(moved, LEGACY)
    np.testing.assert_allclose(cal.thresholds, 3.0 * base.thresholds + 10.0, atol=1e-4)
    assert cal.spread == pytest.approx(3.0 * base.spread, rel=1e-4)


def test_well_ordered_anchors_are_graded_as_their_known_grade() -> None:
    result = grade_essays([], [], LEGACY_ANCHORS, LEGACY)
    assert result.essays == []
    assert [c.label for c in result.anchors] == [a.label for a in LEGACY_ANCHORS]
    assert not any(c.misplaced for c in result.anchors)
    assert result.anchor_inversions == 0
    # τ-b: perfectly ordered, but the tied grades (F+, B and A twice) keep it below 1.
    assert result.anchor_kendall_tau == pytest.approx(math.sqrt(63 / 66))


def test_grades_without_anchors_between_anchored_ones_get_ordered_thresholds() -> None:
    # Only E and A are anchored; D, D+, C, C+ and B lie between them with no anchors at all.
    anchors = [
        AnchorObservation(-1.0, 0.3, "E"),
        AnchorObservation(-0.8, 0.3, "E"),
        AnchorObservation(2.0, 0.3, "A"),
        AnchorObservation(2.2, 0.3, "A"),
    ]
    cal = calibrate(anchors, SWEDISH)
    assert cal.thresholds.shape == (SWEDISH.size - 1,)
    assert np.all(np.diff(cal.thresholds) > 0)
    # Every unanchored grade between E and A is reachable, in order, as θ̂ rises.
    grid = np.linspace(-3.0, 4.0, 701)
    result = grade_essays(grid, np.full(grid.size, 0.2), anchors, SWEDISH)
    indices = [e.grade_index for e in result.essays]
    assert indices == sorted(indices)
    assert {e.grade for e in result.essays} == set(SWEDISH.grades)
    assert all(e.grade == "E" for t, e in zip(grid, result.essays, strict=True) if -1 <= t <= -0.8)


def test_two_anchors_in_two_grades_are_enough() -> None:
    anchors = [AnchorObservation(0.0, 0.0, "3"), AnchorObservation(1.0, 0.0, "4")]
    result = grade_essays([0.0, 1.0], [0.0, 0.0], anchors, NATIONAL)
    assert [e.grade for e in result.essays] == ["3", "4"]


# --- probabilities -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(calibrations(), st.lists(st.tuples(abilities, standard_errors), min_size=1, max_size=20))
def test_probabilities_sum_to_one(cal: GradeCalibration, rows: list[tuple[float, float]]) -> None:
    theta = np.array([r[0] for r in rows])
    se = np.array([r[1] for r in rows])
    probs = cal.probabilities(theta, se)
    assert probs.shape == (len(rows), cal.scale.size)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(calibrations(), abilities, abilities, standard_errors)
def test_cumulative_probabilities_do_not_rise_with_ability(
    cal: GradeCalibration, a: float, b: float, se: float
) -> None:
    lo, hi = min(a, b), max(a, b)
    cum = np.cumsum(cal.probabilities([lo, hi], [se, se]), axis=1)[:, :-1]
    assert np.all(cum[1] <= cum[0] + 1e-12)
    np.testing.assert_allclose(cal.cumulative([lo, hi], [se, se]), cum, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(calibrations(), abilities, standard_errors, standard_errors)
def test_larger_se_never_raises_the_probability_of_the_grade_at_theta(
    cal: GradeCalibration, theta: float, se_a: float, se_b: float
) -> None:
    small, large = min(se_a, se_b), max(se_a, se_b)
    k = int(cal.median_index([theta])[0])
    probs = cal.probabilities([theta, theta], [small, large])
    assert probs[1, k] <= probs[0, k] + 1e-12


def test_larger_se_flattens_the_distribution_at_grade_centres() -> None:
    cal = swedish_calibration()
    tau = cal.thresholds
    centres = 0.5 * (tau[:-1] + tau[1:])
    width = float(np.min(np.diff(tau)))
    ses = np.linspace(0.0, width, 21)
    for centre in centres:
        top = cal.probabilities(np.full(ses.size, centre), ses).max(axis=1)
        assert np.all(np.diff(top) <= 1e-12)
    # And far apart: a precise essay is at least as sure as a vague one.
    sure = grade_essays([centres[2]], [0.0], SWEDISH_ANCHORS, SWEDISH).essays[0]
    vague = grade_essays([centres[2]], [0.5], SWEDISH_ANCHORS, SWEDISH).essays[0]
    assert sure.grade == vague.grade
    assert max(vague.probabilities.values()) < max(sure.probabilities.values())


def test_probabilities_move_smoothly_with_ability() -> None:
    cal = legacy_calibration()
    grid = np.linspace(-3.0, 3.0, 601)
    probs = cal.probabilities(grid, np.full(grid.size, 0.4))
    assert np.max(np.abs(np.diff(probs, axis=0))) < 0.02
    expected = cal.expected_index(grid, np.full(grid.size, 0.4))
    assert np.all(np.diff(expected) > 0)


# --- essays --------------------------------------------------------------------------------------


def test_far_below_lowest_anchor_gets_the_below_lowest_label() -> None:
    result = grade_essays([-8.0, -40.0], [0.4, 0.4], LEGACY_ANCHORS, LEGACY)
    for essay in result.essays:
        assert essay.grade == "F"
        assert essay.grade_index == 0
        assert essay.confidence == "high"
    national = grade_essays(
        [-10.0],
        [0.3],
        [AnchorObservation(-1.0, 0.3, "2"), AnchorObservation(1.0, 0.3, "6")],
        NATIONAL,
    )
    assert national.essays[0].grade == "0"


def test_far_above_top_anchor_gets_the_top_grade() -> None:
    result = grade_essays([8.0, 40.0], [0.4, 0.4], LEGACY_ANCHORS, LEGACY)
    assert [e.grade for e in result.essays] == ["A", "A"]
    assert all(e.confidence == "high" for e in result.essays)
    swedish = grade_essays([9.0], [0.3], SWEDISH_ANCHORS[:5], SWEDISH)  # anchors F … D+ only
    assert swedish.essays[0].grade == "A"


def test_essay_grade_fields_are_consistent() -> None:
    grid = np.linspace(-4.0, 4.0, 41)
    ses = np.linspace(0.0, 1.5, 41)
    result = grade_essays(grid, ses, LEGACY_ANCHORS, LEGACY)
    assert len(result.essays) == grid.size
    for essay in result.essays:
        assert list(essay.probabilities) == list(LEGACY.grades)
        assert math.fsum(essay.probabilities.values()) == pytest.approx(1.0, abs=1e-12)
        assert LEGACY.grades[essay.grade_index] == essay.grade
        assert essay.display_grade == essay.grade  # no variants off the Swedish scale
        p = essay.probabilities[essay.grade]
        expected = "high" if p >= 0.8 else "medium" if p >= 0.5 else "low"
        assert essay.confidence == expected
        if p >= 0.5:
            assert p == max(essay.probabilities.values())


def test_most_likely_grade_is_monotone_in_ability() -> None:
    grid = np.linspace(-5.0, 5.0, 201)
    for se in (0.0, 0.5, 3.0):
        result = grade_essays(grid, np.full(grid.size, se), SWEDISH_ANCHORS, SWEDISH)
        indices = [e.grade_index for e in result.essays]
        assert indices == sorted(indices)
        for essay in result.essays:
            assert essay.probabilities[essay.grade] == max(essay.probabilities.values())


def test_swedish_display_grade_follows_position_in_interval() -> None:
    cal = swedish_calibration()
    tau = cal.thresholds
    lo, hi = tau[SWEDISH.index("B") - 1], tau[SWEDISH.index("B")]
    points = [lo + 0.1 * (hi - lo), lo + 0.5 * (hi - lo), lo + 0.9 * (hi - lo)]
    result = grade_essays(points, [0.2] * 3, SWEDISH_ANCHORS, SWEDISH)
    assert [e.grade for e in result.essays] == ["B", "B", "B"]
    assert [e.display_grade for e in result.essays] == ["B-", "B", "B+"]
    # F, D+ and C+ stay bare wherever the essay sits.
    for grade in ("F", "D+", "C+"):
        k = SWEDISH.index(grade)
        lo_k, hi_k = cal.interval(k)
        inner = [hi_k - 0.01] if math.isinf(lo_k) else [lo_k + 0.01, hi_k - 0.01]
        for essay in grade_essays(inner, [0.2] * len(inner), SWEDISH_ANCHORS, SWEDISH).essays:
            assert essay.grade == grade
            assert essay.display_grade == grade
    for essay in grade_essays(np.linspace(-4, 4, 81), [0.3] * 81, SWEDISH_ANCHORS, SWEDISH).essays:
        assert essay.display_grade in {
            swedish_modifier(SWEDISH, essay.grade, pos) for pos in (0.0, 0.5, 1.0)
        }


# --- anchors -------------------------------------------------------------------------------------


def test_swapped_anchor_is_counted_and_flagged() -> None:
    swapped = list(LEGACY_ANCHORS)
    # The C+ anchor sits where the E- anchor should be, and vice versa.
    swapped[2] = AnchorObservation(1.0, 0.35, "E-", "e-")
    swapped[7] = AnchorObservation(-1.5, 0.35, "C+", "c+")
    result = grade_essays([0.0], [0.3], swapped, LEGACY)
    assert result.anchor_inversions >= 1
    assert result.anchor_kendall_tau < 1.0
    misplaced = {c.label for c in result.anchors if c.misplaced}
    assert misplaced & {"e-", "c+"}
    for check in result.anchors:
        assert check.misplaced == (check.fitted_grade != check.known_grade)
        assert 0.0 <= check.known_grade_probability <= 1.0


def test_inversions_ignore_ties_in_grade() -> None:
    anchors = [
        AnchorObservation(1.0, 0.2, "B", "b-high"),
        AnchorObservation(0.5, 0.2, "B", "b-low"),
        AnchorObservation(-1.0, 0.2, "D", "d"),
    ]
    result = grade_essays([], [], anchors, SWEDISH)
    assert result.anchor_inversions == 0
    tau_b = kendalltau([a.ability for a in anchors], [SWEDISH.index(a.grade) for a in anchors])
    assert result.anchor_kendall_tau == pytest.approx(tau_b.statistic)


def test_kendall_tau_is_nan_when_anchor_abilities_are_all_equal() -> None:
    anchors = [AnchorObservation(0.0, 0.2, "C"), AnchorObservation(0.0, 0.2, "B")]
    result = grade_essays([], [], anchors, SWEDISH)
    assert result.anchor_inversions == 0
    assert math.isnan(result.anchor_kendall_tau)


# --- refusals ------------------------------------------------------------------------------------


def test_refuses_fewer_than_two_distinct_anchor_grades() -> None:
    same = [AnchorObservation(0.0, 0.2, "C", "x"), AnchorObservation(1.0, 0.2, "C", "y")]
    with pytest.raises(GradingError, match="at least 2 distinct grades") as info:
        calibrate(same, SWEDISH)
    assert "'C'" in str(info.value)
    with pytest.raises(GradingError, match="at least 2 distinct grades"):
        grade_essays([0.0], [0.1], [], SWEDISH)


def test_refuses_grade_not_on_the_scale_naming_label_and_scale() -> None:
    anchors = [AnchorObservation(0.0, 0.2, "C", "ok"), AnchorObservation(1.0, 0.2, "C+", "bad")]
    with pytest.raises(GradingError) as info:
        calibrate(anchors, NATIONAL)
    message = str(info.value)
    assert "'C'" in message
    assert "eng5_np_national_9_step" in message
    assert "1, 2, 3" in message


def test_refuses_non_anchorable_grade_naming_label_and_scale() -> None:
    anchors = [AnchorObservation(-3.0, 0.2, "F", "weak"), AnchorObservation(1.0, 0.2, "B", "b")]
    with pytest.raises(GradingError) as info:
        grade_essays([0.0], [0.2], anchors, LEGACY)
    message = str(info.value)
    assert "'F'" in message
    assert "'weak'" in message
    assert "eng5_np_legacy_9_step" in message


def test_refuses_mismatched_lengths() -> None:
    with pytest.raises(GradingError, match="3 abilities but 2 standard errors"):
        grade_essays([0.0, 1.0, 2.0], [0.1, 0.1], LEGACY_ANCHORS, LEGACY)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_refuses_non_finite_values(bad: float) -> None:
    with pytest.raises(GradingError, match="finite"):
        grade_essays([0.0, bad], [0.1, 0.1], LEGACY_ANCHORS, LEGACY)
    with pytest.raises(GradingError, match="finite"):
        grade_essays([0.0], [bad], LEGACY_ANCHORS, LEGACY)
    anchors = [*LEGACY_ANCHORS, AnchorObservation(bad, 0.1, "B", "broken")]
    with pytest.raises(GradingError, match="non-finite"):
        calibrate(anchors, LEGACY)


def test_refuses_negative_standard_errors() -> None:
    with pytest.raises(GradingError, match="≥ 0"):
        grade_essays([0.0], [-0.1], LEGACY_ANCHORS, LEGACY)
    anchors = [*LEGACY_ANCHORS, AnchorObservation(0.0, -0.1, "B", "neg")]
    with pytest.raises(GradingError, match="negative"):
        calibrate(anchors, LEGACY)


# --- custom scales -------------------------------------------------------------------------------


def test_custom_scale_grades_end_to_end() -> None:
    scale = custom_scale(
        "merit", "Merit scale", ["Fail", "Pass", "Merit", "Distinction"], [0.1, 0.5, 0.3, 0.1]
    )
    anchors = [
        AnchorObservation(-1.0, 0.3, "Pass", "p"),
        AnchorObservation(0.6, 0.3, "Merit", "m"),
        AnchorObservation(1.8, 0.3, "Distinction", "d"),
    ]
    result = grade_essays([-6.0, -1.0, 0.6, 1.8, 6.0], [0.3] * 5, anchors, scale)
    assert [e.grade for e in result.essays] == [
        "Fail",
        "Pass",
        "Merit",
        "Distinction",
        "Distinction",
    ]
    assert all(e.display_grade == e.grade for e in result.essays)
    assert result.anchor_inversions == 0


def test_two_grade_custom_scale() -> None:
    scale = custom_scale("pf", "Pass/fail", ["Fail", "Pass"])
    anchors = [AnchorObservation(-1.0, 0.2, "Fail"), AnchorObservation(1.0, 0.2, "Pass")]
    result = grade_essays([-3.0, 3.0], [0.2, 0.2], anchors, scale)
    assert [e.grade for e in result.essays] == ["Fail", "Pass"]
    assert result.calibration.thresholds.shape == (1,)
    assert -1.0 < result.calibration.thresholds[0] < 1.0
