"""The results read model: the run shown, its rows, grade boundaries, provisional standings of
a paused run, a fixed number of queries, and exporting chosen formats."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from app.db.engine import Database, open_database
from app.operations.base import CancelToken, FailureKind, OperationError, Paused, Progress
from app.operations.export import result_rows
from app.operations.results import (
    Z95,
    BatchResults,
    batch_results,
    export_batch_results,
)
from app.operations.runs import FolderRunRequest, drive_run, prepare_folder_run
from app.operations.school import NewAssignment, NewBatch, create_assignment, create_batch
from app.paths import resources_dir

DEMO = resources_dir() / "demo"


def grade_demo(
    db: Database, *, pause_after: int | None = None, essays: Path = DEMO / "essays"
) -> str:
    """Store the demo batch and grade it with the simulated judge (paused once ``pause_after``
    comparisons are judged, if given); returns the batch id."""
    request = FolderRunRequest([essays], title="Demo", anchors=DEMO / "anchors")
    options = {"sim_speed": 1000.0}
    if pause_after is not None:
        options["mode"] = "per_request"  # type: ignore[assignment]
    prepared = prepare_folder_run(db, request, options)
    token = CancelToken()

    def progress(p: Progress) -> None:
        if pause_after is not None and p.done >= pause_after:
            token.cancel("paused by the test")

    outcome = asyncio.run(drive_run(db, prepared.run_id, progress=progress, cancel=token))
    if pause_after is not None:
        assert isinstance(outcome, Paused), outcome
    return prepared.batch_id


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "data") as database:
        yield database


@pytest.fixture
def graded(db: Database) -> str:
    return grade_demo(db)


def test_a_graded_batch_shows_its_finished_run(db: Database, graded: str) -> None:
    results = batch_results(db, graded)
    assert isinstance(results, BatchResults)
    assert results.status == "complete" and not results.provisional
    assert results.report.stop_reason is not None
    assert results.guest and results.scale_id == "swedish_8_anchor"
    lines = results.lines
    n = len(list(DEMO.joinpath("essays").glob("*.txt"))) + 6  # essays and six anchors
    assert len(lines) == n
    assert [line.rank for line in lines] == list(range(1, n + 1))
    assert all(a.ability >= b.ability for a, b in itertools.pairwise(lines))
    # the same rows as the export reads
    stored = result_rows(db, results.run_id)
    assert [line.export_row() for line in lines] == stored
    anchors = [line for line in lines if line.is_anchor]
    assert len(anchors) == 6 and all(a.anchor_grade for a in anchors)
    assert all(a.name.startswith("Anchor") for a in anchors)  # the anchors' labels
    essays = [line for line in lines if not line.is_anchor]
    assert all(e.name.endswith(".txt") and "/" not in e.name for e in essays)  # file names
    top = lines[0]
    assert top.se is not None and top.low is not None and top.high is not None
    assert top.low == pytest.approx(top.ability - Z95 * top.se)
    assert top.high == pytest.approx(top.ability + Z95 * top.se)
    assert top.grade is not None and top.grade_probability is not None
    assert 0 < top.grade_probability <= 1
    assert results.runs[0].id == results.run_id
    assert results.run_id in results.runs_with_results


def test_boundaries_are_the_cut_points_the_run_graded_with(db: Database, graded: str) -> None:
    results = batch_results(db, graded)
    assert results is not None
    assert results.boundary_source == "recomputed"
    bounds = results.boundaries
    grades = results.grades
    assert [(b.lower, b.upper) for b in bounds] == list(itertools.pairwise(grades))
    assert all(a.ability < b.ability for a, b in itertools.pairwise(bounds))
    # An essay whose grade is most likely also lies in that grade's interval when its
    # probability is high: its ability sits between the boundaries of its letter.
    for line in results.lines:
        if line.grade is None or (line.grade_probability or 0) < 0.8:
            continue
        letter = line.grade if line.grade in grades else line.grade.rstrip("+-")
        k = grades.index(letter)
        below = bounds[k - 1].ability if k > 0 else float("-inf")
        above = bounds[k].ability if k < len(bounds) else float("inf")
        assert below <= line.ability <= above, line


def test_no_results_without_a_graded_run(db: Database) -> None:
    assignment = create_assignment(db, NewAssignment("Empty"))
    batch = create_batch(db, NewBatch("Nothing yet", assignment.id))
    assert batch_results(db, batch.id) is None


def test_unknown_batch_and_foreign_run_are_input_errors(db: Database, graded: str) -> None:
    with pytest.raises(OperationError) as caught:
        batch_results(db, "no-such-batch")
    assert caught.value.kind is FailureKind.INPUT
    with pytest.raises(OperationError) as caught:
        batch_results(db, graded, "no-such-run")
    assert caught.value.kind is FailureKind.INPUT


def test_a_paused_run_shows_provisional_standings(db: Database) -> None:
    batch_id = grade_demo(db, pause_after=12)
    results = batch_results(db, batch_id)
    assert results is not None
    assert results.status == "paused" and results.provisional
    assert results.comparisons >= 12
    assert len(results.lines) == 22
    assert [line.rank for line in results.lines] == list(range(1, 23))
    assert results.run_id not in results.runs_with_results  # nothing stored
    assert results.boundaries  # the anchors give boundaries already
    assert any(line.grade for line in results.lines)
    summary = results.summary()
    assert summary["provisional"] is True and summary["status"] == "paused"


def test_an_older_run_can_be_chosen(db: Database, graded: str) -> None:
    first = batch_results(db, graded)
    assert first is not None
    again = batch_results(db, graded, first.run_id)
    assert again is not None and again.lines == first.lines


def test_queries_do_not_grow_with_essays(db: Database, graded: str, tmp_path: Path) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        batch_results(db, graded)
        small = len(statements)
        # a third of the essays in another database: the same number of statements
        few = tmp_path / "few"
        few.mkdir()
        for path in sorted((DEMO / "essays").glob("*.txt"))[:5]:
            (few / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        other = open_database(tmp_path / "other")
        try:
            smaller = grade_demo(other, essays=few)
            statements.clear()
            event.listen(other.engine, "before_cursor_execute", count)
            found = batch_results(other, smaller)
            assert found is not None and len(found.lines) == 11
            assert len(statements) == small
        finally:
            other.close()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert small <= 20  # the statements of the six read sessions, whatever the essays


def test_export_writes_only_the_chosen_formats(db: Database, graded: str, tmp_path: Path) -> None:
    results = batch_results(db, graded)
    assert results is not None
    folder = tmp_path / "out"
    done = export_batch_results(results, folder, ["csv", "json"])
    assert [p.name for p in done.files] == ["results.csv", "results.json"]
    assert sorted(p.name for p in folder.iterdir()) == ["results.csv", "results.json"]
    with (folder / "results.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(results.lines) == done.rows
    assert rows[0]["rank"] == "1"
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert data["run"]["run_id"] == results.run_id
    assert len(data["results"]) == len(results.lines)

    everything = export_batch_results(results, folder)
    assert {p.name for p in everything.files} == {"results.csv", "results.xlsx", "results.json"}
    assert sorted(p.name for p in folder.iterdir()) == [
        "results.csv",
        "results.json",
        "results.xlsx",
    ]


def test_export_refuses_no_format_and_unwritable_folders(
    db: Database, graded: str, tmp_path: Path
) -> None:
    results = batch_results(db, graded)
    assert results is not None
    with pytest.raises(OperationError) as caught:
        export_batch_results(results, tmp_path / "x", [])
    assert caught.value.kind is FailureKind.INPUT
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OperationError) as caught:
        export_batch_results(results, blocker / "sub", ["csv"])
    assert caught.value.kind is FailureKind.INPUT
    assert "cannot be written" in caught.value.message
