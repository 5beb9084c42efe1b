"""The shared-bundle keys of ``huleedu bench llm`` on a small setting."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from app.bench.groups import HORIZON, group_keys, listwise_keys, stop_keys
from app.bench.listwise import ListwiseJudge
from app.bench.llm import _grouped_pairs
from core.groups import bundle_shape
from core.simulate import JudgeProfile


def test_group_keys_read_comparisons_for_every_layout() -> None:
    out = group_keys(seeds=3, sizes=(16,), stop_seeds=0)
    per = out["groups_comparisons_per_essay_to_spearman_0_90"]["n16"]
    assert set(per) == {"separate", "shared4", "shared6"}
    assert all(0.0 < v < HORIZON for v in per.values()), per
    ratio = out["groups_comparisons_ratio_shared4_over_separate_n16"]
    assert math.isclose(ratio, per["shared4"] / per["separate"])


def test_grouped_pairs_are_cycles_over_four_essays() -> None:
    texts = [f"essay {i}" for i in range(10)]
    pairs = _grouped_pairs(texts, 12, 4, seed=1)
    assert len(pairs) == 12
    for g in range(3):
        group = pairs[4 * g : 4 * g + 4]
        essays = {t for p in group for t in (p.first_text, p.second_text)}
        assert len(essays) == 4
        assert len({frozenset((p.first_text, p.second_text)) for p in group}) == 4


def test_stop_keys_compare_every_layout_on_every_family() -> None:
    out = stop_keys(seeds=1, sizes=(12,))
    assert 0.0 <= out["groups_false_stable_share_shared4"] <= 1.0
    assert 0.0 <= out["groups_reliability_abs_error_separate"] <= 1.0
    assert out["groups_stop_comparisons_ratio_shared4_over_separate"] > 0.0
    per = out["groups_stop_comparisons_per_essay"]
    assert len(per) == 6 and all(
        set(v) == {"per_essay_shared4", "per_essay_shared6", "per_essay_separate"}
        for v in per.values()
    )
    assert out["groups_stop_comparisons_ratio_shared6_over_separate"] > 0.0


def test_a_listwise_call_is_one_consistent_ranking() -> None:
    """Within one call the implied pairs come from one ranking (transitive); a new call at
    place 0 draws new noise."""
    truth = np.zeros(4)
    judge = ListwiseJudge(truth, JudgeProfile(noise_sd=3.0), seed=5)
    orders = set()
    for _ in range(30):
        wins: Counter[int] = Counter()
        for place, (a, b) in enumerate(bundle_shape(6)):
            v = judge.judge(a, b, place_in_bundle=place)
            wins[a if v.first_wins else b] += 1
        assert sorted(wins[e] for e in range(4)) == [0, 1, 2, 3]  # a strict ranking
        orders.add(tuple(sorted(range(4), key=lambda e: -wins[e])))
    assert len(orders) > 5


def test_listwise_keys_report_both_layouts() -> None:
    out = listwise_keys(seeds=2, n=12)
    assert out["listwise_comparisons_ratio_over_pairwise6_n12"] > 0.0
    assert set(out["listwise_comparisons_per_essay_to_spearman_0_90"]) == {
        "pairwise6",
        "listwise4_essays",
    }
    assert -1.0 < out["listwise_reliability_bias_listwise"] < 1.0
