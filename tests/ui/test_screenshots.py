"""`huleedu gui --screenshots DIR` saves a picture of every main screen, on the demo data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

SCREENS = (
    "dashboard",
    "class-roster",
    "assignment-anchors",
    "import-outcomes",
    "match-review",
    "run-in-progress",
    "results-chart",
    "settings",
    "error-message",
)


def test_every_main_screen_is_saved_as_a_picture(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "gui", "--screenshots", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    saved = sorted(p.name for p in tmp_path.glob("*.png"))
    assert saved == [f"{n:02d}-{key}.png" for n, key in enumerate(SCREENS, start=1)]
    assert "could not be prepared" not in done.stderr, done.stderr
    for name in saved[:-1]:
        image = QImage(str(tmp_path / name))
        assert image.width() >= 1000 and image.height() >= 600
    dialog = QImage(str(tmp_path / saved[-1]))
    assert dialog.width() >= 300 and dialog.height() >= 100
