"""Screenshots of every main screen of the window, as a teacher sees it (``--screenshots DIR``).

With no data folder given, a temporary one gets the first start's demo (class *Demo 9A* with its
roster, the assignment with six anchors, the batch *Phones in school*), which is then graded by
the simulated judge, plus a practice batch waiting to be graded. The walk then makes what the
remaining screens need through the window itself (an import with a skipped and a failed file, a
class batch whose essays wait for their students, a run in progress), shows each screen in turn,
gives it a moment, grabs it and saves ``NN-<screen>.png``; then the window closes. Offscreen
(``QT_QPA_PLATFORM=offscreen``) this needs no display.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtWidgets import QWidget

from app.db.engine import Database, open_database
from app.operations.base import Failed, FailureKind
from app.operations.first_start import seed_demo_school
from app.operations.runs import FolderRunRequest, drive_run, prepare_batch_run, prepare_folder_run
from app.operations.school import NewBatch, create_batch
from app.paths import resources_dir
from ui import assignments as assignments_ui
from ui import classes, matching, results, run_panel, settings_page
from ui.batch_view import ESSAYS, GRADING, RESULTS, STUDENTS
from ui.errors import ErrorDialog
from ui.importing import write_demo_files
from ui.main_window import MainWindow

SETTLE_S = 0.6
"""Seconds a screen is given to lay itself out and paint before it is grabbed."""
PRACTICE_BATCH = "Phones in school (practice round)"
LATE_BATCH = "Phones in school (late submissions)"


def seed_demo(data_dir: Path) -> None:
    """The first start's demo in ``data_dir``, graded, and a practice batch to grade."""
    demo = resources_dir() / "demo"
    db = open_database(data_dir)
    try:
        seeded = seed_demo_school(db)
        assert seeded is not None, "the screenshots' data folder must start empty"
        graded = prepare_batch_run(db, seeded.batch_id, {"sim_speed": 1000.0})
        asyncio.run(drive_run(db, graded.run_id))
        practice = FolderRunRequest(
            [demo / "essays"], title=PRACTICE_BATCH, anchors=demo / "anchors"
        )
        prepare_folder_run(db, practice, {"sim_speed": 1000.0})
        create_batch(db, NewBatch(LATE_BATCH, seeded.assignment_id, seeded.class_id))
    finally:
        db.close()


async def _wait(operation: object) -> None:
    """Await an :class:`~ui.tasks.Operation` (or None)."""
    wait = getattr(operation, "wait", None)
    if wait is not None:
        await wait()


async def capture(window: MainWindow, folder: Path, done: asyncio.Event) -> list[Path]:
    """Walk every main screen of ``window`` and save one PNG per screen into ``folder``; set
    ``done`` when finished (the app then closes)."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    loop = asyncio.get_running_loop()
    db: Database = window.db
    scratch = Path(tempfile.mkdtemp(prefix="huleedu-shots-files-"))

    async def shot(name: str, widget: QWidget | None = None) -> None:
        await asyncio.sleep(SETTLE_S)
        path = folder / f"{len(saved) + 1:02d}-{name}.png"
        (widget or window).grab().save(str(path))
        saved.append(path)

    async def step(name: str, prepare: Callable[[], Awaitable[object]]) -> None:
        """One screen: a screen that cannot be prepared is skipped, the walk goes on."""
        try:
            await prepare()
        except Exception:
            import logging  # noqa: PLC0415

            logging.getLogger(__name__).exception("screen %s could not be prepared", name)
            return
        await shot(name)

    try:
        window.resize(1280, 800)
        batches = window.batches_page

        def batch_id(title: str) -> str:
            return next(r.id for r in batches.model.visible_rows() if r.title == title)

        async def dashboard() -> None:
            window.show_page("batches")
            await _wait(batches.reload())

        async def roster() -> None:
            window.show_page("classes")
            page = window.page("classes")
            assert isinstance(page, classes.ClassesPage)
            await page.reload().wait()
            rows = page.class_model.visible_rows()
            page.select_class(max(rows, key=lambda r: r.students).id)
            await _wait(page.roster_loading)

        async def assignment() -> None:
            window.show_page("assignments")
            page = window.page("assignments")
            assert isinstance(page, assignments_ui.AssignmentsPage)
            await assignments_ui.demo_state(page, db)
            rows = page.list_model.visible_rows()
            page.select_assignment(next(r.id for r in rows if r.title.startswith("ENG6")))
            await asyncio.sleep(0.3)

        async def imported() -> None:
            view = window.open_batch(batch_id(LATE_BATCH), ESSAYS)
            await _wait(view.import_panel.loading)
            files = await loop.run_in_executor(None, write_demo_files, scratch / "drop")
            await view.import_panel.import_paths([files]).wait()
            await _wait(view.import_panel.loading)
            await view.reload_header().wait()

        async def review() -> None:
            made = await loop.run_in_executor(
                None, matching.demo_match_batch, db, scratch / "matching"
            )
            view = window.open_batch(made, STUDENTS)
            await _wait(view.match_panel.loading)
            await view.reload_header().wait()

        async def grading() -> None:
            await batches.reload().wait()
            practice = batch_id(PRACTICE_BATCH)
            view = window.open_batch(practice, GRADING)
            await view.reload_header().wait()
            await run_panel.demo_state(view.run_panel(practice), practice)

        async def graded() -> None:
            view = window.batch_view
            panel = view.run_panels.get(batch_id(PRACTICE_BATCH))
            if panel is not None and panel.is_running():
                panel.pause()
            await batches.reload().wait()
            view = window.open_batch(batch_id("Phones in school"), RESULTS)
            await view.reload_header().wait()
            await results.demo_state(view.results_panel, db)

        async def settings() -> None:
            window.show_page("settings")
            page = window.page("settings")
            assert isinstance(page, settings_page.SettingsPage)
            await settings_page.demo_state(page)

        await step("dashboard", dashboard)
        await step("class-roster", roster)
        await step("assignment-anchors", assignment)
        await step("import-outcomes", imported)
        await step("match-review", review)
        await step("run-in-progress", grading)
        await step("results-chart", graded)
        await step("settings", settings)
        window.show_page("batches")
        await _wait(batches.reload())
        dialog = ErrorDialog.for_failure(
            Failed(
                FailureKind.JUDGE_REFUSED,
                "The API key for OpenAI was not accepted. Check it on the Settings page "
                "(Set key…, then Test connection); the run is paused and loses nothing.",
                "HTTP 401 from https://api.openai.com/v1/chat/completions\n"
                '{"error": {"message": "Incorrect API key provided: sk-...abcd.", '
                '"type": "invalid_request_error", "code": "invalid_api_key"}}',
            ),
            window,
        )
        dialog.open()
        await shot("error-message", dialog)
        dialog.reject()
        await asyncio.sleep(0.1)
    finally:
        done.set()
    return saved
