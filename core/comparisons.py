"""Comparison records as the mathematics sees them.

A comparison is an ordered pair (first, second): ``first`` is the essay shown first (label A),
``second`` the essay shown second (label B). Its ``outcome`` is the probability that the first
essay is the better one: 1.0 or 0.0 for a hard verdict, 0.5 for a tie, anything in between for a
soft verdict (a calibrated confidence or a probability from token log-probabilities).
``weight`` scales its contribution to the likelihood (1.0 = one ordinary judgement).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class Comparison:
    """One judged comparison. ``outcome`` = P(first-shown essay is better) in [0, 1]."""

    first: int
    second: int
    outcome: float
    weight: float = 1.0


@dataclass(frozen=True)
class ComparisonSet:
    """Comparisons as parallel arrays, validated once so the fitters can trust them."""

    n_items: int
    first: IntArray
    second: IntArray
    outcome: FloatArray
    weight: FloatArray

    def __post_init__(self) -> None:
        m = self.first.shape[0]
        if not (self.second.shape[0] == self.outcome.shape[0] == self.weight.shape[0] == m):
            raise ValueError("first, second, outcome and weight must have the same length")
        if self.n_items < 0:
            raise ValueError("n_items must be non-negative")
        if m == 0:
            return
        if self.first.min() < 0 or self.second.min() < 0:
            raise ValueError("essay indices must be non-negative")
        if max(int(self.first.max()), int(self.second.max())) >= self.n_items:
            raise ValueError(f"essay index out of range for {self.n_items} essays")
        if np.any(self.first == self.second):
            raise ValueError("an essay cannot be compared with itself")
        if not np.all(np.isfinite(self.outcome)) or np.any(
            (self.outcome < 0.0) | (self.outcome > 1.0)
        ):
            raise ValueError("outcomes must be probabilities in [0, 1]")
        if not np.all(np.isfinite(self.weight)) or np.any(self.weight < 0.0):
            raise ValueError("weights must be finite and non-negative")

    @property
    def size(self) -> int:
        return int(self.first.shape[0])

    @classmethod
    def empty(cls, n_items: int) -> ComparisonSet:
        return cls.from_arrays(n_items, [], [], [])

    @classmethod
    def from_arrays(
        cls,
        n_items: int,
        first: Sequence[int] | IntArray,
        second: Sequence[int] | IntArray,
        outcome: Sequence[float] | FloatArray,
        weight: Sequence[float] | FloatArray | None = None,
    ) -> ComparisonSet:
        f = np.asarray(first, dtype=np.intp).reshape(-1)
        s = np.asarray(second, dtype=np.intp).reshape(-1)
        y = np.asarray(outcome, dtype=np.float64).reshape(-1)
        w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
        return cls(n_items=n_items, first=f, second=s, outcome=y, weight=w)

    @classmethod
    def from_records(cls, n_items: int, records: Iterable[Comparison]) -> ComparisonSet:
        rows = list(records)
        return cls.from_arrays(
            n_items,
            [r.first for r in rows],
            [r.second for r in rows],
            [r.outcome for r in rows],
            [r.weight for r in rows],
        )

    def subset(self, mask: NDArray[np.bool_] | IntArray) -> ComparisonSet:
        """The comparisons selected by a boolean mask or an index array."""
        return ComparisonSet(
            n_items=self.n_items,
            first=self.first[mask],
            second=self.second[mask],
            outcome=self.outcome[mask],
            weight=self.weight[mask],
        )

    def with_outcomes(self, outcome: FloatArray) -> ComparisonSet:
        return ComparisonSet(self.n_items, self.first, self.second, outcome, self.weight)

    def with_weights(self, weight: FloatArray) -> ComparisonSet:
        return ComparisonSet(self.n_items, self.first, self.second, self.outcome, weight)

    def hardened(self) -> ComparisonSet:
        """Soft outcomes rounded to hard verdicts (0.5 stays a tie)."""
        y = np.where(self.outcome > 0.5, 1.0, np.where(self.outcome < 0.5, 0.0, 0.5))
        return self.with_outcomes(y)

    def counts(self) -> IntArray:
        """Number of comparisons each essay took part in."""
        return np.bincount(
            np.concatenate([self.first, self.second]), minlength=self.n_items
        ).astype(np.intp)
