"""`huleedu bench ui`, small: it runs end to end and reports what it measured.

The bars are not asserted (performance is not a unit test's business); the figures must be
there and make sense.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from app.bench.ui import BARS, seed_batches
from app.db.engine import open_database
from app.operations.queries import list_batches
from app.operations.runs import find_interrupted

ROOT = Path(__file__).resolve().parents[2]


def test_the_seeded_dashboard_has_every_batch_and_no_run_left_running(tmp_path: Path) -> None:
    seed_batches(tmp_path / "data", 24)
    db = open_database(tmp_path / "data")
    try:
        rows = list_batches(db)
        assert len(rows) == 24
        assert "processing" not in {row.status for row in rows}
        assert len({row.status for row in rows}) == 8
        assert any(row.class_name is None for row in rows)
        assert find_interrupted(db) == []
    finally:
        db.close()


def test_quick_bench_prints_one_json_object_with_sane_figures() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-m", "app", "bench", "ui", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    # the run, driven by the window against the simulated server, did all its comparisons
    assert result["run_outcome"] == "Completed"
    assert result["run_comparisons"] == 30
    assert result["all_comparisons_done"] is True
    assert result["run_s"] > 0
    assert result["task_panel_updates"] > 0
    assert result["dashboard_reloads"] == 0  # the window as it is
    # the second run, the dashboard following it
    assert result["following_run_outcome"] == "Completed"
    assert result["following_run_comparisons"] == 30
    assert result["following_dashboard_reloads"] >= 1
    assert result["following_ticks"] >= 20
    # the loop was watched all along
    assert result["ticks"] >= 20
    assert 0 <= result["loop_lag_p50_ms"] <= result["loop_lag_p99_ms"]
    assert result["loop_lag_p99_ms"] <= result["max_loop_lag_ms"]
    # the dashboard held every batch, and filtering was sampled enough
    assert result["dashboard_rows"] == 52  # with the two graded batches
    assert result["startup_rows"] == 52
    assert result["dashboard_filter_samples"] >= 50
    assert 0 < result["dashboard_filter_p50_ms"] <= result["dashboard_filter_p95_ms"]
    assert result["dashboard_filter_p95_ms"] <= result["dashboard_filter_max_ms"]
    assert result["dashboard_rows_shown_min"] == 0  # some search matched nothing
    assert result["dashboard_search_left"] == ""  # every typed key was deleted again
    # start-up: both sides measured twice; the window is painted first, then its rows, and
    # only then is the garbage collector tuned (its full collection delays neither)
    assert len(result["startup_app_all_s"]) == len(result["startup_bare_all_s"]) == 2
    assert len(result["startup_app_rows_all_s"]) == 2
    assert result["startup_bare_s"] > 0
    assert 0 < result["startup_app_s"] <= result["startup_app_rows_s"]
    assert result["startup_app_rows_s"] <= result["startup_app_tune_started_s"]
    assert result["startup_app_tune_started_s"] <= result["startup_app_tuned_s"]
    assert math.isclose(
        result["startup_ratio"], result["startup_app_s"] / result["startup_bare_s"], rel_tol=0.02
    )
    assert math.isclose(
        result["startup_rows_ratio"],
        result["startup_app_rows_s"] / result["startup_bare_s"],
        rel_tol=0.02,
    )
    assert "startup_rows_ratio" not in BARS  # reported, no bar
    # the bars and the verdicts
    for key, bar in BARS.items():
        assert result[f"{key}_bar"] == bar
        assert result["passed"][key] is (result[key] <= bar)
