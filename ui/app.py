"""Start the desktop window: one Qt application and one qasync event loop for its whole life.

``main(argv)`` parses ``--data-dir``, builds the ``QApplication``, moves garbage collection to
the GUI thread (:mod:`ui.collector`), builds a qasync loop with a thread pool as its default
executor, and runs :func:`run_window` until the window is closed:

1. open (and migrate) the database in a worker thread; if it cannot be used, say why in an
   error dialog and return 1;
2. build and show the :class:`~ui.main_window.MainWindow`; once its first frame is painted and
   the operations showing it started (the dashboard's load) have finished, freeze the garbage
   collector (:func:`app.runtime.tune_for_responsiveness`: a full collection, ~100 ms that held
   the first frame back when it ran right after ``show()``, and the dashboard's query too, as
   it holds the GIL); then hand the window to ``on_shown`` and start it;
3. wait for the window's ``closed`` signal (or SIGINT/SIGTERM);
4. stop every operation (tokens first, then cancellation), cancel and await every other task,
   close the database; ``main`` then shuts the executor down and closes the loop.

The app does not quit when its last window closes (``setQuitOnLastWindowClosed(False)``):
clean-up runs inside the main coroutine while the loop still runs (DESIGN.md, *Known
pitfalls*: the ``aboutToQuit`` hook ran with no running loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ["QT_API"] = "pyside6"  # before qasync is imported: it picks its Qt binding from it

import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app import __version__
from app.db.engine import Database, open_database, resolve_data_dir
from app.llm.catalogue import USER_CATALOGUE_FILE, use_user_catalogue
from app.paths import resources_dir
from app.runtime import tune_for_responsiveness
from ui.collector import GuiThreadCollector
from ui.dialogs import open_and_wait
from ui.errors import ErrorDialog
from ui.main_window import MainWindow
from ui.screenshots import capture, seed_demo
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)
translate = QCoreApplication.translate

WORKER_THREADS = 4
"""Threads of the default executor (database reads and writes, exports, process waits)."""
SETTLE_CAP_S = 2.0
"""At most this long after showing the window, the garbage collector is tuned even if the
first frame or the first loads are not done yet."""
GRACE_S = 3.0
"""How long closing waits for operations to stop by themselves before cancelling them."""
EXECUTOR_TIMEOUT_S = 10.0
"""How long exiting waits for worker threads to finish."""


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and the rest (handed to Qt: ``-platform offscreen``, ``-style …``)."""
    parser = argparse.ArgumentParser(
        prog="huleedu-desktop", description="HuleEdu Desktop: grade essays by comparison."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the database (default: $HULEEDU_DATA_DIR, else the platform's "
        "per-user data folder)",
    )
    parser.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="save a picture of every page into DIR and quit (with no --data-dir: on a "
        "temporary folder holding the demo batch)",
    )
    parser.add_argument("--version", action="version", version=f"huleedu-desktop {__version__}")
    return parser.parse_known_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app until its window is closed; the process's exit code."""
    args, qt_args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.screenshots is not None and args.data_dir is None:
        with tempfile.TemporaryDirectory(prefix="huleedu-shots-") as tmp:
            seed_demo(Path(tmp))
            return _main(Path(tmp), qt_args, args.screenshots)
    return _main(resolve_data_dir(args.data_dir), qt_args, args.screenshots)


def _main(data_dir: Path, qt_args: list[str], screenshots: Path | None) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    assert isinstance(app, QApplication)
    app.setApplicationName("HuleEdu")
    app.setOrganizationName("HuleEdu")
    app.setApplicationVersion(__version__)
    icon = resources_dir() / "icon.png"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    app.setQuitOnLastWindowClosed(False)
    collector = GuiThreadCollector()  # before any worker thread exists
    collector.start()

    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="huleedu-worker")
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    quit_requested = asyncio.Event()
    restore_signals = _install_signal_handlers(loop, quit_requested)
    shots: list[asyncio.Task[list[Path]]] = []

    def on_shown(window: MainWindow) -> None:
        if screenshots is not None:
            shots.append(asyncio.ensure_future(capture(window, screenshots, quit_requested)))

    try:
        code: int = loop.run_until_complete(
            run_window(
                data_dir,
                quit_requested=quit_requested,
                tune=tune_for_responsiveness,
                on_shown=on_shown,
            )
        )
        for shot in shots:
            if shot.done() and not shot.cancelled() and shot.exception() is None:
                for path in shot.result():
                    print(path)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(shutdown_executor(executor, EXECUTOR_TIMEOUT_S))
        return code
    finally:
        restore_signals()
        asyncio.set_event_loop(None)
        loop.close()
        collector.stop()


async def run_window(
    data_dir: Path,
    *,
    quit_requested: asyncio.Event | None = None,
    tune: Callable[[], None] = tune_for_responsiveness,
    on_shown: Callable[[MainWindow], object] | None = None,
    grace_s: float = GRACE_S,
    task_panel_delay_ms: int = 400,
    first_start: bool = True,
) -> int:
    """The app's main coroutine: open the database, show the window, wait until it is closed
    (or ``quit_requested`` is set), then stop every task and close the database.

    ``on_shown`` is called with the window once it is shown, painted, its first loads done and
    ``tune`` called (tests drive it from there).
    ``first_start``: once shown, fill an empty database with the demo and offer to resume
    interrupted runs (:meth:`MainWindow.start`). Returns 0, or 1 when the database cannot be
    opened.
    """
    loop = asyncio.get_running_loop()
    already_running = asyncio.all_tasks()  # the caller's: left alone
    # Closing the window must not stop Qt's loop (qasync's loop is Qt's): the clean-up below
    # still needs it.
    quit_on_close = QApplication.quitOnLastWindowClosed()
    QApplication.setQuitOnLastWindowClosed(False)
    try:
        return await _run_window(
            loop,
            data_dir,
            quit_requested,
            tune,
            on_shown,
            grace_s,
            task_panel_delay_ms,
            first_start,
        )
    finally:
        await cancel_tasks_started_since(already_running, grace_s)
        QApplication.setQuitOnLastWindowClosed(quit_on_close)


async def _run_window(
    loop: asyncio.AbstractEventLoop,
    data_dir: Path,
    quit_requested: asyncio.Event | None,
    tune: Callable[[], None],
    on_shown: Callable[[MainWindow], object] | None,
    grace_s: float,
    task_panel_delay_ms: int,
    first_start: bool,
) -> int:
    try:
        use_user_catalogue(data_dir / USER_CATALOGUE_FILE)  # the user's models, prices
        db = await loop.run_in_executor(None, open_database, data_dir)
    except Exception as exc:
        dialog = ErrorDialog.for_exception(exc)
        dialog.setWindowTitle(translate("App", "HuleEdu cannot start"))
        await open_and_wait(dialog)
        return 1
    runner = TaskRunner()
    window = MainWindow(db, runner, data_dir=data_dir, task_panel_delay_ms=task_panel_delay_ms)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    try:
        window.show()
        await _settled(window, runner, SETTLE_CAP_S)
        tune()
        if on_shown is not None:
            on_shown(window)
        if first_start:
            starting = asyncio.ensure_future(window.start())
            starting.add_done_callback(_log_failure)
        waits = [asyncio.ensure_future(closed.wait())]
        if quit_requested is not None:
            waits.append(asyncio.ensure_future(quit_requested.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
    finally:
        window.hide()
        await runner.shutdown(grace_s)
        window.deleteLater()
        runner.deleteLater()
        await loop.run_in_executor(None, _close_database, db)
    return 0


async def _settled(window: MainWindow, runner: TaskRunner, cap_s: float) -> None:
    """Return once ``window`` has painted its first frame, the operations running now (those
    showing it started) have finished, and their results have been painted; or after
    ``cap_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cap_s
    painted = loop.create_future()

    def on_paint() -> None:
        if not painted.done():
            painted.set_result(None)

    watch = _PaintWatch(on_paint)
    window.installEventFilter(watch)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(painted, cap_s)
    finally:
        window.removeEventFilter(watch)
    while runner.running and loop.time() < deadline:
        await asyncio.sleep(0.005)
    # a turn on a real timer: Qt sends its posted (low-priority) repaints before timers fire
    await asyncio.sleep(0.001)


class _PaintWatch(QObject):
    """Calls ``on_paint`` at each paint event of the object it filters."""

    def __init__(self, on_paint: Callable[[], None]) -> None:
        super().__init__()
        self._on_paint = on_paint

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self._on_paint()
        return False


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("starting the window failed", exc_info=task.exception())


def _close_database(db: Database) -> None:
    try:
        db.close()
    except Exception:
        log.exception("closing the database failed")


async def cancel_tasks_started_since(before: set[asyncio.Task[Any]], timeout_s: float) -> None:
    """Cancel every task on the loop that is not in ``before`` (nor the caller), and wait for
    them to end."""
    current = asyncio.current_task()
    others = [
        task
        for task in asyncio.all_tasks()
        if task is not current and task not in before and not task.done()
    ]
    for task in others:
        task.cancel()
    if others:
        _done, pending = await asyncio.wait(others, timeout=timeout_s)
        for task in pending:
            log.warning("task %s did not stop when cancelled", task.get_name())


async def shutdown_executor(executor: ThreadPoolExecutor, timeout_s: float) -> bool:
    """Shut the executor down (queued work dropped, running work awaited up to ``timeout_s``)
    without blocking the loop; False if a worker thread was still busy at the deadline."""
    finished = threading.Event()

    def shut() -> None:
        executor.shutdown(wait=True, cancel_futures=True)
        finished.set()

    threading.Thread(target=shut, name="huleedu-executor-shutdown", daemon=True).start()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not finished.is_set():
        if asyncio.get_running_loop().time() > deadline:
            log.warning("a worker thread is still busy after %.0f s", timeout_s)
            return False
        await asyncio.sleep(0.02)
    return True


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, quit_requested: asyncio.Event
) -> Callable[[], None]:
    """Ctrl-C and SIGTERM close the app as the window's close button does. Qt's loop runs no
    Python while idle, so a timer wakes the interpreter to run signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(_signum: int, _frame: Any) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(quit_requested.set)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    waker = QTimer()
    waker.setInterval(250)
    waker.timeout.connect(lambda: None)
    waker.start()

    def restore() -> None:
        waker.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


if __name__ == "__main__":
    raise SystemExit(main())
