"""Match review: which student wrote each essay of a class batch.

:class:`MatchReviewPanel` lists every student essay with its student, or the suggested student
and how sure the suggestion is (*High*, *Medium*, *Low* and the score). The teacher selects an
essay, reads its beginning, and accepts the suggestion or picks another student of the class
(the suggestions first); *Accept all high-confidence* settles every essay whose one sure
suggestion points to a free student. Below, the two lists of what is still open: essays without
a student and students without an essay.

Every decision is saved at once with :func:`app.operations.intake.confirm_match` (through the
task runner, in a worker thread), so closing the window half-way loses nothing. A guest batch has
no roster: the panel says matching is not needed.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QItemSelection,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.intake.matching_store import EssayMatch, MatchOverview
from app.operations.base import Completed, Failed
from app.operations.intake import MatchDecision, MatchUpdate, confirm_match
from app.operations.matching import (
    Confidence,
    MatchReview,
    confidence_of,
    first_words,
    high_confidence_decisions,
    match_review,
)
from app.operations.queries import StudentRow
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

Index = QModelIndex | QPersistentModelIndex

NOT_IN_CLASS = ""
"""The student combo's data for *Not in this class* (the writer is not on the roster)."""

CONFIDENCE_TEXT: dict[Confidence, str] = {
    Confidence.HIGH: QT_TRANSLATE_NOOP("MatchReview", "High"),
    Confidence.MEDIUM: QT_TRANSLATE_NOOP("MatchReview", "Medium"),
    Confidence.LOW: QT_TRANSLATE_NOOP("MatchReview", "Low"),
}
CONFIDENCE_COLOR: dict[Confidence, str] = {
    Confidence.HIGH: "#2e7d32",
    Confidence.MEDIUM: "#ef6c00",
    Confidence.LOW: "#c62828",
}
SOURCE_TEXT: dict[str, str] = {
    "code": QT_TRANSLATE_NOOP("MatchReview", "student code"),
    "email": QT_TRANSLATE_NOOP("MatchReview", "e-mail address"),
    "file_name": QT_TRANSLATE_NOOP("MatchReview", "file name"),
    "header": QT_TRANSLATE_NOOP("MatchReview", "name line in the text"),
    "first_line": QT_TRANSLATE_NOOP("MatchReview", "first line of the text"),
}


def confidence_text(score: float) -> str:
    """``High (0.94)``: the teacher's word and the number."""
    word = translate("MatchReview", CONFIDENCE_TEXT[confidence_of(score)])
    return f"{word} ({score:.2f})"


def file_name(essay: EssayMatch) -> str:
    return (essay.source_file or essay.essay_id).rsplit("/", 1)[-1]


def state_text(essay: EssayMatch) -> str:
    if not essay.confirmed:
        return translate("MatchReview", "Waiting for you")
    if essay.student_id is None:
        return translate("MatchReview", "Not in this class")
    if essay.match_source == "auto":
        return translate("MatchReview", "Matched automatically")
    return translate("MatchReview", "Confirmed")


# ---------------------------------------------------------------------------------- the model


class Column(IntEnum):
    ESSAY = 0
    STUDENT = 1
    CONFIDENCE = 2
    STATE = 3
    BEGINS = 4


HEADERS: dict[Column, str] = {
    Column.ESSAY: QT_TRANSLATE_NOOP("MatchTable", "Essay"),
    Column.BEGINS: QT_TRANSLATE_NOOP("MatchTable", "Begins with"),
    Column.STUDENT: QT_TRANSLATE_NOOP("MatchTable", "Student"),
    Column.CONFIDENCE: QT_TRANSLATE_NOOP("MatchTable", "Confidence"),
    Column.STATE: QT_TRANSLATE_NOOP("MatchTable", "State"),
}

ESSAY_ROLE = Qt.ItemDataRole.UserRole
"""``data(index, ESSAY_ROLE)`` is the row's :class:`EssayMatch`."""


class MatchTableModel(QAbstractTableModel):
    """The essays of a batch, waiting ones first, then by file name (sortable by any column)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._essays: list[EssayMatch] = []
        self._cells: list[tuple[str, ...]] = []
        self._texts: dict[str, str] = {}
        self._sort: tuple[int, Qt.SortOrder] | None = None

    def set_essays(self, essays: Sequence[EssayMatch], texts: dict[str, str]) -> None:
        self.beginResetModel()
        self._texts = texts
        self._essays = sorted(essays, key=lambda e: (e.confirmed, file_name(e).casefold()))
        if self._sort is not None:
            self._essays.sort(key=self._key(self._sort[0]), reverse=self._descending)
        self._cells = [self._row_cells(e) for e in self._essays]
        self.endResetModel()

    @property
    def _descending(self) -> bool:
        return self._sort is not None and self._sort[1] == Qt.SortOrder.DescendingOrder

    def _row_cells(self, essay: EssayMatch) -> tuple[str, ...]:
        student, confidence = "", ""
        if essay.confirmed:
            student = essay.student_name or translate("MatchReview", "(not in this class)")
            if essay.match_source == "auto" and essay.confidence is not None:
                confidence = confidence_text(essay.confidence)
        elif essay.suggestions:
            top = essay.suggestions[0]
            student = top.name
            confidence = confidence_text(top.score)
        else:
            student = translate("MatchReview", "No suggestion")
        return (
            file_name(essay),
            student,
            confidence,
            state_text(essay),
            first_words(self._texts.get(essay.essay_id, ""), 10),
        )

    def essays(self) -> list[EssayMatch]:
        return list(self._essays)

    def essay_at(self, row: int) -> EssayMatch:
        return self._essays[row]

    def row_of(self, essay_id: str) -> int | None:
        for row, essay in enumerate(self._essays):
            if essay.essay_id == essay_id:
                return row
        return None

    def cells(self, row: int) -> tuple[str, ...]:
        return self._cells[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._essays)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(  # noqa: N802
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(Column)
        ):
            return translate("MatchTable", HEADERS[Column(section)])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._essays):
            return None
        essay = self._essays[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells[index.row()][column]
        if role == ESSAY_ROLE:
            return essay
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.BEGINS:
                return first_words(self._texts.get(essay.essay_id, ""), 60)
            return self._cells[index.row()][column]
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == Column.CONFIDENCE:
                score = _score(essay)
                if score is not None:
                    return QBrush(QColor(CONFIDENCE_COLOR[confidence_of(score)]))
            if column in (Column.STUDENT, Column.BEGINS) and not essay.confirmed:
                return QBrush(QColor("#616161"))
        if role == Qt.ItemDataRole.FontRole and column == Column.STATE and not essay.confirmed:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _key(self, column: int) -> Any:
        def key(essay: EssayMatch) -> Any:
            name = file_name(essay).casefold()
            if column == Column.CONFIDENCE:
                return (_score(essay) or -1.0, name)
            if column == Column.STATE:
                return (essay.confirmed, state_text(essay), name)
            cells = self._row_cells(essay)
            return (cells[column].casefold(), name)

        return key

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(Column):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        ids = [self._essays[index.row()].essay_id for index in old]
        self._essays.sort(key=self._key(column), reverse=self._descending)
        self._cells = [self._row_cells(e) for e in self._essays]
        position = {e.essay_id: row for row, e in enumerate(self._essays)}
        moved = [self.index(position[i], index.column()) for i, index in zip(ids, old, strict=True)]
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()


def _score(essay: EssayMatch) -> float | None:
    if essay.confirmed:
        return essay.confidence if essay.match_source == "auto" else None
    return essay.suggestions[0].score if essay.suggestions else None


# ---------------------------------------------------------------------------------- the panel


class MatchReviewPanel(QWidget):
    """The *Students* tab of a batch: confirm which student wrote each essay.

    ``changed`` is emitted after a decision was saved. ``loading`` is the newest load and
    ``saving`` the newest save (operations to await in tests); ``review`` what was loaded.
    """

    changed = Signal()
    loaded = Signal()

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("matchReviewPanel")
        self.db = db
        self.runner = runner
        self.batch_id: str | None = None
        self.review: MatchReview | None = None
        self.loading: Operation[MatchReview] | None = None
        self.saving: Operation[MatchUpdate] | None = None
        self.last_failure: Failed | None = None
        self.model = MatchTableModel(self)

        # -- top: where matching stands, the bulk action
        self.summary = QLabel()
        self.summary.setObjectName("matchSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.accept_high_button = QPushButton()
        self.accept_high_button.setObjectName("acceptHigh")
        self.accept_high_button.setToolTip(
            translate(
                "MatchReview",
                "Accept every waiting essay whose only high-confidence suggestion is a student "
                "without an essay",
            )
        )
        self.accept_high_button.clicked.connect(self.accept_all_high)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.accept_high_button)
        self.message = QLabel()
        self.message.setObjectName("matchMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.hide()

        # -- the essays
        self.view = QTableView()
        self.view.setObjectName("matchTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setShowGrid(False)
        self.view.horizontalHeader().setSortIndicator(Column.STATE, Qt.SortOrder.AscendingOrder)
        self.view.setSortingEnabled(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)  # the first words take what is left
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.activated.connect(lambda _index: self.accept_selected())

        # -- the selected essay
        self.essay_title = QLabel()
        self.essay_title.setObjectName("essayTitle")
        self.essay_title.setTextFormat(Qt.TextFormat.PlainText)
        self.essay_title.setWordWrap(True)
        bold = self.essay_title.font()
        bold.setBold(True)
        self.essay_title.setFont(bold)
        self.suggestion_label = QLabel()
        self.suggestion_label.setObjectName("suggestionLabel")
        self.suggestion_label.setWordWrap(True)
        self.suggestion_label.setTextFormat(Qt.TextFormat.RichText)
        self.accept_button = QPushButton(translate("MatchReview", "&Accept suggestion"))
        self.accept_button.setObjectName("acceptButton")
        self.accept_button.setToolTip(
            translate("MatchReview", "This essay is the suggested student's (Enter in the table)")
        )
        self.accept_button.clicked.connect(self.accept_selected)
        self.undo_button = QPushButton(translate("MatchReview", "&Let it wait again"))
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setToolTip(
            translate("MatchReview", "Undo the match: the essay waits for a student again")
        )
        self.undo_button.clicked.connect(self.unassign_selected)
        self.student_combo = QComboBox()
        self.student_combo.setObjectName("studentCombo")
        self.student_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.student_combo.setMinimumContentsLength(26)
        student_label = QLabel(translate("MatchReview", "Another &student:"))
        student_label.setBuddy(self.student_combo)
        self.assign_button = QPushButton(translate("MatchReview", "A&ssign"))
        self.assign_button.setObjectName("assignButton")
        self.assign_button.clicked.connect(self.assign_chosen)
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("essayPreview")
        self.preview.setReadOnly(True)
        self.preview.setPlaceholderText(
            translate("MatchReview", "Select an essay to read its beginning here.")
        )
        preview_label = QLabel(translate("MatchReview", "&Text:"))
        preview_label.setBuddy(self.preview)

        actions = QHBoxLayout()
        actions.addWidget(self.accept_button)
        actions.addWidget(self.undo_button)
        actions.addStretch(1)
        choose = QHBoxLayout()
        choose.addWidget(student_label)
        choose.addWidget(self.student_combo, 1)
        choose.addWidget(self.assign_button)
        detail = QGroupBox(translate("MatchReview", "Selected essay"))
        detail_layout = QVBoxLayout(detail)
        detail_layout.addWidget(self.essay_title)
        detail_layout.addWidget(self.suggestion_label)
        detail_layout.addLayout(actions)
        detail_layout.addLayout(choose)
        detail_layout.addWidget(preview_label)
        detail_layout.addWidget(self.preview, 1)

        # -- what is still open
        self.open_essays = QListWidget()
        self.open_essays.setObjectName("essaysWithoutStudent")
        self.open_essays.itemActivated.connect(self._open_essay_activated)
        self.open_essays.itemClicked.connect(self._open_essay_activated)
        self.open_students = QListWidget()
        self.open_students.setObjectName("studentsWithoutEssay")
        self.open_essays_box = QGroupBox()
        box = QVBoxLayout(self.open_essays_box)
        box.addWidget(self.open_essays)
        self.open_students_box = QGroupBox()
        box = QVBoxLayout(self.open_students_box)
        box.addWidget(self.open_students)
        lists = QWidget()
        lists_layout = QHBoxLayout(lists)
        lists_layout.setContentsMargins(0, 0, 0, 0)
        lists_layout.addWidget(self.open_essays_box)
        lists_layout.addWidget(self.open_students_box)

        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(self.view)
        upper.addWidget(detail)
        upper.setStretchFactor(0, 3)
        upper.setStretchFactor(1, 2)
        upper.setSizes([650, 400])
        upper.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(lists)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([450, 180])
        self.splitter.setChildrenCollapsible(False)

        review_page = QWidget()
        review_layout = QVBoxLayout(review_page)
        review_layout.setContentsMargins(0, 0, 0, 0)
        review_layout.addLayout(top)
        review_layout.addWidget(self.message)
        review_layout.addWidget(self.splitter, 1)

        # -- instead of the review: guest batch, loading, failure
        self.notice = QLabel()
        self.notice.setObjectName("matchNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        notice_page = QWidget()
        notice_layout = QGridLayout(notice_page)
        notice_layout.addWidget(self.notice, 0, 0)

        self.body = QStackedWidget()
        self.body.addWidget(review_page)
        self.body.addWidget(notice_page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.body)

        self.setTabOrder(self.view, self.accept_button)
        self.setTabOrder(self.accept_button, self.undo_button)
        self.setTabOrder(self.undo_button, self.student_combo)
        self.setTabOrder(self.student_combo, self.assign_button)
        self.setTabOrder(self.assign_button, self.preview)
        self.setTabOrder(self.preview, self.open_essays)
        self.setTabOrder(self.open_essays, self.open_students)
        self._show_notice(translate("MatchReview", "No batch is open."))
        self._update_actions()

    # ------------------------------------------------------------------ loading

    def set_batch(self, batch_id: str) -> None:
        """Show ``batch_id``'s matching (loaded in a worker thread; see ``loading``)."""
        if batch_id != self.batch_id:
            self.review = None
            self.model.set_essays([], {})
            self._show_notice(translate("MatchReview", "Loading the students…"))
        self.batch_id = batch_id
        self.loading = self.runner.start_blocking(
            translate("MatchReview", "Loading the students"),
            partial(_load_review, self.db, batch_id),
            show_failure=False,
            on_done=partial(self._loaded, batch_id),
        )

    def _loaded(self, batch_id: str, operation: Operation[MatchReview]) -> None:
        if batch_id != self.batch_id:
            return
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.last_failure = None
            self._show_review(outcome.value)
        elif isinstance(outcome, Failed):
            self.last_failure = outcome
            self._show_notice(
                translate("MatchReview", "The students could not be loaded. {why}").format(
                    why=outcome.message
                )
            )
        self.loaded.emit()

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.body.setCurrentIndex(1)

    def _show_review(self, review: MatchReview, select: str | None = None) -> None:
        self.review = review
        if review.guest:
            self._show_notice(
                translate(
                    "MatchReview",
                    "This is a guest batch: it has no class, so its essays are known by their "
                    "file names and matching them to students is not needed.",
                )
            )
            return
        if not review.overview.essays:
            self._show_notice(
                translate(
                    "MatchReview",
                    "No essays yet. Once essays are imported on the Essays tab, each is matched "
                    "to a student of {klass} here.",
                ).format(klass=review.batch.class_name or "")
            )
            return
        self.body.setCurrentIndex(0)
        previous = select or self.selected_essay_id()
        self.model.set_essays(review.overview.essays, review.texts)
        self._fit_columns()
        self._fill_lists(review.overview)
        self._update_summary(review.overview)
        row = self.model.row_of(previous) if previous is not None else None
        if row is None and self.model.rowCount():
            row = 0
        if row is not None:
            self.view.selectRow(row)
        self._show_selected()

    def _fit_columns(self) -> None:
        self.view.resizeColumnToContents(Column.ESSAY)
        for column in (Column.STUDENT, Column.CONFIDENCE, Column.STATE):
            self.view.resizeColumnToContents(column)
        header = self.view.horizontalHeader()
        header.resizeSection(Column.ESSAY, min(header.sectionSize(Column.ESSAY) + 8, 260))

    def _fill_lists(self, overview: MatchOverview) -> None:
        without = sorted(
            (e for e in overview.essays if not e.confirmed or e.student_id is None),
            key=lambda e: file_name(e).casefold(),
        )
        self.open_essays.clear()
        for essay in without:
            item = QListWidgetItem(f"{file_name(essay)} — {state_text(essay)}")
            item.setData(Qt.ItemDataRole.UserRole, essay.essay_id)
            self.open_essays.addItem(item)
        n = len(without)
        self.open_essays_box.setTitle(
            english_plural(translate("MatchReview", "Essays without a student (%n)", "", n), n)
        )
        self.open_students.clear()
        for student in overview.students_without_essay:
            code = f" ({student.code})" if student.code else ""
            self.open_students.addItem(f"{student.name}{code}")
        m = len(overview.students_without_essay)
        self.open_students_box.setTitle(
            english_plural(translate("MatchReview", "Students without an essay (%n)", "", m), m)
        )

    def _update_summary(self, overview: MatchOverview) -> None:
        waiting = len(overview.waiting)
        settled = len(overview.essays) - waiting
        if waiting:
            text = translate(
                "MatchReview", "%n essay(s) wait for you to confirm the student", "", waiting
            )
            text = (
                english_plural(text, waiting)
                + "; "
                + translate("MatchReview", "{settled} of {total} settled.").format(
                    settled=settled, total=len(overview.essays)
                )
            )
        else:
            text = translate(
                "MatchReview", "Every essay is settled ({total}). The batch can be graded."
            ).format(total=len(overview.essays))
        self.summary.setText(text)
        high = len(high_confidence_decisions(overview))
        self.accept_high_button.setText(
            translate("MatchReview", "Accept all &high-confidence ({n})").format(n=high)
        )
        self._update_actions()

    # ------------------------------------------------------------------ selection

    def selected_essay(self) -> EssayMatch | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.essay_at(rows[0].row()) if rows else None

    def selected_essay_id(self) -> str | None:
        essay = self.selected_essay()
        return essay.essay_id if essay is not None else None

    def select_essay(self, essay_id: str) -> bool:
        """Select the essay's row (False if it is not listed)."""
        row = self.model.row_of(essay_id)
        if row is None:
            return False
        self.view.selectRow(row)
        self.view.scrollTo(self.model.index(row, 0))
        return True

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_selected()

    def _open_essay_activated(self, item: QListWidgetItem) -> None:
        essay_id = item.data(Qt.ItemDataRole.UserRole)
        if essay_id and self.select_essay(essay_id):
            self.view.setFocus()

    def _show_selected(self) -> None:
        essay = self.selected_essay()
        review = self.review
        if essay is None or review is None:
            self.essay_title.setText(translate("MatchReview", "No essay selected"))
            self.suggestion_label.clear()
            self.preview.clear()
            self.student_combo.clear()
            self._update_actions()
            return
        self.essay_title.setText(essay.source_file or file_name(essay))
        self.suggestion_label.setText(self._suggestion_html(essay))
        self.preview.setPlainText(review.texts.get(essay.essay_id, ""))
        self._fill_combo(essay, review.roster, review.overview)
        self._update_actions()

    def _suggestion_html(self, essay: EssayMatch) -> str:
        lines: list[str] = []
        if essay.confirmed:
            who = essay.student_name or translate("MatchReview", "a writer not in this class")
            lines.append(
                translate("MatchReview", "{state}: <b>{who}</b>").format(
                    state=state_text(essay), who=_html(who)
                )
            )
        if not essay.suggestions:
            lines.append(
                translate("MatchReview", "No student of the class was found in its name or text.")
            )
        for position, suggestion in enumerate(essay.suggestions):
            level = confidence_of(suggestion.score)
            source = SOURCE_TEXT.get(suggestion.source)
            found = translate("MatchReview", "from the {source} “{evidence}”").format(
                source=translate("MatchReview", source) if source else suggestion.source,
                evidence=_html(suggestion.evidence),
            )
            lead = (
                translate("MatchReview", "Suggested")
                if position == 0
                else translate("MatchReview", "Or")
            )
            lines.append(
                f'{lead}: <b>{_html(suggestion.name)}</b> — <span style="color:'
                f'{CONFIDENCE_COLOR[level]}">{confidence_text(suggestion.score)}</span>, {found}'
            )
        return "<br>".join(lines)

    def _fill_combo(
        self, essay: EssayMatch, roster: Sequence[StudentRow], overview: MatchOverview
    ) -> None:
        holder = {
            e.student_id: file_name(e)
            for e in overview.essays
            if e.confirmed and e.student_id and e.essay_id != essay.essay_id
        }
        combo = self.student_combo
        combo.blockSignals(True)
        combo.clear()
        suggested = [s.student_id for s in essay.suggestions]
        names = {s.id: s.full_name for s in roster}

        def add(student_id: str, text: str) -> None:
            taken = holder.get(student_id)
            if taken is not None:
                text += " " + translate("MatchReview", "(now on {file})").format(file=taken)
            combo.addItem(text, student_id)

        for suggestion in essay.suggestions:
            add(
                suggestion.student_id,
                f"{names.get(suggestion.student_id, suggestion.name)} — "
                f"{confidence_text(suggestion.score)}",
            )
        if suggested:
            combo.insertSeparator(combo.count())
        for student in roster:
            if student.id not in suggested:
                add(student.id, student.full_name)
        combo.insertSeparator(combo.count())
        combo.addItem(translate("MatchReview", "Not in this class"), NOT_IN_CLASS)
        current = essay.student_id if essay.confirmed else None
        if essay.confirmed and current is None:
            combo.setCurrentIndex(combo.count() - 1)
        elif current is not None:
            combo.setCurrentIndex(max(combo.findData(current), 0))
        else:
            combo.setCurrentIndex(0)
        combo.blockSignals(False)

    def _update_actions(self) -> None:
        essay = self.selected_essay()
        busy = self.saving is not None and not self.saving.done
        ready = self.review is not None and not busy
        self.accept_button.setEnabled(
            ready and essay is not None and not essay.confirmed and bool(essay.suggestions)
        )
        self.undo_button.setEnabled(ready and essay is not None and essay.confirmed)
        self.student_combo.setEnabled(ready and essay is not None)
        self.assign_button.setEnabled(ready and essay is not None)
        high = (
            len(high_confidence_decisions(self.review.overview))
            if self.review is not None and not self.review.guest
            else 0
        )
        self.accept_high_button.setEnabled(ready and high > 0)

    # ------------------------------------------------------------------ decisions

    def accept_selected(self) -> Operation[MatchUpdate] | None:
        """Settle the selected waiting essay on its best suggestion."""
        essay = self.selected_essay()
        if essay is None or essay.confirmed or not essay.suggestions:
            return None
        top = essay.suggestions[0]
        return self._save(
            [MatchDecision(essay.essay_id, top.student_id)],
            note=translate("MatchReview", "{file} is {name}'s.").format(
                file=file_name(essay), name=top.name
            ),
        )

    def assign_chosen(self) -> Operation[MatchUpdate] | None:
        """Settle the selected essay on the student chosen in the combo (moving that student
        from another essay if they had one: that essay waits again)."""
        essay = self.selected_essay()
        if essay is None or self.review is None or self.student_combo.currentIndex() < 0:
            return None
        return self.assign(essay.essay_id, self.student_combo.currentData() or None)

    def assign(self, essay_id: str, student_id: str | None) -> Operation[MatchUpdate] | None:
        """Settle ``essay_id`` on ``student_id`` (None: the writer is not in the class)."""
        review = self.review
        if review is None:
            return None
        essay = next((e for e in review.overview.essays if e.essay_id == essay_id), None)
        if essay is None:
            return None
        unassign = [
            e.essay_id
            for e in review.overview.essays
            if student_id is not None
            and e.confirmed
            and e.student_id == student_id
            and e.essay_id != essay_id
        ]
        names = {s.id: s.full_name for s in review.roster}
        if student_id is None:
            note = translate("MatchReview", "{file}: the writer is not in this class.").format(
                file=file_name(essay)
            )
        else:
            note = translate("MatchReview", "{file} is {name}'s.").format(
                file=file_name(essay), name=names.get(student_id, "?")
            )
        if unassign:
            moved = next(e for e in review.overview.essays if e.essay_id == unassign[0])
            note += " " + translate(
                "MatchReview", "{name} was taken off {file}, which waits again."
            ).format(name=names.get(student_id or "", "?"), file=file_name(moved))
        return self._save([MatchDecision(essay_id, student_id)], unassign=unassign, note=note)

    def unassign_selected(self) -> Operation[MatchUpdate] | None:
        essay = self.selected_essay()
        if essay is None or not essay.confirmed:
            return None
        return self._save(
            [],
            unassign=[essay.essay_id],
            note=translate("MatchReview", "{file} waits for a student again.").format(
                file=file_name(essay)
            ),
        )

    def accept_all_high(self) -> Operation[MatchUpdate] | None:
        """Settle every essay with one sure suggestion for a free student."""
        if self.review is None:
            return None
        decisions = high_confidence_decisions(self.review.overview)
        if not decisions:
            return None
        n = len(decisions)
        note = english_plural(
            translate("MatchReview", "%n high-confidence match(es) accepted.", "", n), n
        )
        return self._save(decisions, note=note)

    def _save(
        self,
        confirm: list[MatchDecision],
        *,
        unassign: Sequence[str] = (),
        note: str,
    ) -> Operation[MatchUpdate] | None:
        batch_id = self.batch_id
        if batch_id is None or (self.saving is not None and not self.saving.done):
            return None
        current = self.selected_essay_id()
        self.saving = self.runner.start_blocking(
            translate("MatchReview", "Saving the match"),
            partial(_save_decisions, self.db, batch_id, confirm, list(unassign)),
            show_failure=False,
            on_done=partial(self._saved, batch_id, current, note),
        )
        self._update_actions()
        return self.saving

    def _saved(
        self,
        batch_id: str,
        current: str | None,
        note: str,
        operation: Operation[MatchUpdate],
    ) -> None:
        outcome = operation.outcome
        if batch_id != self.batch_id or self.review is None:
            return
        if isinstance(outcome, Completed):
            update: MatchUpdate = outcome.value
            review = MatchReview(
                self.review.batch, update.overview, self.review.roster, self.review.texts
            )
            self._say(note)
            self._show_review(review, select=self._next_waiting(update.overview, current))
            self.changed.emit()
        elif isinstance(outcome, Failed):
            self._say(
                translate("MatchReview", "Not saved: {why}").format(why=outcome.message),
                error=True,
            )
            self.set_batch(batch_id)  # show what is stored
        self._update_actions()

    def _next_waiting(self, overview: MatchOverview, current: str | None) -> str | None:
        """The essay to select after a decision: the next one waiting in the table's order
        (the same one if it still waits, the decided one when none waits)."""
        waiting = {e.essay_id for e in overview.waiting}
        if current in waiting:
            return current
        order = [e.essay_id for e in self.model.essays()]
        start = order.index(current) + 1 if current in order else 0
        for essay_id in order[start:] + order[:start]:
            if essay_id in waiting:
                return essay_id
        return current

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828;" if error else "color: #2e7d32;")
        self.message.setVisible(bool(text))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _load_review(db: Database, batch_id: str, **_operation: object) -> MatchReview:
    return match_review(db, batch_id)


def _save_decisions(
    db: Database,
    batch_id: str,
    confirm: list[MatchDecision],
    unassign: list[str],
    **_operation: object,
) -> MatchUpdate:
    return confirm_match(db, batch_id, confirm, unassign=unassign)


# ---------------------------------------------------------------------------------- demo

DEMO_FILES: dict[str, str] = {
    "alva_nordin.txt": "alva_nordin.txt",
    "amir_haddad.txt": "amir_haddad.txt",
    "ella strom.txt": "ella_strom.txt",
    "Elsa Bergstrom.txt": "elsa_bergstrom.txt",
    "emil_johansson.txt": "emil_johansson.txt",
    "jonas_ekberg.txt": "jonas_ekberg.txt",
    "Linnea Sjöberg final.txt": "linnea_sjoberg.txt",
    "viktor_holmm.txt": "viktor_holm.txt",
    "saga_forsb.txt": "saga_forsberg.txt",
    "frida.txt": "frida_lundgren.txt",
    "NyBerg.txt": "oskar_nyberg.txt",
    "andersson.txt": "william_andersson.txt",
    "essay_7.txt": "hugo_karlsson.txt",
}
"""Demo essays under names a class really hands in: seven match at once, one has a sure
suggestion (a typo), one a medium one, three only a first name or surname (low; ``andersson``
fits two students), one no name at all."""


def write_demo_essays(folder: Path) -> Path:
    """Copy the demo essays into ``folder`` under :data:`DEMO_FILES`' names."""
    from app.paths import resources_dir  # noqa: PLC0415

    source = resources_dir() / "demo" / "essays"
    folder.mkdir(parents=True, exist_ok=True)
    for name, original in DEMO_FILES.items():
        shutil.copyfile(source / original, folder / name)
    return folder


def demo_match_batch(db: Database, folder: Path) -> str:
    """A class batch worth reviewing: the demo roster as a class, and the essays of
    :func:`write_demo_essays` imported (blocking; run it off the GUI thread). Returns its id."""
    from app.operations.intake import import_essays, import_roster  # noqa: PLC0415
    from app.operations.queries import list_assignments  # noqa: PLC0415
    from app.operations.school import NewAssignment, NewBatch, NewClass  # noqa: PLC0415
    from app.paths import resources_dir  # noqa: PLC0415

    roster = resources_dir() / "demo" / "roster.csv"
    klass = import_roster(db, roster, NewClass("9B English", "ENG5", "2026/27")).class_id
    assignments = list_assignments(db)
    assignment: str | NewAssignment = (
        assignments[0].id if assignments else NewAssignment("Phones in school")
    )
    result = import_essays(
        db,
        [write_demo_essays(folder)],
        NewBatch("Phones in school — 9B", assignment, klass),
    )
    return result.batch_id


async def demo_state(panel: MatchReviewPanel, db: Database, folder: Path) -> str:
    """Put ``panel`` in a state worth a screenshot: a class batch with settled essays,
    suggestions of every confidence and both unmatched lists; the essay with the medium
    suggestion selected. ``folder`` receives the essay files. Returns the batch id."""
    made = panel.runner.start_blocking(
        translate("MatchReview", "Preparing the example"),
        partial(_demo_batch, db, folder),
        show_failure=False,
    )
    outcome = await made.wait()
    assert isinstance(outcome, Completed), outcome
    batch_id: str = outcome.value
    panel.set_batch(batch_id)
    assert panel.loading is not None
    await panel.loading.wait()
    for essay in panel.model.essays():
        if file_name(essay) == "saga_forsb.txt":
            panel.select_essay(essay.essay_id)
    return batch_id


def _demo_batch(db: Database, folder: Path, **_operation: object) -> str:
    return demo_match_batch(db, folder)
