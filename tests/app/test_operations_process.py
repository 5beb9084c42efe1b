"""Operations in a worker process keep their contract: progress, cancel, result, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.db.engine import open_database
from app.operations.base import CancelToken, FailureKind, OperationError, Progress
from app.operations.intake import import_essays
from app.operations.process import in_process, run_in_process
from app.operations.school import NewAssignment, NewBatch

TEXT = "Ett stycke text om skolan och hösten, långt nog för att vara en uppsats. " * 3


def _folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "essays"
    folder.mkdir()
    for i in range(n):
        (folder / f"essay_{i:02d}.txt").write_text(f"Uppsats {i}\n\n{TEXT}", encoding="utf-8")
    return folder


async def test_an_import_in_a_process_reports_every_file_and_stores_them(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 6)
    db = open_database(tmp_path / "data")
    events: list[Progress] = []
    try:
        result = await in_process(
            import_essays,
            [folder],
            NewBatch("B", NewAssignment("A")),
            database=db.path,
            progress=events.append,
        )
        assert result.counts.imported == 6 and not result.cancelled
        files = [e for e in events if e.kind == "file"]
        assert [e.done for e in files] == list(range(1, 7)) and files[0].total == 6
        from app.operations.queries import get_batch  # noqa: PLC0415

        assert get_batch(db, result.batch_id).essays == 6  # stored by the child, read here
    finally:
        db.close()


def test_a_cancel_reaches_the_child_and_keeps_what_was_done(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 300)
    db = open_database(tmp_path / "data")
    token = CancelToken()
    seen = threading.Event()

    def sink(p: Progress) -> None:
        if p.kind == "file" and p.done >= 3:
            token.cancel()
            seen.set()

    try:
        result = run_in_process(
            import_essays,
            [folder],
            NewBatch("B", NewAssignment("A")),
            database=db.path,
            progress=sink,
            cancel=token,
        )
        assert seen.is_set() and result.cancelled
        assert 3 <= result.counts.imported < 300
    finally:
        db.close()


def test_a_failure_in_the_child_is_raised_in_the_parent(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        with pytest.raises(OperationError) as failure:
            run_in_process(import_essays, [_folder(tmp_path, 1)], "no-such-batch", database=db.path)
        assert failure.value.kind is FailureKind.INPUT and "no-such-batch" in failure.value.message
    finally:
        db.close()
