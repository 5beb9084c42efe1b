"""Connected components of an undirected graph given as edge lists, with numpy only."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

IntArray = NDArray[np.intp]


def component_labels(n: int, a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[int, IntArray]:
    """Number of components and a label 0..k−1 per node of the graph with edges a[e]–b[e].

    Labels are numbered in the order of each component's smallest node, so node 0 is always in
    component 0 (the numbering a depth-first search from node 0 upwards gives).

    Method: every node points to a root; in each round the larger of two roots joined by an edge
    is hooked under the smaller one, then pointers are jumped until every node points straight at
    its root. Pointers only ever decrease, so no cycle forms, and a round without any hook means
    every edge lies inside one tree. Rounds are few (logarithmic on typical graphs); each is
    O(edges + nodes).
    """
    ea = np.asarray(a, dtype=np.intp).reshape(-1)
    eb = np.asarray(b, dtype=np.intp).reshape(-1)
    if ea.shape != eb.shape:
        raise ValueError("edge end lists differ in length")
    if n == 0:
        return 0, np.empty(0, dtype=np.intp)
    if ea.size and (
        min(int(ea.min()), int(eb.min())) < 0 or max(int(ea.max()), int(eb.max())) >= n
    ):
        raise ValueError("edge end outside 0..n−1")
    parent = np.arange(n, dtype=np.intp)
    while True:
        ra, rb = parent[ea], parent[eb]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        joined = lo != hi
        if not np.any(joined):
            break
        np.minimum.at(parent, hi[joined], lo[joined])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots, labels = np.unique(parent, return_inverse=True)
    out: IntArray = labels.astype(np.intp).reshape(n)
    return int(roots.shape[0]), out
