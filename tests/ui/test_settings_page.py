"""The Settings page: default judge saved to preferences.json, API keys, connection tests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from PySide6.QtWidgets import QDialogButtonBox, QWidget
from pytestqt.qtbot import QtBot

from app.db.engine import Database
from app.operations import keys
from app.operations.base import Completed
from app.operations.keys import ConnectionVerdict
from app.operations.preferences import load_preferences, preferences_path
from app.simserver import start_in_thread
from tests.app.test_operations_keys import MemoryKeyring
from tests.ui.conftest import settle, wait_until
from ui.settings_page import SettingsPage, demo_state
from ui.tasks import TaskRunner

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def sim_url() -> Iterator[str]:
    url, stop = start_in_thread("generic", speed=1000.0)
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def page(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[SettingsPage]:
    runner = TaskRunner()
    widget = SettingsPage(db, runner, tmp_path / "data")
    qtbot.addWidget(widget)
    widget.resize(1200, 760)
    yield widget
    runner.deleteLater()


async def loaded(page: SettingsPage) -> None:
    page.show()  # showing the page loads it
    await wait_until(lambda: page.state is not None)


async def test_defaults_are_saved_and_read_back(
    page: SettingsPage, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    await loaded(page)
    assert page.form.preferences().provider == "sim"
    assert not page.save_button.isEnabled()  # nothing changed yet
    assert page.data_label.text() == str(tmp_path / "data")
    assert page.db_label.text().endswith(".sqlite3")
    assert not page.language.isEnabled()

    page.form.provider.setCurrentIndex(page.form.provider.findData("anthropic"))
    assert page.form.model.currentText() == "claude-haiku-4-5"  # from the catalogue
    page.form.mode.setCurrentIndex(page.form.mode.findData("per_request"))
    page.form.whole_budget.setChecked(True)
    page.form.budget.setValue(150)
    assert "not saved yet" in page.save_label.text()
    assert page.save_button.isEnabled()
    page.save_button.click()
    await wait_until(lambda: page.save_label.text() == "Saved.")
    stored = load_preferences(tmp_path / "data").preferences
    assert (stored.provider, stored.model, stored.mode) == (
        "anthropic",
        "claude-haiku-4-5",
        "per_request",
    )
    assert stored.target_reliability is None and stored.budget == 150

    # a new page (the app restarted) shows them
    again = SettingsPage(page.db, page.runner, tmp_path / "data")
    await loaded(again)
    assert again.form.preferences() == stored
    again.deleteLater()


async def test_unusable_settings_cannot_be_saved(page: SettingsPage) -> None:
    await loaded(page)
    page.form.provider.setCurrentIndex(page.form.provider.findData("openai_compatible"))
    assert page.form.base_url.isVisible()
    assert not page.save_button.isEnabled()
    assert "base URL" in page.save_label.text()
    page.form.base_url.setText("http://localhost:11434/v1")
    page.form.model.setEditText("llama3.1")
    assert page.save_button.isEnabled()
    # provider batch is offered only where a batch API exists
    page.form.provider.setCurrentIndex(page.form.provider.findData("gemini"))
    item = page.form.mode.model().item(page.form.mode.findData("provider_batch"))  # type: ignore[attr-defined]
    assert not item.isEnabled()


async def test_a_damaged_preferences_file_shows_defaults_and_says_so(
    page: SettingsPage, tmp_path: Path
) -> None:
    path = preferences_path(tmp_path / "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{broken", encoding="utf-8")
    await loaded(page)
    assert "damaged" in page.save_label.text()
    assert page.form.preferences().provider == "sim"


async def test_set_remove_and_test_a_key(
    page: SettingsPage, memory_keyring: MemoryKeyring, sim_url: str
) -> None:
    page.base_urls["openai"] = sim_url + "/v1"  # the simulated server speaks OpenAI's API
    await loaded(page)
    row = page.rows["openai"]
    assert row.status.text() == "No key yet."
    assert not row.remove_button.isEnabled()
    assert page.keyring_note.isHidden()

    # Set key…: a password field; Save stays off until something is typed
    row.set_button.click()
    await wait_until(lambda: page.key_dialog is not None and page.key_dialog.isVisible())
    dialog = page.key_dialog
    assert dialog is not None
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled()
    dialog.edit.setText("invalid-typo")
    assert dialog.edit.echoMode() == dialog.edit.EchoMode.Password
    save.click()
    await wait_until(lambda: row.status.text() == "Key stored in the system keyring.")
    assert memory_keyring.entries == {("huleedu", "openai"): "invalid-typo"}
    assert row.remove_button.isEnabled()

    # Test connection with a wrong key: named as such
    row.test_button.click()
    await wait_until(lambda: "refused the key" in row.result.text())
    assert row.test_button.isEnabled()

    # a good key works
    operation = page.set_key("openai", "sk-good-key")
    await operation.wait()
    outcome = await page.test_connection("openai").wait()
    assert isinstance(outcome, Completed) and outcome.value.verdict is ConnectionVerdict.WORKS
    assert "it works" in row.result.text()
    assert "gpt-5-mini" in row.result.text()

    # Remove
    row.remove_button.click()
    await wait_until(lambda: row.status.text() == "No key yet.")
    assert memory_keyring.entries == {}
    assert "key" not in json.dumps(os.listdir(page.data_dir)) if page.data_dir.exists() else True


async def test_the_built_in_judge_can_be_tested(page: SettingsPage) -> None:
    await loaded(page)
    row = page.rows["sim"]
    assert row.set_button.isHidden()
    outcome = await page.test_connection("sim").wait()
    assert isinstance(outcome, Completed) and outcome.value.ok
    assert "it works" in row.result.text()


async def test_no_system_keyring_is_said_plainly(page: SettingsPage) -> None:
    before = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())  # type: ignore[no-untyped-call]
    try:
        await loaded(page)
        assert page.keyring_note.isVisible()
        assert "no system keyring" in page.keyring_note.text()
        assert page.rows["anthropic"].status.text() == "No key (no system keyring)."
        await page.set_key("anthropic", "sk-ant-1").wait()
        assert "until the app closes" in page.rows["anthropic"].status.text()
        await page.remove_key("anthropic").wait()
    finally:
        keys.delete_key("anthropic")
        keyring.set_keyring(before)


async def test_screenshots(
    page: SettingsPage, memory_keyring: MemoryKeyring, shots: Callable[[QWidget, str], Path]
) -> None:
    memory_keyring.entries[("huleedu", "anthropic")] = "sk-ant-demo"
    await loaded(page)
    await demo_state(page)
    await settle()
    scale = os.environ.get("QT_SCALE_FACTOR", "1")
    shots(page, f"settings_page_x{scale}")
