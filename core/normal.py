"""The standard normal distribution on numpy arrays: Φ, log Φ and Φ⁻¹, to double precision.

The core needs only these three functions of the normal distribution, so it computes them
itself instead of carrying a scientific library into the packaged application.

Φ(x) = ½·erfc(−x/√2), and erfc(z) for z ≥ 0 is evaluated as

- ``z < 2``: erfc(z) = 1 − erf(z) with the Maclaurin series
  erf(z) = 2/√π · Σₙ (−1)ⁿ z^(2n+1) / (n!·(2n+1)), summed to 32 terms (at z = 2 the largest
  term is about 3, so cancellation costs under one digit, and erfc(2) ≈ 4.7·10⁻³ keeps the
  relative error of 1 − erf near 10⁻¹³);
- ``z ≥ 2``: erfc(z) = e^(−z²)·g(z) with the continued fraction
  g(z) = (1/√π) · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + …))))), evaluated from the tail
  (``_CF_TERMS`` levels). Carrying e^(−z²) outside gives log erfc(z) = −z² + log g(z) with no
  underflow, which is what makes log Φ exact far into the lower tail.

erfc(−z) = 2 − erfc(z) covers negative arguments. Φ⁻¹ starts from a rational approximation of
the quantile (|error| < 10⁻³) and takes Newton steps on Φ(x) − p (or on log Φ in the tails),
which converge quadratically to the precision of Φ itself.

Measured against an independent implementation over x ∈ [−40, 40]: relative error of Φ below
10⁻¹², of log Φ below 10⁻¹⁰, absolute error of Φ⁻¹ below 10⁻¹³ for p ∈ [10⁻³⁰⁰, 1 − 10⁻¹⁶]
(tests/core/test_normal.py).

All functions accept array-likes and return float64 arrays of the same shape; NaN propagates.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SERIES_TERMS = 32
_CF_TERMS = 40
_SPLIT = 2.0


def _erf_series(z: FloatArray) -> FloatArray:
    """erf(z) by its Maclaurin series; accurate for |z| < 2."""
    z2 = z * z
    term = z.copy()
    total = z.copy()
    for n in range(1, _SERIES_TERMS):
        term = term * (-z2) / n
        total = total + term / (2 * n + 1)
    out: FloatArray = 2.0 * _INV_SQRT_PI * total
    return out


def _erfc_scaled_tail(z: FloatArray) -> FloatArray:
    """g(z) = e^(z²)·erfc(z) for z ≥ 2 by the continued fraction (see the module docstring)."""
    tail = np.zeros_like(z)
    for k in range(_CF_TERMS, 0, -1):
        tail = (0.5 * k) / (z + tail)
    out: FloatArray = _INV_SQRT_PI / (z + tail)
    return out


def _log_erfc_nonneg(z: FloatArray) -> FloatArray:
    """log erfc(z) for z ≥ 0."""
    out = np.empty_like(z)
    small = z < _SPLIT
    if np.any(small):
        out[small] = np.log1p(-_erf_series(z[small]))
    big = ~small
    if np.any(big):
        zb = z[big]
        out[big] = -zb * zb + np.log(_erfc_scaled_tail(zb))
    return out


def _erfc_nonneg(z: FloatArray) -> FloatArray:
    """erfc(z) for z ≥ 0."""
    out = np.empty_like(z)
    small = z < _SPLIT
    if np.any(small):
        out[small] = 1.0 - _erf_series(z[small])
    big = ~small
    if np.any(big):
        zb = z[big]
        out[big] = np.exp(-zb * zb) * _erfc_scaled_tail(zb)
    return out


def _as_array(x: npt.ArrayLike) -> FloatArray:
    return np.array(x, dtype=np.float64, copy=True)


def ndtr(x: npt.ArrayLike) -> FloatArray:
    """Φ(x), the standard normal distribution function, elementwise."""
    xs = _as_array(x)
    flat = xs.reshape(-1)
    out = np.full(flat.shape, np.nan)
    ok = ~np.isnan(flat)
    v = flat[ok]
    z = np.abs(v) / _SQRT2
    tail = 0.5 * _erfc_nonneg(np.minimum(z, 40.0))  # Φ(−|x|); erfc(40) underflows to 0
    out[ok] = np.where(v < 0, tail, 1.0 - tail)
    result: FloatArray = out.reshape(xs.shape)
    return result


def log_ndtr(x: npt.ArrayLike) -> FloatArray:
    """log Φ(x) elementwise, accurate in both tails (finite for every finite x)."""
    xs = _as_array(x)
    flat = xs.reshape(-1)
    out = np.full(flat.shape, np.nan)
    ok = ~np.isnan(flat)
    v = flat[ok]
    res = np.empty_like(v)
    neg = v < 0
    if np.any(neg):
        # Φ(x) = ½ erfc(−x/√2) for x < 0: the tail form never underflows.
        zn = -v[neg] / _SQRT2
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res[neg] = _log_erfc_nonneg(zn) - math.log(2.0)
        huge = np.isinf(zn)
        if np.any(huge):
            sub = res[neg]
            sub[huge] = -np.inf
            res[neg] = sub
    pos = ~neg
    if np.any(pos):
        # Φ(x) = 1 − ½ erfc(x/√2) for x ≥ 0.
        zp = np.minimum(v[pos] / _SQRT2, 40.0)
        res[pos] = np.log1p(-0.5 * _erfc_nonneg(zp))
    out[ok] = res
    result: FloatArray = out.reshape(xs.shape)
    return result


# Rational starting values for Φ⁻¹ (central and tail forms, |error| < 1e-3 before refinement).
_C0, _C1, _C2 = 2.515517, 0.802853, 0.010328
_D1, _D2, _D3 = 1.432788, 0.189269, 0.001308


def _quantile_start(p: FloatArray) -> FloatArray:
    """Φ⁻¹(p) to about 4.5·10⁻⁴ (the Hastings rational form in t = √(−2 log min(p, 1−p)))."""
    q = np.minimum(p, 1.0 - p)
    t = np.sqrt(-2.0 * np.log(q))
    x = t - (_C0 + _C1 * t + _C2 * t * t) / (1.0 + _D1 * t + _D2 * t * t + _D3 * t**3)
    out: FloatArray = np.where(p < 0.5, -x, x)
    return out


def ndtri(p: npt.ArrayLike) -> FloatArray:
    """Φ⁻¹(p) elementwise: −inf at 0, +inf at 1, NaN outside [0, 1]."""
    ps = _as_array(p)
    flat = ps.reshape(-1)
    out = np.full(flat.shape, np.nan)
    inside = (flat > 0.0) & (flat < 1.0)
    out[flat == 0.0] = -np.inf
    out[flat == 1.0] = np.inf
    pv = flat[inside]
    if pv.size:
        x = _quantile_start(pv)
        lower = pv < 0.5
        log_target = np.log(np.where(lower, pv, 1.0 - pv))
        for _ in range(4):
            # Newton on log Φ(∓x) = log min(p, 1 − p): well scaled in the far tail too.
            s = np.where(lower, x, -x)
            log_cdf = log_ndtr(s)
            log_pdf = -0.5 * s * s - 0.5 * math.log(2.0 * math.pi)
            step = (log_cdf - log_target) * np.exp(log_cdf - log_pdf)
            x = x - np.where(lower, step, -step)
        out[inside] = x
    result: FloatArray = out.reshape(ps.shape)
    return result
