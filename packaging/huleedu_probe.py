"""Checks of the packaged application, run inside it: ``huleedu --package-probe MODE ...``.

The same file runs from the source tree (``python packaging/huleedu_main.py --package-probe``),
so a measurement compares like with like.

* ``first-paint OUT [GUI ARGS...]``: start the window as ``huleedu gui GUI ARGS`` does and, at
  the main window's first paint event, write ``time.time()`` to ``OUT`` and leave at once (the
  caller measures from the moment it started the process: ``huleedu bench package``).
* ``import DATA_DIR FOLDER``: open (create, migrate) the database in ``DATA_DIR`` and import the
  essays of ``FOLDER`` into a new batch in a child process, as the window does
  (:func:`app.operations.process.run_in_process`); print the counts as JSON. In a bundle this
  proves a frozen child process starts, imports and answers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def first_paint(out: Path, gui_args: list[str]) -> int:
    from PySide6.QtCore import QEvent  # noqa: PLC0415

    import ui.app  # noqa: PLC0415
    from ui.main_window import MainWindow  # noqa: PLC0415

    class Probed(MainWindow):
        def event(self, event: Any) -> bool:
            handled = bool(super().event(event))
            if event.type() == QEvent.Type.Paint:
                out.write_text(repr(time.time()), encoding="utf-8")
                sys.stdout.flush()
                os._exit(0)  # a probe: the time is taken, nothing else is measured
            return handled

    vars(ui.app)["MainWindow"] = Probed  # ui.app builds its window by this name
    return int(ui.app.main(gui_args))


def import_folder(data_dir: Path, folder: Path) -> int:
    from app.db.engine import open_database  # noqa: PLC0415
    from app.operations.intake import import_essays  # noqa: PLC0415
    from app.operations.process import run_in_process  # noqa: PLC0415
    from app.operations.school import NewAssignment, NewBatch  # noqa: PLC0415

    db = open_database(data_dir)
    try:
        path = db.path
    finally:
        db.close()
    batch = NewBatch("Package check", NewAssignment("Package check"))
    result = run_in_process(import_essays, [folder], batch, database=path)
    print(
        json.dumps(
            {
                "batch_id": result.batch_id,
                "imported": result.counts.imported,
                "skipped": result.counts.skipped,
                "failed": result.counts.failed,
                "parent_pid": os.getpid(),
            }
        )
    )
    return 0 if result.counts.imported > 0 else 1


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "first-paint":
        return first_paint(Path(argv[1]), argv[2:])
    if len(argv) == 3 and argv[0] == "import":
        return import_folder(Path(argv[1]), Path(argv[2]))
    print(
        "usage: --package-probe first-paint OUT [GUI ARGS...] | import DATA_DIR FOLDER",
        file=sys.stderr,
    )
    return 2
