"""Where a run's blocking work happens, so the caller's event loop never waits on it.

* **One database thread**: every read and write of a run goes through a single worker thread,
  in the order submitted (SQLite has one writer anyway; one thread also keeps writes of one run
  in sequence, e.g. a verdict before the clean-up that follows a cancel).
* **One compute thread** for refits, split-half checks, grading and planning. NumPy releases
  the GIL in its kernels; OpenBLAS must run one thread (``OPENBLAS_NUM_THREADS=1``, set by
  :mod:`app` before NumPy is imported), or its spinning threads stall the event loop on a
  2-core machine. ``huleedu bench loop`` measures the loop's lag with this in place.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Workers:
    """A database thread and a compute thread; :meth:`close` shuts both down."""

    def __init__(self) -> None:
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huleedu-db")
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huleedu-cpu")

    async def db(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on the database thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args, **kwargs))

    def db_soon(self, fn: Callable[..., object], *args: object) -> asyncio.Future[object]:
        """Queue ``fn`` on the database thread without waiting (its future is returned)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._db, functools.partial(fn, *args))

    async def cpu(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` on the compute thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cpu, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for queued work to finish and stop both threads."""
        self._db.shutdown(wait=True)
        self._cpu.shutdown(wait=True)
