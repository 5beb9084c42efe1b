"""UI tests: Qt offscreen, one qasync loop per async test, a watchdog against hangs.

pytest-asyncio gives the tests in this folder (only) a qasync loop through its
``pytest_asyncio_loop_factories`` hook, so coroutines and Qt share one loop as in the app.
Inside async tests, wait with asyncio (``await operation.wait()``, :func:`wait_until`,
:func:`settle`), never with ``qtbot.waitSignal`` (it hung the test when run inside a coroutine;
DESIGN.md) nor ``QApplication.processEvents()`` (it runs other tasks' steps re-entrantly, asyncio
refuses them, and those tasks never run again).
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ["QT_API"] = "pyside6"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync
from PySide6.QtWidgets import QApplication, QWidget

from app.db.engine import Database, open_database
from ui.collector import GuiThreadCollector

HANG_LIMIT_S = 90
"""A test still running after this long is stuck: dump every thread's stack and exit."""
SHOTS_ENV = "HULEEDU_UI_SHOTS"
"""If set, screenshots are also copied into this folder (to look at them)."""


def _qasync_loop() -> asyncio.AbstractEventLoop:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    # As in the app: closing the last window must not stop Qt's loop, which is the test's.
    app.setQuitOnLastWindowClosed(False)
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    return loop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    return {"qasync": _qasync_loop}


def _real_stderr(config: pytest.Config) -> int:
    """The terminal's stderr, not pytest's capture of it (where a dump made just before the
    process exits would be lost): the copy pytest's own faulthandler plugin keeps."""
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key  # noqa: PLC0415

        return config.stash[fault_handler_stderr_fd_key]
    except (ImportError, KeyError):
        return 2


@pytest.fixture(autouse=True)
def _hang_guard(pytestconfig: pytest.Config) -> Iterator[None]:
    """A test stuck longer than HANG_LIMIT_S (a deadlocked loop, a modal exec()) dumps every
    thread's stack to the terminal and ends the process, instead of hanging the suite."""
    faulthandler.dump_traceback_later(HANG_LIMIT_S, exit=True, file=_real_stderr(pytestconfig))
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _gui_thread_gc(qapp: QApplication) -> Iterator[GuiThreadCollector]:
    """Garbage is collected on the GUI thread only, as in the app (ui/collector.py); what a
    test leaves behind is collected here before the next test starts its workers."""
    collector = GuiThreadCollector()
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
        gc.collect()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[QWidget, str], Path]:
    """``shots(widget, name)`` saves ``widget.grab()`` as a PNG in the test's temp folder
    (and in ``$HULEEDU_UI_SHOTS`` if set) and returns its path."""
    folder = tmp_path / "shots"
    folder.mkdir()

    def save(widget: QWidget, name: str) -> Path:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a plain test: let pending layouts and paints happen first
            QApplication.processEvents()
        # (Inside a coroutine on the qasync loop, processEvents would run other tasks' steps
        # re-entrantly; asyncio refuses them and those tasks never run again. Async tests
        # await settle() instead.)
        path = folder / f"{name}.png"
        assert widget.grab().save(str(path)), f"could not save {path}"
        extra = os.environ.get(SHOTS_ENV)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return save


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "data")
    try:
        yield database
    finally:
        database.close()


async def settle(seconds: float = 0.05) -> None:
    """Let the loop (Qt's) run a moment: pending layouts, paints and callbacks happen."""
    await asyncio.sleep(seconds)


async def wait_until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Let the loop run until ``condition()`` is true (AssertionError after ``timeout_s``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not true after {timeout_s} s: {condition}")
        await asyncio.sleep(0.01)
