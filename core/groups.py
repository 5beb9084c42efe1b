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

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from core.comparisons import FloatArray
from core.scheduler import (
    SchedulerState,
    Strategy,
    _component_labels,
    _orient,
    _pair_counts,
    _scores,
    audit_share_at,
    plan_wave,
)
from core.simulate import stable_seed

__all__ = ["bundle_shape", "group_size", "plan_group_wave"]


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


def _shape_links(shape: Sequence[tuple[int, int]], m: int) -> list[list[int]]:
    """For each position p, the earlier positions q < p it is paired with in ``shape``."""
    links: list[list[int]] = [[] for _ in range(m)]
    for a, b in shape:
        links[max(a, b)].append(min(a, b))
    return links


def plan_group_wave(
    state: SchedulerState,
    size: int,
    bundle_pairs: int,
    *,
    seed: int | str = 0,
    wave: int = 0,
    strategy: Strategy = "adaptive",
    temperature: float = 0.3,
) -> list[list[tuple[int, int]]]:
    """A wave of about ``size`` new pairs as bundles of ``bundle_pairs`` pairs sharing essays.

    Each bundle is a group of m = :func:`group_size` essays asked about the pairs of
    :func:`bundle_shape`. Groups are built greedily from the scheduler's pair scores
    (:mod:`core.scheduler`: information × misorder chance, bridges, coverage and grade-boundary
    boosts), perturbed by the same seeded Gumbel noise at the same temperature: the best
    remaining pair seeds a group, further members are the essays whose pairs with all members
    so far score highest in sum, and the members are then placed in the shape so that the pairs
    asked score highest (see ``_best_group``). Only unused pairs are asked, each essay sits in
    one group per round (a round ends when fewer than m essays are left), and
    ``state.audit_share`` of the groups (scaled for small batches as
    :func:`core.scheduler.audit_share_at` scales it) are drawn uniformly at random (every pair
    of a random group is a uniformly random pair). Positions are set as
    :func:`core.scheduler.plan_wave` sets them.

    Falls back to :func:`core.scheduler.plan_wave`, one pair per group, when a bundle holds one
    pair, there are fewer than m essays, every pair has been used, or the unused pairs left
    cannot form a single whole group. The wave has
    ``max(1, round(size / bundle_pairs))`` groups, fewer when the unused pairs run out; a group
    that cannot be completed is not asked. Deterministic for (state, size, seed, wave).
    """
    n = state.n_items
    m = group_size(bundle_pairs) if bundle_pairs >= 1 else 2
    if n < 2 or size <= 0:
        return []
    used, counts, imbalance = _pair_counts(n, state.shown)
    iu, ju = np.triu_indices(n, 1)
    free = used[iu, ju] == 0
    if bundle_pairs <= 1 or n < m or not free.any():
        return _singles(state, size, seed, wave, strategy, temperature)
    rng = np.random.default_rng(stable_seed("group-wave", seed, wave, n, len(state.shown)))
    shape = bundle_shape(bundle_pairs)
    links = _shape_links(shape, m)
    labels = _component_labels(n, used)
    ii, jj = iu[free].astype(np.intp), ju[free].astype(np.intp)
    score = np.maximum(_scores(state, strategy, ii, jj, counts, labels), 1e-300)
    gumbel = -np.log(-np.log(rng.uniform(1e-300, 1.0, ii.shape[0])))
    key = np.full((n, n), -np.inf)
    key[ii, jj] = np.log(score) / max(temperature, 1e-9) + gumbel
    key[jj, ii] = key[ii, jj]
    n_groups = max(1, round(size / bundle_pairs))
    n_audit = 0
    if strategy == "adaptive" and state.audit_share > 0.0:
        n_audit = int(audit_share_at(state.audit_share, n) * n_groups + rng.uniform())
    free_now = np.ones(n, dtype=bool)
    imb = imbalance.copy()
    groups: list[list[tuple[int, int]]] = []
    failures = 0
    while len(groups) < n_groups and failures < 4 * n:
        if free_now.sum() < m:
            free_now[:] = True  # a new round: every essay may take part once more
        if len(groups) < n_audit:
            members = _random_group(key, free_now, links, m, rng)
        else:
            members = _best_group(key, free_now, links, m, shape)
        if members is None:
            failures += 1
            if not np.isfinite(key).any():
                break
            if len(groups) < n_audit:
                n_audit = len(groups)  # no random group fits: plan the rest adaptively
            else:
                break
            continue
        group: list[tuple[int, int]] = []
        for a, b in shape:
            x, y = members[a], members[b]
            group.append(_orient(x, y, imb, rng))
            first, second = group[-1]
            imb[first] += 1
            imb[second] -= 1
            key[x, y] = key[y, x] = -np.inf
        free_now[members] = False
        groups.append(group)
    if not groups:
        # Unused pairs remain but no whole group can be formed from them: ask them one by one.
        return _singles(state, size, seed, wave, strategy, temperature)
    return groups


def _singles(
    state: SchedulerState,
    size: int,
    seed: int | str,
    wave: int,
    strategy: Strategy,
    temperature: float,
) -> list[list[tuple[int, int]]]:
    """The wave of :func:`core.scheduler.plan_wave`, one pair per group."""
    pairs = plan_wave(state, size, seed=seed, wave=wave, strategy=strategy, temperature=temperature)
    return [[p] for p in pairs]


def _best_group(
    key: FloatArray,
    free_now: NDArray[np.bool_],
    links: list[list[int]],
    m: int,
    shape: Sequence[tuple[int, int]],
) -> list[int] | None:
    """The greedy group, members first and then their places in the shape.

    Members: the best free pair, then repeatedly the free essay whose keys with all members
    so far sum highest (a used pair counts as a low key rather than barring the essay, since
    the shape may not ask it), so the group is compact in every pair and not only along a
    chain. Places: the assignment of the members to the shape's positions whose asked pairs
    are all unused and have the highest summed key (for a 4-cycle on a line of abilities
    a < b < c < d that is a–b–d–c–a, no pair spanning the whole group). When no assignment
    asks only unused pairs, the chain rule of the shape's own links is used instead.

    Measured against building the group along the shape's chain (20 and 12 seeds, bundles of
    4): with the argmax judge with bias and lapses, 7.9 instead of 8.2 comparisons per essay to
    Spearman 0.90 at 30 essays and 8.3 instead of 8.9 at 100; with an unbiased, lapse-free judge
    the chain did better (6.7 against 7.2 at 30 essays). LLM judges show biases and lapses.
    """
    masked = np.where(free_now[:, None] & free_now[None, :], key, -np.inf)
    best = int(np.argmax(masked))
    a, b = divmod(best, key.shape[0])
    if not np.isfinite(masked[a, b]):
        return None
    finite = key[np.isfinite(key)]
    floor = float(finite.min()) - 10.0 if finite.size else -10.0
    soft = np.where(np.isfinite(key), key, floor)
    members = [a, b]
    available = free_now.copy()
    available[[a, b]] = False
    while len(members) < m:
        total = np.where(available, soft[members].sum(axis=0), -np.inf)
        c = int(np.argmax(total))
        if not np.isfinite(total[c]):
            return None
        members.append(c)
        available[c] = False
    best_order: tuple[int, ...] | None = None
    best_sum = -np.inf
    for order in itertools.permutations(members):
        edges = [key[order[x], order[y]] for x, y in shape]
        total_key = float(np.sum(edges))
        if np.isfinite(total_key) and total_key > best_sum:
            best_order, best_sum = order, total_key
    if best_order is not None:
        return list(best_order)
    return _chain_group(key, free_now, links, m, a, b)


def _chain_group(
    key: FloatArray,
    free_now: NDArray[np.bool_],
    links: list[list[int]],
    m: int,
    a: int,
    b: int,
) -> list[int] | None:
    """From the pair (a, b), each further position takes the free essay whose pairs with the
    placed essays it links to in the shape have the highest summed key (all unused)."""
    members = [a, b]
    available = free_now.copy()
    available[[a, b]] = False
    for position in range(2, m):
        total = np.zeros(key.shape[0])
        for q in links[position]:
            total = total + key[members[q]]
        total = np.where(available, total, -np.inf)
        c = int(np.argmax(total))
        if not np.isfinite(total[c]):
            return None
        members.append(c)
        available[c] = False
    return members


def _random_group(
    key: FloatArray,
    free_now: NDArray[np.bool_],
    links: list[list[int]],
    m: int,
    rng: np.random.Generator,
    tries: int = 20,
) -> list[int] | None:
    """A uniformly random set of free essays whose shape pairs are all unused (a few tries)."""
    candidates = np.flatnonzero(free_now)
    for _ in range(tries):
        members = [int(x) for x in rng.choice(candidates, size=m, replace=False)]
        if all(np.isfinite(key[members[p], members[q]]) for p in range(m) for q in links[p]):
            return members
    return None
