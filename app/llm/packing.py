"""Which queued pairs go into one bundle: pairs that share essays travel together.

A bundle whose pairs share essays shows each essay once (:func:`core.prompt.render_bundle_prompt`),
so the scheduler plans bundles as groups of essays (:mod:`core.groups`) and the judge layer must
keep a group together even though it shuffles pairs (so that no pair's place in a bundle is
systematic). :func:`take_bundle` does that from a queue in any order: it takes the first pair,
then, while the bundle has room, the first queued pair of the same planned group
(:attr:`PairTask.group`), then the first that shares an essay with the pairs taken so far; only
when no queued pair does is the bundle filled with the next pairs in the queue.
Pairs planned as separate (no shared essays) are therefore bundled exactly as before: in queue
order. Essays are recognised by their text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from app.llm.types import PairTask

__all__ = ["pack_all", "take_bundle"]

T = TypeVar("T")


def take_bundle(queue: deque[T], size: int, task: Callable[[T], PairTask]) -> list[T]:
    """Remove and return up to ``size`` items from ``queue`` (see module docstring).

    ``task`` maps an item to its :class:`PairTask`. Returns [] for an empty queue.
    """
    if not queue:
        return []
    taken = [queue.popleft()]
    first = task(taken[0])
    essays = {first.first_text, first.second_text}
    while len(taken) < size and queue:
        pick = None
        if first.group is not None:
            pick = next((item for item in queue if task(item).group == first.group), None)
        if pick is None:
            pick = next(
                (
                    item
                    for item in queue
                    if task(item).first_text in essays or task(item).second_text in essays
                ),
                None,
            )
        if pick is None:
            pick = queue[0]
        queue.remove(pick)
        taken.append(pick)
        chosen = task(pick)
        essays.update((chosen.first_text, chosen.second_text))
    return taken


def pack_all(pairs: Sequence[PairTask], size: int) -> list[list[PairTask]]:
    """All of ``pairs`` as bundles of at most ``size``, taken in turn by :func:`take_bundle`."""
    queue = deque(pairs)
    bundles: list[list[PairTask]] = []
    while queue:
        bundles.append(take_bundle(queue, size, lambda t: t))
    return bundles
