"""The task runner and its panel: outcomes, progress carried to the GUI thread, cancelling,
closing with operations still running."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from app.operations.base import (
    Cancelled,
    CancelToken,
    Completed,
    Failed,
    FailureKind,
    OperationCancelledError,
    OperationError,
    Paused,
    Progress,
    ProgressSink,
)
from tests.ui import process_targets
from tests.ui.conftest import settle, wait_until
from ui.tasks import CANCELLED_BY_TEACHER, WINDOW_CLOSED, Operation, TaskPanel, TaskRunner

Shots = Callable[[QWidget, str], Path]


async def test_a_blocking_operation_runs_in_a_worker_and_reports_on_the_gui_thread() -> None:
    runner = TaskRunner()
    gui = threading.current_thread()
    worked_on: list[threading.Thread] = []
    delivered_on: list[threading.Thread] = []
    events: list[Progress] = []

    def work(*, progress: ProgressSink, cancel: CancelToken) -> int:
        worked_on.append(threading.current_thread())
        for i in range(1, 6):
            progress(Progress("file", i, 5, f"essay_{i}.docx"))
            time.sleep(0.02)
        return 42

    def seen(operation: Operation[Any]) -> None:
        delivered_on.append(threading.current_thread())
        assert operation.progress is not None
        events.append(operation.progress)

    runner.progressed.connect(seen)
    finished: list[Operation[Any]] = []
    runner.finished.connect(finished.append)
    operation = runner.start_blocking("Importing essays", work)
    assert runner.running == [operation]
    outcome = await asyncio.wait_for(operation.wait(), 10)
    assert outcome == Completed(42)
    assert worked_on and worked_on[0] is not gui
    assert events and all(thread is gui for thread in delivered_on)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert finished == [operation]
    assert runner.running == []


async def test_progress_from_a_fast_worker_is_coalesced() -> None:
    runner = TaskRunner()
    deliveries: list[int] = []
    runner.progressed.connect(lambda op: deliveries.append(op.progress.done))
    n = 20_000

    def work(*, progress: ProgressSink, cancel: CancelToken) -> None:
        for i in range(1, n + 1):
            progress(Progress("row", i, n))

    operation = runner.start_blocking("Counting", work)
    await asyncio.wait_for(operation.wait(), 10)
    assert 0 < len(deliveries) < n / 10
    assert deliveries == sorted(deliveries)


async def test_outcomes_of_every_kind() -> None:
    runner = TaskRunner()

    async def returns(value: object, **_: object) -> object:
        return value

    async def raises(exc: BaseException, **_: object) -> None:
        raise exc

    paused = Paused("The run is paused.", "resume it")
    failed = Failed(FailureKind.RUN_FAILED, "Too few essays.")
    cases: list[tuple[Callable[..., Any], Callable[[object], bool]]] = [
        (partial(returns, 7), lambda o: o == Completed(7)),
        (partial(returns, paused), lambda o: o is paused),
        (partial(returns, failed), lambda o: o is failed),
        (partial(returns, Cancelled("stopped")), lambda o: o == Cancelled("stopped")),
        (
            partial(raises, OperationError(FailureKind.INPUT, "No essays.", "empty folder")),
            lambda o: o == Failed(FailureKind.INPUT, "No essays.", "empty folder"),
        ),
        (
            partial(raises, OperationCancelledError("cancelled by the teacher")),
            lambda o: o == Cancelled("cancelled by the teacher"),
        ),
        (
            partial(raises, KeyError("boom")),
            lambda o: (
                isinstance(o, Failed)
                and o.kind is FailureKind.INTERNAL
                and "KeyError: 'boom'" in o.details
            ),
        ),
    ]
    for work, expected in cases:
        operation = runner.start_async("Case", work)
        outcome = await asyncio.wait_for(operation.wait(), 5)
        assert expected(outcome), outcome
        assert operation.outcome is outcome


async def test_done_callbacks_run_once_on_the_gui_thread() -> None:
    runner = TaskRunner()
    calls: list[tuple[int, threading.Thread]] = []
    operation = runner.start_blocking(
        "Reading",
        lambda **_: "read",
        on_done=lambda op: calls.append((op.id, threading.current_thread())),
    )
    await asyncio.wait_for(operation.wait(), 5)
    operation.add_done_callback(lambda op: calls.append((op.id, threading.current_thread())))
    assert calls == [(operation.id, threading.current_thread())] * 2


async def test_panel_shows_a_running_operation_and_cancel_sets_its_token(
    qtbot: QtBot, shots: Shots
) -> None:
    runner = TaskRunner()
    host = QWidget()
    qtbot.addWidget(host)
    panel = TaskPanel(runner, host, show_after_ms=0)
    QVBoxLayout(host).addWidget(panel)
    host.resize(640, 60)
    host.show()
    assert panel.isHidden()  # nothing running
    reached = threading.Event()

    def work(*, progress: ProgressSink, cancel: CancelToken) -> str:
        for i in range(1, 1001):
            cancel.raise_if_cancelled()
            progress(Progress("file", i, 1000, f"essay_{i:03d}.docx"))
            if i == 40:
                reached.set()
            time.sleep(0.005)
        return "all done"

    operation = runner.start_blocking("Importing essays", work)
    await wait_until(reached.is_set)
    await wait_until(lambda: operation.progress is not None and operation.progress.done >= 40)
    rows = panel.rows()
    assert [row.operation for row in rows] == [operation]
    row = rows[0]
    assert panel.isVisible()
    assert row.label.text().startswith("Importing essays")
    assert row.bar.maximum() == 1000 and row.bar.value() >= 40
    assert row.cancel_button.isEnabled()
    await settle()
    shots(host, "task-panel")

    row.cancel_button.click()
    assert operation.token.cancelled
    assert operation.token.reason == CANCELLED_BY_TEACHER
    assert not row.cancel_button.isEnabled()
    outcome = await asyncio.wait_for(operation.wait(), 5)
    assert outcome == Cancelled(CANCELLED_BY_TEACHER)
    assert panel.rows() == []
    assert panel.isHidden()


async def test_panel_waits_before_showing_and_counts_the_rest(qtbot: QtBot) -> None:
    runner = TaskRunner()
    host = QWidget()
    qtbot.addWidget(host)
    panel = TaskPanel(runner, host, show_after_ms=150, max_rows=2)
    QVBoxLayout(host).addWidget(panel)
    host.show()

    async def forever(*, progress: ProgressSink, cancel: CancelToken) -> None:
        await cancel.wait()

    quick = runner.start_blocking("Quick read", lambda **_: None)
    await quick.wait()
    slow = [runner.start_async(f"Slow {i}", forever) for i in range(4)]
    await asyncio.sleep(0.05)
    assert panel.rows() == []
    await wait_until(lambda: len(panel.rows()) == 2)
    assert panel.more_label.isVisible()
    assert panel.more_label.text() == "and 2 more tasks"
    slow[0].cancel()
    await slow[0].wait()
    assert panel.more_label.text() == "and 1 more task"
    for operation in slow:
        operation.cancel()
    await asyncio.gather(*(op.wait() for op in slow))
    assert panel.isHidden()
    assert all(row is None for row in map(panel.row_for, [quick, *slow]))


async def test_shutdown_stops_polite_work_and_cancels_the_rest() -> None:
    runner = TaskRunner()

    def polite(*, progress: ProgressSink, cancel: CancelToken) -> str:
        while not cancel.cancelled:
            time.sleep(0.01)
        return "stopped at a safe point"

    async def stubborn(*, progress: ProgressSink, cancel: CancelToken) -> None:
        await asyncio.sleep(3600)

    first = runner.start_blocking("Polite", polite)
    second = runner.start_async("Stubborn", stubborn)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    stopped = await asyncio.wait_for(runner.shutdown(grace_s=0.3), 5)
    assert time.monotonic() - started < 2
    assert stopped == [first, second]
    assert first.outcome == Completed("stopped at a safe point")
    assert first.token.reason == WINDOW_CLOSED
    assert isinstance(second.outcome, Cancelled)
    assert second.task is not None and second.task.cancelled()
    late = runner.start_blocking("Late", polite)
    assert late.token.cancelled
    assert await asyncio.wait_for(late.wait(), 5) == Cancelled(WINDOW_CLOSED)


async def test_an_operation_in_a_child_process_reports_and_cancels() -> None:
    runner = TaskRunner()
    seen: list[int] = []
    runner.progressed.connect(lambda op: seen.append(op.progress.done))
    done = runner.start_in_process("Counting", process_targets.count_to, 20)
    assert await asyncio.wait_for(done.wait(), 60) == Completed(20)
    assert seen and seen[-1] <= 20

    long = runner.start_in_process("Counting far", process_targets.count_to, 100_000)
    await wait_until(lambda: long.progress is not None, timeout_s=60)
    long.cancel()
    outcome = await asyncio.wait_for(long.wait(), 30)
    assert isinstance(outcome, Completed)
    assert 0 < outcome.value < 100_000
