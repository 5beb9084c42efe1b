"""API keys (keyring, session fallback, connection tests) and the stored default preferences."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.fail import Keyring as FailKeyring
from keyring.errors import PasswordDeleteError

from app.llm.providers.base import error_from_response
from app.llm.types import ProviderError
from app.operations import keys
from app.operations.base import OperationError
from app.operations.keys import ConnectionVerdict, KeyState
from app.operations.preferences import (
    Preferences,
    load_preferences,
    preferences_path,
    save_preferences,
)
from app.secrets import find_api_key
from app.simserver import start_in_thread


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring for tests."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("not found")
        del self.entries[(service, username)]


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
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        for provider in keys.KEY_PROVIDERS:
            keys.delete_key(provider)
        keyring.set_keyring(before)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    url, stop = start_in_thread("generic", speed=1000.0)
    try:
        yield url
    finally:
        stop()


# ------------------------------------------------------------------------------------ keys


def test_store_read_and_delete_a_key_in_the_keyring(memory_keyring: MemoryKeyring) -> None:
    assert keys.key_status("openai").state is KeyState.NOT_STORED
    status = keys.store_key("openai", "  sk-test-123\n")
    assert status.state is KeyState.STORED
    # the entry the run's judge reads (app.secrets), with surrounding blanks trimmed
    assert memory_keyring.entries == {("huleedu", "openai"): "sk-test-123"}
    assert find_api_key("openai") == "sk-test-123"
    assert keys.key_status("openai").has_key
    assert keys.key_status("anthropic").state is KeyState.NOT_STORED
    assert keys.delete_key("openai").state is KeyState.NOT_STORED
    assert memory_keyring.entries == {}
    assert keys.delete_key("openai").state is KeyState.NOT_STORED  # nothing stored is fine


def test_bad_keys_and_providers_are_refused(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(OperationError, match="empty"):
        keys.store_key("openai", "   ")
    with pytest.raises(OperationError, match="spaces"):
        keys.store_key("openai", "sk one")
    with pytest.raises(OperationError, match="no API key"):
        keys.store_key("sim", "x")
    assert memory_keyring.entries == {}


def test_no_system_keyring_is_a_status_not_a_crash(no_keyring: None) -> None:
    status = keys.key_status("openai")
    assert status.state is KeyState.UNAVAILABLE
    assert "No recommended backend" in status.reason
    assert "No system keyring" in status.sentence()
    # the key is kept for this session only, and the status says so
    kept = keys.store_key("openai", "sk-session")
    assert kept.state is KeyState.SESSION
    assert "this session only" in kept.sentence()
    assert keys.stored_key("openai") == "sk-session"
    assert find_api_key("openai") == "sk-session"  # what a run started from the window reads
    assert keys.delete_key("openai").state is KeyState.UNAVAILABLE
    assert keys.stored_key("openai") is None


# --------------------------------------------------------------------- connection tests


def test_the_simulated_judge_connects() -> None:
    result = asyncio.run(keys.test_connection("sim"))
    assert result.verdict is ConnectionVerdict.WORKS, result
    assert "it works" in result.message


def test_a_wrong_key_is_named_as_such(sim_url: str) -> None:
    # The simulated server refuses keys starting with "invalid" as a provider does (401;
    # Gemini: 400 API_KEY_INVALID); any other key is accepted.
    for provider, base in (
        ("openai", "/v1"),
        ("anthropic", "/v1"),
        ("gemini", "/v1beta"),
    ):
        result = asyncio.run(
            keys.test_connection(provider, None, "invalid-key", base_url=sim_url + base)
        )
        assert result.verdict is ConnectionVerdict.WRONG_KEY, result
        assert "refused the key" in result.message
        good = asyncio.run(keys.test_connection(provider, None, "sk-good", base_url=sim_url + base))
        assert good.verdict is ConnectionVerdict.WORKS, good


def test_the_stored_key_is_used_and_a_missing_one_is_named(
    memory_keyring: MemoryKeyring, sim_url: str
) -> None:
    missing = asyncio.run(keys.test_connection("openai", "gpt-5-mini", base_url=sim_url + "/v1"))
    assert missing.verdict is ConnectionVerdict.NO_KEY
    keys.store_key("openai", "invalid-stored")
    wrong = asyncio.run(keys.test_connection("openai", "gpt-5-mini", base_url=sim_url + "/v1"))
    assert wrong.verdict is ConnectionVerdict.WRONG_KEY


def test_an_unreachable_server_is_named() -> None:
    result = asyncio.run(
        keys.test_connection("openai", "gpt-5-mini", "sk-x", base_url="http://127.0.0.1:9/v1")
    )
    assert result.verdict is ConnectionVerdict.UNREACHABLE
    assert "Cannot reach" in result.message


def _error(status: int, body: dict[str, object]) -> ProviderError:
    request = httpx.Request("POST", "https://api.example.test/v1/chat/completions")
    return error_from_response(httpx.Response(status, json=body, request=request))


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        # OpenAI: out of credit
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota, please check your plan and "
                    "billing details.",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            ConnectionVerdict.NO_CREDIT,
        ),
        # Anthropic: out of credit
        (
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "Your credit balance is too low to access the Anthropic API.",
                },
            },
            ConnectionVerdict.NO_CREDIT,
        ),
        (402, {"error": {"message": "Payment required"}}, ConnectionVerdict.NO_CREDIT),
        # OpenAI: unknown model
        (
            404,
            {
                "error": {
                    "message": "The model `gpt-9` does not exist or you do not have access to it.",
                    "type": "invalid_request_error",
                    "code": "model_not_found",
                }
            },
            ConnectionVerdict.UNKNOWN_MODEL,
        ),
        # Anthropic: unknown model
        (
            404,
            {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-x"}},
            ConnectionVerdict.UNKNOWN_MODEL,
        ),
        (401, {"error": {"message": "Incorrect API key provided"}}, ConnectionVerdict.WRONG_KEY),
        (429, {"error": {"message": "Rate limit reached"}}, ConnectionVerdict.BUSY),
        (503, {"error": {"message": "overloaded"}}, ConnectionVerdict.OTHER),
    ],
)
def test_provider_answers_become_teacher_sentences(
    status: int, body: dict[str, object], verdict: ConnectionVerdict
) -> None:
    # The simulated server has no billing and accepts any model name, so these answers are
    # the providers' documented error bodies, read by the project's own error mapping.
    got, message = keys._verdict_for(_error(status, body), "openai", "gpt-9")
    assert got is verdict, message
    assert message.endswith(".")


# ------------------------------------------------------------------------------ preferences


def test_preferences_default_to_the_simulated_judge(tmp_path: Path) -> None:
    loaded = load_preferences(tmp_path)
    assert loaded.warning is None
    assert loaded.preferences.provider == "sim"
    assert loaded.preferences.run_options()["model"] == "sim-gpt51-low"


def test_preferences_round_trip(tmp_path: Path) -> None:
    prefs = Preferences(
        provider="anthropic",
        model="claude-haiku-4-5",
        mode="per_request",
        bundle_size=6,
        budget=200,
        target_reliability=None,
        concurrency=2,
    )
    path = save_preferences(tmp_path / "data", prefs)
    assert path == preferences_path(tmp_path / "data")
    assert [p.name for p in path.parent.iterdir()] == ["preferences.json"]  # no temp file left
    loaded = load_preferences(tmp_path / "data")
    assert loaded.warning is None
    assert loaded.preferences == prefs
    assert "key" not in path.read_text()


def test_invalid_preferences_are_not_saved(tmp_path: Path) -> None:
    with pytest.raises(OperationError, match="bundle size"):
        save_preferences(tmp_path, Preferences(bundle_size=99))
    with pytest.raises(OperationError, match="batch API"):
        save_preferences(tmp_path, Preferences(provider="gemini", mode="provider_batch"))
    assert not preferences_path(tmp_path).exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "damaged"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"provider": "sim", "bundle_size": "four"}), "bundle_size"),
        (json.dumps({"provider": "nobody"}), "unknown provider"),
        (json.dumps({"target_reliability": 7.0}), "target reliability"),
        ("\udcff", "cannot be read"),
    ],
)
def test_a_broken_file_gives_defaults_and_a_warning(tmp_path: Path, text: str, says: str) -> None:
    path = preferences_path(tmp_path)
    if text == "\udcff":
        path.write_bytes(b"\xff\xfe\xfa")
    else:
        path.write_text(text, encoding="utf-8")
    loaded = load_preferences(tmp_path)
    assert loaded.warning is not None and says in loaded.warning, loaded.warning
    assert loaded.preferences.provider == "sim"


def test_good_fields_of_a_partly_broken_file_are_kept(tmp_path: Path) -> None:
    preferences_path(tmp_path).write_text(
        json.dumps({"provider": "sim", "mode": "per_request", "concurrency": "many", "x": 1}),
        encoding="utf-8",
    )
    loaded = load_preferences(tmp_path)
    assert loaded.preferences.mode == "per_request"
    assert loaded.preferences.concurrency == 4
    assert loaded.warning is not None and "concurrency" in loaded.warning


def test_a_quota_answer_reads_as_no_credit_whatever_its_words() -> None:
    from app.llm.types import FailureCategory, ProviderError  # noqa: PLC0415
    from app.operations.keys import ConnectionVerdict, _verdict_for  # noqa: PLC0415

    error = ProviderError(FailureCategory.QUOTA, "Request refused for this project.", status=429)
    verdict, sentence = _verdict_for(error, "openai", "gpt-5-mini")
    assert verdict is ConnectionVerdict.NO_CREDIT
    assert "no credit left" in sentence
    limited = ProviderError(FailureCategory.RATE_LIMIT, "Slow down.", status=429)
    assert _verdict_for(limited, "openai", "gpt-5-mini")[0] is not ConnectionVerdict.NO_CREDIT
