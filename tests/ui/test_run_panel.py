"""The Run panel: estimate, start, live progress with waves, pause, resume, cancel."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.base import Cancelled, Completed, Paused
from app.operations.first_start import seed_demo_school
from app.operations.preferences import Preferences, save_preferences
from app.operations.queries import list_runs, run_report
from tests.ui.conftest import settle, wait_until
from ui.run_panel import RunPanel, WaveRecorder, demo_state
from ui.tasks import TaskRunner

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def demo_batch(db: Database) -> str:
    school = seed_demo_school(db)
    assert school is not None
    return school.batch_id


@pytest.fixture
def panel(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[RunPanel]:
    runner = TaskRunner()
    widget = RunPanel(db, runner, tmp_path / "data")
    qtbot.addWidget(widget)
    widget.resize(1100, 620)
    widget.show()
    yield widget
    widget.runner.deleteLater()


def buttons(panel: RunPanel) -> dict[str, bool]:
    return {
        "start": panel.start_button.isEnabled(),
        "pause": panel.pause_button.isEnabled(),
        "resume": panel.resume_button.isEnabled(),
        "cancel": panel.cancel_button.isEnabled(),
    }


async def shown(panel: RunPanel, batch_id: str) -> None:
    await panel.set_batch(batch_id).wait()
    await wait_until(lambda: panel.estimate is not None or panel.resume_button.isEnabled())


async def test_the_estimate_shows_before_start(
    panel: RunPanel, demo_batch: str, qtbot: QtBot
) -> None:
    await shown(panel, demo_batch)
    assert panel.form.preferences().provider == "sim"  # the default judge
    assert "Estimate: at most 176 comparisons" in panel.estimate_label.text()
    assert "free" in panel.estimate_label.text()
    assert buttons(panel) == {"start": True, "pause": False, "resume": False, "cancel": False}
    assert "Not graded yet" in panel.status_label.text()

    # changing a setting recomputes it
    panel.form.budget.setValue(40)
    await wait_until(lambda: "at most 40 comparisons" in panel.estimate_label.text())
    panel.form.mode.setCurrentIndex(panel.form.mode.findData("per_request"))
    await wait_until(lambda: "40 comparisons in 40 requests" in panel.estimate_label.text())
    assert not panel.form.bundle_size.isEnabled()
    # settings no run can use cannot be started
    panel.form.provider.setCurrentIndex(panel.form.provider.findData("openai_compatible"))
    await wait_until(lambda: "cannot be used" in panel.estimate_label.text())
    assert not panel.start_button.isEnabled()


async def test_preferences_prefill_the_form(
    panel: RunPanel, demo_batch: str, tmp_path: Path
) -> None:
    save_preferences(
        tmp_path / "data",
        Preferences(mode="per_request", budget=30, target_reliability=None, concurrency=2),
    )
    await shown(panel, demo_batch)
    assert panel.form.mode.currentData() == "per_request"
    assert panel.form.whole_budget.isChecked()
    assert panel.form.budget.value() == 30
    assert "at most 30 comparisons" in panel.estimate_label.text()


async def test_start_watch_pause_and_resume_to_the_end(
    panel: RunPanel,
    db: Database,
    demo_batch: str,
    shots: Callable[[QWidget, str], Path],
    qtbot: QtBot,
) -> None:
    await shown(panel, demo_batch)
    panel.operational = {"sim_speed": 6.0}
    finished: list[str] = []
    panel.run_finished.connect(finished.append)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    drive = panel._drive
    assert drive is not None and panel.is_running()
    assert buttons(panel) == {"start": False, "pause": True, "resume": False, "cancel": True}
    assert not panel.form.provider.isEnabled()  # settings are frozen while it runs

    # live progress: the bar, the cost, a row per wave with its reliability
    await wait_until(lambda: panel.waves.rowCount() >= 2, timeout_s=30)
    assert panel.current_run_id() is not None
    assert panel.progress_bar.maximum() == 176  # 8 per essay: 16 essays and 6 anchors
    assert 0 < panel.progress_bar.value() < 176
    assert panel.cost_value.text().startswith("$")
    assert panel.waves.item(0, 0).text() == "1"
    assert int(panel.waves.item(0, 1).text()) > 0
    await wait_until(lambda: panel.waves.item(1, 2).text() != "…", timeout_s=30)
    assert 0.0 <= float(panel.waves.item(1, 2).text()) <= 1.0
    assert "Grading" in panel.status_label.text()
    await settle()
    shots(panel, "run_panel_running")

    # Pause: the drive stops and the run is paused in the database
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    assert not panel.pause_button.isEnabled()
    outcome = await drive.wait()
    assert isinstance(outcome, Paused), outcome
    run_id = panel.current_run_id()
    assert run_id is not None
    paused = run_report(db, run_id)
    assert paused.status == "paused"
    await wait_until(panel.resume_button.isEnabled)
    assert buttons(panel) == {"start": False, "pause": False, "resume": True, "cancel": True}
    assert "Paused after" in panel.status_label.text()
    rows_before = panel.waves.rowCount()

    # Resume: the same run goes on to its end
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    resumed = panel._drive
    assert resumed is not None
    outcome = await resumed.wait()
    assert isinstance(outcome, Completed), outcome
    assert panel.current_run_id() == run_id
    assert finished == [run_id]
    done = run_report(db, run_id)
    assert done.status == "complete"
    assert done.comparisons_done > paused.comparisons_done
    assert [r.id for r in list_runs(db, demo_batch)] == [run_id]  # no second run
    assert panel.waves.rowCount() > rows_before  # the waves go on after the paused ones
    await wait_until(panel.start_button.isEnabled)
    assert "Finished" in panel.status_label.text()
    assert buttons(panel) == {"start": True, "pause": False, "resume": False, "cancel": False}


async def test_cancel_asks_then_ends_the_run_keeping_its_verdicts(
    panel: RunPanel, db: Database, demo_batch: str, qtbot: QtBot
) -> None:
    await shown(panel, demo_batch)
    panel.operational = {"sim_speed": 6.0}
    drive = panel.start()
    await wait_until(lambda: panel.progress_bar.value() >= 8, timeout_s=30)

    # Asking, then keeping going, changes nothing
    panel.cancel_button.click()
    await wait_until(lambda: panel.confirm_box is not None and panel.confirm_box.isVisible())
    box = panel.confirm_box
    assert box is not None
    keep = next(b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.RejectRole)
    keep.click()
    await wait_until(lambda: panel.confirm_box is None)
    assert panel.is_running()

    panel.cancel_button.click()
    await wait_until(lambda: panel.confirm_box is not None and panel.confirm_box.isVisible())
    box = panel.confirm_box
    assert box is not None
    yes = next(
        b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole
    )
    yes.click()
    await wait_until(lambda: panel._cancelling is not None)
    cancelling = panel._cancelling
    assert cancelling is not None
    assert isinstance(await cancelling.wait(), Cancelled)
    assert isinstance(await drive.wait(), Paused)  # the drive stopped first
    run_id = panel.current_run_id()
    assert run_id is not None
    report = run_report(db, run_id)
    assert report.status == "cancelled"
    assert report.comparisons_done >= 8  # the verdicts are kept
    await wait_until(panel.start_button.isEnabled)
    assert "cancelled" in panel.status_label.text()
    assert buttons(panel) == {"start": True, "pause": False, "resume": False, "cancel": False}


async def test_a_paused_run_is_offered_for_resume(
    panel: RunPanel, db: Database, demo_batch: str, qtbot: QtBot, tmp_path: Path
) -> None:
    await shown(panel, demo_batch)
    panel.form.mode.setCurrentIndex(panel.form.mode.findData("per_request"))
    panel.operational = {"sim_speed": 6.0}
    drive = panel.start()
    await wait_until(lambda: panel.progress_bar.value() >= 4, timeout_s=30)
    panel.pause()
    assert isinstance(await drive.wait(), Paused)
    run_id = panel.current_run_id()

    # a new panel (the app restarted) finds the paused run and its frozen settings
    other = RunPanel(db, panel.runner, tmp_path / "data")
    qtbot.addWidget(other)
    await shown(other, demo_batch)
    assert other.current_run_id() == run_id
    assert buttons(other) == {"start": False, "pause": False, "resume": True, "cancel": True}
    assert other.form.mode.currentData() == "per_request"
    assert not other.form.mode.isEnabled()
    assert "Paused after" in other.status_label.text()
    assert "goes on with the settings it started with" in other.estimate_label.text()
    other.operational = {"sim_speed": 50.0}
    outcome = await other.resume().wait()
    assert isinstance(outcome, Completed)
    assert run_report(db, run_id or "").status == "complete"


async def test_waves_keep_their_reliability_across_drives() -> None:
    from app.runs.orchestrator import ProgressEvent  # noqa: PLC0415

    def event(kind: str, done: int, wave: int, rel: float) -> ProgressEvent:
        return ProgressEvent("r", done, 100, 0, 0.0, rel, None, wave, "running", kind)

    recorder = WaveRecorder()
    recorder.new_drive()
    recorder.see(event("verdict", 3, 0, math.nan))
    recorder.see(event("wave", 10, 1, math.nan))  # wave 1 ends, not fitted yet
    recorder.see(event("verdict", 12, 1, 0.41))  # the fit after wave 1
    recorder.see(event("wave", 20, 2, 0.41))
    recorder.new_drive()  # paused, then resumed: the drive counts from 0 again
    recorder.see(event("verdict", 21, 0, math.nan))
    recorder.see(event("wave", 30, 1, math.nan))
    recorder.see(event("status", 30, 1, 0.83))
    rows = recorder.rows()
    assert [(r.wave, r.comparisons) for r in rows] == [(1, 10), (2, 20), (3, 30)]
    assert rows[0].reliability == 0.41
    assert math.isnan(rows[1].reliability)
    assert rows[2].reliability == 0.83


async def test_screenshots_mid_run(
    panel: RunPanel, db: Database, demo_batch: str, shots: Callable[[QWidget, str], Path]
) -> None:
    drive = await demo_state(panel, demo_batch)
    scale = os.environ.get("QT_SCALE_FACTOR", "1")
    shots(panel, f"run_panel_mid_run_x{scale}")
    panel.pause()
    await drive.wait()
    await wait_until(panel.resume_button.isEnabled)
    shots(panel, f"run_panel_paused_x{scale}")
