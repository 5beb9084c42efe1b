"""Module-level work for ``TaskRunner.start_in_process`` tests (imported by name in a child
process, so it imports nothing heavy)."""

from __future__ import annotations

import time

from app.operations.base import CancelToken, Progress, ProgressSink


def count_to(n: int, *, progress: ProgressSink, cancel: CancelToken) -> int:
    """Report ``n`` steps; stop early (returning how far it got) when cancelled."""
    for i in range(1, n + 1):
        if cancel.cancelled:
            return i - 1
        progress(Progress("step", i, n, f"step {i}"))
        time.sleep(0.01)
    return n
