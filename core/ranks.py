"""Ranks with ties averaged, and Spearman's rank correlation, with numpy only."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray


def average_ranks(values: npt.ArrayLike) -> NDArray[np.float64]:
    """Ranks 1..n of a 1-D array; tied values share the mean of the ranks they span."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start index of each run of equal values in sorted order.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.shape[0]]
    mean_rank = 0.5 * (starts + ends - 1) + 1.0
    run_of = np.repeat(np.arange(starts.shape[0]), ends - starts)
    ranks = np.empty(x.shape[0], dtype=np.float64)
    ranks[order] = mean_rank[run_of]
    return ranks


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's ρ: the Pearson correlation of the average ranks (NaN if either is constant)."""
    rx = average_ranks(x)
    ry = average_ranks(y)
    if rx.shape != ry.shape:
        raise ValueError("spearman needs two arrays of the same length")
    dx = rx - rx.mean()
    dy = ry - ry.mean()
    denom = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if denom == 0.0:
        return math.nan
    return float(np.dot(dx, dy)) / denom
