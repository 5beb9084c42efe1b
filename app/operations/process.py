"""Run a blocking operation in a child process, with its progress and cancel token carried over.

Reading .docx and .pdf files is Python and C code that holds the interpreter lock for long
stretches; in a worker thread it still stalls the caller's event loop (``huleedu bench loop``
measured ticks 50–100 ms late while 300 files were imported beside a run). In a process of its
own it cannot. The child opens the same database file (SQLite serialises the writers; each
transaction begins ``IMMEDIATE`` and waits its turn), reports every :class:`Progress` event back
through a queue, and sees the parent's :class:`CancelToken` through a shared event, so the
operation's contract is unchanged: same progress, same cancel, same result or exception.

``target`` must be a module-level function (it is imported by name in the child) taking
``progress`` and ``cancel`` keywords; with ``database`` it also takes the opened database as its
first argument. Its result and exceptions must be picklable.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import traceback
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, TypeVar

from app.operations.base import (
    CancelToken,
    FailureKind,
    OperationError,
    ProgressSink,
    ignore_progress,
)

T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("spawn")


class _SharedToken(CancelToken):
    """The child's view of the parent's token: set when the shared event is."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self._shared = event

    @property
    def cancelled(self) -> bool:
        if self._shared.is_set() and not super().cancelled:
            self.cancel("cancelled")
        return super().cancelled

    def raise_if_cancelled(self) -> None:
        _ = self.cancelled
        super().raise_if_cancelled()


def _child(
    channel: Any,
    event: Event,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    database: Path | None,
) -> None:
    token = _SharedToken(event)

    def sink(progress: Any) -> None:
        channel.put(("progress", progress))

    db = None
    try:
        if database is not None:
            from app.db.engine import open_database  # noqa: PLC0415

            db = open_database(path=database, migrate=False)
            result = target(db, *args, progress=sink, cancel=token)
        else:
            result = target(*args, progress=sink, cancel=token)
        channel.put(("result", result))
    except BaseException as exc:  # handed to the parent, which raises it there
        details = "".join(traceback.format_exception(exc))
        try:
            channel.put(("error", exc, details))
        except Exception:  # an exception that cannot be pickled
            channel.put(("error", None, details))
    finally:
        if db is not None:
            db.close()


def run_in_process(
    target: Callable[..., T],
    *args: Any,
    database: Path | None = None,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> T:
    """Run ``target(*args, progress=…, cancel=…)`` in a child process and return its result
    (see the module docstring). Blocks the calling thread; use :func:`in_process` on a loop.
    A child that dies without answering raises :class:`OperationError` (INTERNAL)."""
    channel = _CONTEXT.Queue()
    event = _CONTEXT.Event()
    child = _CONTEXT.Process(
        target=_child, args=(channel, event, target, args, database), daemon=True
    )
    child.start()
    if cancel is not None:
        cancel.on_cancel(event.set)
    try:
        while True:
            try:
                message = channel.get(timeout=0.2)
            except queue.Empty:
                if not child.is_alive():
                    raise OperationError(
                        FailureKind.INTERNAL,
                        "The worker process ended unexpectedly; what it finished is kept.",
                        f"exit code {child.exitcode}",
                    ) from None
                continue
            kind = message[0]
            if kind == "progress":
                progress(message[1])
            elif kind == "result":
                return message[1]  # type: ignore[no-any-return]
            else:
                exc, details = message[1], message[2]
                if exc is None:
                    raise OperationError(
                        FailureKind.INTERNAL, "The worker process failed.", details
                    )
                raise exc
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
        with contextlib.suppress(Exception):
            channel.close()


async def in_process(
    target: Callable[..., T],
    *args: Any,
    database: Path | None = None,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> T:
    """:func:`run_in_process` awaited from an event loop. ``progress`` is called on a worker
    thread, as with any operation run off the loop."""
    return await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: run_in_process(target, *args, database=database, progress=progress, cancel=cancel),
    )
