"""A run's life around the window: closing with a run going asks and pauses it durably; a
run whose process was killed is offered at the next start and completes when resumed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from app.db.engine import open_database
from app.operations.first_start import seed_demo_school
from app.operations.queries import run_report
from app.operations.runs import prepare_batch_run
from tests.ui.conftest import settle, wait_until
from ui.app import run_window
from ui.assignments import AssignmentsPage
from ui.batch_view import GRADING
from ui.main_window import MainWindow

Shots = Callable[[QWidget, str], Path]
REPO = Path(__file__).resolve().parents[2]


def _button(box: QMessageBox, text: str) -> object:
    return next(b for b in box.buttons() if b.text().replace("&", "") == text)


async def test_closing_with_a_run_going_asks_then_pauses_it(tmp_path: Path, shots: Shots) -> None:
    data_dir = tmp_path / "data"
    shown: asyncio.Future[MainWindow] = asyncio.get_running_loop().create_future()
    main = asyncio.ensure_future(
        run_window(data_dir, tune=lambda: None, on_shown=shown.set_result, grace_s=5)
    )
    window = await asyncio.wait_for(shown, 10)
    page = window.batches_page
    await wait_until(lambda: page.model.total_count() == 1, 30)
    (batch,) = page.model.visible_rows()
    view = window.open_batch(batch.id, GRADING)
    panel = view.run_panel(batch.id)
    assert panel.loading is not None
    await panel.loading.wait()
    panel.operational = {"sim_speed": 2.0}
    panel.start()
    await wait_until(lambda: panel.current_run_id() is not None and panel.is_running(), 20)
    run_id = panel.current_run_id()
    assert run_id is not None

    window.close()  # asks: the run goes on meanwhile
    await wait_until(lambda: window.close_prompt is not None)
    prompt = window.close_prompt
    assert prompt is not None
    assert window.isVisible() and not main.done()
    assert "Grading is running on 1 batch." in prompt.text()
    await settle()
    shots(prompt, "close-while-grading")
    _button(prompt, "Keep grading").click()  # type: ignore[attr-defined]
    await settle()
    assert window.isVisible() and panel.is_running()

    window.close()
    await wait_until(lambda: window.close_prompt is not None)
    prompt = window.close_prompt
    assert prompt is not None
    _button(prompt, "Pause and close").click()  # type: ignore[attr-defined]
    assert await asyncio.wait_for(main, 20) == 0
    with open_database(data_dir) as db:
        report = run_report(db, run_id)
    assert report.status == "paused"
    assert report.comparisons_done < report.settings["budget"]


async def test_a_killed_run_is_offered_at_the_next_start_and_completes(
    tmp_path: Path, shots: Shots
) -> None:
    data_dir = tmp_path / "data"
    with open_database(data_dir) as db:
        seeded = seed_demo_school(db)
        assert seeded is not None
        run_id = prepare_batch_run(db, seeded.batch_id, {"sim_speed": 300.0}).run_id
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tests.ui.process_targets import drive_slowly; "
            "drive_slowly(sys.argv[1], sys.argv[2])",
            str(data_dir),
            run_id,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        with open_database(data_dir) as db:
            while run_report(db, run_id).comparisons_done < 3:
                assert child.poll() is None, "the driving process ended early"
                assert time.monotonic() < deadline, "the run did not start"
                await asyncio.sleep(0.1)
    finally:
        child.kill()  # as a crash or a power cut would: no pause, the lease left behind
        child.wait()
    with open_database(data_dir) as db:
        before = run_report(db, run_id)
    assert before.status == "running"

    shown: asyncio.Future[MainWindow] = asyncio.get_running_loop().create_future()
    main = asyncio.ensure_future(run_window(data_dir, tune=lambda: None, on_shown=shown.set_result))
    window = await asyncio.wait_for(shown, 10)
    await wait_until(lambda: window.resume_prompt is not None, 20)
    prompt = window.resume_prompt
    assert prompt is not None
    assert "1 run stopped before finishing" in prompt.text()
    assert "Phones in school" in prompt.informativeText()
    await settle()
    shots(prompt, "resume-after-crash")
    _button(prompt, "Resume").click()  # type: ignore[attr-defined]
    await wait_until(lambda: window.current_page() == "batch", 10)
    panel = window.batch_view.run_panel(seeded.batch_id)
    await wait_until(lambda: panel.is_running() or panel.current_run_id() == run_id, 10)

    def finished() -> bool:
        with open_database(data_dir) as db:
            return run_report(db, run_id).status == "complete"

    await wait_until(finished, 60)
    await wait_until(lambda: not panel.is_running(), 10)
    assert panel.current_run_id() == run_id
    with open_database(data_dir) as db:
        after = run_report(db, run_id)
    assert after.comparisons_done >= before.comparisons_done
    assert after.comparisons_done == after.settings["budget"] or after.stop_reason
    window.close()
    assert await asyncio.wait_for(main, 20) == 0


async def test_closing_with_unsaved_assignment_edits_asks_first(tmp_path: Path) -> None:
    shown: asyncio.Future[MainWindow] = asyncio.get_running_loop().create_future()
    main = asyncio.ensure_future(
        run_window(tmp_path / "data", tune=lambda: None, on_shown=shown.set_result)
    )
    window = await asyncio.wait_for(shown, 10)
    await wait_until(lambda: window.batches_page.model.total_count() == 1, 30)
    window.show_page("assignments")
    page = window.page("assignments")
    assert isinstance(page, AssignmentsPage)
    await wait_until(lambda: page.current is not None, 20)
    page.title_edit.setText("Phones in school, edited")
    assert page.is_dirty()

    window.close()
    await wait_until(lambda: window.close_prompt is not None)
    prompt = window.close_prompt
    assert prompt is not None
    assert "Changes not saved yet on: Assignments." in prompt.text()
    _button(prompt, "Go back").click()  # type: ignore[attr-defined]
    await settle()
    assert window.isVisible() and not main.done() and page.is_dirty()

    window.close()
    await wait_until(lambda: window.close_prompt is not None)
    prompt = window.close_prompt
    assert prompt is not None
    _button(prompt, "Close without saving").click()  # type: ignore[attr-defined]
    assert await asyncio.wait_for(main, 20) == 0
