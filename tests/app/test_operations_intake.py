"""Intake operations: per-file progress with true totals, cancelling between files keeps exactly
what was done, typed results, refusals before anything is stored."""

from __future__ import annotations

import os
import signal
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.db.engine import Database, open_database
from app.db.models import Anchor, Assignment, Batch, BatchStatus, Essay, IntakeRecord, SchoolClass
from app.intake.outcomes import IntakeLimits, Outcome, Reason
from app.operations import intake as ops
from app.operations.base import CancelToken, FailureKind, OperationError, Progress
from app.operations.intake import (
    Counts,
    MatchDecision,
    check_essays,
    confirm_match,
    import_anchors,
    import_essays,
    import_roster,
    match_overview,
)
from app.operations.school import NewAssignment, NewBatch, NewClass, create_batch

ROSTER = (
    "Förnamn;Efternamn;Elevkod\n"
    "Anna;Andersson;ANAN0001\n"
    "Erik;Berg;ERBE0002\n"
    "Åsa;Öberg;ASOB0003\n"
    "Lars;Lind;LALI0004\n"
)


def _essay(i: int) -> str:
    return f"Uppsats {i}. " + " ".join(f"Mening {j} om hösten och älgarna." for j in range(12))


def _folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"e{i:02d}.txt").write_text(_essay(i), encoding="utf-8")
    return root


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "data") as database:
        yield database


@pytest.fixture
def guest_batch(db: Database) -> str:
    return create_batch(db, NewBatch("Hösten 9B", NewAssignment("Hösten"))).id


def _count(db: Database, model: type, *where: Any) -> int:
    with db.session() as s:
        query: Any = select(func.count()).select_from(model).where(*where)
        return int(s.scalar(query) or 0)


class Recorder:
    """A progress sink that keeps every event and can cancel after ``k`` of a kind."""

    def __init__(self, cancel: CancelToken | None = None, after: int | None = None) -> None:
        self.events: list[Progress] = []
        self.cancel, self.after = cancel, after

    def __call__(self, event: Progress) -> None:
        self.events.append(event)
        if self.cancel and event.kind in ("file", "row") and event.done == self.after:
            self.cancel.cancel("test")

    def of(self, kind: str) -> list[Progress]:
        return [e for e in self.events if e.kind == kind]


# --------------------------------------------------------------------------- essays


def test_progress_comes_per_file_with_the_true_total(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "in", 5)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8")
    (folder / "kort.txt").write_text("Kort.", "utf-8")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "x.txt").write_text(_essay(99), "utf-8")
    with zipfile.ZipFile(tmp_path / "more.zip", "w") as z:
        for i in range(5, 8):
            z.writestr(f"class/e{i}.txt", _essay(i))
        z.writestr("class/e0-again.txt", _essay(0))  # a duplicate of in/e00.txt
    sink = Recorder()

    result = import_essays(db, [folder, tmp_path / "more.zip"], guest_batch, progress=sink)

    files = sink.of("file")
    total = 5 + 3 + 4  # 5 essays, photo, short, hidden folder; 4 archive members
    assert [e.done for e in files] == list(range(1, total + 1))
    assert {e.total for e in files} == {total}
    assert [e.detail for e in files] == [o.source for o in result.outcomes]
    assert all(e.data is not None for e in files)
    assert sink.events[-1].kind == "status"
    assert result.found == total and not result.cancelled
    assert result.counts == Counts(imported=8, skipped=3, failed=1)
    assert result.counts.to_json() == {"imported": 8, "skipped": 3, "failed": 1}
    assert result.batch_status == BatchStatus.READY.value
    assert _count(db, Essay, Essay.batch_id == guest_batch) == 8
    assert _count(db, IntakeRecord, IntakeRecord.import_id == result.import_id) == total


@pytest.mark.parametrize("k", [1, 25, 27])
def test_cancelling_after_k_files_keeps_exactly_those(
    db: Database, guest_batch: str, tmp_path: Path, k: int
) -> None:
    folder = _folder(tmp_path / "in", 60)
    token = CancelToken()
    sink = Recorder(token, after=k)

    result = import_essays(db, [folder], guest_batch, progress=sink, cancel=token)

    assert result.cancelled and result.found == 60
    assert len(result.outcomes) == k == result.counts.imported
    assert all(o.essay_id for o in result.outcomes)
    assert [e.done for e in sink.of("file")] == list(range(1, k + 1))
    with db.session() as s:
        stored = set(s.scalars(select(Essay.source_file).where(Essay.batch_id == guest_batch)))
        records = list(
            s.scalars(select(IntakeRecord).where(IntakeRecord.import_id == result.import_id))
        )
    assert stored == {o.source for o in result.outcomes}
    assert sorted(str(r.source) for r in records) == sorted(str(x) for x in stored)
    assert {r.outcome for r in records} == {"imported"}
    assert result.batch_status == BatchStatus.READY.value

    again = import_essays(db, [folder], guest_batch)
    assert again.counts == Counts(imported=60 - k, skipped=k, failed=0)
    assert _count(db, Essay, Essay.batch_id == guest_batch) == 60


def test_a_token_set_before_the_start_stores_nothing(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    token = CancelToken()
    token.cancel()
    result = import_essays(db, [_folder(tmp_path / "in", 3)], guest_batch, cancel=token)
    assert result.cancelled and result.outcomes == () and result.found == 3
    assert _count(db, IntakeRecord) == 0


def test_cancel_from_another_thread_while_the_import_runs_in_a_worker(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "in", 10)
    token = CancelToken()
    started, proceed = threading.Event(), threading.Event()
    threads: set[int] = set()

    def sink(event: Progress) -> None:
        threads.add(threading.get_ident())
        if event.kind == "file" and event.done == 2:
            started.set()
            proceed.wait(5)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(import_essays, db, [folder], guest_batch, None, sink, token)
        assert started.wait(5)
        token.cancel("the teacher pressed Cancel")
        proceed.set()
        result = future.result(10)
    assert threading.get_ident() not in threads  # progress came from the worker thread
    assert result.cancelled and len(result.outcomes) == 2
    assert _count(db, Essay) == 2


def test_a_new_batch_is_created_only_when_its_class_and_assignment_exist(
    db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "in", 2)
    with pytest.raises(OperationError, match="no class") as caught:
        import_essays(db, [folder], NewBatch("B", NewAssignment("A"), "9Z"))
    assert caught.value.kind is FailureKind.INPUT
    with pytest.raises(OperationError, match="no assignment"):
        import_essays(db, [folder], NewBatch("B", "no-such-assignment"))
    with pytest.raises(OperationError, match="scale"):
        import_essays(db, [folder], NewBatch("B", NewAssignment("A", scale="nope")))
    assert _count(db, Batch) == _count(db, Assignment) == 0

    result = import_essays(db, [folder], NewBatch("B", NewAssignment("A")))
    assert result.counts.imported == 2
    assert _count(db, Batch) == _count(db, Assignment) == 1


def test_unknown_or_running_batches_and_no_paths_are_refused(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "in", 1)
    with pytest.raises(OperationError, match=r"(?i)no batch") as caught:
        import_essays(db, [folder], "no-such-batch")
    assert caught.value.kind is FailureKind.INPUT
    with pytest.raises(OperationError, match="No files"):
        import_essays(db, [], guest_batch)
    with db.session() as s:
        s.get_one(Batch, guest_batch).status = BatchStatus.PROCESSING.value
    with pytest.raises(OperationError, match="run in progress"):
        import_essays(db, [folder], guest_batch)
    assert _count(db, IntakeRecord) == 0


def test_checking_stores_nothing_and_can_be_cancelled(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "in", 6)
    (folder / "kort.txt").write_text("Kort.", "utf-8")
    sink = Recorder()
    checked = check_essays([folder], IntakeLimits(), sink)
    assert checked.counts == Counts(imported=6, skipped=0, failed=1)
    assert [e.total for e in sink.of("file")] == [7] * 7
    assert checked.to_json()["stored"] is False

    token = CancelToken()
    part = check_essays([folder], progress=Recorder(token, after=3), cancel=token)
    assert part.cancelled and len(part.outcomes) == 3 and part.found == 7


# --------------------------------------------------------------------------- roster


def test_roster_rows_report_progress_and_a_cancel_keeps_the_rows_done(
    db: Database, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, "utf-8")
    token = CancelToken()
    sink = Recorder(token, after=2)
    result = import_roster(db, roster, NewClass("9A", "ENG5", "2026/27"), sink, token)
    assert [(e.kind, e.done, e.total, e.detail) for e in sink.events] == [
        ("row", 1, 4, "row 2"),
        ("row", 2, 4, "row 3"),
    ]
    assert result.cancelled and (result.found, result.added) == (4, 2)
    assert [r.row for r in result.rows] == [2, 3]
    assert _count(db, IntakeRecord, IntakeRecord.school_class_id == result.class_id) == 2

    again = import_roster(db, roster, "9A")
    assert [r.reason for r in again.rows] == ["already_in_class"] * 2 + [None] * 2
    assert again.counts == Counts(imported=2, skipped=2, failed=0)
    assert not again.cancelled and again.import_id


def test_a_file_that_is_no_roster_creates_no_class(db: Database, tmp_path: Path) -> None:
    headerless = tmp_path / "list.csv"
    headerless.write_text("Anna;Andersson\nErik;Berg\n", "utf-8")
    with pytest.raises(OperationError) as caught:
        import_roster(db, headerless, NewClass("9B"))
    assert caught.value.kind is FailureKind.INPUT
    with pytest.raises(OperationError, match="class name"):
        import_roster(db, headerless, NewClass("  "))
    assert _count(db, SchoolClass) == 0
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, "utf-8")
    with pytest.raises(OperationError, match="no class"):
        import_roster(db, roster, "9B")


# --------------------------------------------------------------------------- anchors


def test_anchor_progress_counts_the_mapping_names_without_a_file(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "first.txt").write_text(_essay(1), "utf-8")
    (folder / "second.txt").write_text(_essay(2), "utf-8")
    (folder / "grade_B_3.txt").write_text(_essay(3), "utf-8")
    mapping = folder / "grades.csv"
    mapping.write_text("file,grade\nfirst.txt,E\nsecond.txt,Q\nmissing.txt,A\n", "utf-8")
    sink = Recorder()
    result = import_anchors(db, [folder], NewAssignment("Hösten"), mapping, progress=sink)
    got = {o.source.rsplit("/", 1)[-1]: (o.outcome, o.reason, o.grade) for o in result.outcomes}
    assert got == {
        "first.txt": (Outcome.IMPORTED, None, "E"),
        "second.txt": (Outcome.FAILED, Reason.BAD_GRADE, "Q"),
        "grade_B_3.txt": (Outcome.IMPORTED, None, "B"),
        "grades.csv: missing.txt": (Outcome.FAILED, Reason.NOT_FOUND, None),
    }
    assert [(e.done, e.total) for e in sink.of("file")] == [(i, 4) for i in range(1, 5)]
    assert result.found == 4 and result.counts == Counts(2, 0, 2)


def test_cancelled_anchors_keep_those_done_and_join_the_batches(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    with db.session() as s:
        assignment = s.get_one(Batch, guest_batch).assignment_id
    folder = tmp_path / "anchors"
    folder.mkdir()
    for grade in ("A", "B", "C", "D"):
        (folder / f"grade_{grade}.txt").write_text(_essay(ord(grade)), "utf-8")
    token = CancelToken()
    result = import_anchors(db, [folder], assignment, progress=Recorder(token, 2), cancel=token)
    assert result.cancelled and [o.grade for o in result.outcomes] == ["A", "B"]
    assert _count(db, Anchor) == 2
    assert _count(db, Essay, Essay.batch_id == guest_batch, Essay.is_anchor.is_(True)) == 2
    assert _count(db, IntakeRecord, IntakeRecord.import_id == result.import_id) == 2


def test_a_bad_mapping_file_creates_no_assignment(db: Database, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "anchors", 1)
    bad = tmp_path / "grades.csv"
    bad.write_text("name;points\nx;1\n", "utf-8")
    with pytest.raises(OperationError, match="'file' and 'grade'"):
        import_anchors(db, [folder], NewAssignment("A"), bad)
    with pytest.raises(OperationError, match="cannot be read"):
        import_anchors(db, [folder], NewAssignment("A"), tmp_path / "missing.csv")
    assert _count(db, Assignment) == 0


# --------------------------------------------------------------------------- matching


def test_match_decisions_are_saved_all_or_none(db: Database, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, "utf-8")
    klass = import_roster(db, roster, NewClass("9A")).class_id
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "anna_andersson.txt").write_text(_essay(1), "utf-8")
    (folder / "okänd.txt").write_text(_essay(2), "utf-8")
    result = import_essays(db, [folder], NewBatch("B", NewAssignment("A"), klass))
    assert (result.auto_matched, result.awaiting_confirmation) == (1, 1)
    overview = match_overview(db, result.batch_id)
    (waiting,) = overview.waiting
    free = {s.name: s.student_id for s in overview.students_without_essay}
    settled = next(e for e in overview.essays if e.confirmed)
    assert settled.student_id is not None

    other = import_essays(db, [_folder(tmp_path / "other", 1)], NewBatch("G", NewAssignment("A")))
    foreign = other.outcomes[0].essay_id or ""
    with pytest.raises(OperationError, match="not in batch"):
        confirm_match(db, result.batch_id, [MatchDecision(foreign, None)])
    with pytest.raises(OperationError, match="already settled"):
        confirm_match(
            db,
            result.batch_id,
            [
                MatchDecision(waiting.essay_id, free["Erik Berg"]),
                MatchDecision(waiting.essay_id, settled.student_id),
            ],
        )
    assert match_overview(db, result.batch_id).waiting == overview.waiting  # nothing saved

    update = confirm_match(db, result.batch_id, [MatchDecision(waiting.essay_id, None)])
    assert update.overview.waiting == [] and update.accepted_top == 0
    update = confirm_match(db, result.batch_id, unassign=[waiting.essay_id], accept_top=True)
    assert update.accepted_top == 0  # "okänd" has no suggestion
    with pytest.raises(OperationError, match=r"(?i)no batch") as caught:
        match_overview(db, "no-such-batch")
    assert caught.value.kind is FailureKind.INPUT


# --------------------------------------------------------------------------- the command line


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need it"
)
def test_ctrl_c_keeps_the_files_done_and_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path / "in", 40)
    real = ops.import_essays

    def interrupted_after_30(*args: object, **kwargs: object) -> ops.EssayImportResult:
        db, paths, batch, limits, sink, token = args

        def sink_then_ctrl_c(event: Progress) -> None:
            sink(event)  # type: ignore[operator]
            if event.kind == "file" and event.done == 30:
                os.kill(os.getpid(), signal.SIGINT)

        return real(db, paths, batch, limits, sink_then_ctrl_c, token)  # type: ignore[arg-type]

    monkeypatch.setattr("app.intake.cli.import_essays", interrupted_after_30)
    data = ["--data-dir", str(tmp_path / "data")]
    argv = ["import", "essays", str(folder), "--new-batch", "B", *data]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "30 of 40 files done and kept" in " ".join(captured.err.split())
    assert "e29.txt" in captured.out and "e30.txt" not in captured.out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with open_database(tmp_path / "data") as db:
        assert _count(db, Essay) == 30
