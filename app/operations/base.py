"""What every operation shares: a cancel token, a progress sink and a typed outcome.

An *operation* is one use case (import essays, drive a run, export results, …) that the command
line and the desktop window both call. Its contract, modelled on Anki's ``CollectionOp`` and
calibre's threaded jobs:

* **Typed inputs**: a dataclass or plain arguments, validated before anything is stored.
* **A progress sink**: a plain callable taking a :class:`Progress` event, called on whatever
  thread did the work; a window hands it on to the GUI thread, a terminal draws a bar.
* **A cancel token** (:class:`CancelToken`) checked all the way down the work (an import checks it
  between files, a run between verdicts and batch polls). Cancelling is cooperative: what was
  done before the token was set is kept.
* **A typed outcome**: :class:`Completed` with a value, :class:`Paused` (can be continued),
  :class:`Cancelled`, or :class:`Failed` with a :class:`FailureKind`, a sentence a teacher
  understands and technical details.

No operation prints, parses arguments or exits the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class OperationCancelledError(Exception):
    """Raised inside an operation's work when its :class:`CancelToken` was set."""


class CancelToken:
    """A thread-safe, cooperative cancel flag with an optional reason.

    Set from any thread (a Cancel button, a signal handler, a test); read from worker threads
    with :meth:`raise_if_cancelled` and awaited on the event loop with :meth:`wait`.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = ""
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._callbacks: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled") -> None:
        """Set the flag (idempotent; the first reason is kept) and wake every waiter."""
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            waiters, self._waiters = self._waiters, []
            callbacks, self._callbacks = self._callbacks, []
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (on the cancelling thread) when the token is set; at once if it
        already is. Keep it short and thread-safe (e.g. set another event)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise OperationCancelledError(self._reason)

    async def wait(self) -> None:
        """Return once the token is set (usable in ``asyncio.wait`` races)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._event.is_set():
                return
            self._waiters.append((loop, future))
        await future


async def until_cancelled(work: Awaitable[T], cancel: CancelToken | None) -> T:
    """Await ``work`` unless ``cancel`` is set first: then ``work`` is cancelled and
    :class:`OperationCancelledError` is raised. Cancelling the caller cancels ``work`` too.
    Only for work that may be abandoned half way (calls whose answers are not paid for twice,
    reads, sleeps)."""
    if cancel is None:
        return await work
    if cancel.cancelled:
        if inspect.iscoroutine(work):
            work.close()  # never started: no "coroutine was never awaited" warning
        cancel.raise_if_cancelled()
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise OperationCancelledError(cancel.reason)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(frozen=True)
class Progress:
    """One progress event. ``total`` None means unknown; ``detail`` is a short line to show.

    ``kind`` says what advanced (``"verdict"``, ``"wave"``, ``"poll"``, ``"file"``, ``"row"``,
    ``"status"``); ``data`` carries the operation's own typed event when a screen wants more.
    """

    kind: str
    done: int
    total: int | None
    detail: str = ""
    data: object | None = None


ProgressSink = Callable[[Progress], None]


def ignore_progress(_event: Progress) -> None:
    """A progress sink that drops every event."""


class FailureKind(StrEnum):
    """Why an operation failed; the command line maps each to its exit code."""

    INPUT = "input"
    """Bad input: no essays, an unknown id, a bad anchor grade, invalid settings."""
    JUDGE_REFUSED = "judge_refused"
    """The judge refused the requests (key, model, request, billing): fix the settings."""
    RUN_FAILED = "run_failed"
    """The run ended as failed (too few essays, too many failed comparisons, stalled)."""
    BUSY = "busy"
    """Another process is driving this run (its lease is fresh)."""
    DATABASE = "database"
    """The database cannot be used (locked, damaged, newer than this app, disk full)."""
    INTERNAL = "internal"
    """A bug: the details carry the traceback."""


@dataclass(frozen=True)
class Completed(Generic[T]):
    value: T


@dataclass(frozen=True)
class Paused:
    """The work stopped and can be continued (``resume_hint`` says how)."""

    message: str
    resume_hint: str = ""


@dataclass(frozen=True)
class Cancelled:
    message: str = "cancelled"


@dataclass(frozen=True)
class Failed:
    kind: FailureKind
    message: str
    """A sentence a teacher understands."""
    details: str = ""
    """What a maintainer needs (a traceback, the provider's answer)."""
    extra: dict[str, object] = field(default_factory=dict)


Outcome = Completed[T] | Paused | Cancelled | Failed


class OperationError(Exception):
    """An expected failure raised inside an operation; turned into :class:`Failed`."""

    def __init__(self, kind: FailureKind, message: str, details: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details

    def failed(self) -> Failed:
        return Failed(self.kind, self.message, self.details)

    def __reduce__(self) -> tuple[type[OperationError], tuple[FailureKind, str, str]]:
        # Picklable with its fields, so it can cross from a worker process.
        return (OperationError, (self.kind, self.message, self.details))
