"""`huleedu grade` end to end against the simulated judge, including a kill and a resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from app.cli import main
from app.paths import resources_dir

DEMO = resources_dir() / "demo"


def grade_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "grade",
        str(DEMO / "essays"),
        "--anchors",
        str(DEMO / "anchors"),
        "--title",
        "Phones",
        "--prompt",
        "Should schools ban phones?",
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        *extra,
    ]


def results_of(out: Path) -> Path:
    """The one run folder under ``out`` (results are written to OUT/RUN_ID/)."""
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_grade_writes_results_in_three_formats(tmp_path: Path) -> None:
    assert main(grade_args(tmp_path, "--sim-speed", "1000")) == 0
    out = results_of(tmp_path / "out")
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert len(rows) == 22
    assert [int(r["rank"]) for r in rows] == list(range(1, 23))
    assert sum(r["is_anchor"] == "True" for r in rows) == 6
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["run"]["status"] == "complete"
    assert data["run"]["stop_reason"] in {"stable", "budget_reached"}
    assert abs(sum(data["results"][0]["grade_probabilities"].values()) - 1) < 1e-6
    assert (out / "results.xlsx").stat().st_size > 0


def test_bad_input_has_clear_exit_codes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["grade", str(empty), "--data-dir", str(tmp_path / "d"), "--quiet"]) == 1
    assert main(["grade", "--resume", "no-such-run", "--data-dir", str(tmp_path / "d")]) == 1
    bad = tmp_path / "anchors"
    bad.mkdir()
    (bad / "grade_Q_1.txt").write_text("An anchor with a grade that is not on the scale. " * 5)
    code = main(
        [
            "grade",
            str(DEMO / "essays"),
            "--anchors",
            str(bad),
            "--data-dir",
            str(tmp_path / "d"),
            "--quiet",
        ]
    )
    assert code == 1


def _done(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT id, first_essay_id, second_essay_id FROM comparisons WHERE status='done'"
        ).fetchall()


def test_kill_and_resume_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "app",
        *grade_args(tmp_path, "--sim-speed", "4", "--target-reliability", "0.95"),
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    db = tmp_path / "data" / "huleedu.sqlite3"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db.exists():
            try:
                if len(_done(db)) >= 25:
                    break
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _done(db)
    with sqlite3.connect(db) as con:
        in_flight = con.execute(
            "SELECT count(*) FROM comparisons WHERE status IN ('sent','planned')"
        ).fetchone()[0]
        run_id, status = con.execute("SELECT id, status FROM runs").fetchone()
    assert status == "running" and len(before) >= 25
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            *grade_args(tmp_path, "--sim-speed", "200", "--target-reliability", "0.95"),
            "--resume",
            run_id,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    after = _done(db)
    # Every verdict stored before the kill is still there.
    assert {r[0] for r in before} <= {r[0] for r in after}
    # No pair judged twice beyond those in flight at the kill.
    pairs = [(r[1], r[2]) for r in after]
    assert len(pairs) - len(set(pairs)) <= in_flight
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "complete"
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 22


def test_a_run_without_progress_is_recovered_by_the_monitor(tmp_path: Path) -> None:
    from app.simserver import start_in_thread  # noqa: PLC0415

    # Every request hangs: the judge never answers, so the run makes no progress.
    url, stop = start_in_thread(
        "generic", speed=1000.0, faults={"timeout": 1.0}, timeout_sleep_s=30.0
    )
    try:
        code = main(
            [
                *grade_args(tmp_path),
                "--provider",
                "openai_compatible",
                "--model",
                "sim-generic",
                "--base-url",
                url + "/v1",
                "--stall-timeout",
                "1.5",
            ]
        )
    finally:
        stop()
    assert code == 3
    with sqlite3.connect(tmp_path / "data" / "huleedu.sqlite3") as con:
        assert con.execute("SELECT status, stop_reason FROM runs").fetchone() == (
            "failed",
            "stalled",
        )


def test_resume_interrupted_continues_runs_left_running(tmp_path: Path) -> None:
    assert main([*grade_args(tmp_path, "--sim-speed", "1000", "--budget", "30")]) == 0
    db = tmp_path / "data" / "huleedu.sqlite3"
    with sqlite3.connect(db) as con:
        # Pretend the process died before finishing: the run is still marked running.
        con.execute("UPDATE runs SET status='running', stop_reason=NULL, completed_at=NULL")
        con.execute("DELETE FROM results")
    assert main([*grade_args(tmp_path, "--sim-speed", "1000"), "--resume-interrupted"]) == 0
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "complete"
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 22
    assert main([*grade_args(tmp_path), "--resume-interrupted"]) == 0  # nothing left


def test_a_refused_key_pauses_the_run_with_exit_code_4(tmp_path: Path, monkeypatch: object) -> None:
    from app.simserver import start_in_thread  # noqa: PLC0415

    os.environ["BAD_KEY"] = "invalid-key"
    url, stop = start_in_thread("generic", speed=1000.0)
    try:
        code = main(
            [
                *grade_args(tmp_path),
                "--provider",
                "openai_compatible",
                "--model",
                "sim-generic",
                "--base-url",
                url + "/v1",
                "--api-key-env",
                "BAD_KEY",
            ]
        )
    finally:
        stop()
    assert code == 4
    with sqlite3.connect(tmp_path / "data" / "huleedu.sqlite3") as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "paused"
        calls = con.execute("SELECT count(*) FROM comparisons").fetchone()[0]
    assert calls <= 10  # one wave, not the whole budget


def test_a_target_out_of_reach_ends_the_run_and_says_what_it_needs(
    tmp_path: Path, capsys: object
) -> None:
    """Three short essays cannot reach reliability 0.8: the run stops early, writes what it
    has, exits 0 and prints the outlook (what the budget reaches, what the target needs)."""
    folder = tmp_path / "three"
    folder.mkdir()
    words = ["phones", "focus", "lessons", "friends", "rules", "homework", "breaks", "calls"]
    for n in range(3):
        body = " ".join(words[(n + i) % len(words)] for i in range(60))
        (folder / f"essay{n}.txt").write_text(f"Essay {n}. {body}.", encoding="utf-8")
    args = ["grade", str(folder), "--data-dir", str(tmp_path / "data")]
    args += ["--out", str(tmp_path / "out"), "--quiet", "--sim-speed", "1000"]
    assert main(args) == 0
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    data = json.loads((results_of(tmp_path / "out") / "results.json").read_text("utf-8"))
    assert data["run"]["stop_reason"] == "target_unreachable"
    assert "cannot reach the target reliability" in " ".join(err.split())
    assert "short of the target" in " ".join(err.split())
    assert "would help" in err
