"""A run's life has one owner: interrupts, cancels, leases, stalls, frozen settings.

Each test here is one defect of the earlier command line: Ctrl-C taken for a stall, a cancel that
used up attempts, a watchdog that judged other runs, two drivers of one run, settings checked
after the run was stored, a judge switched on resume, a slow provider batch taken for a stall.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.db.engine import Database, open_database
from app.operations.base import Cancelled, CancelToken, Completed, Failed, FailureKind, Paused
from app.operations.base import Progress as OpProgress
from app.operations.export import export_results, result_rows
from app.operations.queries import RunReport, run_report
from app.operations.runs import (
    FolderRunRequest,
    drive_run,
    prepare_folder_run,
)
from app.paths import resources_dir
from app.runs.orchestrator import ProgressEvent
from app.simserver import start_in_thread

DEMO = resources_dir() / "demo"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def cli(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "app",
        "grade",
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        *extra,
    ]


def demo_paths() -> list[str]:
    return [str(DEMO / "essays"), "--anchors", str(DEMO / "anchors"), "--title", "Phones"]


def sql(tmp_path: Path, query: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "data" / "huleedu.sqlite3") as con:
        return con.execute(query, args).fetchall()


def done_count(tmp_path: Path) -> int:
    try:
        return int(sql(tmp_path, "SELECT count(*) FROM comparisons WHERE status='done'")[0][0])
    except sqlite3.Error:
        return 0


def wait_for_done(tmp_path: Path, at_least: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (tmp_path / "data" / "huleedu.sqlite3").exists() and done_count(tmp_path) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} verdicts after {timeout} s")


def prepare(db: Database, **options: object) -> str:
    request = FolderRunRequest(
        [DEMO / "essays"], title="Phones", anchors=DEMO / "anchors", scale="swedish_8_anchor"
    )
    return prepare_folder_run(db, request, {"sim_speed": 1000.0, **options}).run_id


# ---------------------------------------------------------------------- interrupts


def test_ctrl_c_pauses_the_run_exits_130_and_overwrites_nothing(tmp_path: Path) -> None:
    # A first run completes and writes its results.
    first = subprocess.run(
        [*cli(tmp_path, *demo_paths(), "--sim-speed", "1000", "--budget", "30")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    (earlier,) = [p for p in (tmp_path / "out").iterdir()]
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    # A second, slow run is interrupted with SIGINT mid-wave.
    proc = subprocess.Popen(
        cli(tmp_path, *demo_paths(), "--sim-speed", "3", "--target-reliability", "0.95"),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_done(tmp_path, 30 + 8)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "No progress" not in stderr and "--resume" in stderr
    (run_id, status, reason), *_ = sql(
        tmp_path, "SELECT id, status, stop_reason FROM runs WHERE status != 'complete'"
    )
    assert (status, reason) == ("paused", None)
    # Nothing was written for the paused run, and the earlier results are untouched.
    assert [p.name for p in (tmp_path / "out").iterdir()] == [earlier.name]
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    # The pairs in flight went back to planned without using an attempt; none failed.
    rows = sql(tmp_path, "SELECT status, attempts FROM comparisons WHERE run_id=?", run_id)
    assert not [r for r in rows if r[0] in ("sent", "failed")]
    assert all(int(str(a)) <= 1 for s, a in rows if s == "done")
    assert all(int(str(a)) == 0 for s, a in rows if s == "planned")
    resumed = subprocess.run(
        [*cli(tmp_path, "--sim-speed", "1000", "--resume", run_id)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "out" / run_id / "results.csv").exists()


async def test_cancel_mid_wave_twice_loses_no_pair_and_uses_no_attempt(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(db, sim_speed=20.0, budget=120, target_reliability=None)
        for stop_at in (5, 14):
            token = CancelToken()

            def sink(p: OpProgress, token: CancelToken = token, stop_at: int = stop_at) -> None:
                if p.kind == "verdict" and p.done >= stop_at:
                    token.cancel("test")

            outcome = await drive_run(db, run_id, progress=sink, cancel=token)
            assert isinstance(outcome, Paused), outcome
            rows = sql(
                tmp_path,
                "SELECT status, attempts, error_category FROM comparisons WHERE run_id=?",
                run_id,
            )
            assert rows and not [r for r in rows if r[0] in ("sent", "failed")]
            assert all(int(str(a)) == 0 for s, a, _ in rows if s == "planned")
            assert all(int(str(a)) == 1 for s, a, _ in rows if s == "done")
            assert sql(tmp_path, "SELECT status FROM runs")[0][0] == "paused"
        outcome = await drive_run(db, run_id)
        assert isinstance(outcome, Completed)
        assert outcome.value.comparisons_done == 120 and outcome.value.comparisons_failed == 0
        pairs = sql(
            tmp_path,
            "SELECT first_essay_id, second_essay_id FROM comparisons WHERE status='done'",
        )
        assert len(pairs) == len(set(pairs)) == 120
    finally:
        db.close()


# ---------------------------------------------------------------------- one owner


def test_two_interrupted_runs_are_resumed_together_and_keep_their_own_results(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "data")
    try:
        runs = [prepare(db, budget=40), prepare(db, budget=50)]
    finally:
        db.close()
    # Both were left running by a crash days ago, by a process that no longer exists.
    long_ago = (datetime.now(UTC) - timedelta(days=2)).replace(tzinfo=None)
    with sqlite3.connect(tmp_path / "data" / "huleedu.sqlite3") as con:
        con.execute(
            "UPDATE runs SET status='running', started_at=?, last_progress_at=?, "
            "lease_holder='elsewhere:999999:x', lease_heartbeat_at=?",
            (long_ago, long_ago, long_ago),
        )
    code = main(
        [
            "grade",
            "--resume-interrupted",
            "--stall-timeout",
            "60",
            "--sim-speed",
            "1000",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert code == 0
    rows = dict(
        (str(r[0]), (r[1], r[2])) for r in sql(tmp_path, "SELECT id, status, stop_reason FROM runs")
    )
    assert rows == {
        runs[0]: ("complete", "budget_reached"),
        runs[1]: ("complete", "budget_reached"),
    }
    for run_id, budget in zip(runs, (40, 50), strict=True):
        data = json.loads((tmp_path / "out" / run_id / "results.json").read_text("utf-8"))
        assert data["run"]["run_id"] == run_id and data["run"]["comparisons"] == budget
        assert len(data["results"]) == 22


def test_the_same_run_resumed_by_two_processes_is_driven_by_one(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(db, budget=80, target_reliability=None)
    finally:
        db.close()
    command = cli(tmp_path, "--sim-speed", "6", "--resume", run_id)
    procs = [
        subprocess.Popen(
            command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 6], results
    loser = " ".join(next(err for code, err in results if code == 6).split())
    assert "being graded by process" in loser and "Traceback" not in loser
    pairs = sql(
        tmp_path,
        "SELECT first_essay_id, second_essay_id FROM comparisons WHERE run_id=? AND status='done'",
        run_id,
    )
    assert len(pairs) == len(set(pairs)) == 80  # paid once per pair, no pair judged twice
    assert sql(tmp_path, "SELECT status, lease_holder FROM runs")[0] == ("complete", None)


# ---------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--target-reliability", "2", "target reliability"),
        ("--budget", "0", "budget"),
        ("--bundle-size", "40", "bundle size"),
        ("--target-se", "-1", "standard error"),
    ],
)
def test_invalid_settings_store_nothing(
    tmp_path: Path, option: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = cli(tmp_path, *demo_paths(), option, value)[3:]
    assert main(args) == 2
    assert says in " ".join(capsys.readouterr().err.split())
    assert sql(tmp_path, "SELECT count(*) FROM runs")[0][0] == 0
    assert sql(tmp_path, "SELECT count(*) FROM batches")[0][0] == 0
    assert main(cli(tmp_path, "--resume-interrupted")[3:]) == 0


def test_resume_with_a_different_judge_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(db, budget=30)
    finally:
        db.close()
    code = main(cli(tmp_path, "--resume", run_id, "--model", "gpt-5-mini")[3:])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "gpt-5-mini" in err and "sim-gpt51-low" in err and "new run" in err
    assert sql(tmp_path, "SELECT status FROM runs")[0][0] == "created"
    assert sql(tmp_path, "SELECT count(*) FROM comparisons")[0][0] == 0
    # The same judge, and operational options such as speed, are fine.
    code = main(
        cli(tmp_path, "--resume", run_id, "--model", "sim-gpt51-low", "--sim-speed", "900")[3:]
    )
    assert code == 0


# ---------------------------------------------------------------------- stalls


async def test_a_provider_batch_slower_than_the_stall_timeout_is_not_a_stall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_KEY", "sim")
    # Each batch takes 60 s / 25 = 2.4 s; the stall timeout is 1 s, polls every 0.1 s.
    url, stop = start_in_thread("generic", speed=25.0, seed=3)
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(
            db,
            provider="openai_compatible",
            model="sim-generic",
            base_url=url + "/v1",
            api_key_env="SIM_KEY",
            mode="provider_batch",
            poll_interval_s=0.1,
            budget=14,
            target_reliability=None,
            min_comparisons_per_essay=0,
        )
        polls: list[ProgressEvent] = []

        def sink(p: OpProgress) -> None:
            if isinstance(p.data, ProgressEvent) and p.kind == "poll":
                polls.append(p.data)

        outcome = await drive_run(db, run_id, progress=sink, stall_timeout_s=1.0)
    finally:
        db.close()
        stop()
    assert isinstance(outcome, Completed), outcome
    assert outcome.value.stop_reason == "budget_reached"
    assert len(polls) >= 10


async def test_the_watchdog_ends_only_its_own_run(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        other = prepare(db, budget=30)
        mine = prepare(db, budget=30)
        long_ago = datetime.now(UTC) - timedelta(days=1)
        from app.db.models import Run  # noqa: PLC0415

        with db.session() as s:
            run = s.get(Run, other)
            assert run is not None
            run.status, run.last_progress_at = "running", long_ago
        outcome = await drive_run(db, mine, stall_timeout_s=0.5)
        assert isinstance(outcome, Completed)
        assert run_report(db, other).status == "running"  # not touched
    finally:
        db.close()


# ---------------------------------------------------------------------- one layer


async def test_command_line_and_a_second_caller_reach_the_same_results(tmp_path: Path) -> None:
    """A harness standing in for the window drives a run through the operations; the command
    line then reports the same stored results, and the reverse."""
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(db, budget=40)
        events: list[ProgressEvent] = []

        def sink(p: OpProgress) -> None:
            if isinstance(p.data, ProgressEvent):
                events.append(p.data)

        outcome = await drive_run(db, run_id, progress=sink)
        assert isinstance(outcome, Completed) and isinstance(outcome.value, RunReport)
        assert [e.done for e in events if e.kind == "verdict"] == list(range(1, 41))
        assert events[-1].status == "complete"
        harness = [r.to_json() for r in result_rows(db, run_id)]
    finally:
        db.close()
    out = tmp_path / "out"
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, main, cli(tmp_path, "--resume", run_id)[3:])
    assert code == 0
    data = json.loads((out / run_id / "results.json").read_text("utf-8"))
    assert data["results"] == harness
    # The reverse: a run graded by the command line, read by the harness.
    code = await loop.run_in_executor(
        None, main, cli(tmp_path, *demo_paths(), "--sim-speed", "1000", "--budget", "30")[3:]
    )
    assert code == 0
    db = open_database(tmp_path / "data")
    try:
        (cli_run,) = [str(r[0]) for r in sql(tmp_path, "SELECT id FROM runs WHERE id != ?", run_id)]
        exported = export_results(db, cli_run, tmp_path / "harness")
        assert exported.rows == 22
        assert (tmp_path / "harness" / "results.csv").read_bytes() == (
            out / cli_run / "results.csv"
        ).read_bytes()
        assert isinstance(await drive_run(db, cli_run), Completed)  # ended runs stay ended
    finally:
        db.close()


def test_cancel_from_the_command_line_keeps_results(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(db, budget=60)
        outcome = asyncio.run(_drive_some(db, run_id, 12))
        assert isinstance(outcome, Paused)
    finally:
        db.close()
    assert main(cli(tmp_path, "--cancel", run_id)[3:]) == 0
    data = json.loads((tmp_path / "out" / run_id / "results.json").read_text("utf-8"))
    assert data["run"]["status"] == "cancelled" and len(data["results"]) == 22
    db = open_database(tmp_path / "data")
    try:
        assert isinstance(asyncio.run(drive_run(db, run_id)), Cancelled)
    finally:
        db.close()


async def _drive_some(db: Database, run_id: str, verdicts: int) -> object:
    token = CancelToken()

    def sink(p: OpProgress) -> None:
        if p.kind == "verdict" and p.done >= verdicts:
            token.cancel()

    return await drive_run(db, run_id, progress=sink, cancel=token)


def test_failure_kinds_are_typed(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        outcome = asyncio.run(drive_run(db, "no-such-run"))
        assert isinstance(outcome, Failed) and outcome.kind is FailureKind.INPUT
        assert "no-such-run" in outcome.message
    finally:
        db.close()


async def test_the_precise_stop_works(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(
            db, budget=400, target_reliability=None, target_rms_se=0.9, min_comparisons_per_essay=2
        )
        outcome = await drive_run(db, run_id)
        assert isinstance(outcome, Completed), outcome
        assert outcome.value.stop_reason == "precise"
        assert outcome.value.comparisons_done < 400
    finally:
        db.close()


async def test_a_batch_is_graded_by_one_run_at_a_time(tmp_path: Path) -> None:
    from app.operations.runs import prepare_batch_run  # noqa: PLC0415
    from app.runs import lease  # noqa: PLC0415

    db = open_database(tmp_path / "data")
    try:
        first = prepare(db, budget=30)
        batch_id = run_report(db, first).batch_id
        second = prepare_batch_run(db, batch_id, {"budget": 30, "sim_speed": 1000.0}).run_id
        lease.acquire(db, first, "another-machine:4242:abcd")  # alive, elsewhere
        outcome = await drive_run(db, second)
        assert isinstance(outcome, Failed) and outcome.kind is FailureKind.BUSY
        assert first in outcome.message and "one run at a time" in outcome.message
        lease.release(db, first, "another-machine:4242:abcd")
        assert isinstance(await drive_run(db, second), Completed)
    finally:
        db.close()


async def test_a_bug_mid_run_is_a_typed_failure_and_the_run_can_be_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.runs import orchestrator  # noqa: PLC0415

    db = open_database(tmp_path / "data")
    try:
        run_id = prepare(db, budget=30)
        real = orchestrator._decide_next
        calls = {"n": 0}

        def flaky(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:
                raise ZeroDivisionError("a bug")
            return real(*args, **kwargs)

        monkeypatch.setattr(orchestrator, "_decide_next", flaky)
        outcome = await drive_run(db, run_id)
        assert isinstance(outcome, Failed) and outcome.kind is FailureKind.INTERNAL
        assert "resumed" in outcome.message and "ZeroDivisionError" in outcome.details
        assert run_report(db, run_id).status == "paused"
        assert isinstance(await drive_run(db, run_id), Completed)
    finally:
        db.close()


def test_a_run_whose_driver_was_killed_here_is_interrupted_at_once(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    from app.runs.monitor import interrupted_runs  # noqa: PLC0415

    db = open_database(tmp_path / "data")
    try:
        killed, alive, elsewhere = (prepare(db, budget=30) for _ in range(3))
        now = datetime.now(UTC).replace(tzinfo=None)
        host = socket.gethostname()
        with sqlite3.connect(db.path) as con:
            for run_id, holder in (
                (killed, f"{host}:999999:x"),  # no such process on this machine
                (alive, f"{host}:{os.getpid()}:y"),  # this very process
                (elsewhere, "another-machine:1:z"),  # fresh, on another machine
            ):
                con.execute(
                    "UPDATE runs SET status='running', lease_holder=?, lease_heartbeat_at=? "
                    "WHERE id=?",
                    (holder, now, run_id),
                )
        assert interrupted_runs(db) == [killed]
    finally:
        db.close()
