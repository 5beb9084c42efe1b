"""The Settings page: the default judge, API keys, where the data is, the language.

* **Default judge for new runs**: a :class:`~ui.run_panel.JudgeSettingsForm` saved with
  :func:`app.operations.preferences.save_preferences` (``<data folder>/preferences.json``); a
  damaged file is reported and the defaults shown.
* **API keys**, one row per provider: where its key is (:func:`app.operations.keys.key_status`;
  a machine with no system keyring says so), *Set key…* (a password field), *Remove*, and
  *Test connection* (one tiny real call, run as an operation; the built-in simulated judge can
  be tested too). Keys go only to the system keyring, never to a file.
* **Data**: the data folder and the database file, with *Open folder*.
* **Language**: English only for now.

The page never touches the keyring, the file or the network itself: each is an operation
started through the task runner.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.db.engine import Database
from app.operations.base import Completed, Failed
from app.operations.keys import (
    KEY_PROVIDERS,
    TESTABLE_PROVIDERS,
    ConnectionResult,
    KeyState,
    KeyStatus,
    delete_key,
    key_status,
    store_key,
)
from app.operations.keys import test_connection as connection_test
from app.operations.preferences import LoadedPreferences, load_preferences, save_preferences
from ui.dialogs import open_and_wait
from ui.run_panel import JudgeSettingsForm, provider_label
from ui.sync_box import SyncBox
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate


@dataclass(frozen=True)
class SettingsState:
    preferences: LoadedPreferences
    keys: dict[str, KeyStatus]


def load_settings(data_dir: Path, **_op: object) -> SettingsState:
    """(Worker thread.) The stored preferences and where each provider's key is."""
    return SettingsState(load_preferences(data_dir), {p: key_status(p) for p in KEY_PROVIDERS})


class KeyDialog(QDialog):
    """Asks for one provider's API key in a password field."""

    def __init__(self, provider: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyDialog")
        self.setWindowTitle(
            translate("SettingsPage", "API key for {provider}").format(
                provider=provider_label(provider)
            )
        )
        intro = QLabel(
            translate(
                "SettingsPage",
                "Paste the key from the provider's website. It is kept in the system keyring "
                "of this computer, never in a file.",
            )
        )
        intro.setWordWrap(True)
        self.edit = QLineEdit()
        self.edit.setObjectName("keyEdit")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setMinimumWidth(self.fontMetrics().averageCharWidth() * 44)
        label = QLabel(translate("SettingsPage", "&Key:"))
        label.setBuddy(self.edit)
        self.show_key = QCheckBox(translate("SettingsPage", "&Show the key"))
        self.show_key.toggled.connect(
            lambda on: self.edit.setEchoMode(
                QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
            )
        )
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setEnabled(False)
        self.edit.textChanged.connect(lambda text: save.setEnabled(bool(text.strip())))
        row = QHBoxLayout()
        row.addWidget(label)
        row.addWidget(self.edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.show_key)
        layout.addWidget(self.buttons)

    def key(self) -> str:
        return self.edit.text().strip()


class KeyRow:
    """The widgets of one provider in the keys grid."""

    def __init__(self, page: SettingsPage, provider: str) -> None:
        self.provider = provider
        self.name = QLabel(provider_label(provider))
        font = self.name.font()
        font.setBold(True)
        self.name.setFont(font)
        self.status = QLabel()
        self.status.setObjectName(f"keyStatus_{provider}")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.result = QLabel()
        self.result.setObjectName(f"testResult_{provider}")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.result.hide()
        self.set_button = QPushButton(translate("SettingsPage", "Set key…"))
        self.set_button.setObjectName(f"setKey_{provider}")
        self.remove_button = QPushButton(translate("SettingsPage", "Remove"))
        self.remove_button.setObjectName(f"removeKey_{provider}")
        self.test_button = QPushButton(translate("SettingsPage", "Test connection"))
        self.test_button.setObjectName(f"testKey_{provider}")
        self.set_button.clicked.connect(lambda: page._ask_key(provider))
        self.remove_button.clicked.connect(lambda: page.remove_key(provider))
        self.test_button.clicked.connect(lambda: page.test_connection(provider))
        if provider == "sim":
            self.status.setText(translate("SettingsPage", "Built in: no key, no account, no cost."))
            self.set_button.setEnabled(False)
            self.remove_button.setEnabled(False)
            self.set_button.hide()
            self.remove_button.hide()

    def show_status(self, status: KeyStatus) -> None:
        texts = {
            KeyState.STORED: translate("SettingsPage", "Key stored in the system keyring."),
            KeyState.SESSION: translate(
                "SettingsPage",
                "Key kept until the app closes (there is no system keyring to save it in).",
            ),
            KeyState.NOT_STORED: translate("SettingsPage", "No key yet."),
            KeyState.UNAVAILABLE: translate("SettingsPage", "No key (no system keyring)."),
        }
        if self.provider == "openai_compatible" and status.state is KeyState.NOT_STORED:
            text = translate("SettingsPage", "No key (local servers often need none).")
        else:
            text = texts[status.state]
        self.status.setText(text)
        self.remove_button.setEnabled(status.has_key)

    def show_result(self, text: str, ok: bool | None) -> None:
        color = {True: "#1b7f3b", False: "#b3261e", None: ""}[ok]
        self.result.setStyleSheet(f"color: {color};" if color else "")
        self.result.setText(text)
        self.result.show()


class SettingsPage(QWidget):
    """Default judge, API keys, data folder, language. ``preferences_saved`` after a save.

    ``base_urls`` (public) maps a provider to a server to test instead of its own (a proxy;
    the simulated server in tests).
    """

    preferences_saved = Signal()
    loaded = Signal()

    def __init__(
        self, db: Database, runner: TaskRunner, data_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self.db = db
        self.runner = runner
        self.data_dir = Path(data_dir)
        self.base_urls: dict[str, str] = {}
        self.state: SettingsState | None = None
        self.key_dialog: KeyDialog | None = None
        self.last_failure: Failed | None = None
        self.loading: Operation[SettingsState] | None = None
        self._asking: asyncio.Future[None] | None = None

        heading = QLabel(translate("SettingsPage", "Settings"))
        heading.setObjectName("pageHeading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)

        # -- default judge
        self.form = JudgeSettingsForm()
        self.form.changed.connect(self._edited)
        self.save_button = QPushButton(translate("SettingsPage", "&Save defaults"))
        self.save_button.setObjectName("saveDefaultsButton")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.save_label = QLabel()
        self.save_label.setObjectName("saveLabel")
        self.save_label.setWordWrap(True)
        self.save_label.setTextFormat(Qt.TextFormat.PlainText)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_label, 1)
        save_row.addWidget(self.save_button)
        judge_box = QGroupBox(translate("SettingsPage", "Default judge for new runs"))
        judge_layout = QVBoxLayout(judge_box)
        judge_layout.addWidget(self.form)
        judge_layout.addLayout(save_row)

        # -- keys
        self.keyring_note = QLabel()
        self.keyring_note.setObjectName("keyringNote")
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setTextFormat(Qt.TextFormat.PlainText)
        self.keyring_note.hide()
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setHorizontalSpacing(12)
        self.rows: dict[str, KeyRow] = {}
        for i, provider in enumerate(TESTABLE_PROVIDERS):
            row = KeyRow(self, provider)
            self.rows[provider] = row
            buttons = QHBoxLayout()
            buttons.setContentsMargins(0, 0, 0, 0)
            buttons.setSpacing(8)
            for button in (row.set_button, row.remove_button, row.test_button):
                buttons.addWidget(button)
            buttons.addStretch(1)
            grid.addWidget(row.name, 3 * i, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(row.status, 3 * i, 1)
            grid.addLayout(buttons, 3 * i + 1, 1)
            grid.addWidget(row.result, 3 * i + 2, 1)
            grid.setRowMinimumHeight(3 * i + 2, 0)
            if i < len(TESTABLE_PROVIDERS) - 1:
                grid.setRowMinimumHeight(3 * i + 2, self.fontMetrics().height() // 2)
        keys_box = QGroupBox(translate("SettingsPage", "API keys"))
        keys_layout = QVBoxLayout(keys_box)
        keys_layout.addWidget(self.keyring_note)
        keys_layout.addLayout(grid)

        # -- data and language
        self.data_label = QLabel(str(self.data_dir))
        self.data_label.setObjectName("dataFolderLabel")
        self.db_label = QLabel(str(db.path))
        self.db_label.setObjectName("databaseLabel")
        for label in (self.data_label, self.db_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.open_button = QPushButton(translate("SettingsPage", "&Open folder"))
        self.open_button.setObjectName("openFolderButton")
        self.open_button.clicked.connect(self.open_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.data_label, 1)
        folder_row.addWidget(self.open_button)
        self.language = QComboBox()
        self.language.setObjectName("languageCombo")
        self.language.addItem("English", "en")
        self.language.setEnabled(False)
        language_note = QLabel(
            translate("SettingsPage", "Only English for now; Swedish is on its way.")
        )
        language_note.setWordWrap(True)
        language_row = QHBoxLayout()
        language_row.addWidget(self.language)
        language_row.addWidget(language_note, 1)
        data_box = QGroupBox(translate("SettingsPage", "Data and language"))
        data_form = QFormLayout(data_box)
        data_form.addRow(translate("SettingsPage", "Data folder:"), folder_row)
        data_form.addRow(translate("SettingsPage", "Database:"), self.db_label)
        language_label = QLabel(translate("SettingsPage", "&Language:"))
        language_label.setBuddy(self.language)
        data_form.addRow(language_label, language_row)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(heading)
        top = QHBoxLayout()
        top.addWidget(judge_box, 1)
        top.addWidget(keys_box, 1)
        layout.addLayout(top)
        layout.addWidget(data_box)
        self.sync_box = SyncBox(db, runner)
        layout.addWidget(self.sync_box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # ------------------------------------------------------------------ loading and saving

    def reload(self) -> Operation[SettingsState]:
        """Read the preferences and the key statuses again (worker thread)."""
        self.loading = self.runner.start_blocking(
            translate("SettingsPage", "Loading the settings"),
            partial(load_settings, self.data_dir),
            on_done=self._loaded,
            show_failure=False,
        )
        return self.loading

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)  # type: ignore[arg-type]
        if self.state is None and self.loading is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return
            self.reload()
            self.sync_box.reload()

    def _loaded(self, operation: Operation[SettingsState]) -> None:
        if not isValid(self) or operation is not self.loading:
            return
        self.loading = None
        outcome = operation.outcome
        if not isinstance(outcome, Completed):
            if isinstance(outcome, Failed):
                self.last_failure = outcome
                self.save_label.setText(outcome.message)
            return
        state: SettingsState = outcome.value
        self.state = state
        self.form.set_preferences(state.preferences.preferences)
        self.save_label.setText(state.preferences.warning or "")
        self.save_button.setEnabled(False)
        for provider, status in state.keys.items():
            self.rows[provider].show_status(status)
        self._show_keyring_note(state.keys)
        self.loaded.emit()

    def _show_keyring_note(self, statuses: dict[str, KeyStatus]) -> None:
        reasons = [s.reason for s in statuses.values() if s.reason]
        if reasons:
            self.keyring_note.setText(
                translate(
                    "SettingsPage",
                    "This computer has no system keyring ({reason}). Keys you set are kept only "
                    "until the app closes; they are never written to a file.",
                ).format(reason=reasons[0])
            )
            self.keyring_note.show()
        else:
            self.keyring_note.hide()

    def _edited(self) -> None:
        problem = self.form.preferences().problems()
        self.save_button.setEnabled(problem is None)
        self.save_label.setText(
            translate("SettingsPage", "These settings cannot be used: {problem}.").format(
                problem=problem
            )
            if problem
            else translate("SettingsPage", "Changed; not saved yet.")
        )

    def save(self) -> Operation[Path]:
        """Save the form as the default settings of new runs."""
        prefs = self.form.preferences()

        def done(operation: Operation[Path]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self.save_label.setText(translate("SettingsPage", "Saved."))
                self.save_button.setEnabled(False)
                self.preferences_saved.emit()
            elif isinstance(outcome, Failed):
                self.last_failure = outcome
                self.save_label.setText(outcome.message)

        return self.runner.start_blocking(
            translate("SettingsPage", "Saving the settings"),
            partial(save_preferences, self.data_dir, prefs),
            on_done=done,
            show_failure=False,
        )

    def open_folder(self) -> bool:
        """Show the data folder in the file manager (False if none could open it)."""
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.data_dir)))

    # ------------------------------------------------------------------ keys

    def _ask_key(self, provider: str) -> None:
        dialog = KeyDialog(provider, self)
        self.key_dialog = dialog

        async def ask() -> None:
            code = await open_and_wait(dialog)
            self.key_dialog = None
            if code == QDialog.DialogCode.Accepted and dialog.key():
                self.set_key(provider, dialog.key())
            dialog.deleteLater()

        self._asking = asyncio.ensure_future(ask())

    def set_key(self, provider: str, key: str) -> Operation[KeyStatus]:
        """Store ``key`` for ``provider`` (system keyring; this session if there is none)."""
        return self._key_operation(
            provider,
            translate("SettingsPage", "Saving the key"),
            partial(store_key, provider, key),
        )

    def remove_key(self, provider: str) -> Operation[KeyStatus]:
        return self._key_operation(
            provider, translate("SettingsPage", "Removing the key"), partial(delete_key, provider)
        )

    def _key_operation(
        self, provider: str, title: str, work: partial[KeyStatus]
    ) -> Operation[KeyStatus]:
        row = self.rows[provider]
        row.result.hide()

        def done(operation: Operation[KeyStatus]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                status: KeyStatus = outcome.value
                row.show_status(status)
                if self.state is not None:
                    self.state.keys[provider] = status
                    self._show_keyring_note(self.state.keys)
            elif isinstance(outcome, Failed):
                self.last_failure = outcome
                row.show_result(outcome.message, False)

        return self.runner.start_blocking(title, work, on_done=done, show_failure=False)

    def test_connection(self, provider: str, key: str | None = None) -> Operation[ConnectionResult]:
        """One tiny real call to ``provider`` (its stored key unless ``key`` is given), with
        the default model when the form's judge is that provider, else a cheap one."""
        row = self.rows[provider]
        prefs = self.form.preferences()
        model = prefs.model if prefs.provider == provider else None
        base_url = self.base_urls.get(provider)
        if provider == "openai_compatible" and base_url is None:
            base_url = prefs.base_url if prefs.provider == provider else None
        row.test_button.setEnabled(False)
        row.show_result(translate("SettingsPage", "Testing…"), None)

        def done(operation: Operation[ConnectionResult]) -> None:
            if not isValid(self):
                return
            row.test_button.setEnabled(True)
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                result: ConnectionResult = outcome.value
                row.show_result(result.message, result.ok)
            elif isinstance(outcome, Failed):
                self.last_failure = outcome
                row.show_result(outcome.message, False)
            else:
                row.result.hide()

        return self.runner.start_async(
            translate("SettingsPage", "Testing the connection to {provider}").format(
                provider=provider_label(provider)
            ),
            partial(connection_test, provider, model, key, base_url=base_url),
            on_done=done,
            show_failure=False,
        )


async def demo_state(page: SettingsPage) -> None:
    """Put ``page`` in a state worth a screenshot: loaded, the built-in judge tested."""
    await page.reload().wait()
    await page.test_connection("sim").wait()
    await asyncio.sleep(0.05)
