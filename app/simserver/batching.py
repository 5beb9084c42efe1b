"""What the OpenAI and Anthropic batch endpoints share: background work, batch faults and the
pages of batch lists.

A batch runs as a task of the server (cancelled when the server stops), waits its profile's
scaled delays, and may expire or have single requests fail, all seeded by the batch's id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from app.simserver.state import SimState


def spawn(state: SimState, coro: Any) -> None:
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def sleep_until(
    state: SimState, start: float, seconds: float, cancelled: Callable[[], bool]
) -> bool:
    """Sleep until ``start + seconds/speed``; False if cancelled meanwhile."""
    deadline = start + state.scaled(seconds)
    while True:
        if cancelled():
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, 0.05))


def batch_item_error(state: SimState, key: str) -> bool:
    rate = state.profile.batch_item_error_rate
    return rate > 0 and float(state.rng("batch-item", key).uniform()) < rate


def content_fault(state: SimState, digest: str, attempt: int) -> str | None:
    fault = state.draw_fault(digest, attempt)
    return fault if fault in {"malformed", "truncated"} else None


def batch_expires(state: SimState, batch_id: str) -> bool:
    """Whether the batch is drawn to expire before all its requests are run."""
    prof = state.profile
    return (
        prof.batch_expire_rate > 0
        and float(state.rng("batch-expire", batch_id).uniform()) < prof.batch_expire_rate
    )


def requests_done(
    state: SimState, batch_id: str, n_requests: int, start: float, *, finished: bool, expire: bool
) -> int:
    """How many of a batch's requests were run: all when it finished (a drawn share when it
    expired), else about half the share of its delay that passed before it was cancelled."""
    if finished:
        n_done = n_requests
        if expire:
            n_done = int(state.rng("batch-expire-share", batch_id).integers(0, n_requests))
    else:
        prof = state.profile
        elapsed = (time.monotonic() - start) / max(state.scaled(prof.batch_delay_s), 1e-9)
        n_done = int(n_requests * min(max(elapsed, 0.0), 1.0) * 0.5)
    return n_done


_T = TypeVar("_T")


def list_limit(raw: str | None, *, default: int, largest: int) -> int | None:
    """The ``limit`` query parameter of a list (None when it is not a whole number in range)."""
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        return None
    return limit if 1 <= limit <= largest else None


def list_page(
    items: Sequence[_T],
    ids: Sequence[str],
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> tuple[list[_T], bool]:
    """One page of a newest-first list and whether there is more in the paging direction:
    the ``limit`` items right after the item ``after``, or right before the item ``before``,
    or the first ``limit`` items. An unknown cursor gives an empty page."""
    if before is not None:
        if before not in ids:
            return [], False
        end = ids.index(before)
        start = max(0, end - limit)
        return list(items[start:end]), start > 0
    start = 0
    if after is not None:
        if after not in ids:
            return [], False
        start = ids.index(after) + 1
    end = start + limit
    return list(items[start:end]), end < len(items)
