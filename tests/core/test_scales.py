"""Grade scales: built-in definitions, validation, look-ups and Swedish minus/plus variants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.scales import (
    BUILTIN_SCALES,
    GradeScale,
    UnknownGradeError,
    UnknownScaleError,
    custom_scale,
    get_scale,
    swedish_modifier,
)

SWEDISH = get_scale("swedish_8_anchor")
LEGACY = get_scale("eng5_np_legacy_9_step")
NATIONAL = get_scale("eng5_np_national_9_step")


def test_builtin_scales_are_registered_by_id() -> None:
    assert set(BUILTIN_SCALES) == {
        "swedish_8_anchor",
        "eng5_np_legacy_9_step",
        "eng5_np_national_9_step",
    }
    for scale_id, scale in BUILTIN_SCALES.items():
        assert scale.id == scale_id
        assert get_scale(scale_id) is scale


def test_swedish_scale_has_population_priors() -> None:
    assert SWEDISH.grades == ("F", "E", "D", "D+", "C", "C+", "B", "A")
    assert SWEDISH.priors is not None
    assert dict(zip(SWEDISH.grades, SWEDISH.priors, strict=True)) == pytest.approx(
        {"F": 0.02, "E": 0.08, "D": 0.15, "D+": 0.20, "C": 0.25, "C+": 0.15, "B": 0.10, "A": 0.05}
    )
    assert SWEDISH.below_lowest is None
    assert SWEDISH.anchorable_grades == SWEDISH.grades


def test_legacy_scale_has_unanchorable_f_below_lowest_anchor() -> None:
    assert LEGACY.grades == ("F", "F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")
    assert LEGACY.below_lowest == "F"
    assert LEGACY.priors is None
    assert not LEGACY.is_anchorable("F")
    assert LEGACY.anchorable_grades == LEGACY.grades[1:]


def test_national_scale_runs_zero_to_nine_with_zero_below_lowest() -> None:
    assert NATIONAL.grades == tuple(str(i) for i in range(10))
    assert NATIONAL.below_lowest == "0"
    assert NATIONAL.anchorable_grades == tuple(str(i) for i in range(1, 10))
    assert NATIONAL.priors is None


def test_index_orders_grades_low_to_high() -> None:
    assert [SWEDISH.index(g) for g in SWEDISH.grades] == list(range(8))


def test_unknown_grade_names_label_scale_and_valid_grades() -> None:
    with pytest.raises(UnknownGradeError) as info:
        SWEDISH.index("A+")
    message = str(info.value)
    assert "'A+'" in message
    assert "swedish_8_anchor" in message
    assert "F, E, D, D+, C, C+, B, A" in message
    assert isinstance(info.value, ValueError)


def test_unknown_scale_lists_builtin_ids() -> None:
    with pytest.raises(UnknownScaleError, match="eng5_np_legacy_9_step"):
        get_scale("nope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grades": ("A",)}, "at least 2 grades"),
        ({"grades": ("A", "B", "A")}, "duplicate"),
        ({"grades": ("A", " ")}, "empty"),
        ({"grades": ("A", "B"), "priors": (1.0,)}, "2 grades but 1 priors"),
        ({"grades": ("A", "B"), "priors": (1.2, -0.2)}, "positive"),
        ({"grades": ("A", "B"), "priors": (0.5, 0.6)}, "sum to 1"),
        ({"grades": ("A", "B", "C"), "below_lowest": "B"}, "must be the lowest"),
        ({"grades": ("A", "B", "C"), "below_lowest": "X"}, "not one of its grades"),
        ({"grades": ("A", "B"), "anchorable": frozenset({"A", "Z"})}, "not on the scale"),
        ({"grades": ("A", "B"), "below_lowest": "A"}, "at least 2 grades that anchors"),
    ],
)
def test_invalid_scales_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GradeScale(id="t", name="Test", **kwargs)  # type: ignore[arg-type]


def test_custom_scale_with_priors_and_below_lowest() -> None:
    scale = custom_scale(
        "my_scale", " Mine ", [" U", "P", "M ", "D"], [0.1, 0.4, 0.3, 0.2], below_lowest="U"
    )
    assert scale.grades == ("U", "P", "M", "D")
    assert scale.name == "Mine"
    assert scale.anchorable_grades == ("P", "M", "D")
    assert scale.priors is not None
    assert math.fsum(scale.priors) == pytest.approx(1.0, abs=1e-12)


def test_custom_scale_renormalises_rounded_priors() -> None:
    scale = custom_scale("thirds", "Thirds", ["L", "M", "H"], [0.33, 0.33, 0.3405])
    assert scale.priors is not None
    assert math.fsum(scale.priors) == pytest.approx(1.0, abs=1e-12)


def test_custom_scale_cannot_take_a_builtin_id() -> None:
    with pytest.raises(ValueError, match="reserved"):
        custom_scale("swedish_8_anchor", "Fake", ["F", "A"])


@pytest.mark.parametrize(
    ("grade", "position", "expected"),
    [
        ("E", 0.10, "E-"),
        ("E", 0.50, "E"),
        ("E", 0.90, "E+"),
        ("B", 0.0, "B-"),
        ("B", 0.2499, "B-"),
        ("B", 0.25, "B"),
        ("B", 0.75, "B"),
        ("B", 0.7501, "B+"),
        ("B", 1.0, "B+"),
        ("D", 0.1, "D-"),
        ("D", 0.9, "D"),  # "D+" is a grade of its own
        ("C", 0.1, "C-"),
        ("C", 0.9, "C"),  # "C+" is a grade of its own
        ("A", 0.1, "A-"),
        ("A", 0.9, "A"),  # nothing above A
        ("E", -3.0, "E-"),  # clamped
        ("E", 7.0, "E+"),  # clamped
    ],
)
def test_swedish_modifier_by_quarter(grade: str, position: float, expected: str) -> None:
    assert swedish_modifier(SWEDISH, grade, position) == expected


@given(st.sampled_from(["F", "D+", "C+"]), st.floats(-2.0, 3.0))
def test_swedish_modifier_never_touches_f_dplus_cplus(grade: str, position: float) -> None:
    assert swedish_modifier(SWEDISH, grade, position) == grade


@given(st.floats(-2.0, 3.0))
def test_modifier_only_applies_to_the_swedish_scale(position: float) -> None:
    assert swedish_modifier(LEGACY, "C-", position) == "C-"
    assert swedish_modifier(NATIONAL, "5", position) == "5"
    custom = custom_scale("abc", "ABC", ["C", "B", "A"])
    assert swedish_modifier(custom, "B", position) == "B"


def test_modifier_rejects_unknown_grade_and_nan() -> None:
    with pytest.raises(UnknownGradeError):
        swedish_modifier(SWEDISH, "C-", 0.5)
    with pytest.raises(ValueError, match="NaN"):
        swedish_modifier(SWEDISH, "C", math.nan)
