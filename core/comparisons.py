"""Comparison records as the mathematics sees them.

A comparison is an ordered pair (first, second): ``first`` is the essay shown first (label A),
``second`` the essay shown second (label B). Its ``outcome`` is the probability that the first
essay is the better one: 1.0 or 0.0 for a hard verdict, 0.5 for a tie, anything in between for a
soft verdict (a calibrated confidence or a probability from token log-probabilities).
``weight`` scales its contribution to the likelihood (1.0 = one ordinary judgement).

:func:`stratified_halves` and :func:`stratified_folds` split comparisons so that every essay's
comparisons are divided evenly (for the split-half check and the calibration's cross-fits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.graph import component_labels

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


def stratified_halves(data: ComparisonSet, rng: np.random.Generator) -> IntArray:
    """A 0/1 half per comparison that divides every essay's comparisons evenly, at random.

    Each comparison has two *ends*, one at each of its essays. At every essay its ends are put
    in random order and paired off (1st with 2nd, 3rd with 4th, …); a pair of ends *links* two
    comparisons, which then go to opposite halves. Every comparison has at most two links, so
    the links form paths and cycles, and alternating halves along each one puts one of every
    linked pair in each half: an essay with c comparisons gets ⌊c/2⌋ and ⌈c/2⌉. An odd cycle
    cannot alternate: one of its links, at random, is dropped, and the two comparisons it
    joined (now the ends of a path of odd length) fall in the same half, two extra for that
    half at the link's essay. Such pairs at the same essay are sent to alternate halves, so no
    essay is off by more than 3 (by at most 1 when every cycle is even, e.g. when the
    comparison graph is bipartite). Which half each remaining path or cycle starts with is a
    fair coin, so the halves are random subject to the balance.

    The alternation is a 2-colouring, found without a Python loop as the connected components
    of the links' bipartite double cover (node (k, h) for comparison k in half h, linked to
    (k′, 1 − h)): a 2-colourable component splits into two components there, one per
    colouring, while an odd cycle stays one. Cost: a sort of the 2m ends and two component
    searches.
    """
    m = data.size
    if m == 0:
        return np.zeros(0, dtype=np.intp)
    comp = np.concatenate([np.arange(m, dtype=np.intp), np.arange(m, dtype=np.intp)])
    essay = np.concatenate([data.first, data.second])
    order = np.lexsort((rng.random(2 * m), essay))
    essay_sorted = essay[order]
    start = np.flatnonzero(np.r_[True, essay_sorted[1:] != essay_sorted[:-1]])
    rank = np.arange(2 * m) - np.repeat(start, np.diff(np.r_[start, 2 * m]))
    # Ends at even ranks are paired with the next end of the same essay, if there is one.
    paired = np.flatnonzero((rank[:-1] % 2 == 0) & (essay_sorted[1:] == essay_sorted[:-1]))
    a = comp[order[paired]]
    b = comp[order[paired + 1]]
    at = essay_sorted[paired]
    labels = _double_cover_labels(m, a, b)
    odd = np.flatnonzero(labels[a] == labels[a + m])
    cut = odd[:0]
    if odd.shape[0]:
        # Drop one link, chosen at random, of every odd cycle: the cycle becomes a path.
        odd = odd[rng.permutation(odd.shape[0])]
        _, first_in_cycle = np.unique(labels[a[odd]], return_index=True)
        cut = odd[first_in_cycle]
        keep = np.ones(a.shape[0], dtype=bool)
        keep[cut] = False
        labels = _double_cover_labels(m, a[keep], b[keep])
    c0, c1 = labels[:m], labels[m:]
    colour = (c0 < c1).astype(np.intp)
    component = np.minimum(c0, c1)
    flip = rng.integers(0, 2, size=int(labels.max()) + 1)
    if cut.shape[0]:
        # The paths cut at the same essay put their two ends in alternate halves there.
        cut_essay = at[cut]
        by_essay = np.lexsort((rng.random(size=int(cut.shape[0])), cut_essay))
        cut, cut_essay = cut[by_essay], cut_essay[by_essay]
        first = np.flatnonzero(np.r_[True, cut_essay[1:] != cut_essay[:-1]])
        place = np.arange(cut.shape[0]) - np.repeat(first, np.diff(np.r_[first, cut.shape[0]]))
        wanted = (place + rng.integers(0, 2, size=data.n_items)[cut_essay]) % 2
        ends = a[cut]
        flip[component[ends]] = colour[ends] ^ wanted
    half: IntArray = (colour ^ flip[component]).astype(np.intp)
    return half


def _double_cover_labels(m: int, a: IntArray, b: IntArray) -> IntArray:
    """Component labels of nodes k (half 0) and k + m (half 1) with links a–b across halves."""
    rows = np.concatenate([a, a + m])
    cols = np.concatenate([b + m, b])
    _, labels = component_labels(2 * m, rows, cols)
    return labels


def stratified_folds(data: ComparisonSet, k: int, rng: np.random.Generator) -> IntArray:
    """Fold 0..k−1 per comparison, every essay's comparisons spread evenly over the folds.

    ``k`` must be a power of two: the comparisons are split by :func:`stratified_halves`, each
    half again, and so on, so an essay with c comparisons has about c/k in every fold (each
    halving is off by at most 1 for most essays and never by more than 3).
    """
    if k < 1 or k & (k - 1):
        raise ValueError("the number of folds must be a power of two")
    fold = np.zeros(data.size, dtype=np.intp)
    width = 1
    while width < k:
        for f in range(width):
            members = np.flatnonzero(fold == f)
            half = stratified_halves(data.subset(members), rng)
            fold[members[half == 1]] = f + width
        width *= 2
    return fold
