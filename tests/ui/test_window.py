"""The window end to end: opened by the app's main coroutine on a temporary data folder, it
shows the stored batches and closes without hanging while operations are still running."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from app.db.engine import DB_FILENAME, open_database
from app.operations.base import (
    Cancelled,
    CancelToken,
    FailureKind,
    OperationError,
    Progress,
    ProgressSink,
)
from app.operations.first_start import DEMO_BATCH, DEMO_CLASS
from tests.ui.conftest import settle, wait_until
from tests.ui.data import fill_batches
from ui.app import parse_args, run_window
from ui.assignments import AssignmentsPage
from ui.batch_view import ESSAYS, GRADING
from ui.classes import ClassesPage
from ui.errors import ErrorDialog
from ui.main_window import PAGES, MainWindow
from ui.new_batch import NewBatchDialog
from ui.settings_page import SettingsPage

Shots = Callable[[QWidget, str], Path]
REPO = Path(__file__).resolve().parents[2]


def _stored(data_dir: Path, n: int) -> dict[str, int]:
    with open_database(data_dir) as db:
        return fill_batches(db, n)


async def test_window_shows_stored_batches_and_closes_with_tasks_running(
    tmp_path: Path, shots: Shots
) -> None:
    data_dir = tmp_path / "data"
    counts = _stored(data_dir, 40)
    tuned: list[bool] = []
    shown: asyncio.Future[MainWindow] = asyncio.get_running_loop().create_future()
    polite_token: list[CancelToken] = []

    def polite(*, progress: ProgressSink, cancel: CancelToken) -> str:
        """A worker-thread operation that stops when its token is set."""
        polite_token.append(cancel)
        step = 0
        while not cancel.cancelled:
            step += 1
            progress(Progress("step", step % 100, 100, "importing essays"))
            time.sleep(0.01)
        return "stopped"

    async def stubborn(*, progress: ProgressSink, cancel: CancelToken) -> None:
        """An async operation that ignores its token (cancelled at the end of the grace)."""
        await asyncio.sleep(3600)

    main = asyncio.ensure_future(
        run_window(
            data_dir,
            tune=lambda: tuned.append(True),
            on_shown=shown.set_result,
            grace_s=0.5,
            task_panel_delay_ms=0,
        )
    )
    window = await asyncio.wait_for(shown, 10)
    assert tuned == [True]
    assert window.isVisible()
    assert window.current_page() == "batches"
    page = window.batches_page
    await wait_until(lambda: page.model.total_count() == 40)
    assert page.view.model().rowCount() == 40
    assert page.body.currentWidget() is page.view
    assert sum(page.model.group_counts().values()) == sum(counts.values())
    assert page.count_label.text() == "40 batches"

    # A failed operation is explained in an error dialog over the window.
    async def refused(**_: object) -> None:
        raise OperationError(FailureKind.JUDGE_REFUSED, "The API key was not accepted.")

    failing = window.runner.start_async("Checking the judge", refused)
    await failing.wait()
    dialogs = [d for d in window.findChildren(ErrorDialog) if d.isVisible()]
    assert [d.message for d in dialogs] == ["The API key was not accepted."]
    await settle()
    shots(dialogs[0], "window-error-dialog")
    dialogs[0].accept()

    # Navigating back to the page loads the batches again.
    window.show_page("classes")
    window.show_page("batches")
    assert page.loading is not None
    await asyncio.wait_for(page.loading.wait(), 10)

    running = window.runner.start_blocking("Importing essays", polite)
    stuck = window.runner.start_async("Waiting for the judge", stubborn)
    await wait_until(lambda: running.progress is not None)
    await wait_until(lambda: len(window.task_panel.rows()) == 2)
    await settle()
    shots(window, "window-batches")

    started = time.monotonic()
    window.close()
    assert await asyncio.wait_for(main, 10) == 0
    assert time.monotonic() - started < 5
    assert polite_token[0].cancelled
    assert running.outcome is not None and running.outcome.value == "stopped"  # type: ignore[union-attr]
    assert isinstance(stuck.outcome, Cancelled)
    assert not window.runner.running


async def test_first_start_fills_the_demo_and_every_page_opens(
    tmp_path: Path, shots: Shots
) -> None:
    data_dir = tmp_path / "data"
    shown: asyncio.Future[MainWindow] = asyncio.get_running_loop().create_future()
    main = asyncio.ensure_future(run_window(data_dir, tune=lambda: None, on_shown=shown.set_result))
    window = await asyncio.wait_for(shown, 10)
    page = window.batches_page
    await wait_until(lambda: page.model.total_count() == 1, 30)
    (batch,) = page.model.visible_rows()
    assert batch.title == DEMO_BATCH
    assert batch.class_name == DEMO_CLASS
    assert batch.status == "ready"
    await settle()
    shots(window, "window-first-start")

    window.show_page("classes")
    classes = window.pages["classes"]
    assert isinstance(classes, ClassesPage)
    await wait_until(lambda: [r.name for r in classes.class_model.visible_rows()] == [DEMO_CLASS])
    window.show_page("assignments")
    assert isinstance(window.pages["assignments"], AssignmentsPage)
    window.show_page("settings")
    settings = window.pages["settings"]
    assert isinstance(settings, SettingsPage)
    await settle(0.3)
    assert str(data_dir) in "\n".join(label.text() for label in settings.findChildren(QLabel))
    for key, _label in PAGES:
        window.show_page(key)
        assert window.current_page() == key

    # Opening the batch (Enter on the dashboard) shows it on the tab its status calls for.
    window.show_page("batches")
    assert page.select_batch(batch.id)
    page.open_button.click()
    view = window.batch_view
    assert window.current_page() == "batch"
    await wait_until(lambda: view.row is not None)
    assert view.tabs.currentIndex() == GRADING
    assert view.title.text() == DEMO_BATCH
    view.back_button.click()
    assert window.current_page() == "batches"

    # New batch: the dialog, then the new batch on its Essays tab.
    page.new_button.click()

    def dialog() -> NewBatchDialog | None:
        shown = [d for d in window.findChildren(NewBatchDialog) if d.isVisible()]
        return shown[0] if shown else None

    await wait_until(lambda: dialog() is not None)
    asked = dialog()
    assert asked is not None
    asked.title.setText("Phones in school, second draft")
    asked.create_button.click()
    await wait_until(lambda: window.current_page() == "batch" and view.row is not None)
    assert view.title.text() == "Phones in school, second draft"
    assert view.tabs.currentIndex() == ESSAYS
    assert window.asking is not None and window.asking.done()
    window.close()
    assert await asyncio.wait_for(main, 10) == 0


async def test_a_database_that_cannot_be_opened_is_explained(tmp_path: Path, shots: Shots) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / DB_FILENAME).write_bytes(b"this is not a database " * 100)
    main = asyncio.ensure_future(run_window(data_dir, tune=lambda: None))

    def dialog() -> ErrorDialog | None:
        found = [w for w in QApplication.topLevelWidgets() if isinstance(w, ErrorDialog)]
        return next((w for w in found if w.isVisible()), None)

    await wait_until(lambda: dialog() is not None)
    shown = dialog()
    assert shown is not None
    assert shown.heading == "The database cannot be used"
    assert "database" in shown.message.lower()
    await settle()
    shots(shown, "database-error")
    shown.accept()
    assert await asyncio.wait_for(main, 10) == 1
    shown.deleteLater()


def test_data_dir_option_and_qt_arguments() -> None:
    args, rest = parse_args(["--data-dir", "/tmp/x", "-platform", "offscreen"])
    assert args.data_dir == Path("/tmp/x")
    assert rest == ["-platform", "offscreen"]
    args, rest = parse_args([])
    assert args.data_dir is None


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_main_runs_and_ends_cleanly_on_sigterm(tmp_path: Path) -> None:
    """``python -m ui.app``: the real QApplication, loop, executor and garbage-collector
    tuning, ended as the close button would end it."""
    data_dir = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONFAULTHANDLER": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--data-dir", str(data_dir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The database is created inside the main coroutine, after the handlers are installed.
        deadline = time.monotonic() + 60
        while not (data_dir / DB_FILENAME).exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the app did not open its database"
            time.sleep(0.05)
        time.sleep(0.5)  # the window is built and shown
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "Traceback" not in err, err
