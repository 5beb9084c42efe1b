"""The error dialog: the teacher's sentence, the details behind an expander, Copy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.db.migrate import DatabaseLockedError
from app.operations.base import Failed, FailureKind, OperationError
from ui.dialogs import open_and_wait
from ui.errors import UNEXPECTED_MESSAGE, ErrorDialog, failure_from_exception, show_failure

Shots = Callable[[QWidget, str], Path]


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_failed_outcome_shows_message_details_and_copies_them(qtbot: QtBot, shots: Shots) -> None:
    failed = Failed(
        FailureKind.JUDGE_REFUSED,
        "The judge refused the requests: the API key was not accepted. Check it in Settings.",
        'HTTP 401 from api.openai.com: {"error": {"code": "invalid_api_key"}}',
    )
    dialog = ErrorDialog.for_failure(failed)
    qtbot.addWidget(dialog)
    dialog.open()
    assert dialog.isVisible()
    assert dialog.heading_label.text() == "The judge refused the requests"
    assert dialog.message_label.text() == failed.message
    assert not dialog.details_view.isVisible()
    shots(dialog, "error-closed")

    dialog.details_button.click()
    assert dialog.details_view.isVisible()
    details = dialog.details_view.toPlainText()
    assert "invalid_api_key" in details
    assert "kind: judge_refused" in details
    assert "HuleEdu Desktop" in details
    shots(dialog, "error-details")

    QGuiApplication.clipboard().clear()
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert failed.message in copied
    assert "invalid_api_key" in copied
    assert dialog.copy_button.text() == "Copied"

    dialog.details_button.click()
    assert not dialog.details_view.isVisible()


def test_unexpected_exception_is_a_bug_with_its_traceback(qtbot: QtBot) -> None:
    exc = _raise(ZeroDivisionError("division by zero"))
    dialog = ErrorDialog.for_exception(exc)
    qtbot.addWidget(dialog)
    assert dialog.kind is FailureKind.INTERNAL
    assert dialog.message == UNEXPECTED_MESSAGE
    assert dialog.heading == "Something went wrong"
    assert "ZeroDivisionError: division by zero" in dialog.details_view.toPlainText()
    assert "Traceback" in dialog.details_view.toPlainText()


def test_expected_exceptions_keep_their_sentence() -> None:
    failed = failure_from_exception(
        _raise(OperationError(FailureKind.INPUT, "No batch with id 'x'.", "looked up x"))
    )
    assert failed == Failed(FailureKind.INPUT, "No batch with id 'x'.", "looked up x")
    locked = failure_from_exception(
        _raise(DatabaseLockedError("Another program is using the database.", Path("db")))
    )
    assert locked.kind is FailureKind.DATABASE
    assert locked.message == "Another program is using the database."
    assert "DatabaseLockedError" in locked.details


async def test_dialog_is_awaited_without_exec(qtbot: QtBot) -> None:
    dialog = ErrorDialog("Nothing to grade.", kind=FailureKind.INPUT)
    qtbot.addWidget(dialog)
    asyncio.get_running_loop().call_later(0.05, dialog.close_button.click)
    code = await asyncio.wait_for(open_and_wait(dialog), 5)
    assert code == ErrorDialog.DialogCode.Accepted
    assert not dialog.isVisible()


async def test_awaiting_task_cancelled_rejects_the_dialog(qtbot: QtBot) -> None:
    dialog = ErrorDialog("Nothing to grade.", kind=FailureKind.INPUT)
    qtbot.addWidget(dialog)
    waiting = asyncio.ensure_future(open_and_wait(dialog))
    await asyncio.sleep(0.05)
    assert dialog.isVisible()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert waiting.cancelled()
    assert not dialog.isVisible()


def test_show_failure_opens_without_blocking(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    dialog = show_failure(Failed(FailureKind.BUSY, "Another window is grading this batch."), parent)
    assert dialog.isVisible()
    assert dialog.heading == "Busy elsewhere"
    dialog.accept()
