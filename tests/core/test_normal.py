"""core.normal against the standard library and an independent implementation."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from core.normal import log_ndtr, ndtr, ndtri

_STD = NormalDist()


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-38.0, max_value=38.0))
def test_ndtr_matches_erfc_of_the_standard_library(x: float) -> None:
    expected = 0.5 * math.erfc(-x / math.sqrt(2.0))
    assert float(ndtr(x)) == pytest.approx(expected, rel=1e-12, abs=0.0)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-300, max_value=1.0 - 1e-16, exclude_max=True))
def test_ndtri_inverts_ndtr(p: float) -> None:
    x = float(ndtri(p))
    if 1e-12 < p < 1 - 1e-12:
        assert x == pytest.approx(_STD.inv_cdf(p), abs=1e-11)
    assert float(log_ndtr(x)) == pytest.approx(math.log(p), rel=1e-9, abs=1e-14)


def test_log_ndtr_in_the_far_tails() -> None:
    x = np.concatenate([np.linspace(-1e4, -30.0, 500), np.linspace(-30.0, 40.0, 7001)])
    ours = log_ndtr(x)
    assert np.all(np.isfinite(ours[x < 0]))
    np.testing.assert_allclose(ours, special.log_ndtr(x), rtol=1e-10, atol=1e-300)


def test_shapes_edges_and_nan() -> None:
    grid = np.linspace(-5.0, 5.0, 12).reshape(3, 4)
    assert ndtr(grid).shape == (3, 4)
    assert log_ndtr(grid).shape == (3, 4)
    assert ndtri(ndtr(grid)).shape == (3, 4)
    np.testing.assert_allclose(ndtri(ndtr(grid)), grid, atol=1e-12)
    assert list(ndtr([-np.inf, np.inf])) == [0.0, 1.0]
    assert list(log_ndtr([-np.inf, np.inf])) == [-np.inf, 0.0]
    assert list(ndtri([0.0, 1.0])) == [-np.inf, np.inf]
    assert np.all(np.isnan(ndtri([-0.1, 1.1, np.nan])))
    assert np.isnan(ndtr(np.nan)) and np.isnan(log_ndtr(np.nan))
    # Symmetry Φ(−x) = 1 − Φ(x) holds to rounding.
    xs = np.linspace(0.0, 8.0, 101)
    np.testing.assert_allclose(ndtr(-xs), 1.0 - ndtr(xs), atol=2e-16)
