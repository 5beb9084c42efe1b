"""core.optimize.minimize_box, and the grade-boundary fit it drives, against SciPy's L-BFGS-B."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from core import grading
from core.grading import AnchorObservation, calibrate
from core.optimize import Minimum, minimize_box
from core.scales import BUILTIN_SCALES, GradeScale


def _rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    a, b = x[:-1], x[1:]
    value = float(np.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2))
    grad = np.zeros_like(x)
    grad[:-1] += -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    grad[1:] += 200.0 * (b - a * a)
    return value, grad


def test_finds_the_rosenbrock_minimum_inside_and_on_a_bound() -> None:
    inside = minimize_box(_rosenbrock, np.full(5, -1.2), np.full(5, -5.0), np.full(5, 5.0))
    assert inside.converged
    np.testing.assert_allclose(inside.x, 1.0, atol=1e-5)
    bounded = minimize_box(_rosenbrock, np.zeros(4), np.full(4, -5.0), np.full(4, 0.5))
    ref = minimize(_rosenbrock, np.zeros(4), jac=True, method="L-BFGS-B", bounds=[(-5.0, 0.5)] * 4)
    assert bounded.value <= float(ref.fun) + 1e-9
    assert np.all(bounded.x <= 0.5)


@st.composite
def anchor_sets(draw: st.DrawFn) -> tuple[GradeScale, list[AnchorObservation]]:
    scale = draw(st.sampled_from(sorted(BUILTIN_SCALES.values(), key=lambda s: s.id)))
    grades = [g for g in scale.grades if scale.anchorable is None or g in scale.anchorable]
    picked = draw(st.lists(st.sampled_from(grades), min_size=2, max_size=10))
    if len(set(picked)) < 2:
        picked = [grades[0], grades[-1], *picked]
    anchors = []
    for grade in picked:
        noise = draw(st.floats(-1.5, 1.5))
        se = draw(st.floats(0.05, 1.5))
        anchors.append(AnchorObservation(0.8 * scale.index(grade) - 3.0 + noise, se, grade))
    return scale, anchors


def _scipy_minimize_box(fun, x0, lower, upper, **_options):  # type: ignore[no-untyped-def]
    bounds = [
        (None if not np.isfinite(lo) else lo, None if not np.isfinite(hi) else hi)
        for lo, hi in zip(lower, upper, strict=True)
    ]
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
    )
    return Minimum(np.asarray(res.x), float(res.fun), int(res.nit), bool(res.success))


@settings(max_examples=60, deadline=None)
@given(anchor_sets())
def test_grade_boundary_fit_matches_lbfgsb(
    case: tuple[GradeScale, list[AnchorObservation]],
) -> None:
    scale, anchors = case
    ours = calibrate(anchors, scale)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grading, "minimize_box", _scipy_minimize_box)
        ref = calibrate(anchors, scale)
    np.testing.assert_allclose(ours.thresholds, ref.thresholds, atol=1e-4, rtol=0)
    assert ours.spread == pytest.approx(ref.spread, abs=1e-4)
