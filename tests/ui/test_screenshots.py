"""`huleedu gui --screenshots DIR` saves a picture of every page, on the demo batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from ui.main_window import PAGES


def test_every_page_is_saved_as_a_picture(tmp_path: Path) -> None:
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
    assert saved == [f"{n:02d}-{key}.png" for n, (key, _) in enumerate(PAGES, start=1)]
    for name in saved:
        image = QImage(str(tmp_path / name))
        assert image.width() >= 1000 and image.height() >= 600
