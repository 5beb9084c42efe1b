"""Bundles keep pairs that share essays together, whatever the queue order."""

from __future__ import annotations

import random
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from app.llm.packing import pack_all, take_bundle
from app.llm.types import PairTask
from core.groups import bundle_shape, group_size


def _groups(n_groups: int, k: int) -> list[list[PairTask]]:
    m = group_size(k)
    return [
        [
            PairTask(f"g{g}p{i}", f"essay {g * m + a}", f"essay {g * m + b}")
            for i, (a, b) in enumerate(bundle_shape(k))
        ]
        for g in range(n_groups)
    ]


@settings(max_examples=50, deadline=None)
@given(n_groups=st.integers(1, 12), k=st.integers(2, 10), seed=st.integers(0, 1000))
def test_shuffled_groups_are_bundled_whole(n_groups: int, k: int, seed: int) -> None:
    groups = _groups(n_groups, k)
    order = [t for g in groups for t in g]
    random.Random(seed).shuffle(order)
    bundles = pack_all(order, k)
    assert sorted({frozenset(t.pair_id for t in b) for b in bundles}, key=sorted) == sorted(
        {frozenset(t.pair_id for t in g) for g in groups}, key=sorted
    )


def test_separate_pairs_keep_queue_order() -> None:
    tasks = [PairTask(f"p{i}", f"a{i}", f"b{i}") for i in range(10)]
    queue = deque(tasks)
    assert take_bundle(queue, 4, lambda t: t) == tasks[:4]
    assert [len(b) for b in pack_all(tasks, 4)] == [4, 4, 2]
    assert take_bundle(deque(), 4, lambda t: t) == []


def test_planned_groups_stay_whole_when_groups_share_essays() -> None:
    """Across rounds an essay sits in several groups; the group tag keeps each bundle whole."""
    rng = random.Random(3)
    tasks = []
    for g in range(12):
        members = rng.sample(range(8), 4)  # 8 essays only: groups overlap
        for i, (a, b) in enumerate(bundle_shape(4)):
            tasks.append(
                PairTask(f"g{g}p{i}", f"essay {members[a]}", f"essay {members[b]}", f"g{g}")
            )
    rng.shuffle(tasks)
    bundles = pack_all(tasks, 4)
    assert all(len({t.group for t in b}) == 1 for b in bundles)
    assert all(len({e for t in b for e in (t.first_text, t.second_text)}) == 4 for b in bundles)
