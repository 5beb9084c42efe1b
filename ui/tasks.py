"""Run operations from the window and show them while they run.

:class:`TaskRunner` starts an operation (see :mod:`app.operations.base`) as a task on the one
qasync loop, in one of three ways:

* :meth:`TaskRunner.start_async`: a coroutine function (a run's driver, an httpx call);
* :meth:`TaskRunner.start_blocking`: a blocking function, run in the loop's default executor
  (a worker thread): database reads and writes, exports;
* :meth:`TaskRunner.start_in_process`: a module-level blocking function run in a child process
  through :func:`app.operations.process.in_process` (imports, whose parsing holds the GIL).

Each is called with the operation keywords ``progress=`` (a sink) and ``cancel=`` (a
:class:`~app.operations.base.CancelToken`); pass other arguments with ``functools.partial``.
Whatever it returns or raises becomes an :data:`~app.operations.base.Outcome`: a returned
outcome is kept as it is, any other value becomes :class:`Completed`, ``OperationError`` becomes
:class:`Failed`, ``OperationCancelledError`` and task cancellation :class:`Cancelled`, and an
unexpected exception ``Failed(INTERNAL)`` with its traceback. The runner never raises.

Progress may be reported from any thread; it reaches the GUI thread through
``loop.call_soon_threadsafe``, coalesced per operation (the newest event wins, one delivery
pending at a time), so a fast worker cannot flood the window. Every signal of the runner and
every callback is delivered on the GUI thread.

:class:`TaskPanel` is the status-bar widget listing running operations with a progress bar and
a *Cancel* button. Cancelling is cooperative: *Cancel* sets the operation's token and the work
stops at its next check, keeping what it finished (a run pauses durably).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.operations.base import (
    Cancelled,
    CancelToken,
    Completed,
    Failed,
    FailureKind,
    OperationCancelledError,
    Outcome,
    Paused,
    Progress,
    ProgressSink,
)
from app.operations.process import in_process
from ui.errors import failure_from_exception
from ui.i18n import english_plural

T = TypeVar("T")

log = logging.getLogger(__name__)
translate = QCoreApplication.translate

CANCELLED_BY_TEACHER = "cancelled by the teacher"
WINDOW_CLOSED = "the window was closed"

_OUTCOME_TYPES = (Completed, Paused, Cancelled, Failed)
_ids = itertools.count(1)


class Operation(Generic[T]):
    """One operation started by a :class:`TaskRunner`, as screens see it.

    Read its fields on the GUI thread. ``progress`` is the newest event delivered there (None
    before the first); ``outcome`` is None while it runs. :meth:`cancel` may be called from
    any thread.
    """

    def __init__(self, title: str, *, show_failure: bool) -> None:
        self.id = next(_ids)
        self.title = title
        self.show_failure = show_failure
        """Whether the window should open an error dialog if it fails (screens that show
        their own failures turn this off)."""
        self.token = CancelToken()
        self.progress: Progress | None = None
        self.outcome: Outcome[T] | None = None
        self.task: asyncio.Task[Outcome[T]] | None = None
        self._done: asyncio.Future[Outcome[T]] = asyncio.get_running_loop().create_future()
        self._callbacks: list[Callable[[Operation[T]], object]] = []
        self._lock = threading.Lock()
        self._pending: Progress | None = None
        self._delivery_scheduled = False

    def __repr__(self) -> str:
        state = "running" if self.outcome is None else type(self.outcome).__name__
        return f"<Operation {self.id} {self.title!r} {state}>"

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def cancelling(self) -> bool:
        """Cancel was asked for and the work has not stopped yet."""
        return self.token.cancelled and not self.done

    def cancel(self, reason: str = CANCELLED_BY_TEACHER) -> None:
        """Ask the work to stop (sets the token; idempotent)."""
        self.token.cancel(reason)

    async def wait(self) -> Outcome[T]:
        """The outcome, once the operation has ended (cancelling the waiter does not cancel
        the operation)."""
        return await asyncio.shield(self._done)

    def add_done_callback(self, callback: Callable[[Operation[T]], object]) -> None:
        """Call ``callback(operation)`` on the GUI thread when it ends (at once if it has)."""
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)


class TaskRunner(QObject):
    """Starts operations as tasks on the running loop and tells screens what they do.

    Signals carry the :class:`Operation`: ``started`` once it is scheduled, ``progressed`` when
    a new progress event reached the GUI thread (read ``operation.progress``), ``finished``
    once its outcome is set. Create tasks only while the loop runs.
    """

    started = Signal(object)
    progressed = Signal(object)
    finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[int, Operation[Any]] = {}
        self._closing = False

    @property
    def running(self) -> list[Operation[Any]]:
        """Operations not finished yet, oldest first."""
        return list(self._running.values())

    # ------------------------------------------------------------------ starting

    def start_async(
        self,
        title: str,
        work: Callable[..., Awaitable[T | Outcome[T]]],
        *,
        show_failure: bool = True,
        on_done: Callable[[Operation[T]], object] | None = None,
    ) -> Operation[T]:
        """Run ``await work(progress=…, cancel=…)`` on the loop."""
        return self._start(
            title,
            lambda sink, token: work(progress=sink, cancel=token),
            show_failure=show_failure,
            on_done=on_done,
        )

    def start_blocking(
        self,
        title: str,
        work: Callable[..., T | Outcome[T]],
        *,
        show_failure: bool = True,
        on_done: Callable[[Operation[T]], object] | None = None,
    ) -> Operation[T]:
        """Run ``work(progress=…, cancel=…)`` in a worker thread (the loop's default executor).

        ``progress`` is then called on that thread; the runner carries it to the GUI thread.
        """

        def call(sink: ProgressSink, token: CancelToken) -> Awaitable[T | Outcome[T]]:
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(None, lambda: work(progress=sink, cancel=token))

        return self._start(title, call, show_failure=show_failure, on_done=on_done)

    def start_in_process(
        self,
        title: str,
        target: Callable[..., T],
        *args: Any,
        database: Path | None = None,
        show_failure: bool = True,
        on_done: Callable[[Operation[T]], object] | None = None,
    ) -> Operation[T]:
        """Run ``target(*args, progress=…, cancel=…)`` in a child process (``target``
        module-level and picklable; with ``database`` it gets that database opened first)."""
        return self._start(
            title,
            lambda sink, token: in_process(
                target, *args, database=database, progress=sink, cancel=token
            ),
            show_failure=show_failure,
            on_done=on_done,
        )

    def _start(
        self,
        title: str,
        call: Callable[[ProgressSink, CancelToken], Awaitable[Any]],
        *,
        show_failure: bool,
        on_done: Callable[[Operation[T]], object] | None,
    ) -> Operation[T]:
        loop = asyncio.get_running_loop()
        operation: Operation[T] = Operation(title, show_failure=show_failure)
        if on_done is not None:
            operation.add_done_callback(on_done)
        if self._closing:
            operation.token.cancel(WINDOW_CLOSED)
        sink = self._sink_for(operation, loop)
        operation.task = loop.create_task(
            self._drive(operation, call, sink), name=f"operation-{operation.id}: {title}"
        )
        self._running[operation.id] = operation
        self.started.emit(operation)
        return operation

    async def _drive(
        self,
        operation: Operation[T],
        call: Callable[[ProgressSink, CancelToken], Awaitable[Any]],
        sink: ProgressSink,
    ) -> Outcome[T]:
        outcome: Outcome[T]
        try:
            operation.token.raise_if_cancelled()
            value = await call(sink, operation.token)
            outcome = value if isinstance(value, _OUTCOME_TYPES) else Completed(value)
        except OperationCancelledError as exc:
            outcome = Cancelled(str(exc) or operation.token.reason or "cancelled")
        except asyncio.CancelledError:
            self._finish(operation, Cancelled(operation.token.reason or "cancelled"))
            raise
        except Exception as exc:
            outcome = failure_from_exception(exc)
            if outcome.kind is FailureKind.INTERNAL:
                log.error("operation %r failed unexpectedly", operation.title, exc_info=exc)
        self._finish(operation, outcome)
        return outcome

    def _finish(self, operation: Operation[T], outcome: Outcome[T]) -> None:
        operation.outcome = outcome
        self._running.pop(operation.id, None)
        if not operation._done.done():
            operation._done.set_result(outcome)
        callbacks, operation._callbacks = operation._callbacks, []
        for callback in callbacks:
            try:
                callback(operation)
            except Exception:
                log.exception("a done callback of %r failed", operation)
        self.finished.emit(operation)

    # ------------------------------------------------------------------ progress

    def _sink_for(self, operation: Operation[Any], loop: asyncio.AbstractEventLoop) -> ProgressSink:
        def sink(event: Progress) -> None:  # any thread
            with operation._lock:
                operation._pending = event
                if operation._delivery_scheduled:
                    return
                operation._delivery_scheduled = True
            if loop.is_closed():
                return
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._deliver, operation)

        return sink

    def _deliver(self, operation: Operation[Any]) -> None:  # GUI thread
        with operation._lock:
            event, operation._pending = operation._pending, None
            operation._delivery_scheduled = False
        if event is None or operation.done:
            return
        operation.progress = event
        self.progressed.emit(operation)

    # ------------------------------------------------------------------ closing

    async def shutdown(self, grace_s: float = 3.0) -> list[Operation[Any]]:
        """Stop everything (the window is closing) and return what was running.

        Every token is set first, so work that checks it stops cleanly (a run pauses
        durably); after ``grace_s`` seconds the tasks still running are cancelled and awaited.
        Operations started afterwards begin cancelled. A worker thread that ignores its token
        keeps running until it returns (threads cannot be stopped from outside).
        """
        self._closing = True
        operations = self.running
        for operation in operations:
            operation.cancel(WINDOW_CLOSED)
        tasks = [op.task for op in operations if op.task is not None]
        if not tasks:
            return operations
        _done, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace_s)
        return operations


# ---------------------------------------------------------------------------------- the panel


class TaskRow(QWidget):
    """One running operation in the panel: its title and detail, a bar, a Cancel button."""

    def __init__(self, operation: Operation[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.operation = operation
        self.setObjectName("taskRow")
        self.label = QLabel()
        self.label.setObjectName("taskLabel")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setMinimumWidth(160)
        self.label.setMaximumWidth(420)
        self.label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.bar = QProgressBar()
        self.bar.setObjectName("taskBar")
        self.bar.setFixedWidth(160)
        self.bar.setMaximumHeight(16)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton(translate("TaskPanel", "Cancel"))
        self.cancel_button.setObjectName("taskCancel")
        self.cancel_button.setToolTip(
            translate("TaskPanel", "Stop this task; what it finished is kept")
        )
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.refresh()

    def _cancel(self) -> None:
        self.operation.cancel()
        self.refresh()

    def refresh(self) -> None:
        operation = self.operation
        progress = operation.progress
        text = operation.title
        if progress is not None:
            if progress.total:
                text += f" — {progress.done}/{progress.total}"
            if progress.detail:
                text += f": {progress.detail}"
        if operation.cancelling:
            text = translate("TaskPanel", "{title} — stopping…").format(title=operation.title)
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, 420))
        self.label.setToolTip(text)
        if progress is None or not progress.total:
            self.bar.setRange(0, 0)  # busy: the amount of work is not known
        else:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
        self.cancel_button.setEnabled(not operation.token.cancelled)
        if operation.token.cancelled:
            self.cancel_button.setText(translate("TaskPanel", "Stopping…"))


class TaskPanel(QWidget):
    """Lists a runner's running operations, newest last, for the status bar.

    An operation appears once it has run ``show_after_ms`` (quick reads never flash by) and
    disappears when it ends; at most ``max_rows`` are shown, with a count of the others. The
    panel hides itself when it has nothing to show.
    """

    def __init__(
        self,
        runner: TaskRunner,
        parent: QWidget | None = None,
        *,
        show_after_ms: int = 400,
        max_rows: int = 3,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("taskPanel")
        self.runner = runner
        self.show_after_ms = show_after_ms
        self.max_rows = max_rows
        self._rows: dict[int, TaskRow] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 0, 4, 0)
        self._layout.setSpacing(2)
        self.more_label = QLabel()
        self.more_label.setObjectName("taskMore")
        self._layout.addWidget(self.more_label)
        runner.started.connect(self._on_started)
        runner.progressed.connect(self._on_progressed)
        runner.finished.connect(self._on_finished)
        for operation in runner.running:
            self._add(operation)
        self._update_visibility()

    def rows(self) -> list[TaskRow]:
        """The rows shown, oldest first."""
        return [row for row in self._rows.values() if not row.isHidden()]

    def row_for(self, operation: Operation[Any]) -> TaskRow | None:
        return self._rows.get(operation.id)

    def _on_started(self, operation: Operation[Any]) -> None:
        if self.show_after_ms <= 0:
            self._add(operation)
        else:
            QTimer.singleShot(self.show_after_ms, self, lambda: self._add(operation))

    def _add(self, operation: Operation[Any]) -> None:
        if operation.done or operation.id in self._rows:
            return
        row = TaskRow(operation, self)
        self._rows[operation.id] = row
        self._layout.insertWidget(self._layout.count() - 1, row)
        self._update_visibility()

    def _on_progressed(self, operation: Operation[Any]) -> None:
        row = self._rows.get(operation.id)
        if row is not None:
            row.refresh()

    def _on_finished(self, operation: Operation[Any]) -> None:
        row = self._rows.pop(operation.id, None)
        if row is not None:
            self._layout.removeWidget(row)
            row.hide()
            row.deleteLater()
        self._update_visibility()

    def _update_visibility(self) -> None:
        rows = list(self._rows.values())
        for position, row in enumerate(rows):
            row.setVisible(position < self.max_rows)
        hidden = len(rows) - self.max_rows
        self.more_label.setVisible(hidden > 0)
        if hidden > 0:
            text = translate("TaskPanel", "and %n more task(s)", "", hidden)
            self.more_label.setText(english_plural(text, hidden))
        self.setVisible(bool(rows))
