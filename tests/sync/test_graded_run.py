"""A whole graded run (the simulated judge) made on one machine arrives complete on another:
essays with their texts, anchors, the run, every verdict and every result."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from app.sync.device import Device

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"

FINGERPRINT = {
    "essays": "id, text, content_hash, student_id, is_anchor, deleted_at IS NULL",
    "anchors": "id, text, grade",
    "assignments": "id, title, judge_rubric, grade_scale",
    "batches": "id, title, status",
    "runs": "id, status, stop_reason, reliability",
    "comparisons": "id, first_essay_id, second_essay_id, first_wins, justification",
    "results": "id, essay_id, ability, rank, grade",
}


def fingerprint(db_file: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db_file) as conn:
        return {
            table: sorted(conn.execute(f"SELECT {cols} FROM {table}").fetchall())
            for table, cols in FINGERPRINT.items()
        }


def test_a_graded_run_arrives_whole(
    make_device: Callable[..., Device], teacher: str, tmp_path: Path
) -> None:
    a = make_device("a", teacher)
    a.sync()  # sync is set up before the work: every change of the run goes through the outbox
    graded = subprocess.run(  # noqa: PLW1510 (the exit code is checked below)
        [
            sys.executable,
            "-m",
            "app",
            "grade",
            str(DEMO / "essays"),
            "--anchors",
            str(DEMO / "anchors"),
            "--provider",
            "sim",
            "--sim-speed",
            "1000",
            "--quiet",
            "--data-dir",
            str(tmp_path / "a"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert graded.returncode == 0, graded.stderr
    report = a.sync()
    assert report.pushed > 50 and report.rejected == 0
    b = make_device("b", teacher)
    b.sync()
    mine, theirs = fingerprint(a.db.path), fingerprint(b.db.path)
    assert all(mine[t] for t in ("essays", "runs", "comparisons", "results", "anchors"))
    assert theirs == mine
