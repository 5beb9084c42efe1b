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


def drive_slowly(data_dir: str, run_id: str) -> None:
    """Drive ``run_id`` with a slow simulated judge until killed (the crash tests kill it)."""
    import asyncio  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from app.db.engine import open_database  # noqa: PLC0415
    from app.operations.runs import drive_run  # noqa: PLC0415

    db = open_database(Path(data_dir))
    asyncio.run(drive_run(db, run_id, operational={"sim_speed": 1.0, "concurrency": 1}))
