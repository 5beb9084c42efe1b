"""core.graph components and core.ranks against an independent implementation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from core.graph import component_labels
from core.ranks import average_ranks, spearman


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    n = draw(st.integers(min_value=1, max_value=40))
    m = draw(st.integers(min_value=0, max_value=60))
    a = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    b = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    return n, a, b


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_components_match_a_depth_first_search(graph: tuple[int, list[int], list[int]]) -> None:
    n, a, b = graph
    k, labels = component_labels(n, a, b)
    mat = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    k_ref, ref = connected_components(mat, directed=False)
    assert k == k_ref
    assert labels.tolist() == ref.tolist()


def test_a_long_chain_is_one_component() -> None:
    n = 5000
    order = np.random.default_rng(3).permutation(n)
    k, labels = component_labels(n, order[:-1], order[1:])
    assert k == 1 and not labels.any()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=2, max_size=30).flatmap(
        lambda xs: st.tuples(
            st.just(xs), st.lists(st.integers(-3, 3), min_size=len(xs), max_size=len(xs))
        )
    )
)
def test_ranks_and_spearman_match_the_reference(pair: tuple[list[int], list[int]]) -> None:
    x, y = pair
    assert average_ranks(x).tolist() == stats.rankdata(x).tolist()
    rho = spearman(x, y)
    if len(set(x)) == 1 or len(set(y)) == 1:
        assert np.isnan(rho)
    else:
        assert abs(rho - float(stats.spearmanr(x, y)[0])) < 1e-12
