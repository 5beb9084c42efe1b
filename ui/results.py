"""The Results panel of a batch: what the run concluded, the ranking, the chart and the export.

:class:`ResultsPanel` loads :func:`app.operations.results.batch_results` through the task
runner (a worker thread; it never opens a database session) and shows:

* the run's status and why it stopped, in plain words (a paused or running run's standings
  are marked provisional; a fit that did not converge is said so; anchors that disagree with
  the judge are named, and without anchors it says grades need them and how to add them);
* a run picker when the batch has had more than one run;
* the ranking (:class:`ResultsTableModel`, sorted inside the model): rank, essay (student, or
  file name in a guest batch), ability with its 95 % interval, grade with its probability,
  comparisons, misfit flag, anchor badge and a review mark on an essay with text addressed to an
  AI grader (the grade cell says "check", the Review column names it; the text taken out of the
  judge's copy is in the tooltips, and such a grade is never of high confidence);
* the :class:`~ui.ability_chart.AbilityChart` beside it (a splitter); selecting a row marks the
  essay in the chart, clicking a point selects its row;
* *Export…*: CSV, XLSX and JSON check boxes and a folder chosen in a non-modal file dialog;
  the files are written by :func:`app.operations.results.export_batch_results` through the
  runner, and the panel then says where they are.

Without a run that has something to show, it says so: "No results yet: grade this batch on
the Grading tab."
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from enum import IntEnum
from functools import partial
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QStandardPaths,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QBrush, QFont, QIcon, QPainter, QPixmap, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.operations.base import Completed, Failed
from app.operations.queries import RunRow, describe_stop, list_batches
from app.operations.results import (
    EXPORT_FORMATS,
    BatchResults,
    ExportedResults,
    ResultLine,
    batch_results,
    export_batch_results,
)
from core.stopping import StopReason
from ui.ability_chart import (
    ANCHOR_COLOR,
    MISFIT_COLOR,
    AbilityChart,
    ability_text,
    grade_text,
    tooltip_text,
)
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

Index = QModelIndex | QPersistentModelIndex

NO_RESULTS = QT_TRANSLATE_NOOP(
    "ResultsPanel", "No results yet: grade this batch on the Grading tab."
)

# ---------------------------------------------------------------------------------- words


def _reliability(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _target(results: BatchResults) -> float | None:
    target = results.report.settings.get("target_reliability")
    return float(target) if isinstance(target, int | float) else None


def _figures(results: BatchResults) -> str:
    """``"reliability 0.86 ≥ target 0.80"`` (or without the target)."""
    rel, target = results.reliability, _target(results)
    if rel is None:
        return translate("ResultsPanel", "no reliability figure yet")
    if target is None:
        return translate("ResultsPanel", "reliability {r}").format(r=_reliability(rel))
    sign = "≥" if rel >= target else "<"
    return translate("ResultsPanel", "reliability {r} {sign} target {t}").format(
        r=_reliability(rel), sign=sign, t=f"{target:.2f}"
    )


def _reason(reason: str | None) -> str:
    words = {
        StopReason.STABLE: QT_TRANSLATE_NOOP("StopReason", "the ranking is stable"),
        StopReason.PRECISE: QT_TRANSLATE_NOOP(
            "StopReason", "every essay's place is known precisely enough"
        ),
        StopReason.BUDGET_REACHED: QT_TRANSLATE_NOOP(
            "StopReason", "the budget of comparisons was used"
        ),
        StopReason.NO_PAIRS_LEFT: QT_TRANSLATE_NOOP("StopReason", "every useful pair was compared"),
        StopReason.FORCED_RECOVERY: QT_TRANSLATE_NOOP(
            "StopReason", "no progress for too long, so it was graded from what was judged"
        ),
        StopReason.INSUFFICIENT_ESSAYS: QT_TRANSLATE_NOOP(
            "StopReason", "fewer than 2 essays to compare"
        ),
        StopReason.TOO_MANY_FAILURES: QT_TRANSLATE_NOOP(
            "StopReason", "too many comparisons failed"
        ),
        StopReason.STALLED: QT_TRANSLATE_NOOP(
            "StopReason", "no progress for too long, with too little judged to grade"
        ),
        StopReason.CANCELLED: QT_TRANSLATE_NOOP("StopReason", "it was cancelled"),
    }
    try:
        return translate("StopReason", words[StopReason(reason or "")])
    except (KeyError, ValueError):
        return describe_stop(reason)


def status_sentence(results: BatchResults) -> str:
    """What the run concluded, in a teacher's words (the panel's first line)."""
    status, n = results.status, results.comparisons
    if status == "complete":
        return translate("ResultsPanel", "Finished: {reason} ({figures}).").format(
            reason=_reason(results.report.stop_reason), figures=_figures(results)
        )
    if status == "paused":
        return english_plural(
            translate(
                "ResultsPanel",
                "Paused after %n comparison(s): these standings are provisional ({figures}). "
                "Resume the run on the Grading tab to finish it.",
                "",
                n,
            ),
            n,
        ).format(figures=_figures(results))
    if status == "running":
        return english_plural(
            translate(
                "ResultsPanel",
                "Grading in progress: provisional standings after %n comparison(s) ({figures}).",
                "",
                n,
            ),
            n,
        ).format(figures=_figures(results))
    if status == "cancelled":
        return english_plural(
            translate(
                "ResultsPanel",
                "Cancelled: these results come from the %n comparison(s) judged before "
                "({figures}).",
                "",
                n,
            ),
            n,
        ).format(figures=_figures(results))
    if status == "failed":
        return translate("ResultsPanel", "Grading failed: {reason}.").format(
            reason=_reason(results.report.stop_reason)
        )
    return translate("ResultsPanel", "The run is {status}.").format(status=status.replace("_", " "))


def detail_sentence(results: BatchResults) -> str:
    """The second line: judge, comparisons, cost; grades; convergence."""
    settings = results.report.settings
    parts = [
        english_plural(
            translate(
                "ResultsPanel",
                "Judged by {model} in %n comparison(s), cost ${cost}.",
                "",
                results.comparisons,
            ),
            results.comparisons,
        ).format(
            model=settings.get("model") or settings.get("provider") or "?",
            cost=f"{results.report.cost_usd:.2f}",
        )
    ]
    anchors = sum(1 for line in results.lines if line.is_anchor)
    if results.boundaries:
        parts.append(
            english_plural(
                translate(
                    "ResultsPanel",
                    "Grade boundaries from %n anchor essay(s) on the scale {scale}.",
                    "",
                    anchors,
                ),
                anchors,
            ).format(scale=results.scale_name or results.scale_id)
        )
    elif results.lines:
        parts.append(
            translate(
                "ResultsPanel",
                "No grades: the batch needs anchor essays with at least two different grades; "
                "the essays are ranked only. Add anchors to the batch's assignment (or with "
                "`huleedu import anchors`), then grade the batch again.",
            )
        )
    if results.boundaries and results.anchors.state in ("disagree", "fails"):
        names = ", ".join(results.anchors.disagreeing)
        if results.anchors.state == "fails":
            parts.append(
                translate(
                    "ResultsPanel",
                    "Warning: the anchors disagree with the judge's order ({names}); every grade "
                    "is uncertain and has at most low confidence. Check the anchors' grades.",
                ).format(names=names)
            )
        else:
            parts.append(
                translate(
                    "ResultsPanel",
                    "Warning: anchors {names} disagree with the judge's order; grades near "
                    "theirs have at most medium confidence.",
                ).format(names=names)
            )
    if results.fit_converged is False:
        parts.append(
            translate(
                "ResultsPanel",
                "Warning: the statistical fit did not converge, so treat the abilities with care.",
            )
        )
    return " ".join(parts)


def run_choice_text(run: RunRow, newest: bool) -> str:
    when = run.created_at.astimezone().strftime("%Y-%m-%d %H:%M") if run.created_at else "?"
    words = {
        "complete": translate("ResultsPanel", "finished"),
        "paused": translate("ResultsPanel", "paused"),
        "running": translate("ResultsPanel", "running"),
        "cancelled": translate("ResultsPanel", "cancelled"),
        "failed": translate("ResultsPanel", "failed"),
        "created": translate("ResultsPanel", "not started"),
    }.get(run.status, run.status.replace("_", " "))
    text = translate("ResultsPanel", "Run of {when}, {status}").format(when=when, status=words)
    if newest:
        text += translate("ResultsPanel", " (newest)")
    return text


# ---------------------------------------------------------------------------------- the model


class Column(IntEnum):
    RANK = 0
    ESSAY = 1
    ABILITY = 2
    GRADE = 3
    COMPARISONS = 4
    MISFIT = 5
    ANCHOR = 6
    FLAG = 7


HEADERS: dict[Column, str] = {
    Column.RANK: QT_TRANSLATE_NOOP("ResultsTable", "Rank"),
    Column.ESSAY: QT_TRANSLATE_NOOP("ResultsTable", "Essay"),
    Column.ABILITY: QT_TRANSLATE_NOOP("ResultsTable", "Ability (95 % interval)"),
    Column.GRADE: QT_TRANSLATE_NOOP("ResultsTable", "Grade"),
    Column.COMPARISONS: QT_TRANSLATE_NOOP("ResultsTable", "Compared"),
    Column.MISFIT: QT_TRANSLATE_NOOP("ResultsTable", "Fit"),
    Column.ANCHOR: QT_TRANSLATE_NOOP("ResultsTable", "Anchor"),
    Column.FLAG: QT_TRANSLATE_NOOP("ResultsTable", "Review"),
}
HEADER_TIPS: dict[Column, str] = {
    Column.RANK: QT_TRANSLATE_NOOP("ResultsTable", "1 is the strongest essay"),
    Column.ESSAY: QT_TRANSLATE_NOOP(
        "ResultsTable", "The student, or the file name in a batch without a class"
    ),
    Column.ABILITY: QT_TRANSLATE_NOOP(
        "ResultsTable",
        "Where the essay sits on the ability scale (logits), with the range that holds its "
        "true place with 95 % probability",
    ),
    Column.GRADE: QT_TRANSLATE_NOOP(
        "ResultsTable", "The most likely grade, and how likely it is (from the anchors)"
    ),
    Column.COMPARISONS: QT_TRANSLATE_NOOP("ResultsTable", "How many times it was compared"),
    Column.MISFIT: QT_TRANSLATE_NOOP(
        "ResultsTable", "Misfit: the verdicts on this essay disagree more than expected"
    ),
    Column.ANCHOR: QT_TRANSLATE_NOOP(
        "ResultsTable", "Anchor essays have a known grade; they set the grade boundaries"
    ),
    Column.FLAG: QT_TRANSLATE_NOOP(
        "ResultsTable",
        "Check these grades yourself: the essay addressed the AI grader. That text was taken "
        "out of what the judge read, and the grade is never given high confidence",
    ),
}
_RIGHT = (Column.RANK, Column.COMPARISONS)

LINE_ROLE = Qt.ItemDataRole.UserRole
"""``data(index, LINE_ROLE)`` is the row's :class:`ResultLine`."""


def _misfit_tip() -> str:
    return translate(
        "ResultsTable",
        "Misfit: the judge's verdicts on this essay disagree with each other more than "
        "expected (infit or outfit above the limit). Its place is less certain than the "
        "interval says; read it yourself.",
    )


_TIP_SPAN_CHARS = 300


def _review_tip(line: ResultLine) -> str:
    """What the review mark says: the text taken out of the judge's copy, and what to do."""
    spans = [
        p if len(p) <= _TIP_SPAN_CHARS else p[: _TIP_SPAN_CHARS - 1] + "…"
        for p in line.addressed_to_grader
    ]
    return translate(
        "ResultsTable",
        "This essay contains text addressed to an AI grader:<br>{phrases}<br>It was taken out "
        "of what the judge read (the judge saw “[text addressed to the grader removed]”), and "
        "the grade is given at most medium confidence (here: {confidence}). Check this essay's "
        "place and grade yourself.",
    ).format(
        phrases="<br>".join(f"“{escape(p)}”" for p in spans),
        confidence=line.confidence or "—",
    )


class _Entry:
    __slots__ = ("cells", "keys", "line")

    def __init__(self, line: ResultLine) -> None:
        self.line = line
        misfit = translate("ResultsTable", "Misfit") if line.misfit else ""
        anchor = ""
        if line.is_anchor:
            anchor = (
                translate("ResultsTable", "Anchor {grade}")
                .format(grade=line.anchor_grade or "")
                .strip()
            )
        flagged = bool(line.addressed_to_grader)
        grade = grade_text(line)
        if flagged and grade:
            grade = translate("ResultsTable", "{grade} · check").format(grade=grade)
        self.cells: tuple[str, ...] = (
            str(line.rank),
            line.name,
            ability_text(line),
            grade,
            str(line.comparisons),
            misfit,
            anchor,
            translate("ResultsTable", "Check: to the AI") if flagged else "",
        )
        name = line.name.casefold()
        self.keys: tuple[Any, ...] = (
            line.rank,
            (name, line.rank),
            (line.ability, line.rank),
            (line.grade is None, line.ability, line.rank),
            (line.comparisons, line.rank),
            (not line.misfit, line.rank),
            (not line.is_anchor, line.rank),
            (not line.addressed_to_grader, line.rank),
        )


class ResultsTableModel(QAbstractTableModel):
    """A run's rows, sorted inside the model (rank first by default)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[_Entry] = []
        self._sort_column = Column.RANK
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._anchor_icon: QIcon | None = None
        self._bold = QFont()
        self._bold.setBold(True)

    def set_lines(self, lines: Sequence[ResultLine]) -> None:
        self.beginResetModel()
        self._entries = self._sorted([_Entry(line) for line in lines])
        self.endResetModel()

    def lines(self) -> list[ResultLine]:
        """The rows in the order shown."""
        return [entry.line for entry in self._entries]

    def line_at(self, row: int) -> ResultLine:
        return self._entries[row].line

    def row_of(self, essay_id: str) -> int | None:
        for row, entry in enumerate(self._entries):
            if entry.line.essay_id == essay_id:
                return row
        return None

    def cell(self, row: int, column: Column) -> str:
        return self._entries[row].cells[column]

    @property
    def sort_column(self) -> Column:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    def _sorted(self, entries: list[_Entry]) -> list[_Entry]:
        column = int(self._sort_column)
        return sorted(
            entries,
            key=lambda entry: entry.keys[column],
            reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
        )

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(Column):
            return
        self._sort_column = Column(column)
        self._sort_order = order
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        ids = [self._entries[index.row()].line.essay_id for index in old]
        self._entries = self._sorted(self._entries)
        position = {entry.line.essay_id: row for row, entry in enumerate(self._entries)}
        moved = [self.index(position[i], index.column()) for i, index in zip(ids, old, strict=True)]
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ Qt's model API

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        column = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return translate("ResultsTable", HEADERS[column])
        if role == Qt.ItemDataRole.ToolTipRole:
            return translate("ResultsTable", HEADER_TIPS[column])
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _RIGHT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        column = Column(index.column())
        line = entry.line
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.cells[column]
        if role == LINE_ROLE:
            return line
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.MISFIT and line.misfit:
                return _misfit_tip()
            if column == Column.ANCHOR and line.is_anchor:
                return translate(
                    "ResultsTable",
                    "An anchor essay: its grade {grade} is known; the anchors set the grade "
                    "boundaries.",
                ).format(grade=line.anchor_grade or "?")
            if column in (Column.FLAG, Column.GRADE) and line.addressed_to_grader:
                return _review_tip(line)
            if column == Column.ESSAY and line.file:
                return f"{tooltip_text(line)}<br>{line.file}"
            return tooltip_text(line)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _RIGHT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column in (Column.MISFIT, Column.FLAG) and (
                line.misfit if column == Column.MISFIT else line.addressed_to_grader
            ):
                return QBrush(MISFIT_COLOR)
            if column == Column.ANCHOR and line.is_anchor:
                return QBrush(ANCHOR_COLOR.darker(115))
        if role == Qt.ItemDataRole.FontRole and column == Column.ANCHOR and line.is_anchor:
            return self._bold
        if role == Qt.ItemDataRole.DecorationRole and column == Column.ESSAY and line.is_anchor:
            return self.anchor_icon()
        return None

    def anchor_icon(self) -> QIcon:
        """The chart's anchor diamond, as the table's badge."""
        if self._anchor_icon is None:
            size = 14
            pixmap = QPixmap(size * 2, size * 2)
            pixmap.setDevicePixelRatio(2.0)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(ANCHOR_COLOR.darker(130))
            painter.setBrush(ANCHOR_COLOR)
            c, r = size / 2, size * 0.36
            painter.drawPolygon(
                [QPointF(c, c - r), QPointF(c + r, c), QPointF(c, c + r), QPointF(c - r, c)]
            )
            painter.end()
            self._anchor_icon = QIcon(pixmap)
        return self._anchor_icon


# ---------------------------------------------------------------------------------- the panel


class ResultsPanel(QWidget):
    """A batch's results: status, run picker, ranking table, ability chart and export.

    :meth:`set_batch` shows a batch (its newest run with something to show);
    :meth:`reload` loads it again (F5, or when the panel is shown). ``loaded`` is emitted
    after each load; ``exported`` carries the :class:`ExportedResults` of an export.
    """

    loaded = Signal()
    exported = Signal(object)

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsPanel")
        self.db = db
        self.runner = runner
        self.batch_id: str | None = None
        self.results: BatchResults | None = None
        self.last_failure: Failed | None = None
        self.loading: Operation[BatchResults | None] | None = None
        self._loading_for: tuple[str | None, str | None] = (None, None)
        self.exporting: Operation[ExportedResults] | None = None
        self.last_export: ExportedResults | None = None
        self.folder_dialog: QFileDialog | None = None
        self._chosen_run: str | None = None
        self._export_folder = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        ) or str(Path.home())

        # --- status
        self.status_label = QLabel()
        self.status_label.setObjectName("resultsStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        font = self.status_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.status_label.setFont(font)
        self.detail_label = QLabel()
        self.detail_label.setObjectName("resultsDetail")
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextFormat(Qt.TextFormat.PlainText)

        self.run_label = QLabel(translate("ResultsPanel", "&Run:"))
        self.run_picker = QComboBox()
        self.run_picker.setObjectName("runPicker")
        self.run_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.run_label.setBuddy(self.run_picker)
        self.run_picker.activated.connect(self._on_run_chosen)

        # --- export
        self.format_boxes: dict[str, QCheckBox] = {}
        labels = {"csv": "&CSV", "xlsx": "&XLSX", "json": "&JSON"}
        for fmt in EXPORT_FORMATS:
            box = QCheckBox(translate("ResultsPanel", labels[fmt]))
            box.setObjectName(f"format_{fmt}")
            box.setChecked(True)
            box.toggled.connect(self._update_buttons)
            self.format_boxes[fmt] = box
        self.format_boxes["csv"].setToolTip(
            translate("ResultsPanel", "results.csv: one row per essay, for any spreadsheet")
        )
        self.format_boxes["xlsx"].setToolTip(
            translate("ResultsPanel", "results.xlsx: the same rows as an Excel workbook")
        )
        self.format_boxes["json"].setToolTip(
            translate(
                "ResultsPanel", "results.json: the rows, every grade's probability and the run"
            )
        )
        self.export_button = QPushButton(translate("ResultsPanel", "&Export…"))
        self.export_button.setObjectName("exportButton")
        self.export_button.setToolTip(
            translate("ResultsPanel", "Save the results in the chosen formats to a folder")
        )
        self.export_button.clicked.connect(self.choose_export_folder)
        self.export_label = QLabel()
        self.export_label.setObjectName("exportLabel")
        self.export_label.setWordWrap(True)
        self.export_label.setTextFormat(Qt.TextFormat.RichText)
        self.export_label.setOpenExternalLinks(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)

        top = QHBoxLayout()
        texts = QVBoxLayout()
        texts.addWidget(self.status_label)
        texts.addWidget(self.detail_label)
        top.addLayout(texts, 1)
        picker = QHBoxLayout()
        picker.addWidget(self.run_label)
        picker.addWidget(self.run_picker)
        top.addLayout(picker)
        top.setAlignment(picker, Qt.AlignmentFlag.AlignTop)

        tools = QHBoxLayout()
        tools.addWidget(self.export_label, 1)
        for box in self.format_boxes.values():
            tools.addWidget(box)
        tools.addWidget(self.export_button)

        # --- table and chart
        self.model = ResultsTableModel(self)
        self.view = QTableView()
        self.view.setObjectName("resultsTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setShowGrid(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicator(self.model.sort_column, self.model.sort_order)
        self.view.setSortingEnabled(True)
        self.view.selectionModel().currentRowChanged.connect(self._on_row_changed)

        self.chart = AbilityChart()
        self.chart.essay_clicked.connect(self.select_essay)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("resultsSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.chart)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self._user_split = False
        self.splitter.splitterMoved.connect(self._splitter_moved)

        self.empty_label = QLabel()
        self.empty_label.setObjectName("resultsEmpty")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        empty_page = QWidget()
        empty_layout = QVBoxLayout(empty_page)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty_label)
        empty_layout.addStretch(2)

        self.body = QStackedWidget()
        self.body.addWidget(self.splitter)
        self.body.addWidget(empty_page)

        self.results_area = QWidget()
        area = QVBoxLayout(self.results_area)
        area.setContentsMargins(0, 0, 0, 0)
        area.addLayout(top)
        area.addLayout(tools)

        layout = QVBoxLayout(self)
        layout.addWidget(self.results_area)
        layout.addWidget(self.body, 1)

        self.setTabOrder(self.run_picker, self.view)
        self.setTabOrder(self.view, self.format_boxes["csv"])
        self.setTabOrder(self.format_boxes["csv"], self.format_boxes["xlsx"])
        self.setTabOrder(self.format_boxes["xlsx"], self.format_boxes["json"])
        self.setTabOrder(self.format_boxes["json"], self.export_button)
        self._show()

    # ------------------------------------------------------------------ loading

    def set_batch(self, batch_id: str) -> Operation[BatchResults | None]:
        """Show ``batch_id``: its newest run with results (or verdicts so far)."""
        if batch_id != self.batch_id:
            self.batch_id = batch_id
            self._chosen_run = None
            self.results = None
            self.last_export = None
            self.export_label.clear()
            self._show()
        return self.reload()

    def reload(self) -> Operation[BatchResults | None]:
        """Load the batch's results again in a worker thread (the running load, if it is of
        this batch and run: a load of the batch shown before is left to be ignored)."""
        wanted = (self.batch_id, self._chosen_run)
        if self.loading is not None and not self.loading.done and self._loading_for == wanted:
            return self.loading
        self._loading_for = wanted
        self.loading = self.runner.start_blocking(
            translate("ResultsPanel", "Loading results"),
            partial(_load, self.db, self.batch_id, self._chosen_run),
            show_failure=False,
            on_done=self._on_loaded,
        )
        self._show()
        return self.loading

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        """Load again whenever the tab is shown (a run may have ended meanwhile)."""
        super().showEvent(event)
        if not event.spontaneous() and self.batch_id is not None:
            self.reload()

    def _on_loaded(self, operation: Operation[BatchResults | None]) -> None:
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.last_failure = None
            results = outcome.value
            if results is not None and results.batch_id != self.batch_id:
                return  # a load of the batch shown before
            selected = self.selected_line()
            self.results = results
            lines = results.lines if results is not None else ()
            self.model.set_lines(lines)
            self.chart.set_data(lines, results.boundaries if results is not None else ())
            self._fill_runs()
            self._fit_columns()
            if selected is not None:
                self.select_essay(selected.essay_id)
        elif isinstance(outcome, Failed):
            self.last_failure = outcome
        self._show()
        self.loaded.emit()

    # ------------------------------------------------------------------ presentation

    def _show(self) -> None:
        results = self.results
        loading = self.loading is not None and not self.loading.done
        if self.last_failure is not None:
            notice = translate("ResultsPanel", "The results could not be loaded. {why}").format(
                why=self.last_failure.message
            )
        elif results is None:
            if self.batch_id is None or (loading and self.loading is not None):
                notice = translate("ResultsPanel", "Loading results…") if loading else ""
            else:
                notice = translate("ResultsPanel", NO_RESULTS)
        elif not results.lines:
            notice = (
                status_sentence(results)
                + " "
                + translate("ResultsPanel", "This run has no results to show.")
            )
        else:
            notice = ""
        self.empty_label.setText(notice)
        self.body.setCurrentIndex(1 if notice else 0)
        self.results_area.setVisible(results is not None)
        if results is not None:
            self.status_label.setText(status_sentence(results))
            self.detail_label.setText(detail_sentence(results))
        self._update_buttons()

    def _fill_runs(self) -> None:
        results = self.results
        self.run_picker.blockSignals(True)
        self.run_picker.clear()
        if results is not None:
            for position, run in enumerate(results.runs):
                self.run_picker.addItem(run_choice_text(run, position == 0), run.id)
            self.run_picker.setCurrentIndex(max(self.run_picker.findData(results.run_id), 0))
        self.run_picker.blockSignals(False)
        several = results is not None and len(results.runs) > 1
        self.run_picker.setVisible(several)
        self.run_label.setVisible(several)

    def _fit_columns(self) -> None:
        self.view.resizeColumnsToContents()
        header = self.view.horizontalHeader()
        metrics = header.fontMetrics()
        for column in Column:
            room = metrics.horizontalAdvance(translate("ResultsTable", HEADERS[column])) + 30
            if header.sectionSize(column) < room:
                header.resizeSection(column, room)
        header.resizeSection(Column.ESSAY, min(header.sectionSize(Column.ESSAY), 260))
        self._share_width()

    def _share_width(self) -> None:
        """Give the table the width its columns need (up to 60 %), the chart the rest."""
        total = self.splitter.width()
        if self._user_split or total <= 0 or self.model.rowCount() == 0:
            return
        header = self.view.horizontalHeader()
        wanted = sum(header.sectionSize(c) for c in Column) + self.view.frameWidth() * 2
        wanted += self.view.verticalScrollBar().sizeHint().width() + 6
        chart_min = self.chart.minimumSizeHint().width()
        table = max(min(wanted, round(total * 0.6), total - chart_min), total // 3)
        self.splitter.setSizes([table, total - table])

    def _splitter_moved(self, _pos: int, _index: int) -> None:
        self._user_split = True

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._share_width()

    def _update_buttons(self) -> None:
        has_rows = self.results is not None and bool(self.results.lines)
        busy = self.exporting is not None and not self.exporting.done
        self.export_button.setEnabled(has_rows and not busy and bool(self.chosen_formats()))

    def chosen_formats(self) -> list[str]:
        return [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]

    # ------------------------------------------------------------------ selection

    def selected_line(self) -> ResultLine | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.line_at(rows[0].row()) if rows else None

    def select_essay(self, essay_id: str) -> bool:
        row = self.model.row_of(essay_id)
        if row is None:
            return False
        self.view.selectRow(row)
        self.view.scrollTo(self.model.index(row, 0))
        return True

    def _on_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.chart.set_highlighted(self.model.line_at(current.row()).essay_id)
        else:
            self.chart.set_highlighted(None)

    def _on_run_chosen(self, position: int) -> None:
        run_id = self.run_picker.itemData(position)
        if isinstance(run_id, str) and (self.results is None or run_id != self.results.run_id):
            self._chosen_run = run_id
            self.reload()

    # ------------------------------------------------------------------ export

    def choose_export_folder(self) -> QFileDialog:
        """Open a (non-modal) folder dialog; choosing a folder exports to it."""
        if self.folder_dialog is not None:
            self.folder_dialog.raise_()
            return self.folder_dialog
        dialog = QFileDialog(
            self, translate("ResultsPanel", "Choose a folder for the results"), self._export_folder
        )
        dialog.setObjectName("exportFolderDialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setLabelText(
            QFileDialog.DialogLabel.Accept, translate("ResultsPanel", "Export here")
        )
        dialog.fileSelected.connect(self.export_to)
        dialog.finished.connect(self._folder_dialog_closed)
        self.folder_dialog = dialog
        dialog.open()
        return dialog

    def _folder_dialog_closed(self, _code: int) -> None:
        if self.folder_dialog is not None:
            self.folder_dialog.deleteLater()
            self.folder_dialog = None

    def export_to(self, folder: str | Path) -> Operation[ExportedResults] | None:
        """Write the chosen formats of the shown results into ``folder`` (through the
        runner); the panel then says where the files are."""
        results = self.results
        if results is None or not results.lines:
            return None
        self._export_folder = str(folder)
        self.export_label.setText(translate("ResultsPanel", "Exporting…"))
        self.exporting = self.runner.start_blocking(
            translate("ResultsPanel", "Exporting results"),
            partial(export_batch_results, results, Path(folder), self.chosen_formats()),
            show_failure=True,
            on_done=self._on_exported,
        )
        self._update_buttons()
        return self.exporting

    def _on_exported(self, operation: Operation[ExportedResults]) -> None:
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            done = outcome.value
            self.last_export = done
            names = ", ".join(p.name for p in done.files)
            url = QUrl.fromLocalFile(str(done.folder)).toString()
            folder = _html(str(done.folder))
            self.export_label.setText(
                translate("ResultsPanel", 'Saved {names} in <a href="{url}">{folder}</a>.').format(
                    names=_html(names), url=url, folder=folder
                )
            )
            self.exported.emit(done)
        elif isinstance(outcome, Failed):
            self.export_label.setText(
                _html(translate("ResultsPanel", "Not exported: {why}").format(why=outcome.message))
            )
        else:
            self.export_label.clear()
        self._update_buttons()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _load(
    db: Database, batch_id: str | None, run_id: str | None, **_operation: object
) -> BatchResults | None:
    """The panel's load operation (runs in a worker thread)."""
    if batch_id is None:
        return None
    return batch_results(db, batch_id, run_id)


# ---------------------------------------------------------------------------------- demo


async def demo_state(panel: ResultsPanel, db: Database) -> BatchResults | None:
    """Put ``panel`` in a state worth a screenshot: the newest graded batch in ``db`` (the
    demo batch is graded by the simulated judge first if no batch is graded), its best essay
    selected. Returns what it shows."""
    loop = asyncio.get_running_loop()
    batches = await loop.run_in_executor(None, list_batches, db)
    graded = [b for b in batches if b.last_run_status == "complete"]
    if graded:
        batch_id = graded[-1].id
    else:
        from app.operations.runs import (  # noqa: PLC0415  (only for the demo)
            FolderRunRequest,
            drive_run,
            prepare_folder_run,
        )
        from app.paths import resources_dir  # noqa: PLC0415

        demo = resources_dir() / "demo"
        request = FolderRunRequest(
            [demo / "essays"], title="Phones in school (graded)", anchors=demo / "anchors"
        )
        prepared = await loop.run_in_executor(
            None, partial(prepare_folder_run, db, request, {"sim_speed": 1000.0})
        )
        await drive_run(db, prepared.run_id)
        batch_id = prepared.batch_id
    await panel.set_batch(batch_id).wait()
    if panel.results is not None and panel.results.lines:
        panel.select_essay(panel.results.lines[0].essay_id)
    return panel.results
