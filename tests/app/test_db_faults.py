"""Database faults are told by cause, at start and mid-run; mid-run they pause the run, the
command line exits 5 with the cause's sentence, and the run resumes once the cause is gone.

How each fault is made:

* **locked**: a second connection holds ``BEGIN EXCLUSIVE`` longer than the busy timeout;
* **disk full**: SQLite's ``PRAGMA max_page_count`` caps the file at its current size once some
  verdicts are stored (SQLite then reports ``SQLITE_FULL``, as on a full disk);
* **read-only**: ``chmod``; tests run as root in CI, where ``chmod`` stops nothing, so the
  opening is done by a child process without the capabilities that bypass file permissions;
* **full disk at start**: what SQLite says there (a "disk I/O error" opening the shared-memory
  file) and no free space, as measured on a full tmpfs.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

import app.grade
from app.cli import main
from app.db import errors
from app.db.engine import Database, open_database
from app.db.errors import (
    DatabaseCorruptError,
    DatabaseFullError,
    DatabaseLockedError,
    DataFolderError,
    FaultCause,
)
from app.db.models import Comparison, ComparisonStatus, Run
from app.operations.base import CancelToken, Completed, Failed, FailureKind
from app.operations.base import Progress as OpProgress
from app.operations.runs import FolderRunRequest, drive_run, prepare_folder_run
from app.paths import resources_dir

DEMO = resources_dir() / "demo"
ROOT = Path(__file__).resolve().parents[2]
SHORT_WAIT_MS = 200
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


# ---------------------------------------------------------------------------------- helpers


def prepare(db: Database, **options: object) -> str:
    request = FolderRunRequest(
        [DEMO / "essays"], title="Phones", scale="swedish_8_anchor", anchors=DEMO / "anchors"
    )
    settings = {"sim_speed": 200.0, "budget": 90, "target_reliability": None, **options}
    return prepare_folder_run(db, request, settings).run_id


def stored(db: Database, run_id: str) -> tuple[str, set[str], int]:
    """The run's status, the ids of its answered comparisons, and how many are *sent*."""
    with db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        done = set(
            s.scalars(
                select(Comparison.id).where(
                    Comparison.run_id == run_id, Comparison.status == ComparisonStatus.DONE
                )
            )
        )
        sent = s.scalar(
            select(func.count())
            .select_from(Comparison)
            .where(Comparison.run_id == run_id, Comparison.status == ComparisonStatus.SENT)
        )
        return run.status, done, int(sent or 0)


class Locker:
    """Another program: holds the database's write lock for ``hold_s`` seconds."""

    def __init__(self, path: Path, hold_s: float) -> None:
        self.path = path
        self.hold_s = hold_s
        self.released = threading.Event()
        self.taken = False

    def take(self) -> None:
        if self.taken:
            return
        self.taken = True
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN EXCLUSIVE")

        def release() -> None:
            connection.execute("ROLLBACK")
            connection.close()
            self.released.set()

        threading.Timer(self.hold_s, release).start()


class FullDisk:
    """Makes the database file full (``max_page_count`` = its size) once ``after`` verdicts are
    stored, until :meth:`free` is called."""

    NO_LIMIT = 1073741823

    def __init__(self, engine: Engine, after: int) -> None:
        self.after = after
        self.verdicts = 0
        self.full = False
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "after_cursor_execute", self._after_execute)

    def _checkout(self, dbapi: sqlite3.Connection, *_args: object) -> None:
        if self.full:
            pages = dbapi.execute("PRAGMA page_count").fetchone()[0]
            dbapi.execute(f"PRAGMA max_page_count = {pages}")
        else:
            dbapi.execute(f"PRAGMA max_page_count = {self.NO_LIMIT}")

    def _after_execute(self, _conn: object, _cursor: object, statement: str, *_rest: Any) -> None:
        if statement.startswith("UPDATE comparisons SET status=?, first_wins=?"):
            self.verdicts += 1
            self.full = self.full or self.verdicts >= self.after

    def free(self) -> None:
        self.full = False
        self.after = 10**9


def unprivileged() -> dict[str, Any]:
    """``subprocess`` options that open the database as a user ``chmod`` applies to: as root,
    the child gives up the capabilities that bypass file permissions (``CAP_DAC_OVERRIDE``,
    ``CAP_DAC_READ_SEARCH``) before it starts, so a read-only folder is read-only to it too."""
    if os.geteuid() != 0:
        return {}
    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "cannot drop the capability to bypass chmod")

    return {"preexec_fn": drop}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data folder with a database; its permissions are put back afterwards."""
    folder = tmp_path / "data"
    open_database(folder).close()
    try:
        yield folder
    finally:
        for path in [folder, *folder.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)


OPEN = """
import sys
from app.db.engine import open_database
from app.db.errors import DatabaseError
try:
    open_database(sys.argv[1]).close()
except DatabaseError as error:
    print(type(error).__name__)
    print(error)
else:
    print("opened")
"""


def open_elsewhere(folder: Path) -> tuple[str, str]:
    """Open the database in ``folder`` as an unprivileged user: (error class, message)."""
    done = subprocess.run(
        [sys.executable, "-c", OPEN, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **unprivileged(),
    )
    assert done.returncode == 0, done.stderr
    name, _, message = done.stdout.partition("\n")
    return name, message.strip()


# ---------------------------------------------------------------------------------- at start


def test_a_data_folder_that_cannot_be_created_says_why_and_exits_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    folder = tmp_path / "taken" / "HuleEdu"
    with pytest.raises(DataFolderError) as raised:
        open_database(folder)
    assert raised.value.cause is FaultCause.FOLDER
    assert "cannot be created" in str(raised.value)
    assert f"{tmp_path / 'taken'} is a file, not a folder" in str(raised.value)
    assert "--data-dir" in str(raised.value)

    code = main(["grade", "--data-dir", str(folder), "--quiet", str(DEMO / "essays")])
    assert code == 5
    assert "cannot be created" in " ".join(capsys.readouterr().err.split())


def test_a_read_only_data_folder_is_read_only_not_damaged(data_dir: Path) -> None:
    folder = data_dir
    before = (folder / "huleedu.sqlite3").read_bytes()
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)

    name, message = open_elsewhere(folder)

    assert name == "DatabaseReadOnlyError", message
    assert f"the data folder {folder}" in message and "read-only" in message
    assert "damaged" not in message and "backup" not in message
    assert (folder / "huleedu.sqlite3").read_bytes() == before


def test_a_read_only_database_file_is_named_as_the_file(data_dir: Path) -> None:
    folder = data_dir
    for extra in folder.glob("huleedu.sqlite3-*"):
        extra.unlink()
    (folder / "huleedu.sqlite3").chmod(0o444)  # in a folder that can be written

    name, message = open_elsewhere(folder)

    assert name == "DatabaseReadOnlyError", message
    assert f"the database file {folder / 'huleedu.sqlite3'}" in message
    assert "damaged" not in message


def test_a_full_disk_at_start_is_full_not_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_database(tmp_path).close()
    path = tmp_path / "huleedu.sqlite3"
    before = path.read_bytes()

    def full_disk_open(*_args: object, **_kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("app.db.migrate._read_only", full_disk_open)
    monkeypatch.setattr(errors, "_free_bytes", lambda _folder: 0)
    with pytest.raises(DatabaseFullError) as raised:
        open_database(tmp_path)
    message = str(raised.value)
    assert "is full" in message and "Free some space" in message
    assert "damaged" not in message and "backup" not in message
    assert path.read_bytes() == before


def test_a_damaged_file_is_still_called_damaged(tmp_path: Path) -> None:
    path = tmp_path / "huleedu.sqlite3"
    open_database(tmp_path).close()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of the schema's tables overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorruptError) as raised:
        open_database(tmp_path)
    assert "Restore a backup" in str(raised.value)


# ---------------------------------------------------------------------------------- mid-run


def locked_db(tmp_path: Path) -> Database:
    return open_database(tmp_path / "data", busy_timeout_ms=SHORT_WAIT_MS)


async def drive_with_lock(db: Database, run_id: str, locker: Locker, after: int) -> object:
    def sink(p: OpProgress) -> None:
        if p.kind == "verdict" and p.done >= after:
            locker.take()

    return await drive_run(db, run_id, progress=sink, cancel=CancelToken())


async def test_a_database_locked_mid_run_pauses_it_and_it_resumes(tmp_path: Path) -> None:
    with locked_db(tmp_path) as db:
        run_id = prepare(db)
        locker = Locker(db.path, hold_s=0.5)  # past the busy timeout, within the pause's tries

        outcome = await drive_with_lock(db, run_id, locker, after=6)

        assert isinstance(outcome, Failed), outcome
        assert outcome.kind is FailureKind.DATABASE
        assert outcome.extra["cause"] == "locked"
        assert "in use by another program" in outcome.message
        assert f"Run {run_id} is paused" in outcome.message
        assert f"huleedu grade --resume {run_id}" in outcome.message
        assert "SQL" not in outcome.message
        assert locker.released.wait(5)
        status, done_before, sent = stored(db, run_id)
        assert status == "paused" and sent == 0 and len(done_before) >= 6

        resumed = await drive_run(db, run_id)

        assert isinstance(resumed, Completed), resumed
        status, done_after, _ = stored(db, run_id)
        assert status == "complete" and done_before <= done_after


async def test_a_lock_held_past_the_pause_still_loses_nothing(tmp_path: Path) -> None:
    with locked_db(tmp_path) as db:
        run_id = prepare(db)
        locker = Locker(db.path, hold_s=3.0)  # the pause cannot be written either

        outcome = await drive_with_lock(db, run_id, locker, after=6)

        assert isinstance(outcome, Failed) and outcome.kind is FailureKind.DATABASE
        assert outcome.extra["cause"] == "locked"
        assert f"Run {run_id} stopped; every verdict stored so far is kept" in outcome.message
        assert locker.released.wait(10)
        _, done_before, _ = stored(db, run_id)

        resumed = await drive_run(db, run_id)

        assert isinstance(resumed, Completed), resumed
        _, done_after, _ = stored(db, run_id)
        assert done_before <= done_after


async def test_a_disk_filling_up_mid_run_pauses_it_and_it_resumes(tmp_path: Path) -> None:
    with open_database(tmp_path / "data") as db:
        run_id = prepare(db, budget=150)
        disk = FullDisk(db.engine, after=10)

        outcome = await drive_run(db, run_id)

        assert isinstance(outcome, Failed), outcome
        assert outcome.kind is FailureKind.DATABASE and outcome.extra["cause"] == "full"
        assert "is full" in outcome.message and "Free some space" in outcome.message
        assert f"huleedu grade --resume {run_id}" in outcome.message
        status, done_before, _ = stored(db, run_id)
        assert status in ("paused", "running") and len(done_before) >= 10

        disk.free()
        resumed = await drive_run(db, run_id)

        assert isinstance(resumed, Completed), resumed
        _, done_after, _ = stored(db, run_id)
        assert done_before <= done_after


def test_grade_exits_5_with_the_cause_when_the_disk_fills_and_resume_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    disks: list[FullDisk] = []

    def filling(data_dir: object) -> Database:
        db = open_database(data_dir)  # type: ignore[arg-type]
        disks.append(FullDisk(db.engine, after=10 if len(disks) == 0 else 10**9))
        return db

    monkeypatch.setattr(app.grade, "open_database", filling)
    args = ["grade", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    first = main([*args, "--quiet", "--sim-speed", "200", str(DEMO / "essays")])
    err = " ".join(capsys.readouterr().err.split())

    assert first == 5, err
    assert "is full" in err and "Traceback" not in err and "[SQL" not in err
    run_id = err.split("huleedu grade --resume ")[1].split("`")[0]

    second = main([*args, "--quiet", "--resume", run_id])
    err = " ".join(capsys.readouterr().err.split())

    assert second == 0, err
    assert (tmp_path / "out" / run_id / "results.csv").exists()


# ---------------------------------------------------------------------------------- classifying


@pytest.mark.parametrize(
    ("raised", "cause"),
    [
        (sqlite3.OperationalError("database is locked"), FaultCause.LOCKED),
        (sqlite3.OperationalError("database or disk is full"), FaultCause.FULL),
        (sqlite3.OperationalError("attempt to write a readonly database"), FaultCause.READ_ONLY),
        (sqlite3.DatabaseError("database disk image is malformed"), FaultCause.DAMAGED),
        (sqlite3.DatabaseError("file is not a database"), FaultCause.DAMAGED),
        (OSError(28, "No space left on device"), FaultCause.FULL),
        (sqlite3.OperationalError("disk I/O error"), FaultCause.UNREADABLE),
    ],
)
def test_each_cause_is_told_apart(tmp_path: Path, raised: Exception, cause: FaultCause) -> None:
    open_database(tmp_path).close()
    fault = errors.classify(raised, tmp_path / "huleedu.sqlite3")
    assert fault.cause is cause
    assert ("Restore a backup" in str(fault)) is (cause is FaultCause.DAMAGED)


def test_faults_cross_a_process_boundary(tmp_path: Path) -> None:
    import pickle  # noqa: PLC0415

    fault = DatabaseLockedError("in use", tmp_path)
    copy = pickle.loads(pickle.dumps(fault))
    assert type(copy) is DatabaseLockedError and str(copy) == "in use" and copy.path == tmp_path


def test_grade_outside_a_run_exits_5_with_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with locked_db(tmp_path) as db:
        run_id = prepare(db)
    locker = Locker(tmp_path / "data" / "huleedu.sqlite3", hold_s=1.0)

    def locked_after_opening(data_dir: object) -> Database:
        db = open_database(data_dir, busy_timeout_ms=SHORT_WAIT_MS)  # type: ignore[arg-type]
        locker.take()
        return db

    monkeypatch.setattr(app.grade, "open_database", locked_after_opening)
    code = main(["grade", "--data-dir", str(tmp_path / "data"), "--cancel", run_id])
    err = " ".join(capsys.readouterr().err.split())

    assert code == 5, err
    assert "in use by another program" in err and "Traceback" not in err
    assert locker.released.wait(5)
