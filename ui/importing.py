"""Essay import of a batch: drop or pick files, folders and .zip archives, and see what became
of every file.

:class:`ImportPanel` imports with :func:`app.operations.intake.import_essays` in a child process
(``TaskRunner.start_in_process``: reading .docx and .pdf files holds the interpreter lock, which
in a worker thread would stall the window). Progress is per file, in the status bar's task
panel and under the drop zone; *Cancel* stops between files and keeps every file finished.

The outcome list shows the stored outcomes of all the batch's imports
(:func:`app.operations.queries.intake_records`), so it is the same after the window was closed:
one row per file with its outcome (imported, skipped or failed), why in a teacher's words, its
number of characters and when it was imported, with a summary line and *Show problems only*.
"""

from __future__ import annotations

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
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.db.engine import Database
from app.intake.outcomes import Outcome, Reason
from app.operations.base import Cancelled, Completed, Failed
from app.operations.intake import EssayImportResult, import_essays
from app.operations.queries import IntakeListing, IntakeRow, intake_records
from ui.batches import local_time
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.icons import dot_icon
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

Index = QModelIndex | QPersistentModelIndex

OUTCOME_TEXT: dict[str, str] = {
    Outcome.IMPORTED: QT_TRANSLATE_NOOP("ImportPanel", "Imported"),
    Outcome.SKIPPED: QT_TRANSLATE_NOOP("ImportPanel", "Skipped"),
    Outcome.FAILED: QT_TRANSLATE_NOOP("ImportPanel", "Failed"),
}
OUTCOME_COLOR: dict[str, str] = {
    Outcome.IMPORTED: "#2e7d32",
    Outcome.SKIPPED: "#e65100",
    Outcome.FAILED: "#c62828",
}
REASON_TEXT: dict[str, str] = {
    Reason.LOCK_FILE: QT_TRANSLATE_NOOP("ImportPanel", "An Office lock file, not an essay"),
    Reason.HIDDEN: QT_TRANSLATE_NOOP("ImportPanel", "A hidden file"),
    Reason.UNSUPPORTED_TYPE: QT_TRANSLATE_NOOP(
        "ImportPanel", "Not a kind of file essays are read from"
    ),
    Reason.DUPLICATE: QT_TRANSLATE_NOOP("ImportPanel", "Same text as another essay"),
    Reason.NOT_FOUND: QT_TRANSLATE_NOOP("ImportPanel", "The file was not found"),
    Reason.UNREADABLE: QT_TRANSLATE_NOOP("ImportPanel", "The file could not be read"),
    Reason.TOO_LARGE: QT_TRANSLATE_NOOP("ImportPanel", "The file is too large"),
    Reason.CORRUPT: QT_TRANSLATE_NOOP(
        "ImportPanel", "The file is damaged or not what its name says"
    ),
    Reason.ENCRYPTED: QT_TRANSLATE_NOOP("ImportPanel", "Protected with a password"),
    Reason.NO_TEXT: QT_TRANSLATE_NOOP("ImportPanel", "No text in it (a scanned page?)"),
    Reason.EMPTY: QT_TRANSLATE_NOOP("ImportPanel", "The file is empty"),
    Reason.TOO_SHORT: QT_TRANSLATE_NOOP("ImportPanel", "Too short to be an essay"),
    Reason.TOO_LONG: QT_TRANSLATE_NOOP("ImportPanel", "Too long for an essay"),
    Reason.UNSAFE_ARCHIVE: QT_TRANSLATE_NOOP("ImportPanel", "Unsafe or oversized archive"),
    Reason.OUTSIDE_FOLDER: QT_TRANSLATE_NOOP(
        "ImportPanel", "A link to a place outside the chosen folder"
    ),
    Reason.LINK_LOOP: QT_TRANSLATE_NOOP("ImportPanel", "A link back into its own folder"),
    Reason.BROKEN_LINK: QT_TRANSLATE_NOOP("ImportPanel", "A link to a file that is gone"),
    Reason.INTERNAL: QT_TRANSLATE_NOOP(
        "ImportPanel", "Could not be read (a fault in the reader; details in the tooltip)"
    ),
    Reason.NO_GRADE: QT_TRANSLATE_NOOP("ImportPanel", "No grade given for this anchor"),
    Reason.BAD_GRADE: QT_TRANSLATE_NOOP("ImportPanel", "Not a grade of the scale"),
}
"""Why a file was skipped or failed, in a teacher's words (the full sentence is the tooltip)."""

ESSAY_FILTER = QT_TRANSLATE_NOOP(
    "ImportPanel", "Essays and archives (*.txt *.md *.docx *.odt *.rtf *.pdf *.zip)"
)
ALL_FILES = QT_TRANSLATE_NOOP("ImportPanel", "All files (*)")


def outcome_text(outcome: str) -> str:
    known = OUTCOME_TEXT.get(outcome)
    return translate("ImportPanel", known) if known else outcome.capitalize()


def reason_text(row: IntakeRow) -> str:
    if row.reason is None:
        return ""
    known = REASON_TEXT.get(row.reason)
    return translate("ImportPanel", known) if known else row.reason.replace("_", " ").capitalize()


def summary_text(rows: Sequence[IntakeRow]) -> str:
    """``12 imported, 1 skipped, 1 failed``."""
    n = {o.value: 0 for o in Outcome}
    for row in rows:
        n[row.outcome] = n.get(row.outcome, 0) + 1
    return translate(
        "ImportPanel", "{imported} imported, {skipped} skipped, {failed} failed"
    ).format(imported=n[Outcome.IMPORTED], skipped=n[Outcome.SKIPPED], failed=n[Outcome.FAILED])


# ---------------------------------------------------------------------------------- the model


class Column(IntEnum):
    FILE = 0
    OUTCOME = 1
    WHY = 2
    CHARACTERS = 3
    WHEN = 4


HEADERS: dict[Column, str] = {
    Column.FILE: QT_TRANSLATE_NOOP("ImportTable", "File"),
    Column.OUTCOME: QT_TRANSLATE_NOOP("ImportTable", "Outcome"),
    Column.WHY: QT_TRANSLATE_NOOP("ImportTable", "Why"),
    Column.CHARACTERS: QT_TRANSLATE_NOOP("ImportTable", "Characters"),
    Column.WHEN: QT_TRANSLATE_NOOP("ImportTable", "Imported"),
}

ROW_ROLE = Qt.ItemDataRole.UserRole
"""``data(index, ROW_ROLE)`` is the row's :class:`IntakeRow`."""

_OUTCOME_ORDER = {Outcome.FAILED.value: 0, Outcome.SKIPPED.value: 1, Outcome.IMPORTED.value: 2}


class OutcomeTableModel(QAbstractTableModel):
    """One row per file offered to the batch, in the order written (newest import last);
    ``problems_only`` keeps the skipped and failed ones; sortable by any column."""

    rows_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[IntakeRow] = []
        self._visible: list[tuple[int, IntakeRow, tuple[str, ...]]] = []
        self._problems_only = False
        self._sort: tuple[int, Qt.SortOrder] | None = None

    def set_rows(self, rows: Sequence[IntakeRow]) -> None:
        self._rows = list(rows)
        self._refilter()

    def set_problems_only(self, on: bool) -> None:
        if on != self._problems_only:
            self._problems_only = on
            self._refilter()

    @property
    def problems_only(self) -> bool:
        return self._problems_only

    def all_rows(self) -> list[IntakeRow]:
        return list(self._rows)

    def visible_rows(self) -> list[IntakeRow]:
        return [row for _, row, _ in self._visible]

    def row_at(self, position: int) -> IntakeRow:
        return self._visible[position][1]

    def cells(self, position: int) -> tuple[str, ...]:
        return self._visible[position][2]

    def _refilter(self) -> None:
        self.beginResetModel()
        self._visible = [
            (order, row, _cells(row))
            for order, row in enumerate(self._rows)
            if not self._problems_only or row.outcome != Outcome.IMPORTED
        ]
        self._apply_sort()
        self.endResetModel()
        self.rows_changed.emit()

    def _apply_sort(self) -> None:
        if self._sort is None:
            return
        column, order = self._sort

        def key(item: tuple[int, IntakeRow, tuple[str, ...]]) -> Any:
            position, row, cells = item
            if column == Column.OUTCOME:
                return (_OUTCOME_ORDER.get(row.outcome, 3), position)
            if column == Column.CHARACTERS:
                return (row.characters if row.characters is not None else -1, position)
            if column == Column.WHEN:
                return position
            return (cells[column].casefold(), position)

        self._visible.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(Column):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self._apply_sort()
        self.layoutChanged.emit()
        self.rows_changed.emit()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._visible)

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
        if role == Qt.ItemDataRole.DisplayRole:
            return translate("ImportTable", HEADERS[Column(section)])
        if role == Qt.ItemDataRole.TextAlignmentRole and section == Column.CHARACTERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._visible):
            return None
        _, row, cells = self._visible[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return cells[column]
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (Column.OUTCOME, Column.WHY) and row.message:
                return row.message
            return cells[column] or None
        if role == Qt.ItemDataRole.DecorationRole and column == Column.OUTCOME:
            return self.outcome_icon(row.outcome)
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.OUTCOME:
            return QBrush(QColor(OUTCOME_COLOR.get(row.outcome, "#616161")))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.CHARACTERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def outcome_icon(self, outcome: str) -> QIcon:
        color = OUTCOME_COLOR.get(outcome, "#9e9e9e")
        return dot_icon(color)


def _cells(row: IntakeRow) -> tuple[str, ...]:
    return (
        row.source,
        outcome_text(row.outcome),
        reason_text(row),
        f"{row.characters:,}".replace(",", "\u202f") if row.characters is not None else "",
        local_time(row.created_at),
    )


# ---------------------------------------------------------------------------------- the panel


class DropZone(QFrame):
    """The framed area that invites a drop (the panel itself takes the drop)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.set_active(False)

    def set_active(self, active: bool) -> None:
        border = "#1e88e5" if active else "palette(mid)"
        background = "rgba(30, 136, 229, 0.08)" if active else "transparent"
        self.setStyleSheet(
            f"#dropZone {{ border: 2px dashed {border}; border-radius: 8px; "
            f"background: {background}; }}"
        )


class ImportPanel(QWidget):
    """The *Essays* tab of a batch: import essays and see every file's outcome.

    ``changed`` is emitted after an import stored something. ``importing`` is the newest
    import, ``loading`` the newest load of the stored outcomes, ``last_result`` the newest
    import's result (operations to await in tests).
    """

    changed = Signal()
    loaded = Signal()

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importPanel")
        self.setAcceptDrops(True)
        self.db = db
        self.runner = runner
        self.batch_id: str | None = None
        self.importing: Operation[EssayImportResult] | None = None
        self.loading: Operation[IntakeListing] | None = None
        self.last_result: EssayImportResult | None = None
        self.model = OutcomeTableModel(self)
        self._dialog: QFileDialog | None = None

        # -- the drop zone with its buttons
        self.drop_zone = DropZone()
        invite = QLabel(
            translate(
                "ImportPanel",
                "Drop essay files, folders or .zip archives here, or choose them:",
            )
        )
        invite.setObjectName("dropInvite")
        invite.setWordWrap(True)
        kinds = QLabel(
            translate(
                "ImportPanel",
                "Word (.docx), OpenDocument (.odt), PDF with text, RTF, plain text and Markdown. "
                "Files that are not essays are skipped and listed below with the reason.",
            )
        )
        kinds.setWordWrap(True)
        self.add_files_button = QPushButton(translate("ImportPanel", "Add &files…"))
        self.add_files_button.setObjectName("addFiles")
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button = QPushButton(translate("ImportPanel", "Add f&older…"))
        self.add_folder_button.setObjectName("addFolder")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("importProgress")
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.progress_bar.hide()
        self.progress_label = QLabel()
        self.progress_label.setObjectName("importProgressLabel")
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_label.setWordWrap(True)
        self.progress_label.hide()
        self.cancel_button = QPushButton(translate("ImportPanel", "&Cancel import"))
        self.cancel_button.setObjectName("cancelImport")
        self.cancel_button.setToolTip(
            translate("ImportPanel", "Stop after the current file; the files done are kept")
        )
        self.cancel_button.clicked.connect(self.cancel_import)
        self.cancel_button.hide()

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_files_button)
        buttons.addWidget(self.add_folder_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        zone = QVBoxLayout(self.drop_zone)
        zone.setContentsMargins(16, 12, 16, 12)
        zone.addWidget(invite)
        zone.addWidget(kinds)
        zone.addLayout(buttons)
        zone.addWidget(self.progress_bar)
        zone.addWidget(self.progress_label)

        # -- what became of each file
        self.message = QLabel()
        self.message.setObjectName("importMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.hide()
        self.summary = QLabel()
        self.summary.setObjectName("importSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.summary.font()
        bold.setBold(True)
        self.summary.setFont(bold)
        self.problems_only = QCheckBox(translate("ImportPanel", "Show &problems only"))
        self.problems_only.setObjectName("problemsOnly")
        self.problems_only.toggled.connect(self.model.set_problems_only)
        heading = QHBoxLayout()
        heading.addWidget(self.summary, 1)
        heading.addWidget(self.problems_only)

        self.view = QTableView()
        self.view.setObjectName("outcomeTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setShowGrid(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the order written
        self.view.setSortingEnabled(True)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.detail = QLabel()
        self.detail.setObjectName("outcomeDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(self.drop_zone)
        layout.addWidget(self.message)
        layout.addLayout(heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.detail)

        self.model.rows_changed.connect(self._update_summary)
        runner.progressed.connect(self._progressed)
        self._update_summary()
        self._update_actions()

    # ------------------------------------------------------------------ loading

    def set_batch(self, batch_id: str) -> None:
        """Show ``batch_id``'s stored outcomes (loaded in a worker thread; see ``loading``)."""
        if batch_id != self.batch_id:
            self.model.set_rows([])
            self.last_result = None
            self._say("")
        self.batch_id = batch_id
        self.reload()

    def reload(self) -> Operation[IntakeListing] | None:
        batch_id = self.batch_id
        if batch_id is None:
            return None
        self.loading = self.runner.start_blocking(
            translate("ImportPanel", "Loading the imported files"),
            partial(_load_records, self.db, batch_id),
            show_failure=False,
            on_done=partial(self._loaded, batch_id),
        )
        return self.loading

    def _loaded(self, batch_id: str, operation: Operation[IntakeListing]) -> None:
        if batch_id != self.batch_id:
            return
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.model.set_rows(outcome.value.rows)
            self._fit_columns()
        elif isinstance(outcome, Failed):
            self._say(
                translate("ImportPanel", "The imported files could not be loaded. {why}").format(
                    why=outcome.message
                ),
                error=True,
            )
        self.loaded.emit()

    def _fit_columns(self) -> None:
        header = self.view.horizontalHeader()
        for column in Column:
            self.view.resizeColumnToContents(column)
        header.resizeSection(Column.FILE, min(header.sectionSize(Column.FILE) + 12, 380))
        header.resizeSection(Column.WHY, min(header.sectionSize(Column.WHY) + 12, 340))

    def _update_summary(self) -> None:
        rows = self.model.all_rows()
        if not rows:
            self.summary.setText(translate("ImportPanel", "No files imported yet."))
        else:
            text = summary_text(rows)
            imports = len({row.import_id for row in rows})
            if imports > 1:
                text += " " + english_plural(
                    translate("ImportPanel", "(in %n import(s))", "", imports), imports
                )
            shown = self.model.rowCount()
            if shown != len(rows):
                text += " — " + translate("ImportPanel", "showing {shown} of {total}").format(
                    shown=shown, total=len(rows)
                )
            self.summary.setText(text)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.view.selectionModel().selectedRows()
        self.detail.setText(self.model.row_at(rows[0].row()).message if rows else "")

    # ------------------------------------------------------------------ importing

    def choose_files(self) -> None:
        """Pick essay files or archives in a file dialog (opened with ``open()``)."""
        dialog = self._file_dialog(translate("ImportPanel", "Add essay files"))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilters(
            [translate("ImportPanel", ESSAY_FILTER), translate("ImportPanel", ALL_FILES)]
        )
        dialog.filesSelected.connect(lambda files: self.import_paths([Path(f) for f in files]))
        dialog.open()

    def choose_folder(self) -> None:
        """Pick a folder of essays (every file in it and its subfolders is offered)."""
        dialog = self._file_dialog(translate("ImportPanel", "Add a folder of essays"))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda folder: self.import_paths([Path(folder)]))
        dialog.open()

    def _file_dialog(self, title: str) -> QFileDialog:
        if self._dialog is not None:
            self._dialog.deleteLater()
        dialog = QFileDialog(self, title)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        self._dialog = dialog
        return dialog

    def import_paths(self, paths: list[Path]) -> Operation[EssayImportResult]:
        """Import ``paths`` (files, folders, .zip archives) into the batch, in a child
        process; the outcome list is reloaded when it ends."""
        if self.batch_id is None:
            raise RuntimeError("no batch is shown")
        batch_id = self.batch_id
        n = len(paths)
        title = (
            translate("ImportPanel", "Importing {name}").format(name=paths[0].name)
            if n == 1
            else english_plural(translate("ImportPanel", "Importing %n item(s)", "", n), n)
        )
        operation: Operation[EssayImportResult] = self.runner.start_in_process(
            title,
            import_essays,
            [Path(p) for p in paths],
            batch_id,
            database=self.db.path,
            show_failure=False,
            on_done=partial(self._imported, batch_id),
        )
        self.importing = operation
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.progress_label.setText(translate("ImportPanel", "Looking at the files…"))
        self.progress_label.show()
        self._say("")
        self._update_actions()
        return operation

    def cancel_import(self) -> None:
        if self.importing is not None and not self.importing.done:
            self.importing.cancel()
            self.progress_label.setText(
                translate("ImportPanel", "Stopping after the current file…")
            )
            self._update_actions()

    def _progressed(self, operation: Operation[Any]) -> None:
        if operation is not self.importing or operation.progress is None:
            return
        progress = operation.progress
        if progress.kind == "file" and progress.total:
            self.progress_bar.setRange(0, progress.total)
            self.progress_bar.setValue(progress.done)
            self.progress_label.setText(
                translate("ImportPanel", "File {done} of {total}: {file}").format(
                    done=progress.done, total=progress.total, file=progress.detail
                )
            )
        elif progress.kind == "status":
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText(translate("ImportPanel", "Matching the students…"))
        if operation.token.cancelled:
            self.progress_label.setText(
                translate("ImportPanel", "Stopping after the current file…")
            )

    def _imported(self, batch_id: str, operation: Operation[EssayImportResult]) -> None:
        if operation is self.importing:
            self.progress_bar.hide()
            self.progress_label.hide()
        self._update_actions()
        if batch_id != self.batch_id:
            return
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            result: EssayImportResult = outcome.value
            self.last_result = result
            self._say(
                self._result_text(result),
                error=result.counts.failed > 0 and result.counts.imported == 0,
            )
            self.reload()
            self.changed.emit()
        elif isinstance(outcome, Cancelled):
            self._say(translate("ImportPanel", "The import was cancelled before it began."))
        elif isinstance(outcome, Failed):
            self._say(
                translate("ImportPanel", "Nothing was imported. {why}").format(why=outcome.message),
                error=True,
            )

    def _result_text(self, result: EssayImportResult) -> str:
        counts = translate(
            "ImportPanel", "{imported} imported, {skipped} skipped, {failed} failed"
        ).format(
            imported=result.counts.imported,
            skipped=result.counts.skipped,
            failed=result.counts.failed,
        )
        if result.cancelled:
            text = translate(
                "ImportPanel",
                "Import stopped after {done} of {found} files ({counts}). The files done are "
                "kept; import the same files again to add the rest.",
            ).format(done=len(result.outcomes), found=result.found, counts=counts)
        else:
            text = translate("ImportPanel", "Import finished: {counts}.").format(counts=counts)
        if result.awaiting_confirmation:
            n = result.awaiting_confirmation
            text += " " + english_plural(
                translate(
                    "ImportPanel",
                    "%n essay(s) need you to confirm the student (Students tab).",
                    "",
                    n,
                ),
                n,
            )
        return text

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828;" if error else "")
        self.message.setVisible(bool(text))

    def _update_actions(self) -> None:
        running = self.importing is not None and not self.importing.done
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running and not self.importing.token.cancelled)  # type: ignore[union-attr]
        self.add_files_button.setEnabled(not running)
        self.add_folder_button.setEnabled(not running)

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self._dropped_paths(event) and not self._busy():
            event.acceptProposedAction()
            self.drop_zone.set_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if self._dropped_paths(event) and not self._busy():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.drop_zone.set_active(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.drop_zone.set_active(False)
        paths = self._dropped_paths(event)
        if not paths or self._busy() or self.batch_id is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.import_paths(paths)

    def _busy(self) -> bool:
        return self.importing is not None and not self.importing.done

    @staticmethod
    def _dropped_paths(event: QDropEvent | QDragMoveEvent) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def _load_records(db: Database, batch_id: str, **_operation: object) -> IntakeListing:
    return intake_records(db, batch_id)


# ---------------------------------------------------------------------------------- demo


def write_demo_files(folder: Path) -> Path:
    """A folder a teacher might drop: demo essays, one of them twice (skipped as a
    duplicate), a picture (skipped), a damaged .docx and an empty text file (failed), and a
    .zip with two more essays. Returns the folder."""
    import shutil  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    from app.paths import resources_dir  # noqa: PLC0415

    essays = resources_dir() / "demo" / "essays"
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in essays.glob("*.txt"))
    for name in names[:6]:
        shutil.copyfile(essays / name, folder / name)
    shutil.copyfile(essays / names[0], folder / f"copy of {names[0]}")
    (folder / "class photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (folder / "broken.docx").write_bytes(b"this is not a word document")
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    with zipfile.ZipFile(folder / "more essays.zip", "w") as archive:
        for name in names[6:8]:
            archive.write(essays / name, name)
    return folder


async def demo_state(panel: ImportPanel, batch_id: str, folder: Path) -> EssayImportResult:
    """Put ``panel`` in a state worth a screenshot: :func:`write_demo_files` imported into
    ``batch_id`` (a batch without a run in progress), the outcomes listed."""
    panel.set_batch(batch_id)
    operation = panel.import_paths([write_demo_files(folder)])
    outcome = await operation.wait()
    assert isinstance(outcome, Completed), outcome
    assert panel.loading is not None
    await panel.loading.wait()
    return outcome.value
