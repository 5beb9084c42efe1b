"""Which pairs to compare next: waves of disjoint pairs, coverage first, then information.

A *wave* is a set of pairs sent together (so the judge layer can keep many calls in flight) and
fitted together afterwards. :func:`plan_wave` builds one for the current state:

1. **Candidates.** Only pairs never used before (done, in flight or planned). Pairs are repeated
   only when every pair of the batch has been used.
2. **Scores.** ``adaptive`` scores a pair by the information of one verdict times the chance
   that the pair is currently in the wrong order, ``p(1−p)·Φ(−|θ_i − θ_j|/√(v_i + v_j))``, with p
   the fitted win probability and v the posterior variances (an essay never compared has the
   prior's large variance, so its pairs all look uncertain and coverage comes first), times a
   bonus for pairs that join separate components of the comparison graph, times
   ``1 + w·(u_i + u_j)/2`` where u is an essay's grade-boundary uncertainty when grading is
   requested, times a large boost for essays still short of the run's minimum comparisons.
   ``random`` gives every candidate the same score (balanced random pairing).
3. **Selection.** Scores are perturbed with seeded Gumbel noise (so selection samples pairs in
   proportion to their score, never locks onto a wrong early estimate, and is deterministic for a
   seed) and pairs are taken greedily in that order, each essay at most once. A wave of at most
   n/2 pairs is one round, so no essay appears twice (the wave is shorter if unused pairs run
   out). A larger wave takes further rounds, each allowing every essay once more and serving
   essays that lag behind first; pairs are then moved from over- to under-used essays until
   appearances differ by at most one (where unused pairs allow). With an odd count the essay
   with most comparisons sits out the first round.
4. **Audit pairs.** With ``audit_share`` > 0 (the engine's default, ``AUDIT_SHARE``), that share
   of the wave — scaled down for small batches by :func:`audit_share_at`, to three quarters of
   it at 30 essays — (rounded at random, so the expected count is exact even for tiny waves) is
   drawn first, uniformly at random from the unused pairs, each essay at most once; the rest of the
   wave is planned as above around them. Adaptive pairs are chosen from the current estimates
   and carry little information about how well those estimates predict new verdicts; uniformly
   random pairs do, and :func:`core.reliability.calibration_slope` reads them (see there).
5. **Positions.** Within each pair, the essay that has been shown second more often is shown
   first (ties broken by the seed); pairs whose essays lean the same way are avoided, so each
   essay's first/second difference stays within 1 wherever the pairing allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from core.comparisons import FloatArray, IntArray
from core.normal import ndtr
from core.simulate import stable_seed

Strategy = Literal["adaptive", "random"]

#: Score multiplier for a pair whose essays lie in different components of the comparison graph.
BRIDGE_BONUS = 4.0
#: Score multiplier for a pair whose two essays have both been shown first (or second) more often.
POSITION_CONFLICT = 0.05
#: Score multiplier per essay of a pair that is still below the minimum comparisons.
COVERAGE_BOOST = 10.0
#: Weight of grade-boundary uncertainty in the score when grading is requested.
BOUNDARY_WEIGHT = 2.0
#: Share of each adaptive wave drawn uniformly at random from the unused pairs (audit pairs),
#: from ``AUDIT_FULL_AT`` essays up (see :func:`audit_share_at`).
AUDIT_SHARE = 0.2
#: Batch size from which the whole ``audit_share`` is drawn; smaller batches draw less.
AUDIT_FULL_AT = 60


def audit_share_at(share: float, n_items: int) -> float:
    """The audit share a wave over ``n_items`` essays draws: share × min(1, ½ + n/(2·60)).

    A small batch runs out of close unused pairs early, so its adaptive pairs already spread
    over a wider range of gaps, while each audit pair costs a larger part of a short run
    (``huleedu bench engine``, argmax judge, 30 essays, 40 seeds: random pairing needed 1.30×
    our comparisons to Spearman 0.90 with a 15 % share against 1.22× with 20 %; with 15 % no
    weak-judge run stopped ``stable`` below a true 0.70 and the figure's error at the stop did
    not grow, whereas 10 % let one of 20 through). At 100 essays the whole 20 % is needed: 15 %
    left the weak judge's figure +0.05 above the truth at the stop, against +0.03.
    """
    return share * min(1.0, 0.5 + n_items / (2.0 * AUDIT_FULL_AT))


@dataclass(frozen=True)
class SchedulerState:
    """What the scheduler needs to know about a batch.

    ``shown`` lists every comparison already done, in flight or planned, as (first, second) in
    the order shown; failed comparisons that will not be retried should be left out so their pair
    counts as unused. ``abilities``/``se`` come from the latest fit (None before any fit).
    ``boundary_uncertainty`` (0–1 per essay, e.g. 1 − the largest grade probability) steers extra
    comparisons to essays near grade boundaries. ``soft_evidence`` says verdicts arrive as trusted
    soft evidence of the gap, whose information does not fall off with the gap as a hard
    verdict's p(1−p) does. Essays with fewer than ``min_comparisons`` comparisons (the stopping
    rule's minimum) are served first. ``audit_share`` of every adaptive wave (scaled by
    :func:`audit_share_at` below ``AUDIT_FULL_AT`` essays) is drawn uniformly at random from the
    unused pairs (see the module docstring).
    """

    n_items: int
    shown: Sequence[tuple[int, int]] = ()
    abilities: FloatArray | None = None
    se: FloatArray | None = None
    boundary_uncertainty: FloatArray | None = None
    soft_evidence: bool = False
    min_comparisons: int = 0
    audit_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.audit_share <= 1.0:
            raise ValueError("audit_share must be between 0 and 1")


def _pair_counts(n: int, shown: Sequence[tuple[int, int]]) -> tuple[IntArray, IntArray, IntArray]:
    """Symmetric use count per pair, comparisons per essay and first−second imbalance."""
    used = np.zeros((n, n), dtype=np.intp)
    counts = np.zeros(n, dtype=np.intp)
    imbalance = np.zeros(n, dtype=np.intp)
    if shown:
        arr = np.asarray(shown, dtype=np.intp).reshape(-1, 2)
        f, s = arr[:, 0], arr[:, 1]
        np.add.at(used, (f, s), 1)
        np.add.at(used, (s, f), 1)
        counts += np.bincount(f, minlength=n) + np.bincount(s, minlength=n)
        imbalance += np.bincount(f, minlength=n) - np.bincount(s, minlength=n)
    return used, counts, imbalance


def _component_labels(n: int, used: IntArray) -> IntArray:
    """Connected components of the graph of used pairs (union–find over the upper triangle)."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    rows, cols = np.nonzero(np.triu(used, 1))
    for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return np.asarray([find(i) for i in range(n)], dtype=np.intp)


def _scores(
    state: SchedulerState,
    strategy: Strategy,
    ii: IntArray,
    jj: IntArray,
    counts: IntArray,
    labels: IntArray,
) -> FloatArray:
    n = state.n_items
    if strategy == "random":
        return np.ones(ii.shape[0])
    theta = np.zeros(n) if state.abilities is None else np.asarray(state.abilities, np.float64)
    if state.se is None or not np.all(np.isfinite(state.se)):
        # Before any fit: every essay equally uncertain, fewer comparisons = more uncertain.
        var = 1.0 / (1.0 + counts.astype(np.float64))
    else:
        var = np.asarray(state.se, np.float64) ** 2
    gap = theta[ii] - theta[jj]
    p = 1.0 / (1.0 + np.exp(-gap))
    # Information of one verdict × probability that the pair is currently misordered.
    misorder = ndtr(-np.abs(gap) / np.sqrt(var[ii] + var[jj] + 1e-12))
    info = 0.25 if state.soft_evidence else p * (1.0 - p)
    score: FloatArray = info * misorder
    score = score * np.where(labels[ii] != labels[jj], BRIDGE_BONUS, 1.0)
    if state.min_comparisons > 0:
        below = (counts < state.min_comparisons).astype(np.float64)
        score = score * (1.0 + COVERAGE_BOOST * (below[ii] + below[jj]))
    if state.boundary_uncertainty is not None:
        u = np.clip(np.asarray(state.boundary_uncertainty, np.float64), 0.0, 1.0)
        score = score * (1.0 + BOUNDARY_WEIGHT * 0.5 * (u[ii] + u[jj]))
    return score


def plan_wave(
    state: SchedulerState,
    size: int,
    *,
    seed: int | str = 0,
    wave: int = 0,
    strategy: Strategy = "adaptive",
    temperature: float = 0.3,
) -> list[tuple[int, int]]:
    """Up to ``size`` new pairs as (first, second) in display order (see module docstring).

    Returns fewer pairs only when fewer exist under the rules (e.g. two essays, one pair used,
    and unused pairs elsewhere cannot be formed). Deterministic for (state, size, seed, wave).
    """
    n = state.n_items
    if n < 2 or size <= 0:
        return []
    rng = np.random.default_rng(stable_seed("wave", seed, wave, n, len(state.shown)))
    used, counts, imbalance = _pair_counts(n, state.shown)
    labels = _component_labels(n, used)
    iu, ju = np.triu_indices(n, 1)
    ii = iu.astype(np.intp)
    jj = ju.astype(np.intp)
    pair_use = used[ii, jj]
    unused = pair_use == 0
    if unused.any():
        ii, jj, pair_use = ii[unused], jj[unused], pair_use[unused]
        repeat_penalty = np.ones(ii.shape[0])
    else:
        # Every pair has been used: allow repeats, least-used pairs first.
        repeat_penalty = np.exp(-2.0 * (pair_use - pair_use.min()))
    base = _scores(state, strategy, ii, jj, counts, labels) * repeat_penalty
    base = np.maximum(base, 1e-300)
    gumbel = -np.log(-np.log(rng.uniform(1e-300, 1.0, ii.shape[0])))
    log_base = np.log(base)
    chosen: list[tuple[int, int]] = []
    taken = np.zeros(ii.shape[0], dtype=bool)
    appearances = np.zeros(n, dtype=np.intp)
    blocked = np.zeros(n, dtype=bool)
    if n % 2 == 1 and size >= n // 2:
        # Odd count: the essay with most comparisons (ties by the seed) sits out the first round.
        most = np.flatnonzero(counts == counts.max())
        blocked[int(rng.choice(most))] = True
    imb = imbalance.copy()
    if strategy == "adaptive" and state.audit_share > 0.0 and unused.any():
        # Randomised rounding: the expected count is exactly the share × size.
        k = int(audit_share_at(state.audit_share, n) * size + rng.uniform())
        _audit(chosen, k, appearances, imb, taken, ii, jj, rng, blocked)
    # One round when the wave fits in one (each essay at most once); more rounds otherwise.
    top = 1 if size <= n // 2 else -(-2 * size // n)
    # The last cap gets a second pass for essays a greedy pass left unmatched.
    for cap in [*range(1, top + 1), top]:
        if len(chosen) >= size or taken.all():
            break
        # Position leaning changes as pairs are oriented, so re-rank each round; essays behind
        # the others in this wave go first so appearances stay within one of each other.
        lean = np.sign(imb)
        conflict = (lean[ii] == lean[jj]) & (lean[ii] != 0)
        lagging = (appearances < cap - 1).astype(np.float64)
        key = log_base + np.where(conflict, np.log(POSITION_CONFLICT), 0.0)
        key = key / max(temperature, 1e-9) + gumbel + 1e6 * (lagging[ii] + lagging[jj])
        order = np.argsort(-key, kind="stable")
        for k in order.tolist():
            if taken[k]:
                continue
            a, b = int(ii[k]), int(jj[k])
            if appearances[a] >= cap or appearances[b] >= cap:
                continue
            if cap == 1 and (blocked[a] or blocked[b]):
                continue
            first, second = _orient(a, b, imb, rng)
            chosen.append((first, second))
            taken[k] = True
            appearances[a] += 1
            appearances[b] += 1
            imb[first] += 1
            imb[second] -= 1
            if len(chosen) >= size:
                break
    if len(chosen) < size:
        _repair(chosen, size, top, appearances, imb, taken, ii, jj, rng, blocked)
    if size > n // 2:
        _balance(chosen, appearances, imb, taken, ii, jj, rng)
    return chosen


def _audit(
    chosen: list[tuple[int, int]],
    k: int,
    appearances: IntArray,
    imb: IntArray,
    taken: NDArray[np.bool_],
    ii: IntArray,
    jj: IntArray,
    rng: np.random.Generator,
    blocked: NDArray[np.bool_],
) -> None:
    """Take up to ``k`` uniformly random unused pairs, each essay at most once (audit pairs).

    The candidates are visited in a uniformly random order and a pair is kept when neither of
    its essays is in the wave yet (or sits out this round), so every unused pair is equally
    likely to be audited whatever the current estimates say.
    """
    for c in rng.permutation(ii.shape[0]).tolist():
        if len(chosen) >= k:
            return
        a, b = int(ii[c]), int(jj[c])
        if appearances[a] or appearances[b] or blocked[a] or blocked[b]:
            continue
        first, second = _orient(a, b, imb, rng)
        chosen.append((first, second))
        taken[c] = True
        appearances[a] += 1
        appearances[b] += 1
        imb[first] += 1
        imb[second] -= 1


def _balance(
    chosen: list[tuple[int, int]],
    appearances: IntArray,
    imb: IntArray,
    taken: NDArray[np.bool_],
    ii: IntArray,
    jj: IntArray,
    rng: np.random.Generator,
) -> None:
    """Even out appearances in a large wave: move a pair (b, c) of an over-used essay b to an
    under-used essay a as (a, c) while the spread exceeds one and such a free pair exists."""
    index = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(ii, jj, strict=True))}

    def key(a: int, b: int) -> tuple[int, int]:
        return (a, b) if a < b else (b, a)

    for _ in range(4 * len(chosen)):
        low, high = int(appearances.min()), int(appearances.max())
        if high - low <= 1:
            return
        lows = [int(e) for e in np.flatnonzero(appearances == low)]
        highs = [int(e) for e in np.flatnonzero(appearances == high)]
        moved = False
        for b in highs:
            for idx, (f, s) in enumerate(chosen):
                if b not in (f, s):
                    continue
                c = s if f == b else f
                for a in lows:
                    k = index.get(key(a, c))
                    if a == c or k is None or taken[k]:
                        continue
                    del chosen[idx]
                    taken[index[key(b, c)]] = False
                    imb[f] -= 1
                    imb[s] += 1
                    appearances[b] -= 1
                    first, second = _orient(a, c, imb, rng)
                    chosen.append((first, second))
                    taken[k] = True
                    imb[first] += 1
                    imb[second] -= 1
                    appearances[a] += 1
                    moved = True
                    break
                if moved:
                    break
            if moved:
                break
        if not moved:
            return


def _repair(
    chosen: list[tuple[int, int]],
    size: int,
    cap: int,
    appearances: IntArray,
    imb: IntArray,
    taken: NDArray[np.bool_],
    ii: IntArray,
    jj: IntArray,
    rng: np.random.Generator,
    blocked: NDArray[np.bool_],
) -> None:
    """Complete a wave that greedy passes left short, without exceeding ``cap``.

    Two essays a, b below the cap whose own pair is unavailable are fitted in by replacing a
    chosen pair (c, d) with (a, c) and (b, d) (or (a, d) and (b, c)) when those pairs are free.
    """
    free = {
        (int(a), int(b)): k for k, (a, b) in enumerate(zip(ii, jj, strict=True)) if not taken[k]
    }

    def key(a: int, b: int) -> tuple[int, int]:
        return (a, b) if a < b else (b, a)

    def use(a: int, b: int) -> None:
        taken[free.pop(key(a, b))] = True
        first, second = _orient(a, b, imb, rng)
        chosen.append((first, second))
        appearances[a] += 1
        appearances[b] += 1
        imb[first] += 1
        imb[second] -= 1

    progress = True
    while len(chosen) < size and progress:
        progress = False
        short = [int(e) for e in np.flatnonzero((appearances < cap) & ~(blocked & (cap == 1)))]
        for x, a in enumerate(short):
            for b in short[x + 1 :]:
                if key(a, b) in free:
                    use(a, b)
                    progress = True
                    break
                for idx, (c, d) in enumerate(chosen):
                    if {c, d} & {a, b}:
                        continue
                    for p, q in ((c, d), (d, c)):
                        if key(a, p) in free and key(b, q) in free:
                            del chosen[idx]
                            appearances[c] -= 1
                            appearances[d] -= 1
                            imb[c] -= 1
                            imb[d] += 1
                            use(a, p)
                            use(b, q)
                            progress = True
                            break
                    if progress:
                        break
                if progress:
                    break
            if progress:
                break


def _orient(a: int, b: int, imbalance: IntArray, rng: np.random.Generator) -> tuple[int, int]:
    """Show first the essay that has been shown second more often; ties by the seed."""
    if imbalance[a] < imbalance[b]:
        return a, b
    if imbalance[b] < imbalance[a]:
        return b, a
    return (a, b) if rng.uniform() < 0.5 else (b, a)
