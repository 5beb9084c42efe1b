"""The batch table model: the status groups, search, filter and sort, all inside the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QApplication

from app.db.models import BatchStatus, RunStatus
from app.operations.queries import STATUS_TEXT, BatchRow
from tests.ui.data import generated_rows
from ui.batches import (
    _STATUS_TEXT_SOURCES,
    ROW_ROLE,
    STATUS_GROUPS,
    BatchTableModel,
    Column,
    group_of,
    status_group,
)

ASC = Qt.SortOrder.AscendingOrder
DESC = Qt.SortOrder.DescendingOrder


@pytest.fixture
def model(qapp: QApplication) -> BatchTableModel:
    built = BatchTableModel()
    built.set_rows(generated_rows(300))
    return built


def _cells(model: BatchTableModel, column: Column) -> list[str]:
    return [model.index(r, column).data() for r in range(model.rowCount())]


# ---------------------------------------------------------------------------------- the groups


def test_every_stored_status_is_in_exactly_one_group() -> None:
    for status in BatchStatus:
        holders = [g.key for g in STATUS_GROUPS if status in g.statuses]
        assert len(holders) == 1, (status, holders)
    covered = set().union(*(g.statuses for g in STATUS_GROUPS))
    assert covered == {s.value for s in BatchStatus}


def test_the_teachers_groups_cover_what_they_say() -> None:
    assert status_group("running").statuses == {BatchStatus.PROCESSING}
    assert status_group("attention").statuses == {
        BatchStatus.AWAITING_STUDENT_CONFIRMATION,
        BatchStatus.FAILED,
        BatchStatus.PAUSED,
    }
    assert status_group("graded").statuses == {
        BatchStatus.COMPLETED_SUCCESSFULLY,
        BatchStatus.COMPLETED_WITH_FAILURES,
    }
    assert status_group("waiting").statuses == {BatchStatus.PENDING_CONTENT}
    assert status_group("ready").statuses == {BatchStatus.READY}
    assert status_group("cancelled").statuses == {BatchStatus.CANCELLED}
    assert group_of("processing") is status_group("running")
    assert group_of("something_new") is None
    assert [g.text() for g in STATUS_GROUPS] == [
        "Waiting for essays",
        "Needs attention",
        "Ready to grade",
        "Running",
        "Graded",
        "Cancelled",
    ]


def test_status_texts_offered_for_translation_are_the_apps() -> None:
    assert set(_STATUS_TEXT_SOURCES) == set(STATUS_TEXT.values())


# ---------------------------------------------------------------------------------- filter


@pytest.mark.parametrize("group", STATUS_GROUPS, ids=lambda g: g.key)
def test_status_filter_keeps_exactly_the_groups_statuses(
    model: BatchTableModel, group: object
) -> None:
    rows = generated_rows(300)
    model.set_status_filter(group)  # type: ignore[arg-type]
    shown = model.visible_rows()
    expected = {r.id for r in rows if r.status in group.statuses}  # type: ignore[attr-defined]
    assert {r.id for r in shown} == expected
    assert len(shown) == model.rowCount() == model.group_counts()[group.key]  # type: ignore[attr-defined]


def test_running_and_needs_attention_match_every_state_they_cover(qapp: QApplication) -> None:
    rows = generated_rows(len(BatchStatus) * 3)
    model = BatchTableModel()
    model.set_rows(rows)
    model.set_status_filter("running")
    assert {r.status for r in model.visible_rows()} == {"processing"}
    model.set_status_filter("attention")
    assert {r.status for r in model.visible_rows()} == {
        "awaiting_student_confirmation",
        "failed",
        "paused",
    }
    model.set_status_filter(None)
    assert model.rowCount() == len(rows)


def test_an_unknown_status_is_shown_under_all_only(qapp: QApplication) -> None:
    rows = generated_rows(20, extra_statuses=("archived_by_a_newer_app",))
    model = BatchTableModel()
    model.set_rows(rows)
    strange = [r for r in rows if r.status == "archived_by_a_newer_app"]
    assert strange
    assert model.rowCount() == 20
    assert sum(model.group_counts().values()) == 20 - len(strange)
    for group in STATUS_GROUPS:
        model.set_status_filter(group)
        assert not set(strange) & set(model.visible_rows())
    model.set_status_filter(None)
    position = model.visible_rows().index(strange[0])
    assert model.index(position, Column.STATUS).data() == "Archived by a newer app"


# ---------------------------------------------------------------------------------- search


def test_search_matches_every_word_in_any_column_ignoring_case(model: BatchTableModel) -> None:
    rows = generated_rows(300)
    model.set_search("  BOOK   review ")
    assert model.search_words == ("book", "review")
    assert {r.id for r in model.visible_rows()} == {
        r.id for r in rows if r.assignment_title == "Book review"
    }
    model.set_search("9a phones")
    assert model.visible_rows()
    assert all(
        r.class_name == "9A English" and r.assignment_title == "Phones in school"
        for r in model.visible_rows()
    )
    model.set_search("guest")
    assert {r.id for r in model.visible_rows()} == {r.id for r in rows if r.guest}
    model.set_search("students to confirm")  # the status in a teacher's words
    assert {r.status for r in model.visible_rows()} == {"awaiting_student_confirmation"}
    model.set_search("run paused")  # the progress column
    assert {r.last_run_status for r in model.visible_rows()} == {"paused"}
    model.set_search("no such batch anywhere")
    assert model.rowCount() == 0
    model.set_search("")
    assert model.rowCount() == 300


def test_search_filter_and_sort_combine(model: BatchTableModel) -> None:
    rows = generated_rows(300)
    model.set_status_filter("graded")
    model.set_search("english")
    model.sort(Column.ESSAYS, DESC)
    shown = model.visible_rows()
    expected = [
        r
        for r in rows
        if r.status in ("completed_successfully", "completed_with_failures")
        and r.class_name is not None
        and "english" in r.class_name.lower()
    ]
    assert {r.id for r in shown} == {r.id for r in expected}
    assert [r.essays for r in shown] == sorted((r.essays for r in expected), reverse=True)
    model.set_status_filter(None)  # the sort stays
    assert [r.essays for r in model.visible_rows()] == sorted(
        (r.essays for r in model.visible_rows()), reverse=True
    )


# ---------------------------------------------------------------------------------- sort


def test_default_order_is_newest_update_first(model: BatchTableModel) -> None:
    assert (model.sort_column, model.sort_order) == (Column.UPDATED, DESC)
    updated = [r.updated_at for r in model.visible_rows()]
    assert updated == sorted(updated, reverse=True)


@pytest.mark.parametrize("order", [ASC, DESC], ids=["asc", "desc"])
@pytest.mark.parametrize("column", list(Column), ids=lambda c: c.name.lower())
def test_sort_by_any_column(model: BatchTableModel, column: Column, order: Qt.SortOrder) -> None:
    model.sort(column, order)
    rows = model.visible_rows()
    keys: dict[Column, Callable[[BatchRow], Any]] = {
        Column.TITLE: lambda r: r.title.casefold(),
        Column.CLASS: lambda r: (r.class_name is None, (r.class_name or "").casefold()),
        Column.ASSIGNMENT: lambda r: r.assignment_title.casefold(),
        Column.STATUS: lambda r: list(BatchStatus).index(BatchStatus(r.status)),
        Column.PROGRESS: lambda r: (
            r.last_run_status is not None,
            list(RunStatus).index(RunStatus(r.last_run_status)) if r.last_run_status else 0,
        ),
        Column.ESSAYS: lambda r: r.essays,
        Column.UPDATED: lambda r: r.updated_at,
    }
    key = keys[column]
    values = [key(r) for r in rows]
    assert values == sorted(values, reverse=order == DESC)
    assert model.rowCount() == 300


def test_guest_batches_sort_after_classes_and_ties_go_by_title(qapp: QApplication) -> None:
    base = generated_rows(1)[0]
    rows = [
        replace(base, id="a", title="Zeta", class_id=None, class_name=None),
        replace(base, id="b", title="beta", class_name="9A"),
        replace(base, id="c", title="Alpha", class_name="9A"),
        replace(base, id="d", title="Gamma", class_name="8C"),
    ]
    model = BatchTableModel()
    model.set_rows(rows)
    model.sort(Column.CLASS, ASC)
    assert [r.id for r in model.visible_rows()] == ["d", "c", "b", "a"]
    assert model.index(3, Column.CLASS).data() == "Guest"


def test_sorting_keeps_the_selection_on_its_row(model: BatchTableModel) -> None:
    model.sort(Column.TITLE, ASC)
    chosen = model.row_at(17)
    persistent = QPersistentModelIndex(model.index(17, Column.STATUS))
    model.sort(Column.ESSAYS, DESC)
    assert persistent.isValid()
    assert persistent.column() == Column.STATUS
    assert model.row_at(persistent.row()).id == chosen.id


# ---------------------------------------------------------------------------------- cells


def test_cells_headers_and_roles(qapp: QApplication) -> None:
    when = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
    row = BatchRow(
        id="b1",
        title="Phones in school — 9A",
        class_id="c1",
        class_name="9A English",
        assignment_id="a1",
        assignment_title="Phones in school",
        status="processing",
        essays=28,
        last_run_id="r1",
        last_run_status="running",
        created_at=when - timedelta(days=1),
        updated_at=when,
    )
    model = BatchTableModel()
    model.set_rows([row])
    headers = [
        model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) for c in Column
    ]
    assert headers == [
        "Batch",
        "Class",
        "Assignment",
        "Status",
        "Progress",
        "Essays",
        "Last update",
    ]
    cells = [model.index(0, c).data() for c in Column]
    local = when.astimezone().strftime("%Y-%m-%d %H:%M")
    assert cells == [
        "Phones in school — 9A",
        "9A English",
        "Phones in school",
        "Grading",
        "Run in progress",
        "28",
        local,
    ]
    assert model.index(0, 0).data(ROW_ROLE) is row
    assert model.index(0, Column.STATUS).data(Qt.ItemDataRole.DecorationRole) is not None
    assert model.index(0, Column.STATUS).data(Qt.ItemDataRole.ToolTipRole) == "Filter: Running"
    align = model.index(0, Column.ESSAYS).data(Qt.ItemDataRole.TextAlignmentRole)
    assert align & int(Qt.AlignmentFlag.AlignRight)
    assert model.rowCount(model.index(0, 0)) == 0  # a table: no children
    assert model.index(5, 0).data() is None
    assert model.data(QModelIndex()) is None


def test_signals_and_counts(model: BatchTableModel) -> None:
    changes: list[bool] = []
    model.rows_changed.connect(lambda: changes.append(True))
    model.set_search("draft")
    model.set_search("draft")  # unchanged: no reset
    model.sort(Column.TITLE, ASC)
    assert len(changes) == 2
    assert model.total_count() == 300
    assert model.rowCount() < 300
