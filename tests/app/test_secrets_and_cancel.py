"""API keys from the environment or the keyring; cancelling a run keeps its results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import NoKeyringError
from sqlalchemy import func, select

from app.db.models import Result, Run
from app.runs.monitor import cancel_run
from app.runs.orchestrator import Orchestrator, RunSettings
from app.secrets import MissingKeyError, find_api_key
from app.simserver import running_server
from tests.app.test_runs import count, drive, make_db


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class FailingKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise NoKeyringError("no backend")


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test")
    assert find_api_key("openai", "MY_KEY") == "sk-test"
    monkeypatch.setenv("EMPTY_KEY", "")
    with pytest.raises(MissingKeyError, match="EMPTY_KEY"):
        find_api_key("openai", "EMPTY_KEY")


def test_key_from_keyring_and_clear_errors() -> None:
    previous = keyring.get_keyring()
    try:
        memory = MemoryKeyring()
        keyring.set_keyring(memory)
        memory.set_password("huleedu", "anthropic", "sk-ant")
        assert find_api_key("anthropic") == "sk-ant"
        with pytest.raises(MissingKeyError, match="keyring set huleedu openai"):
            find_api_key("openai")
        assert find_api_key("openai_compatible") == ""  # local servers need none
        keyring.set_keyring(FailingKeyring())
        with pytest.raises(MissingKeyError, match="not available here"):
            find_api_key("gemini")
    finally:
        keyring.set_keyring(previous)


async def test_cancel_keeps_results_so_far(tmp_path: Path) -> None:
    db, batch = make_db(tmp_path)
    settings = RunSettings(budget=150, target_reliability=None, min_comparisons_per_essay=0)
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    stop = asyncio.Event()
    async with running_server("generic", speed=1000.0, seed=6) as url:
        task = asyncio.create_task(drive(db, run_id, url, stop))
        while count(db, run_id) < 30:
            await asyncio.sleep(0.01)
        stop.set()
        await task
    assert cancel_run(db, run_id) == "cancelled"
    assert cancel_run(db, run_id) == "cancelled"  # idempotent
    assert cancel_run(db, "no-such-run") is None
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None and run.stop_reason == "cancelled" and run.completed_at
        n = s.scalar(select(func.count()).select_from(Result).where(Result.run_id == run_id))
        assert n == 22
