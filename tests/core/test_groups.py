"""Bundles that share essays: their shape, and group waves planned by the scheduler."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine import group_wave_size, simulate_run
from core.groups import bundle_shape, group_size, plan_group_wave
from core.prompt import MAX_BUNDLE_PAIRS
from core.ranks import spearman
from core.scheduler import SchedulerState
from core.simulate import JudgeProfile, SimulatedJudge, true_abilities
from core.stopping import StoppingRule


def _connected(m: int, pairs: list[tuple[int, int]]) -> bool:
    reached = {0}
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            if (a in reached) != (b in reached):
                reached |= {a, b}
                changed = True
    return len(reached) == m


@pytest.mark.parametrize("k", range(1, MAX_BUNDLE_PAIRS + 1))
def test_bundle_shape_is_k_distinct_pairs_over_the_fewest_essays(k: int) -> None:
    m = group_size(k)
    assert m * (m - 1) // 2 >= k > (m - 1) * (m - 2) // 2 or m == 2
    pairs = bundle_shape(k)
    assert len(pairs) == k
    assert len({frozenset(p) for p in pairs}) == k
    assert all(a != b and 0 <= a < m and 0 <= b < m for a, b in pairs)
    assert _connected(m, pairs)
    degree = Counter(e for p in pairs for e in p)
    assert set(degree) == set(range(m))
    assert max(degree.values()) - min(degree.values()) <= 1


def test_four_pairs_are_a_cycle_and_six_every_pair_of_four() -> None:
    assert bundle_shape(4) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert {frozenset(p) for p in bundle_shape(6)} == {
        frozenset((a, b)) for a in range(4) for b in range(a + 1, 4)
    }
    with pytest.raises(ValueError):
        group_size(0)


def _check_wave(
    n: int, k: int, shown: list[tuple[int, int]], groups: list[list[tuple[int, int]]]
) -> None:
    used = {frozenset(p) for p in shown}
    m = group_size(k)
    seen: set[frozenset[int]] = set()
    for group in groups:
        assert len(group) == k
        essays = {e for p in group for e in p}
        assert len(essays) == m  # a real group: k pairs over m essays
        for pair in group:
            key = frozenset(pair)
            assert key not in used and key not in seen  # only unused pairs, none twice
            seen.add(key)
    if len(groups) * m <= n:
        members = [e for g in groups for e in {x for p in g for x in p}]
        assert len(members) == len(set(members))  # one group per essay in a round


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(4, 40),
    k=st.integers(2, MAX_BUNDLE_PAIRS),
    waves=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    audit=st.sampled_from([0.0, 0.2, 1.0]),
)
def test_group_waves_ask_unused_pairs_in_whole_groups(
    n: int, k: int, waves: int, seed: int, audit: float
) -> None:
    if group_size(k) > n:
        return
    shown: list[tuple[int, int]] = []
    rng = np.random.default_rng(seed)
    abilities = rng.normal(0.0, 1.5, n)
    for wave in range(waves):
        state = SchedulerState(
            n,
            tuple(shown),
            abilities=abilities if wave else None,
            se=np.full(n, 0.5) if wave else None,
            audit_share=audit,
        )
        size = group_wave_size(n, k)
        groups = plan_group_wave(state, size, k, seed=seed, wave=wave)
        if len({frozenset(p) for p in shown}) == n * (n - 1) // 2:
            assert all(len(g) == 1 for g in groups)  # every pair used: repeats, one by one
            break
        if groups and all(len(g) == 1 for g in groups):
            # No whole group fits the unused pairs: they are asked one by one.
            assert len(groups) <= size
            asked = [frozenset(g[0]) for g in groups]
            assert len(set(asked)) == len(asked)
            assert not set(asked) & {frozenset(p) for p in shown}
        else:
            assert len(groups) <= max(1, round(size / k))
            _check_wave(n, k, shown, groups)
        shown.extend(p for g in groups for p in g)
    assert plan_group_wave(SchedulerState(n, tuple(shown)), 8, k, seed=seed, wave=99) == (
        plan_group_wave(SchedulerState(n, tuple(shown)), 8, k, seed=seed, wave=99)
    )


def test_group_waves_gather_essays_close_in_ability() -> None:
    """With settled estimates the adaptive groups hold neighbours; random groups do not."""
    n, k = 60, 4
    abilities = np.linspace(-3.0, 3.0, n)
    state = SchedulerState(n, (), abilities=abilities, se=np.full(n, 0.3))
    spreads = {}
    for strategy in ("adaptive", "random"):
        groups = plan_group_wave(state, 40, k, seed=1, strategy=strategy)
        spreads[strategy] = np.mean(
            [np.ptp(abilities[sorted({e for p in g for e in p})]) for g in groups]
        )
    assert spreads["adaptive"] < 0.5 * spreads["random"], spreads


def test_one_pair_bundles_and_small_batches_fall_back_to_pairs() -> None:
    groups = plan_group_wave(SchedulerState(10), 5, 1, seed=0)
    assert len(groups) == 5 and all(len(g) == 1 for g in groups)
    groups = plan_group_wave(SchedulerState(3), 2, 4, seed=0)  # a 4-essay group cannot form
    assert groups and all(len(g) == 1 for g in groups)
    assert plan_group_wave(SchedulerState(10), 0, 4) == []


def test_a_shared_bundle_run_reaches_the_truth() -> None:
    n = 30
    truth = true_abilities(n, 1.5, 3)
    judge = SimulatedJudge(truth, JudgeProfile(noise_sd=0.6), seed=3)
    rule = StoppingRule(budget=8 * n, target_reliability=None, min_comparisons_per_essay=0)
    run = simulate_run(judge, n, rule, seed=3, bundle_size=4, shared_bundles=True)
    assert len(run.verdicts) == 8 * n
    used = Counter(frozenset((v.first, v.second)) for v in run.verdicts)
    assert max(used.values()) == 1
    assert run.final is not None
    assert spearman(run.final.fit.abilities, truth) > 0.85
