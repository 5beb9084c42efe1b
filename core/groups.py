"""Bundles whose pairs share essays: the shape of a bundle and the planning of group waves.

A bundle of ``k`` pairs that shares essays shows each essay once, so it costs the tokens of
``m`` essays rather than ``2k``. :func:`group_size` is the fewest essays that hold ``k`` distinct
pairs (the smallest m with m(m−1)/2 ≥ k) and :func:`bundle_shape` which pairs of the ``m`` essays
a bundle asks about: the edges of the circulant graph on m vertices, distance 1 first (the cycle
0–1–…–(m−1)–0), then distance 2, and so on, the first ``k`` of them. So 4 pairs are a 4-cycle
over 4 essays, 6 pairs every pair of 4 essays, 10 pairs every pair of 5; every essay of a bundle
sits in ⌊2k/m⌋ or ⌈2k/m⌉ of its pairs and the pairs connect all m essays.
"""

from __future__ import annotations

import math

__all__ = ["bundle_shape", "group_size"]


def group_size(k: int) -> int:
    """The fewest essays holding ``k`` distinct pairs: min m with m(m−1)/2 ≥ k (k ≥ 1)."""
    if k < 1:
        raise ValueError(f"a bundle holds at least one pair (got {k})")
    m = max(2, math.ceil((1.0 + math.sqrt(1.0 + 8.0 * k)) / 2.0))
    while m * (m - 1) // 2 < k:
        m += 1
    while m > 2 and (m - 1) * (m - 2) // 2 >= k:
        m -= 1
    return m


def bundle_shape(k: int) -> list[tuple[int, int]]:
    """The ``k`` pairs (as essay positions 0..m−1, m = :func:`group_size`) of a shared bundle.

    Circulant order: (0,1), (1,2), …, (m−1,0), then (0,2), (1,3), …; a pair already listed
    (distance m/2 for even m) is not repeated.
    """
    m = group_size(k)
    pairs: list[tuple[int, int]] = []
    seen: set[frozenset[int]] = set()
    for distance in range(1, m // 2 + 1):
        for i in range(m):
            j = (i + distance) % m
            key = frozenset((i, j))
            if key in seen:
                continue
            seen.add(key)
            pairs.append((i, j))
            if len(pairs) == k:
                return pairs
    return pairs
