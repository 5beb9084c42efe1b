"""until_cancelled: work raced against a cancel token."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from app.operations.base import CancelToken, OperationCancelledError, until_cancelled


async def _value(x: int) -> int:
    await asyncio.sleep(0)
    return x


def test_work_finishes_when_not_cancelled() -> None:
    assert asyncio.run(until_cancelled(_value(3), CancelToken())) == 3
    assert asyncio.run(until_cancelled(_value(4), None)) == 4


def test_cancel_during_the_work_cancels_it() -> None:
    started: list[bool] = []
    cancelled: list[bool] = []

    async def slow() -> int:
        started.append(True)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 1

    async def main() -> None:
        token = CancelToken()
        asyncio.get_running_loop().call_later(0.05, token.cancel, "paused")
        with pytest.raises(OperationCancelledError, match="paused"):
            await until_cancelled(slow(), token)

    asyncio.run(main())
    assert started == [True] and cancelled == [True]


def test_work_given_after_the_cancel_never_starts_and_is_closed() -> None:
    token = CancelToken()
    token.cancel("paused")
    work = _value(1)
    with pytest.raises(OperationCancelledError):
        asyncio.run(until_cancelled(work, token))
    # closed, not left to be collected with a "coroutine was never awaited" warning
    assert inspect.getcoroutinestate(work) == inspect.CORO_CLOSED
