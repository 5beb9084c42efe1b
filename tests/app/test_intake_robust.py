"""Intake against hostile files and folders: every file ends in exactly one outcome, a failed
import says what it stored, a batch an import created is never left empty, and paths (names
that are not UTF-8, very deep folders, symbolic links) are walked and shown safely."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.db.engine import Database, open_database
from app.db.models import Assignment, Batch, Essay, IntakeRecord
from app.intake import essays as essay_store
from app.intake import sources
from app.intake.anchors import import_anchors
from app.intake.essays import import_essays as store_essays
from app.intake.outcomes import Outcome, Reason
from app.intake.sources import iter_documents
from app.operations.base import FailureKind, OperationError
from app.operations.intake import check_essays, import_essays
from app.operations.school import NewAssignment, NewBatch
from app.school import create_assignment, create_batch

BAD_NAME = b"ess\xe4y_\xff.txt"
"""A file name in Latin-1, as an old Windows share or zip tool leaves it: not UTF-8."""


def _essay(n: int) -> str:
    return f"Essay number {n}. " + " ".join(
        f"Sentence {i} about autumn, the elk and lake {n}." for i in range(12)
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "data") as database:
        yield database


def _batch(db: Database) -> str:
    return create_batch(db, "Batch", create_assignment(db, "A", "swedish_8_anchor"), None)


def _folder(tmp_path: Path, n: int = 29) -> Path:
    folder = tmp_path / "essays"
    folder.mkdir()
    for i in range(n):
        (folder / f"student_{i:02d}.txt").write_text(_essay(i), encoding="utf-8")
    return folder


def _count(db: Database, model: Any, **where: Any) -> int:
    with db.session() as s:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(s.scalar(query) or 0)


def _no_surrogates(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# ------------------------------------------------------------------ item 1: one outcome per file


def test_an_rtf_with_an_emoji_as_a_surrogate_pair_imports_beside_29_essays(
    db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    # Word writes characters beyond U+FFFF as two signed 16-bit \u escapes (a surrogate pair)
    rtf = "{\\rtf1\\ansi\\ansicpg1252 " + _essay(99) + " I love it \\u-10179?\\u-8704? so much.}"
    (folder / "with_emoji.rtf").write_bytes(rtf.encode("ascii"))
    report = store_essays(db, _batch(db), [folder])
    assert report.counts == {"imported": 30, "skipped": 0, "failed": 0}
    with db.session() as s:
        text = s.scalar(select(Essay.text).where(Essay.source_file.like("%with_emoji.rtf")))
    assert text is not None and "\U0001f600" in text


def test_a_reader_that_raises_fails_its_file_alone(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    (folder / "odd.rtf").write_bytes(b"{\\rtf1\\ansi " + _essay(99).encode() + b"}")
    real = sources.extract  # type: ignore[attr-defined]

    def extract(name: str, data: bytes, **options: Any) -> Any:
        if name.endswith(".rtf"):
            raise KeyError("fonttbl")  # a bug in a reader, not a refusal
        return real(name, data, **options)

    monkeypatch.setattr(sources, "extract", extract)
    batch = _batch(db)
    report = store_essays(db, batch, [folder])
    assert report.counts == {"imported": 29, "skipped": 0, "failed": 1}
    (bad,) = [o for o in report.outcomes if not o.ok]
    assert bad.reason is Reason.INTERNAL
    assert "odd.rtf" in bad.message and "KeyError" in bad.message
    assert _count(db, IntakeRecord, batch_id=batch) == 30


def _lone_surrogate_in(monkeypatch: pytest.MonkeyPatch, marker: str) -> None:
    """Texts containing ``marker`` keep a lone surrogate after reading (as a reader that
    forgot to clean up would leave it)."""
    real = sources.storable_text
    monkeypatch.setattr(
        sources, "storable_text", lambda t: t + "\udce4" if marker in t else real(t)
    )


def test_a_text_that_cannot_be_checked_fails_alone(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    (folder / "lone.txt").write_text(_essay(98), encoding="utf-8")
    _lone_surrogate_in(monkeypatch, "number 98")
    batch = _batch(db)
    report = store_essays(db, batch, [folder])
    assert report.counts == {"imported": 29, "skipped": 0, "failed": 1}
    (bad,) = [o for o in report.outcomes if not o.ok]
    assert bad.source.endswith("lone.txt") and "checking its text" in bad.message
    assert _count(db, IntakeRecord, batch_id=batch) == 30


def test_a_file_the_database_refuses_fails_alone_and_is_recorded(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    (folder / "lone.txt").write_text(_essay(98), encoding="utf-8")
    _lone_surrogate_in(monkeypatch, "number 98")
    real_hash = essay_store.content_hash  # type: ignore[attr-defined]
    monkeypatch.setattr(
        essay_store,
        "content_hash",
        lambda t: real_hash(t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
    )
    batch = _batch(db)
    report = store_essays(db, batch, [folder])
    assert report.counts == {"imported": 29, "skipped": 0, "failed": 1}
    (bad,) = [o for o in report.outcomes if not o.ok]
    assert bad.source.endswith("lone.txt") and "storing it" in bad.message
    assert bad.reason is Reason.INTERNAL
    assert _count(db, Essay, batch_id=batch) == 29
    assert _count(db, IntakeRecord, batch_id=batch) == 30


def _locked_on_call(monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    """The database is locked by another program from the ``failing_call``-th group on."""
    monkeypatch.setattr(essay_store, "COMMIT_EVERY", 10)
    real = essay_store._store_group
    calls = {"n": 0}

    def store_group(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= failing_call:
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(essay_store, "_store_group", store_group)


def test_an_import_stopped_by_the_database_says_what_it_stored_and_what_not(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    batch = _batch(db)
    _locked_on_call(monkeypatch, 2)
    with pytest.raises(OperationError) as raised:
        import_essays(db, [folder], batch)
    assert raised.value.kind is FailureKind.DATABASE
    message = raised.value.message
    assert "10 files were stored" in message
    assert "Not stored: 10 files read" in message and "student_10.txt" in message
    assert "9 more files were not read" in message
    assert _count(db, Essay, batch_id=batch) == 10
    assert _count(db, IntakeRecord, batch_id=batch) == 10
    assert _count(db, Batch) == 1  # a batch it did not create stays


def test_a_new_batch_is_removed_when_the_database_stops_the_import_before_any_essay(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    _locked_on_call(monkeypatch, 1)
    new = NewBatch("Spring", NewAssignment("Spring essay", "eng5_np_national_9_step"), None)
    with pytest.raises(OperationError) as raised:
        import_essays(db, [folder], new)
    assert "so it was removed" in raised.value.message
    assert _count(db, Batch) == 0
    assert _count(db, Assignment) == 0


def test_a_new_batch_without_a_single_essay_is_not_kept(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "short.txt").write_text("Too short.", encoding="utf-8")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    new = NewBatch("Spring", NewAssignment("Spring essay", "eng5_np_national_9_step"), None)
    result = import_essays(db, [folder], new)
    assert result.batch_removed and result.counts.imported == 0
    assert len(result.outcomes) == 2  # the report is the account of the files
    assert _count(db, Batch) == 0 and _count(db, Assignment) == 0
    # an existing batch is never removed, and a new one with an essay is kept
    assignment = create_assignment(db, "A", "swedish_8_anchor")
    batch = create_batch(db, "Batch", assignment, None)
    assert not import_essays(db, [folder], batch).batch_removed
    (folder / "good.txt").write_text(_essay(1), encoding="utf-8")
    kept = import_essays(db, [folder], NewBatch("Autumn", assignment, None))
    assert not kept.batch_removed and kept.counts.imported == 1
    assert _count(db, Batch) == 2 and _count(db, Assignment) == 1


# ------------------------------------------------------------------ item 4: paths


def _bad_name_file(folder: Path, text: str) -> None:
    with open(os.fsencode(folder) + b"/" + BAD_NAME, "wb") as stream:
        stream.write(text.encode("utf-8"))


def test_a_name_that_is_not_utf8_is_shown_safely_and_its_bytes_kept(
    db: Database, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, 3)
    _bad_name_file(folder, _essay(50))
    checked = check_essays([folder])
    assert checked.counts.imported == 4
    (odd,) = [o for o in checked.outcomes if "\ufffd" in o.source]
    assert odd.source == "essays/ess\ufffdy_\ufffd.txt"
    assert "b'essays/ess\\xe4y_\\xff.txt'" in odd.message
    encoded = json.dumps(checked.to_json(), ensure_ascii=False).encode("utf-8")
    assert b"\\udce4" not in encoded  # no escaped surrogates in the JSON either
    batch = _batch(db)
    result = import_essays(db, [folder], batch)
    assert result.counts.imported == 4
    with db.session() as s:
        sources_stored = list(s.scalars(select(Essay.source_file)))
        messages = list(s.scalars(select(IntakeRecord.message)))
    assert "essays/ess\ufffdy_\ufffd.txt" in sources_stored
    assert all(_no_surrogates(x or "") for x in sources_stored + messages)
    assert any("b'essays/ess\\xe4y_\\xff.txt'" in m for m in messages)


def test_a_failing_file_and_a_folder_with_names_that_are_not_utf8(tmp_path: Path) -> None:
    root = tmp_path / "essays"
    root.mkdir()
    sub = os.fsencode(root) + b"/klass_\xe5"
    os.mkdir(sub)
    with open(sub + b"/kort_\xf6.txt", "wb") as stream:
        stream.write(b"Too short.")
    (item,) = check_essays([root]).outcomes
    assert item.outcome is Outcome.FAILED and item.reason is Reason.TOO_SHORT
    assert item.source == "essays/klass_\ufffd/kort_\ufffd.txt"
    assert "b'essays/klass_\\xe5/kort_\\xf6.txt'" in item.message


def test_a_folder_a_thousand_levels_deep_is_walked(db: Database) -> None:
    # Not under tmp_path: pytest removes old temporary folders with shutil.rmtree, which
    # recurses too deep for this tree should a run be killed before it is taken down.
    outer = Path(tempfile.mkdtemp(prefix="huleedu-deep-"))
    root = outer / "deep"
    levels = [root]
    for _ in range(1000):  # os.makedirs and shutil.rmtree recurse too deep for this
        levels.append(levels[-1] / "d")
    for level in levels:
        level.mkdir()
    try:
        (levels[-1] / "bottom.txt").write_text(_essay(1), encoding="utf-8")
        (root / "top.txt").write_text(_essay(2), encoding="utf-8")
        result = import_essays(db, [root], _batch(db))
        assert result.counts.imported == 2
        assert any(o.source.endswith("/d/bottom.txt") for o in result.outcomes)
    finally:
        for level in reversed(levels):
            for file in level.glob("*.txt"):
                file.unlink()
            level.rmdir()
        outer.rmdir()


def _links(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(_essay(90), encoding="utf-8")
    root = _folder(tmp_path, 2)
    (root / "inner").mkdir()
    (root / "inner" / "real.txt").write_text(_essay(91), encoding="utf-8")
    os.symlink(outside / "secret.txt", root / "to_secret.txt")
    os.symlink(outside, root / "to_outside")
    os.symlink(root / "inner" / "real.txt", root / "alias.txt")  # stays inside: followed
    os.symlink(root, root / "inner" / "loop")  # back to a folder it lies in
    os.symlink(root / "gone.txt", root / "broken.txt")
    return root


def test_symbolic_links_leaving_the_folder_are_skipped_and_listed(
    db: Database, tmp_path: Path
) -> None:
    root = _links(tmp_path)
    result = import_essays(db, [root], _batch(db))
    by_name = {o.source.rsplit("/", 1)[-1]: o for o in result.outcomes}
    assert set(by_name) == {
        "alias.txt",
        "broken.txt",
        "loop",
        "real.txt",
        "student_00.txt",
        "student_01.txt",
        "to_outside",
        "to_secret.txt",
    }
    for name in ("to_secret.txt", "to_outside"):
        assert by_name[name].outcome is Outcome.SKIPPED
        assert by_name[name].reason is Reason.OUTSIDE_FOLDER
        assert "outside the chosen folder" in by_name[name].message
    assert by_name["loop"].reason is Reason.LINK_LOOP
    assert by_name["broken.txt"].outcome is Outcome.FAILED
    assert by_name["broken.txt"].reason is Reason.BROKEN_LINK
    assert "broken symbolic link" in by_name["broken.txt"].message
    assert "disappeared" not in by_name["broken.txt"].message
    # the link inside the folder is read (first in the walk); real.txt is then its duplicate
    assert by_name["alias.txt"].ok
    assert by_name["real.txt"].reason is Reason.DUPLICATE
    with db.session() as s:
        texts = list(s.scalars(select(Essay.text)))
    assert _essay(90) not in texts


def test_a_broken_link_given_by_itself_is_named_as_one(tmp_path: Path) -> None:
    link = tmp_path / "essay.txt"
    os.symlink(tmp_path / "nowhere.txt", link)
    (item,) = list(iter_documents([link]))
    assert not isinstance(item, sources.Document)
    assert item.reason is Reason.BROKEN_LINK and "nowhere.txt" in item.message


# ------------------------------------------------------------------ the same on the grade path


def _grade_args(folder: Path, tmp_path: Path, out: Path) -> list[str]:
    data = str(tmp_path / "data")
    speed = ["--sim-speed", "1000"]
    return ["grade", str(folder), "--data-dir", data, "--out", str(out), "--quiet", *speed]


def test_grade_takes_a_folder_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 2)
    _bad_name_file(folder, _essay(70))
    out = tmp_path / "out"
    code = main(_grade_args(folder, tmp_path, out))
    assert code == 0
    (run,) = out.iterdir()
    rows = (run / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4 and any("ess\ufffdy_\ufffd.txt" in r for r in rows)


def test_grade_with_one_essay_writes_no_header_only_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, 1)
    (folder / "short.txt").write_text("Too short.", encoding="utf-8")
    out = tmp_path / "out"
    code = main(_grade_args(folder, tmp_path, out))
    assert code == 3
    assert not out.exists()
    said = " ".join(capsys.readouterr().err.split())
    assert "fewer than 2 essays" in said and "No results were written" in said
    assert "short.txt" in said  # the file left out is named


# ------------------------------------------------------------------ anchors


def test_an_anchor_already_among_the_essays_says_which_batch_it_did_not_join(
    db: Database, tmp_path: Path
) -> None:
    assignment = create_assignment(db, "A", "swedish_8_anchor")
    batch = create_batch(db, "Spring", assignment, None)
    folder = _folder(tmp_path, 3)
    import_essays(db, [folder], batch)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "grade_B_1.txt").write_text(_essay(1), encoding="utf-8")  # also student_01
    (anchors / "grade_C_1.txt").write_text(_essay(80), encoding="utf-8")
    report = import_anchors(db, assignment, [anchors])
    by_name = {o.source.rsplit("/", 1)[-1]: o for o in report.outcomes}
    assert by_name["grade_C_1.txt"].ok and by_name["grade_C_1.txt"].message == ""
    told = by_name["grade_B_1.txt"]
    assert told.ok  # stored with the assignment, and it joins other batches
    assert "not to batch 'Spring'" in told.message and "student_01.txt" in told.message
    with db.session() as s:
        kept = s.scalar(
            select(IntakeRecord.message).where(IntakeRecord.source.like("%grade_B_1.txt"))
        )
    assert kept == told.message


# ------------------------------------------------------------------ the command line


def test_import_essays_command_checks_and_imports_odd_names_and_keeps_no_empty_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, 2)
    _bad_name_file(folder, _essay(60))
    assert main(["import", "essays", str(folder), "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["counts"] == {"imported": 3, "skipped": 0, "failed": 0}
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["import", "essays", str(folder), "--new-batch", "Spring", *data]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "short.txt").write_text("Too short.", encoding="utf-8")
    assert main(["import", "essays", str(bad), "--new-batch", "Autumn", *data]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "No essay was stored, so the new batch" in said and "was not kept" in said
    with open_database(tmp_path / "data") as database:
        assert _count(database, Batch) == 1


def test_an_anchor_import_stopped_by_the_database_says_what_it_stored(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.intake import anchors as anchor_store  # noqa: PLC0415
    from app.operations.intake import import_anchors as import_anchors_op  # noqa: PLC0415

    folder = tmp_path / "anchors"
    folder.mkdir()
    for i, grade in enumerate("ABCDE"):
        (folder / f"grade_{grade}_{i}.txt").write_text(_essay(40 + i), encoding="utf-8")
    monkeypatch.setattr(anchor_store, "COMMIT_EVERY", 2)
    real = anchor_store._store_anchor_group
    calls = {"n": 0}

    def store_group(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(anchor_store, "_store_anchor_group", store_group)
    assignment = create_assignment(db, "A", "swedish_8_anchor")
    with pytest.raises(OperationError) as raised:
        import_anchors_op(db, [folder], assignment, progress=lambda _: None)
    assert raised.value.kind is FailureKind.DATABASE
    message = raised.value.message
    assert f"assignment {assignment}" in message and "2 files were stored" in message
    assert "Not stored: 2 files read" in message and "1 more files were not read" in message
