"""The essay import panel: folders, files and .zip archives imported in a child process, one
outcome row per file with why, a summary, problems only, a drop, cancel keeps what finished,
stored outcomes shown again by a new panel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations.base import Completed
from app.operations.intake import EssayImportResult
from app.operations.queries import get_batch, intake_records
from app.operations.school import NewAssignment, NewBatch, create_batch
from tests.ui.conftest import settle, wait_until
from ui.importing import Column, ImportPanel, write_demo_files
from ui.tasks import TaskPanel, TaskRunner

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.deleteLater()


@pytest.fixture
def batch(db: Database) -> str:
    return create_batch(db, NewBatch("Letters", NewAssignment("A letter"), None)).id


def make_panel(qtbot: QtBot, db: Database, runner: TaskRunner) -> ImportPanel:
    panel = ImportPanel(db, runner)
    qtbot.addWidget(panel)
    panel.resize(1000, 640)
    panel.show()
    return panel


async def shown(panel: ImportPanel, batch_id: str) -> None:
    panel.set_batch(batch_id)
    assert panel.loading is not None
    await panel.loading.wait()
    await settle()


async def finished(panel: ImportPanel, operation: object) -> EssayImportResult:
    assert panel.importing is not None and operation is panel.importing
    outcome = await panel.importing.wait()
    assert isinstance(outcome, Completed), outcome
    assert panel.loading is not None
    await panel.loading.wait()
    await settle()
    result: EssayImportResult = outcome.value
    return result


def table(panel: ImportPanel) -> dict[str, tuple[str, ...]]:
    """Each row as the teacher reads it, by the file's own name."""
    model = panel.model
    return {
        model.cells(r)[Column.FILE].rsplit("/", 1)[-1]: model.cells(r)
        for r in range(model.rowCount())
    }


async def test_a_folder_with_good_bad_and_zipped_essays(
    qtbot: QtBot,
    db: Database,
    runner: TaskRunner,
    batch: str,
    tmp_path: Path,
    shots: Callable[[QWidget, str], Path],
) -> None:
    panel = make_panel(qtbot, db, runner)
    await shown(panel, batch)
    assert panel.summary.text() == "No files imported yet."
    changes: list[bool] = []
    panel.changed.connect(lambda: changes.append(True))

    folder = write_demo_files(tmp_path / "drop")
    result = await finished(panel, panel.import_paths([folder]))
    assert (result.counts.imported, result.counts.skipped, result.counts.failed) == (8, 2, 2)
    assert changes == [True]

    rows = table(panel)
    assert len(rows) == 12
    assert rows["alva_nordin.txt"][Column.OUTCOME] == "Imported"
    assert rows["alva_nordin.txt"][Column.WHY] == ""
    assert rows["alva_nordin.txt"][Column.CHARACTERS] == "784"
    assert rows["hugo_karlsson.txt"][Column.FILE].endswith("more essays.zip/hugo_karlsson.txt")
    assert rows["hugo_karlsson.txt"][Column.OUTCOME] == "Imported"
    assert rows["copy of alva_nordin.txt"][1:3] == ("Skipped", "Same text as another essay")
    assert rows["class photo.jpg"][1:3] == ("Skipped", "Not a kind of file essays are read from")
    assert rows["broken.docx"][1:3] == (
        "Failed",
        "The file is damaged or not what its name says",
    )
    assert rows["empty.txt"][1:3] == ("Failed", "The file is empty")
    assert panel.summary.text() == "8 imported, 2 skipped, 2 failed"
    assert "Import finished: 8 imported, 2 skipped, 2 failed." in panel.message.text()
    assert get_batch(db, batch).essays == 8

    # the full sentence of a selected row
    for position in range(panel.model.rowCount()):
        if panel.model.cells(position)[Column.FILE].endswith("broken.docx"):
            panel.view.selectRow(position)
    assert "not a valid .docx file" in panel.detail.text()

    # problems only
    panel.problems_only.setChecked(True)
    assert sorted(table(panel)) == [
        "broken.docx",
        "class photo.jpg",
        "copy of alva_nordin.txt",
        "empty.txt",
    ]
    assert panel.summary.text() == "8 imported, 2 skipped, 2 failed — showing 4 of 12"
    panel.problems_only.setChecked(False)
    assert panel.model.rowCount() == 12
    await settle()
    shots(panel, "import-outcomes")

    # a new panel (the window closed and opened again) shows the stored outcomes
    again = make_panel(qtbot, db, runner)
    await shown(again, batch)
    assert table(again) == rows
    assert again.summary.text() == "8 imported, 2 skipped, 2 failed"


async def test_a_drop_imports_files_and_a_second_import_is_counted(
    qtbot: QtBot, db: Database, runner: TaskRunner, batch: str, tmp_path: Path
) -> None:
    panel = make_panel(qtbot, db, runner)
    await shown(panel, batch)
    folder = write_demo_files(tmp_path / "drop")
    mime = QMimeData()
    mime.setUrls(
        [
            QUrl.fromLocalFile(str(folder / "alva_nordin.txt")),
            QUrl.fromLocalFile(str(folder / "more essays.zip")),
        ]
    )
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.dropEvent(event)
    assert event.isAccepted()
    assert panel.importing is not None
    result = await finished(panel, panel.importing)
    assert result.counts.imported == 3
    assert sorted(table(panel)) == ["alva_nordin.txt", "hugo_karlsson.txt", "jonas_ekberg.txt"]

    # the same file again: a duplicate, skipped; the summary counts both imports
    await finished(panel, panel.import_paths([folder / "alva_nordin.txt"]))
    assert panel.summary.text() == "3 imported, 1 skipped, 0 failed (in 2 imports)"

    # a drop of something that is not a file is refused
    text_only = QMimeData()
    text_only.setText("hello")
    refused = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        text_only,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    refused.setAccepted(False)
    before = panel.importing
    panel.dropEvent(refused)
    assert panel.importing is before


async def test_cancel_keeps_the_files_finished(
    qtbot: QtBot, db: Database, runner: TaskRunner, batch: str, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(400):
        words = " ".join(f"word{i}x{j}" for j in range(40))
        (folder / f"essay_{i:03d}.txt").write_text(f"Essay {i}. {words}", encoding="utf-8")
    panel = make_panel(qtbot, db, runner)
    tasks = TaskPanel(runner, show_after_ms=0)
    qtbot.addWidget(tasks)
    await shown(panel, batch)

    operation = panel.import_paths([folder])
    await wait_until(lambda: operation.progress is not None and operation.progress.done >= 1, 60)
    row = tasks.row_for(operation)
    assert row is not None and "/400" in row.label.text()  # per-file progress in the task panel
    assert panel.cancel_button.isVisible()
    panel.cancel_button.click()
    result = await finished(panel, operation)
    assert result.cancelled
    assert 0 < len(result.outcomes) < 400
    assert result.found == 400
    stored = intake_records(db, batch).rows
    assert len(stored) == len(result.outcomes) == panel.model.rowCount()
    assert get_batch(db, batch).essays == result.counts.imported
    assert "Import stopped after" in panel.message.text()
    assert "import the same files again to add the rest" in panel.message.text()
    assert not panel.cancel_button.isVisible()
    assert panel.add_folder_button.isEnabled()


async def test_an_import_into_a_missing_batch_says_why(
    qtbot: QtBot, db: Database, runner: TaskRunner, tmp_path: Path
) -> None:
    panel = make_panel(qtbot, db, runner)
    panel.set_batch("no-such-batch")
    folder = write_demo_files(tmp_path / "drop")
    operation = panel.import_paths([folder / "alva_nordin.txt"])
    await operation.wait()
    await settle()
    assert panel.message.text().startswith("Nothing was imported.")


async def test_every_reason_has_words_for_a_teacher() -> None:
    from app.intake.outcomes import Reason  # noqa: PLC0415
    from ui.importing import REASON_TEXT  # noqa: PLC0415

    assert set(Reason) <= set(REASON_TEXT)
