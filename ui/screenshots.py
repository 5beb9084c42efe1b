"""Screenshots of every page of the window, as a teacher would see it (``--screenshots DIR``).

With no data folder given, a temporary one is filled with the demo batch twice: once graded by
the simulated judge, once waiting to be graded, so the dashboard shows real states. Each page is
shown in turn, given a moment to load, grabbed and saved as ``NN-<page>.png``; then the window
closes. Offscreen (``QT_QPA_PLATFORM=offscreen``) this needs no display.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.db.engine import open_database
from app.operations.runs import FolderRunRequest, drive_run, prepare_folder_run
from app.paths import resources_dir
from ui.main_window import PAGES, MainWindow

#: Seconds a page is given to load its rows before it is grabbed.
SETTLE_S = 0.8


def seed_demo(data_dir: Path) -> None:
    """Store the demo batch twice in ``data_dir``: one graded, one ready to grade."""
    demo = resources_dir() / "demo"
    request = FolderRunRequest(
        [demo / "essays"], title="Phones in school (graded)", anchors=demo / "anchors"
    )
    db = open_database(data_dir)
    try:
        graded = prepare_folder_run(db, request, {"sim_speed": 1000.0})
        asyncio.run(drive_run(db, graded.run_id))
        waiting = FolderRunRequest(
            [demo / "essays"], title="Phones in school (to grade)", anchors=demo / "anchors"
        )
        prepare_folder_run(db, waiting, {"sim_speed": 1000.0})
    finally:
        db.close()


async def capture(window: MainWindow, folder: Path, done: asyncio.Event) -> list[Path]:
    """Grab every page of ``window`` into ``folder``; set ``done`` when finished."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    try:
        window.resize(1200, 720)
        for number, (key, _label) in enumerate(PAGES, start=1):
            window.show_page(key)
            await asyncio.sleep(SETTLE_S)
            path = folder / f"{number:02d}-{key}.png"
            window.grab().save(str(path))
            saved.append(path)
    finally:
        done.set()
    return saved
