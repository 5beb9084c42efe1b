"""A small box-constrained minimiser for smooth objectives with an analytic gradient.

Used for low-dimensional fits (the grade-boundary fit has at most a dozen parameters), where a
dense quasi-Newton method is simple and fast.

Method (projected BFGS, as in Bertsekas' projected Newton methods): at x, the *active* set holds
the coordinates sitting on a bound with the gradient pushing outwards; they stay fixed this
iteration. The search direction on the free coordinates is d = −H·g with H the BFGS
approximation of the inverse Hessian (reset to the identity when d is not a descent direction).
The step is found by backtracking along the projected path x(t) = clip(x + t·d) until the
Armijo condition f(x(t)) ≤ f(x) + 10⁻⁴·gᵀ(x(t) − x) holds. H is updated with
s = x⁺ − x, y = g⁺ − g when sᵀy > 0 (which keeps it positive definite).

Convergence is declared when the projected gradient is below ``gtol`` (max norm) or the relative
reduction of f is below ``ftol`` — the stopping rules of L-BFGS-B — in one full step or in three
shortened (backtracked) steps in a row: a single backtracked step can be tiny far from the
minimum, while repeated ones mean f no longer changes above its rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]


@dataclass(frozen=True)
class Minimum:
    """Result of :func:`minimize_box`."""

    x: FloatArray
    value: float
    iterations: int
    converged: bool


def _projected_gradient(
    x: FloatArray, g: FloatArray, lower: FloatArray, upper: FloatArray
) -> FloatArray:
    """The gradient with the components that push out of the box at a bound set to zero."""
    out = g.copy()
    out[(x <= lower) & (g > 0)] = 0.0
    out[(x >= upper) & (g < 0)] = 0.0
    return out


def minimize_box(
    fun: Objective,
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    *,
    max_iter: int = 2000,
    ftol: float = 1e-13,
    gtol: float = 1e-9,
) -> Minimum:
    """Minimise ``fun`` (returning value and gradient) over lower ≤ x ≤ upper from ``x0``.

    ``lower``/``upper`` may hold ±inf for unbounded coordinates. Returns the best point found;
    ``converged`` is False if ``max_iter`` ran out or no step decreased f before the tolerances
    were met.
    """
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    if np.any(lo > hi):
        raise ValueError("a lower bound exceeds its upper bound")
    x = np.clip(np.asarray(x0, dtype=np.float64), lo, hi)
    f, g = fun(x)
    n = x.shape[0]
    h_inv = np.eye(n)
    stalled = 0
    for iteration in range(1, max_iter + 1):
        pg = _projected_gradient(x, g, lo, hi)
        if float(np.max(np.abs(pg), initial=0.0)) <= gtol:
            return Minimum(x, f, iteration - 1, True)
        free = pg != 0.0
        d = np.zeros(n)
        with np.errstate(over="ignore", invalid="ignore"):
            d[free] = -(h_inv[np.ix_(free, free)] @ g[free])
            slope = float(np.dot(g, d))
        # Not a descent direction, or the inverse Hessian estimate has blown up: restart from
        # steepest descent.
        if not (np.isfinite(slope) and slope < 0.0) or not np.all(np.isfinite(d)):
            h_inv = np.eye(n)
            d = -pg
        t = 1.0
        accepted = False
        for _ in range(60):
            x_new = np.clip(x + t * d, lo, hi)
            f_new, g_new = fun(x_new)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * float(np.dot(g, x_new - x)):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            return Minimum(x, f, iteration, False)
        s = x_new - x
        y = g_new - g
        reduction = f - f_new
        x, f, g = x_new, f_new, g_new
        sy = float(np.dot(s, y))
        if sy > 1e-12 * float(np.dot(s, s)) ** 0.5 * float(np.dot(y, y)) ** 0.5:
            rho = 1.0 / sy
            hy = h_inv @ y
            h_inv = (
                h_inv
                - rho * (np.outer(s, hy) + np.outer(hy, s))
                + (rho * rho * float(np.dot(y, hy)) + rho) * np.outer(s, s)
            )
        # A small reduction after a shortened step says more about the line search than about
        # the minimum, so one full step, or three shortened steps in a row, must show it.
        if reduction <= ftol * max(abs(f), abs(f + reduction), 1.0):
            stalled = 0 if t == 1.0 else stalled + 1
            if t == 1.0 or stalled >= 3:
                return Minimum(x, f, iteration, True)
        else:
            stalled = 0
    return Minimum(x, f, max_iter, False)
