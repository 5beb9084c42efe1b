"""`huleedu bench package`: how big is the built bundle, and how fast does its window come up?

Run from the source tree after ``make package``. Prints one JSON object:

* ``bundle_mb``: the one-folder bundle (``dist/huleedu/``) on disk, in MiB (2**20 bytes, as
  ``du -sm``), bar 250; ``bundle_bytes`` and ``bundle_files`` beside it.
* ``cold_start_ratio``: the median time from starting the process to the main window's first
  paint event, from the bundle, over the same from the source tree (``python
  packaging/huleedu_main.py``), bar 2. Both sides are started the same way, from outside: a new
  process with a clean environment (offscreen Qt, a fresh HOME, no PYTHONPATH), opening a copy
  of the same up-to-date database. The process is timed from just before it is started to the
  paint event (``--package-probe first-paint``, packaging/huleedu_probe.py, writes the wall
  clock there and exits). One start per side is a warm-up (not counted); then ``repeats``
  starts per side, alternating. "Cold" means a new process each time; the operating system's
  file cache is warm for both sides alike (it is not dropped).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
BUNDLE_DIR = ROOT / "dist" / "huleedu"
ENTRY = ROOT / "packaging" / "huleedu_main.py"
BARS: dict[str, float] = {"bundle_mb": 250.0, "cold_start_ratio": 2.0}
"""Each measure's bar (lower is better)."""
START_TIMEOUT_S = 120.0


def folder_size(folder: Path) -> tuple[int, int]:
    """Bytes and files under ``folder`` (symbolic links counted as links, not targets)."""
    total = files = 0
    for path in folder.rglob("*"):
        if path.is_symlink() or path.is_file():
            total += path.lstat().st_size
            files += 1
    return total, files


def _env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    empty = home / "empty-bin"
    empty.mkdir(exist_ok=True)
    return {
        "PATH": str(empty),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
    }


def first_paint_s(command: list[str], template: Path, work: Path) -> float:
    """Seconds from starting ``command`` until its main window's first paint."""
    data = work / "data"
    shutil.copytree(template, data)
    out = work / "painted"
    env = _env(work / "home")
    started = time.time()
    done = subprocess.run(
        [*command, "--package-probe", "first-paint", str(out), "--data-dir", str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"{command[0]} did not paint ({done.returncode}): {done.stderr[-800:]}")
    return float(out.read_text(encoding="utf-8")) - started


def measure(bundle_dir: Path, repeats: int, tmp: Path) -> dict[str, Any]:
    executable = bundle_dir / "huleedu"
    if not executable.is_file():
        raise FileNotFoundError(f"no bundle at {executable}: run `make package` first")
    size, files = folder_size(bundle_dir)

    from app.db.engine import open_database  # noqa: PLC0415

    template = tmp / "template"
    open_database(template).close()  # created and migrated once; each start opens a copy
    sides = {"bundle": [str(executable)], "source": [sys.executable, str(ENTRY)]}
    times: dict[str, list[float]] = {side: [] for side in sides}
    for i in range(repeats + 1):
        for side, command in sides.items():
            seconds = first_paint_s(command, template, tmp / f"{side}-{i}")
            if i > 0:  # the first start of each side warms the file cache
                times[side].append(seconds)
    bundle_s = statistics.median(times["bundle"])
    source_s = statistics.median(times["source"])
    result: dict[str, Any] = {
        "bundle": str(bundle_dir),
        "bundle_mb": round(size / 2**20, 1),
        "bundle_bytes": size,
        "bundle_files": files,
        "cold_start_ratio": round(bundle_s / source_s, 3),
        "cold_start_bundle_s": round(bundle_s, 3),
        "cold_start_source_s": round(source_s, 3),
        "cold_start_bundle_all_s": [round(t, 3) for t in times["bundle"]],
        "cold_start_source_all_s": [round(t, 3) for t in times["source"]],
        "repeats": repeats,
        "qt_platform": "offscreen",
    }
    for key, bar in BARS.items():
        result[f"{key}_bar"] = bar
    result["passed"] = {key: bool(result[key] <= bar) for key, bar in BARS.items()}
    return result


def main(bundle: Path | None = None, repeats: int = 5) -> int:
    with tempfile.TemporaryDirectory(prefix="huleedu-bench-package-") as tmp:
        try:
            result = measure(bundle or BUNDLE_DIR, max(1, repeats), Path(tmp))
        except (FileNotFoundError, RuntimeError) as exc:
            sys.stderr.write(f"huleedu bench package: {exc}\n")
            return 1
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
