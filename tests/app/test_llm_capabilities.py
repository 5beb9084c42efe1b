"""Capabilities from an override, the catalogue (the user's file merged over the bundled one) or
a safe profile, never from a model's name; `huleedu check-model` against the strict server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.cli import main
from app.llm.capabilities import (
    CapabilitiesError,
    ModelCapabilities,
    parse_capabilities,
    safe_capabilities,
)
from app.llm.catalogue import (
    CatalogueError,
    default_catalogue,
    load_catalogue,
    use_user_catalogue,
)
from app.llm.probe import probe_model
from app.llm.providers.base import ProviderConfig, resolve_traits
from app.llm.providers.factory import make_provider
from app.simserver import running_server, start_in_thread
from core.prompt import AssignmentContext

CONTEXT = AssignmentContext("T", "Write.", "Argue well.", "Prefer the better argument.")


def body_for(kind: Any, model: str, **extra: Any) -> dict[str, Any]:
    from app.llm.types import PairTask  # noqa: PLC0415

    config = ProviderConfig(
        kind=kind,
        model=model,
        base_url="http://127.0.0.1:9/v1",
        api_key=SecretStr("k"),
        temperature=0.2,
        **extra,
    )
    provider = make_provider(config, catalogue=load_catalogue())
    return provider.build_batch_body(CONTEXT, [PairTask("p", "One essay.", "Another.")], "n" * 16)


@pytest.mark.parametrize(
    "model", ["gpt-5-chat-latest", "gpt-5-pro", "o9-preview", "my-finetune", "gpt-6"]
)
def test_unknown_openai_models_get_no_optional_parameter(model: str) -> None:
    body = body_for("openai", model)
    for param in ("temperature", "logprobs", "top_logprobs", "reasoning_effort", "max_tokens"):
        assert param not in body, (model, param)
    assert body["max_completion_tokens"] > 4096  # room for hidden reasoning tokens


def test_a_routers_model_name_is_not_read_as_the_model() -> None:
    body = body_for("openai_compatible", "openai/gpt-5")
    assert "reasoning_effort" not in body and "temperature" not in body
    assert body["max_tokens"] > 4096  # room for reasoning tokens all the same


def test_catalogue_models_keep_their_parameters() -> None:
    gpt5 = body_for("openai", "gpt-5-mini-2025-08-07")
    assert gpt5["reasoning_effort"] == "low" and "temperature" not in gpt5
    assert "max_completion_tokens" in gpt5 and "logprobs" not in gpt5
    gpt41 = body_for("openai", "gpt-4.1-mini")
    assert gpt41["temperature"] == 0.2 and gpt41["logprobs"] is True
    assert "reasoning_effort" not in gpt41 and "max_tokens" in gpt41
    gemini = body_for("gemini", "gemini-2.5-flash")
    assert gemini["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 4096
    unknown_gemini = body_for("gemini", "gemini-9-ultra")
    assert "thinkingConfig" not in unknown_gemini["generationConfig"]
    assert "temperature" not in unknown_gemini["generationConfig"]


def test_an_override_wins_over_catalogue_and_safe_profile() -> None:
    caps = parse_capabilities("temperature=yes, logprobs=true", "openai_compatible")
    body = body_for("openai_compatible", "llama3.1:8b", capabilities=caps)
    assert body["temperature"] == 0.2 and body["logprobs"] is True
    config = ProviderConfig(kind="openai", model="gpt-5", capabilities=caps)
    traits = resolve_traits(config, load_catalogue())
    assert traits.source == "override" and traits.supports_temperature


def test_parse_capabilities_json_and_key_values() -> None:
    assert parse_capabilities('{"reasoning_effort": true}', "openai") == ModelCapabilities(
        reasoning_effort=True, max_tokens_param="max_completion_tokens"
    )
    caps = parse_capabilities("max_tokens_param=max_completion_tokens;reasoning=no", "gemini")
    assert caps.max_tokens_param == "max_completion_tokens" and caps.reasoning is False
    assert safe_capabilities("anthropic").max_tokens_param == "max_tokens"
    for bad, words in (
        ("temperatur=yes", "unknown key"),
        ("temperature", "key=value"),
        ("max_tokens_param=max_output", "max_tokens_param"),
        ("{not json", "not valid JSON"),
        ("[1]", "object"),
        ("", "empty"),
    ):
        with pytest.raises(CapabilitiesError, match=words):
            parse_capabilities(bad, "openai")


ENTRY = {
    "provider": "openai_compatible",
    "input_per_mtok": 0.1,
    "cached_input_per_mtok": 0.01,
    "output_per_mtok": 0.4,
    "supports_temperature": True,
    "structured_output": "json_schema",
    "logprobs": True,
    "batch_api": False,
    "prompt_caching": "none",
    "context_tokens": 32000,
}


def test_a_user_catalogue_adds_and_replaces_models(tmp_path: Path) -> None:
    file = tmp_path / "models.json"
    file.write_text(json.dumps({"models": {"llama3.1:8b": ENTRY}}), encoding="utf-8")
    try:
        use_user_catalogue(file)
        catalogue = default_catalogue()
        assert catalogue.get("llama3.1:8b").logprobs is True
        assert catalogue.find("gpt-5") is not None  # the bundled models are still there
        body = body_for_default("llama3.1:8b")
        assert body["temperature"] == 0.2 and body["logprobs"] is True
        file.write_text('{"models": {"x": {"provider": "nobody"}}}', encoding="utf-8")
        use_user_catalogue(file)
        with pytest.raises(CatalogueError, match=str(file.name)):
            default_catalogue()
    finally:
        use_user_catalogue(None)


def body_for_default(model: str) -> dict[str, Any]:
    from app.llm.types import PairTask  # noqa: PLC0415

    config = ProviderConfig(
        kind="openai_compatible",
        model=model,
        base_url="http://127.0.0.1:9/v1",
        temperature=0.2,
    )
    provider = make_provider(config)  # the default catalogue: bundled + user
    return provider.build_batch_body(CONTEXT, [PairTask("p", "One essay.", "Another.")], "n" * 16)


@pytest.mark.parametrize(
    "kind,model,suffix,expected,refused",
    [
        (
            "openai",
            "gpt-5-mini",
            "/v1",
            {"temperature": False, "logprobs": False, "reasoning_effort": True},
            {"temperature", "logprobs"},
        ),
        (
            "openai",
            "gpt-4.1-mini",
            "/v1",
            {"temperature": True, "logprobs": True, "reasoning_effort": False},
            {"reasoning_effort"},
        ),
        ("anthropic", "claude-haiku-4-5", "", {"temperature": True}, set()),
        ("gemini", "gemini-2.5-flash", "", {"temperature": True}, set()),
    ],
)
async def test_probe_finds_what_the_strict_server_accepts(
    kind: Any, model: str, suffix: str, expected: dict[str, bool], refused: set[str]
) -> None:
    async with running_server("generic", speed=1000.0) as url:
        config = ProviderConfig(
            kind=kind, model=model, base_url=url + suffix, api_key=SecretStr("k")
        )
        report = await probe_model(config)
    assert report.capabilities is not None, report.error
    assert report.verdict_ok
    for key, value in expected.items():
        assert getattr(report.capabilities, key) is value, (key, report.refused)
    assert set(report.refused) == refused
    assert report.calls == len(refused) + 1  # refused requests, then one answered call
    again = parse_capabilities(report.override, kind)
    assert again == report.capabilities


def test_check_model_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, stop = start_in_thread("generic", speed=1000.0)
    os.environ["CHECK_MODEL_KEY"] = "sk-test"
    try:
        code = main(
            [
                "check-model",
                "--provider",
                "openai",
                "--model",
                "gpt-5-mini",
                "--base-url",
                url + "/v1",
                "--api-key-env",
                "CHECK_MODEL_KEY",
                "--json",
            ]
        )
        out = json.loads(capsys.readouterr().out)
        text_code = main(
            [
                "check-model",
                "--provider",
                "openai",
                "--model",
                "gpt-5-mini",
                "--base-url",
                url + "/v1",
                "--api-key-env",
                "CHECK_MODEL_KEY",
            ]
        )
        text = capsys.readouterr().out
        bad_key = main(
            [
                "check-model",
                "--provider",
                "openai_compatible",
                "--model",
                "sim-generic",
                "--base-url",
                url + "/v1",
                "--api-key-env",
                "NO_SUCH_VARIABLE_SET",
            ]
        )
    finally:
        stop()
    assert code == 0 and text_code == 0
    assert out["ok"] and out["capabilities"]["temperature"] is False
    assert "temperature" in out["refused"] and out["verdict_parsed"]
    assert "--model-capabilities 'temperature=false" in text
    assert bad_key == 4
    user_file = tmp_path / "models.json"
    user_file.write_text(json.dumps({"models": {"gpt-5-mini": out["catalogue_entry"]}}))
    try:
        use_user_catalogue(user_file)
        assert default_catalogue().get("gpt-5-mini").supports_temperature is False
    finally:
        use_user_catalogue(None)


def test_grade_model_capabilities_reach_the_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An override is what the client sends: telling the app that gpt-5-mini takes logprobs
    makes the strict server refuse every request (exit 4); a bad override is a usage error."""
    from app.paths import resources_dir  # noqa: PLC0415

    demo = resources_dir() / "demo"
    os.environ["CAPS_TEST_KEY"] = "k"
    url, stop = start_in_thread("generic", speed=1000.0)

    def grade(folder: str, *extra: str) -> int:
        return main(
            [
                "grade",
                str(demo / "essays"),
                "--data-dir",
                str(tmp_path / folder),
                "--out",
                str(tmp_path / folder / "out"),
                "--quiet",
                "--budget",
                "12",
                "--provider",
                "openai",
                "--model",
                "gpt-5-mini",
                "--base-url",
                url + "/v1",
                "--api-key-env",
                "CAPS_TEST_KEY",
                *extra,
            ]
        )

    try:
        plain = grade("a")
        wrong = grade("b", "--model-capabilities", "logprobs=true")
        err = " ".join(capsys.readouterr().err.split())
        bad = grade("c", "--model-capabilities", "logprob=true")
        bad_err = capsys.readouterr().err
    finally:
        stop()
    assert plain == 0
    assert wrong == 4 and "logprobs" in err
    assert bad == 2 and "unknown key" in bad_err
    assert not (tmp_path / "c" / "huleedu.sqlite3").exists() or _runs(tmp_path / "c") == 0


def _runs(folder: Path) -> int:
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(folder / "huleedu.sqlite3") as con:
        count: int = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    return count
