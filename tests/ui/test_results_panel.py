"""The Results panel: a graded batch's status, ranking, chart and export; empty and paused
states; the chart's geometry with one essay, 300 essays, no boundaries and equal abilities."""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QFileDialog, QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.base import CancelToken, Paused, Progress
from app.operations.first_start import seed_demo_school
from app.operations.results import GradeBoundary, ResultLine, batch_results
from app.operations.runs import drive_run, prepare_batch_run
from app.operations.school import NewAssignment, NewBatch, create_assignment, create_batch
from tests.ui.conftest import settle, wait_until
from ui.ability_chart import AbilityChart, nice_step, tooltip_text
from ui.results import Column, ResultsPanel, demo_state
from ui.tasks import TaskRunner

ABILITY = re.compile(r"^−?\d+\.\d\d \(−?\d+\.\d\d – −?\d+\.\d\d\)$")
GRADE = re.compile(r"^[A-F][+-]? \((\d+ %|< 1 %|> 99 %)\)$")


@pytest.fixture
def demo_batch(db: Database) -> str:
    school = seed_demo_school(db)
    assert school is not None
    return school.batch_id


@pytest.fixture
def panel(qtbot: QtBot, db: Database) -> Iterator[ResultsPanel]:
    runner = TaskRunner()
    widget = ResultsPanel(db, runner)
    qtbot.addWidget(widget)
    widget.resize(1200, 640)
    widget.show()
    yield widget
    if widget.folder_dialog is not None:
        widget.folder_dialog.reject()
    runner.deleteLater()


async def grade(db: Database, batch_id: str, *, pause_after: int | None = None) -> str:
    """A run of ``batch_id`` by the simulated judge, to its end or paused once
    ``pause_after`` comparisons are judged; returns the run id."""
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {"provider": "sim", "sim_speed": 1000.0}
    if pause_after is not None:
        options["mode"] = "per_request"
    prepared = await loop.run_in_executor(None, prepare_batch_run, db, batch_id, options)
    token = CancelToken()

    def progress(p: Progress) -> None:
        if pause_after is not None and p.done >= pause_after:
            token.cancel("paused by the test")

    outcome = await drive_run(db, prepared.run_id, progress=progress, cancel=token)
    if pause_after is not None:
        assert isinstance(outcome, Paused), outcome
    return prepared.run_id


async def shown(panel: ResultsPanel, batch_id: str) -> None:
    await panel.set_batch(batch_id).wait()
    await settle()


def cells(panel: ResultsPanel, column: Column) -> list[str]:
    return [panel.model.cell(row, column) for row in range(panel.model.rowCount())]


# ---------------------------------------------------------------------------------- panel


async def test_a_graded_batch_shows_ranking_grades_and_why_it_stopped(
    panel: ResultsPanel,
    db: Database,
    demo_batch: str,
    shots: Callable[[QWidget, str], Path],
) -> None:
    await grade(db, demo_batch)
    await shown(panel, demo_batch)
    results = panel.results
    assert results is not None and results.status == "complete"
    assert panel.body.currentIndex() == 0  # the table and chart, not the empty page

    status = panel.status_label.text()
    assert status.startswith("Finished: the ranking is stable (reliability 0.")
    assert "≥ target 0.80" in status
    assert "Grade boundaries from 6 anchor essays" in panel.detail_label.text()

    n = panel.model.rowCount()
    assert n == len(results.lines) == 22
    assert cells(panel, Column.RANK) == [str(k) for k in range(1, n + 1)]
    names = cells(panel, Column.ESSAY)
    students = [line for line in results.lines if not line.is_anchor]
    assert all(line.student for line in students)  # a class batch: students by name
    assert {line.student for line in students} <= set(names)
    assert all(ABILITY.match(text) for text in cells(panel, Column.ABILITY)), cells(
        panel, Column.ABILITY
    )
    assert all(GRADE.match(text) for text in cells(panel, Column.GRADE)), cells(panel, Column.GRADE)
    anchors = [row for row in range(n) if panel.model.line_at(row).is_anchor]
    assert len(anchors) == 6
    for row in anchors:
        line = panel.model.line_at(row)
        assert panel.model.cell(row, Column.ANCHOR) == f"Anchor {line.anchor_grade}"
        icon = panel.model.index(row, Column.ESSAY).data(Qt.ItemDataRole.DecorationRole)
        assert icon is not None and not icon.isNull()
    plain = next(row for row in range(n) if row not in anchors)
    assert panel.model.cell(plain, Column.ANCHOR) == ""
    tip = panel.model.headerData(
        Column.MISFIT, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole
    )
    assert "disagree" in tip

    # the chart: a point per essay, best first from the left, boundaries with grade names
    layout = panel.chart.chart_layout()
    assert len(layout.points) == n
    xs = [p.x for p in layout.points]
    assert xs == sorted(xs) and len(set(xs)) == n
    assert [p.line.rank for p in layout.points] == list(range(1, n + 1))
    ys = [p.y for p in layout.points]
    assert ys == sorted(ys)  # abilities fall from left to right: y grows downwards
    assert all(p.y_high <= p.y <= p.y_low for p in layout.points)
    assert sum(p.line.is_anchor for p in layout.points) == 6
    assert len(layout.boundaries) == len(results.boundaries) == 7
    assert [b.upper for b in layout.boundaries] == ["E", "D", "D+", "C", "C+", "B", "A"]
    assert {band.grade for band in layout.bands} == set(results.grades)
    plot = layout.plot
    assert all(plot.top() <= b.y <= plot.bottom() for b in layout.boundaries)
    assert all(plot.left() < p.x < plot.right() for p in layout.points)
    assert len(layout.y_ticks) >= 3 and layout.x_ticks[0][0] == 1

    # hovering tells the essay; selecting a row marks it; clicking a point selects its row
    top = layout.points[0]
    assert panel.chart.point_at(QPointF(top.x, top.y)) == top
    assert top.line.name in tooltip_text(top.line) and "Grade" in tooltip_text(top.line)
    panel.view.selectRow(3)
    assert panel.chart.highlighted == panel.model.line_at(3).essay_id
    fifth = layout.points[4]
    panel.chart.essay_clicked.emit(fifth.line.essay_id)
    assert panel.selected_line() == fifth.line

    shots(panel, "results-graded")
    panel.chart.resize(900, 520)
    await settle()
    shots(panel.chart, "results-chart")


async def test_sorting_happens_in_the_model(
    panel: ResultsPanel, db: Database, demo_batch: str
) -> None:
    await grade(db, demo_batch)
    await shown(panel, demo_batch)
    header = panel.view.horizontalHeader()
    header.sectionClicked.emit(Column.ESSAY)  # the view's sort, as a click does it
    panel.view.sortByColumn(Column.ESSAY, Qt.SortOrder.AscendingOrder)
    names = [line.name.casefold() for line in panel.model.lines()]
    assert names == sorted(names)
    panel.view.sortByColumn(Column.ABILITY, Qt.SortOrder.AscendingOrder)
    abilities = [line.ability for line in panel.model.lines()]
    assert abilities == sorted(abilities)
    panel.view.sortByColumn(Column.ANCHOR, Qt.SortOrder.AscendingOrder)
    assert all(line.is_anchor for line in panel.model.lines()[:6])
    panel.view.sortByColumn(Column.RANK, Qt.SortOrder.AscendingOrder)
    assert [line.rank for line in panel.model.lines()] == list(range(1, 23))


async def test_export_writes_the_chosen_formats_and_says_where(
    panel: ResultsPanel, db: Database, demo_batch: str, tmp_path: Path, qtbot: QtBot
) -> None:
    await grade(db, demo_batch)
    await shown(panel, demo_batch)
    assert panel.export_button.isEnabled()
    folder = tmp_path / "exported"
    folder.mkdir()

    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    dialog = panel.folder_dialog
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    assert not dialog.isModal() or dialog.windowModality() != Qt.WindowModality.ApplicationModal
    dialog.fileSelected.emit(str(folder))  # the teacher chose the folder
    dialog.reject()
    assert panel.exporting is not None
    await panel.exporting.wait()
    await settle()
    assert sorted(p.name for p in folder.iterdir()) == [
        "results.csv",
        "results.json",
        "results.xlsx",
    ]
    with (folder / "results.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 22 and rows[0]["rank"] == "1"
    text = panel.export_label.text()
    assert "results.csv, results.xlsx, results.json" in text and str(folder) in text

    # CSV only, to another folder
    panel.format_boxes["xlsx"].setChecked(False)
    panel.format_boxes["json"].setChecked(False)
    only = tmp_path / "csv-only"
    operation = panel.export_to(only)
    assert operation is not None
    await operation.wait()
    assert [p.name for p in only.iterdir()] == ["results.csv"]
    # no format chosen: nothing to export
    panel.format_boxes["csv"].setChecked(False)
    assert not panel.export_button.isEnabled()


async def test_a_batch_without_a_run_says_how_to_get_results(
    panel: ResultsPanel, db: Database, shots: Callable[[QWidget, str], Path]
) -> None:
    assignment = create_assignment(db, NewAssignment("Letters"))
    batch = create_batch(db, NewBatch("Not graded", assignment.id))
    await shown(panel, batch.id)
    assert panel.results is None
    assert panel.body.currentIndex() == 1
    assert panel.empty_label.text() == "No results yet: grade this batch on the Grading tab."
    assert not panel.results_area.isVisible()
    assert not panel.export_button.isEnabled()
    shots(panel, "results-empty")


async def test_switching_batches_while_one_loads_shows_the_second(
    panel: ResultsPanel, db: Database, demo_batch: str
) -> None:
    await grade(db, demo_batch)
    assignment = create_assignment(db, NewAssignment("Letters"))
    other = create_batch(db, NewBatch("Not graded", assignment.id))
    first = panel.set_batch(other.id)  # still loading when the teacher opens another batch
    second = panel.set_batch(demo_batch)
    assert second is not first
    await first.wait()
    await second.wait()
    await settle()
    assert panel.results is not None and panel.results.batch_id == demo_batch
    assert panel.model.rowCount() == 22
    assert panel.body.currentIndex() == 0


async def test_a_paused_run_shows_provisional_standings(
    panel: ResultsPanel,
    db: Database,
    demo_batch: str,
    shots: Callable[[QWidget, str], Path],
) -> None:
    await grade(db, demo_batch, pause_after=15)
    await shown(panel, demo_batch)
    results = panel.results
    assert results is not None and results.provisional
    status = panel.status_label.text()
    assert status.startswith("Paused after ") and "provisional" in status
    assert "Resume the run on the Grading tab" in status
    assert panel.model.rowCount() == 22
    assert len(panel.chart.chart_layout().points) == 22
    assert panel.export_button.isEnabled()  # provisional standings can be exported too
    shots(panel, "results-paused")


async def test_the_run_picker_shows_an_older_run(
    panel: ResultsPanel, db: Database, demo_batch: str
) -> None:
    first = await grade(db, demo_batch)
    second = await grade(db, demo_batch)
    await shown(panel, demo_batch)
    assert panel.results is not None and panel.results.run_id == second
    assert panel.run_picker.isVisible() and panel.run_picker.count() == 2
    assert "(newest)" in panel.run_picker.itemText(0)
    position = panel.run_picker.findData(first)
    panel.run_picker.setCurrentIndex(position)
    panel.run_picker.activated.emit(position)
    assert panel.loading is not None
    await panel.loading.wait()
    await wait_until(lambda: panel.results is not None and panel.results.run_id == first)
    assert panel.model.rowCount() == 22


async def test_demo_state_for_screenshots(panel: ResultsPanel, db: Database) -> None:
    shown_results = await demo_state(panel, db)
    assert shown_results is not None and shown_results.lines
    assert panel.selected_line() == shown_results.lines[0]
    again = batch_results(db, shown_results.batch_id)
    assert again is not None and again.run_id == shown_results.run_id


# ---------------------------------------------------------------------------------- chart


def line(rank: int, ability: float, se: float | None = 0.4, **extra: Any) -> ResultLine:
    fields: dict[str, Any] = {
        "rank": rank,
        "essay_id": f"e{rank}",
        "name": f"essay_{rank}.txt",
        "file": f"essay_{rank}.txt",
        "student": None,
        "student_code": None,
        "is_anchor": False,
        "anchor_grade": None,
        "anchor_label": None,
        "ability": ability,
        "se": se,
        "grade": None,
        "grade_probability": None,
        "grade_probabilities": {},
        "confidence": None,
        "comparisons": 6,
        "infit": 1.0,
        "outfit": 1.0,
        "misfit": False,
    }
    fields.update(extra)
    return ResultLine(**fields)


BOUNDS = [GradeBoundary(-1.0, "F", "E"), GradeBoundary(0.0, "E", "C"), GradeBoundary(1.2, "C", "A")]


@pytest.fixture
def chart(qtbot: QtBot) -> AbilityChart:
    widget = AbilityChart()
    qtbot.addWidget(widget)
    widget.resize(800, 460)
    widget.show()
    return widget


def sane(chart: AbilityChart) -> None:
    layout = chart.chart_layout()
    plot = layout.plot
    assert plot.width() > 100 and plot.height() > 100
    for p in layout.points:
        assert plot.left() <= p.x <= plot.right()
        assert plot.top() - 1 <= p.y_high <= p.y <= p.y_low <= plot.bottom() + 1
    assert layout.maximum > layout.minimum
    assert layout.y_ticks and all(
        plot.top() - 1 <= y <= plot.bottom() + 1 for _, y in layout.y_ticks
    )


def test_one_essay(chart: AbilityChart, qtbot: QtBot) -> None:
    chart.set_data([line(1, 0.3)], [])
    sane(chart)
    layout = chart.chart_layout()
    assert len(layout.points) == 1 and not layout.boundaries and not layout.bands
    assert layout.points[0].x == pytest.approx(layout.plot.center().x())


def test_three_hundred_essays(
    chart: AbilityChart, shots: Callable[[QWidget, str], Path], qtbot: QtBot
) -> None:
    import random  # noqa: PLC0415

    rng = random.Random(3)
    abilities = sorted((rng.gauss(0, 1.3) for _ in range(300)), reverse=True)
    lines = [
        line(
            k + 1,
            a,
            0.3 + rng.random() * 0.4,
            is_anchor=k % 50 == 7,
            anchor_grade="C" if k % 50 == 7 else None,
            misfit=k % 37 == 5,
            grade="C",
            grade_probability=0.6,
        )
        for k, a in enumerate(abilities)
    ]
    chart.set_data(list(reversed(lines)), BOUNDS)  # any order in, best first out
    sane(chart)
    layout = chart.chart_layout()
    assert [p.line.rank for p in layout.points] == list(range(1, 301))
    assert all(b.x > a.x for a, b in zip(layout.points, layout.points[1:], strict=False))
    assert len(layout.boundaries) == 3
    assert layout.x_ticks[0][0] == 1 and len(layout.x_ticks) <= 12
    # hit testing finds the nearest essay
    p = layout.points[150]
    found = chart.point_at(QPointF(p.x, p.y))
    assert found is not None and abs(found.line.rank - 151) <= 1
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=QPoint(round(p.x), round(p.y)))  # type: ignore[no-untyped-call]
    assert chart.highlighted is not None
    shots(chart, "chart-300")


def test_no_boundaries_and_equal_abilities(chart: AbilityChart) -> None:
    chart.set_data([line(k, 0.5, se=None) for k in range(1, 6)], [])
    sane(chart)
    layout = chart.chart_layout()
    assert not layout.boundaries
    assert len({round(p.y, 6) for p in layout.points}) == 1
    assert layout.points[0].y_low == layout.points[0].y_high == layout.points[0].y


def test_far_off_boundaries_do_not_squash_the_essays(chart: AbilityChart) -> None:
    bounds = [GradeBoundary(-40.0, "F", "E"), GradeBoundary(0.0, "E", "C")]
    chart.set_data([line(1, 1.0), line(2, -1.0)], bounds)
    layout = chart.chart_layout()
    assert layout.minimum > -3 and [b.upper for b in layout.boundaries] == ["C"]
    assert [band.grade for band in layout.bands] == ["E", "C"]


def test_the_chart_grows_with_its_font(chart: AbilityChart) -> None:
    chart.set_data([line(k, 2.0 - k * 0.3) for k in range(1, 12)], BOUNDS)
    before = chart.chart_layout().plot
    hint = chart.minimumSizeHint()
    font = chart.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    chart.setFont(font)
    chart._cache = None
    after = chart.chart_layout().plot
    assert after.left() > before.left() * 1.5  # room for the larger tick labels
    assert chart.minimumSizeHint().width() > hint.width() * 1.5


def test_nice_steps() -> None:
    assert nice_step(10, 5) == 2
    assert nice_step(7.3, 6) == 2
    assert nice_step(0.9, 4) == pytest.approx(0.5)
    assert nice_step(300, 8) == 50


def test_a_narrow_chart_wraps_its_legend_instead_of_clipping_it(chart: AbilityChart) -> None:
    chart.set_data([line(k, 2.0 - k * 0.3, misfit=k == 3) for k in range(1, 12)], BOUNDS)
    wide = chart.chart_layout()
    small = QFontMetricsF(chart._small_font())
    assert chart._legend_rows(wide.plot.left(), small) == 1
    chart.resize(380, 460)
    narrow = chart.chart_layout()
    assert chart._legend_rows(narrow.plot.left(), small) >= 2
    assert narrow.plot.top() > wide.plot.top()  # room for the legend's second row
