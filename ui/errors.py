"""The error dialog: what went wrong in a teacher's words, the technical details one click away.

Every failure shown in the window goes through :class:`ErrorDialog`: an operation's
:class:`~app.operations.base.Failed` outcome, or an exception nobody expected (turned into a
``Failed`` of kind ``INTERNAL`` by :func:`failure_from_exception`). The dialog shows the
operation's sentence, a heading for its kind of failure, and a *Details* expander with what a
maintainer needs (the traceback or the provider's answer, plus the app, Python and Qt
versions); *Copy details* puts all of it on the clipboard. It is opened with ``open()`` (or
awaited with :func:`ui.dialogs.open_and_wait`), never ``exec()``.
"""

from __future__ import annotations

import platform
import traceback

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import __version__ as app_version
from app.db.migrate import DatabaseError
from app.operations.base import Failed, FailureKind, OperationError
from ui.i18n import QT_TRANSLATE_NOOP

translate = QCoreApplication.translate

_HEADINGS: dict[FailureKind, str] = {
    FailureKind.INPUT: QT_TRANSLATE_NOOP("ErrorDialog", "This cannot be done"),
    FailureKind.JUDGE_REFUSED: QT_TRANSLATE_NOOP("ErrorDialog", "The judge refused the requests"),
    FailureKind.RUN_FAILED: QT_TRANSLATE_NOOP("ErrorDialog", "Grading failed"),
    FailureKind.BUSY: QT_TRANSLATE_NOOP("ErrorDialog", "Busy elsewhere"),
    FailureKind.DATABASE: QT_TRANSLATE_NOOP("ErrorDialog", "The database cannot be used"),
    FailureKind.INTERNAL: QT_TRANSLATE_NOOP("ErrorDialog", "Something went wrong"),
}
"""A heading per kind of failure (English source text; translated when shown)."""

UNEXPECTED_MESSAGE = QT_TRANSLATE_NOOP(
    "ErrorDialog",
    "Something happened that the app did not expect. What was finished before is kept. "
    "If it happens again, copy the details and send them to support.",
)


def failure_from_exception(exc: BaseException) -> Failed:
    """An exception as a :class:`Failed` outcome: an :class:`OperationError` keeps its kind and
    sentence, a :class:`DatabaseError` its teacher-facing message; anything else is a bug
    (``INTERNAL``) whose details are the traceback."""
    details = "".join(traceback.format_exception(exc)).rstrip()
    if isinstance(exc, OperationError):
        failed = exc.failed()
        return Failed(failed.kind, failed.message, failed.details or details)
    if isinstance(exc, DatabaseError):
        return Failed(FailureKind.DATABASE, str(exc), details)
    return Failed(FailureKind.INTERNAL, translate("ErrorDialog", UNEXPECTED_MESSAGE), details)


def environment_line() -> str:
    """The versions a maintainer asks for first."""
    return (
        f"HuleEdu Desktop {app_version} · Python {platform.python_version()} · "
        f"PySide6 {pyside_version} · {platform.platform(terse=True)}"
    )


class ErrorDialog(QDialog):
    """Shows one failure: a heading, the teacher's sentence, and hidden technical details.

    Build it with :meth:`for_failure` or :meth:`for_exception`; show it with ``open()``.
    """

    def __init__(
        self,
        message: str,
        details: str = "",
        *,
        heading: str | None = None,
        kind: FailureKind = FailureKind.INTERNAL,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("errorDialog")
        self.setWindowTitle(translate("ErrorDialog", "HuleEdu"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.kind = kind
        self.message = message
        self.heading = heading or translate("ErrorDialog", _HEADINGS[kind])
        self.details = details

        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        pixmap = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon.setPixmap(pixmap.pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.heading_label = QLabel(self.heading)
        font = self.heading_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.heading_label.setFont(font)

        self.message_label = QLabel(message)
        self.message_label.setObjectName("errorMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.message_label.setMinimumWidth(400)  # else its height is reckoned for ~250 px

        text = QVBoxLayout()
        text.setSpacing(6)
        text.addWidget(self.heading_label)
        text.addWidget(self.message_label)
        text.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addSpacing(8)
        top.addLayout(text, 1)

        self.details_button = QToolButton()
        self.details_button.setObjectName("detailsButton")
        self.details_button.setText(translate("ErrorDialog", "Details"))
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAutoRaise(True)
        self.details_button.toggled.connect(self.set_details_visible)

        self.details_view = QPlainTextEdit()
        self.details_view.setObjectName("detailsView")
        self.details_view.setReadOnly(True)
        self.details_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details_view.setPlainText(self.technical_text())
        self.details_view.setMinimumHeight(180)
        self.details_view.setVisible(False)

        self.copy_button = QPushButton(translate("ErrorDialog", "Copy details"))
        self.copy_button.setObjectName("copyButton")
        self.copy_button.setToolTip(
            translate("ErrorDialog", "Copy the message and the technical details")
        )
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.close_button = QPushButton(translate("ErrorDialog", "Close"))
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addSpacing(4)
        layout.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details_view, 1)
        layout.addLayout(buttons)
        self.setMinimumWidth(500)
        self.setSizeGripEnabled(True)
        self.adjustSize()

    @classmethod
    def for_failure(cls, failed: Failed, parent: QWidget | None = None) -> ErrorDialog:
        return cls(failed.message, failed.details, kind=failed.kind, parent=parent)

    @classmethod
    def for_exception(cls, exc: BaseException, parent: QWidget | None = None) -> ErrorDialog:
        return cls.for_failure(failure_from_exception(exc), parent)

    def technical_text(self) -> str:
        """Everything *Copy details* copies: the sentence, the kind, versions and details."""
        parts = [
            self.heading,
            self.message,
            "",
            f"kind: {self.kind.value}",
            environment_line(),
        ]
        if self.details:
            parts += ["", self.details]
        return "\n".join(parts)

    def set_details_visible(self, visible: bool) -> None:
        self.details_button.setArrowType(
            Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow
        )
        if self.details_button.isChecked() != visible:
            self.details_button.setChecked(visible)
        self.details_view.setVisible(visible)
        if visible:
            self.resize(max(self.width(), 640), max(self.height(), 420))
        else:
            self.adjustSize()

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.technical_text())
        self.copy_button.setText(translate("ErrorDialog", "Copied"))


def show_failure(failed: Failed, parent: QWidget | None = None) -> ErrorDialog:
    """Open an :class:`ErrorDialog` for ``failed`` (window-modal, returns at once); it deletes
    itself when closed."""
    dialog = ErrorDialog.for_failure(failed, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
