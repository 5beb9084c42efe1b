"""The model catalogue: the bundled file, look-ups, costs and broken files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from app.llm import catalogue as catalogue_module
from app.llm.catalogue import (
    Catalogue,
    CatalogueError,
    UnknownModelError,
    cost_usd,
    default_catalogue,
    load_catalogue,
)
from app.llm.types import Usage
from app.paths import resources_dir

REQUIRED = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4o-mini": (0.15, 0.60),
    "gemini-2.5-flash": (0.30, 2.50),
}


def entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "provider": "openai",
        "input_per_mtok": 1.0,
        "cached_input_per_mtok": 0.1,
        "output_per_mtok": 4.0,
        "batch_discount": 0.5,
        "supports_temperature": True,
        "structured_output": "json_schema",
        "logprobs": True,
        "batch_api": True,
        "prompt_caching": "automatic",
        "context_tokens": 128000,
    }
    base.update(overrides)
    return base


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "models.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# The bundled file
# ---------------------------------------------------------------------------------------------


def test_bundled_catalogue_has_the_listed_models_and_prices() -> None:
    cat = load_catalogue()
    assert cat.as_of == date(2026, 11, 1)
    assert cat.currency == "USD"
    for model, (inp, out) in REQUIRED.items():
        info = cat.get(model)
        assert (info.input_per_mtok, info.output_per_mtok) == (inp, out), model
        assert info.batch_discount == 0.5
        assert 0 < info.cached_input_per_mtok < info.input_per_mtok
        assert info.context_tokens >= 128_000


def test_bundled_capabilities() -> None:
    cat = load_catalogue()
    for model in ("gpt-5", "gpt-5-mini", "gpt-5-nano"):
        info = cat.get(model)
        assert not info.supports_temperature
        assert info.max_tokens_param == "max_completion_tokens"
        assert info.cached_input_per_mtok == pytest.approx(info.input_per_mtok * 0.1)
    for model in ("claude-haiku-4-5", "claude-sonnet-4-5"):
        info = cat.get(model)
        assert info.provider == "anthropic" and info.structured_output == "tool"
        assert info.prompt_caching == "explicit"
        assert info.cached_input_per_mtok == pytest.approx(info.input_per_mtok * 0.1)
        assert info.cache_write_price == pytest.approx(info.input_per_mtok * 1.25)
    assert cat.get("gpt-4.1-mini").logprobs and cat.get("gpt-4.1-mini").supports_temperature
    assert cat.get("gemini-2.5-flash").structured_output == "response_schema"


def test_sim_models_are_priced_like_gpt5_mini() -> None:
    cat = load_catalogue()
    mini = cat.get("gpt-5-mini")
    for name in ("sim-generic", "sim-gpt51-low", "sim-flaky", "sim-anything-else"):
        info = cat.get(name)
        assert info.provider == "openai_compatible"
        assert info.input_per_mtok == mini.input_per_mtok
        assert info.cached_input_per_mtok == mini.cached_input_per_mtok
        assert info.output_per_mtok == mini.output_per_mtok
        assert info.batch_api
    assert cat.resolve("sim-anything-else") == "sim-*"
    assert cat.resolve("sim-flaky") == "sim-flaky"


def test_brief_reference_costs() -> None:
    # ~120 comparisons of ~1,445 prompt and ~54 completion tokens.
    usage = Usage(input_tokens=1445, output_tokens=54)
    haiku = 120 * cost_usd("claude-haiku-4-5", usage)
    mini = 120 * cost_usd("gpt-5-mini", usage)
    assert haiku == pytest.approx(0.21, abs=0.01)
    assert mini == pytest.approx(0.056, abs=0.01)
    assert 120 * cost_usd("gpt-5-mini", usage, batch=True) == pytest.approx(mini / 2)


# ---------------------------------------------------------------------------------------------
# Look-ups
# ---------------------------------------------------------------------------------------------


def test_unknown_model_error_lists_known_models() -> None:
    cat = load_catalogue()
    with pytest.raises(UnknownModelError) as info:
        cat.get("gpt-9-ultra")
    message = str(info.value)
    assert "gpt-9-ultra" in message
    assert "claude-haiku-4-5" in message and "gpt-5-mini" in message
    assert info.value.model == "gpt-9-ultra"
    assert isinstance(info.value, LookupError)
    assert cat.find("gpt-9-ultra") is None


def test_snapshot_names_resolve_to_their_family_entry() -> None:
    cat = load_catalogue()
    assert cat.resolve("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert cat.resolve("gpt-5-mini-2025-08-07") == "gpt-5-mini"
    assert cat.resolve("gpt-4.1-nano") is None  # not a snapshot of gpt-4.1
    assert cat.resolve("gpt-5-mini") == "gpt-5-mini"


# ---------------------------------------------------------------------------------------------
# Costs
# ---------------------------------------------------------------------------------------------


def test_cost_plain_cached_and_batch() -> None:
    cat = load_catalogue()
    plain = cat.cost_usd("gpt-5-mini", Usage(input_tokens=1_000_000, output_tokens=1_000_000))
    assert plain == pytest.approx(0.25 + 2.0)
    cached = cat.cost_usd(
        "gpt-5-mini",
        Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000),
    )
    assert cached == pytest.approx(0.6 * 0.25 + 0.4 * 0.025 + 0.1 * 2.0)
    batch = cat.cost_usd(
        "gpt-5-mini",
        Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000),
        batch=True,
    )
    assert batch == pytest.approx(cached * 0.5)
    assert cat.cost_usd("gpt-4.1", Usage()) == 0.0


def test_cost_anthropic_cache_reads_and_writes() -> None:
    cat = load_catalogue()
    usage = Usage(
        input_tokens=3000, cached_input_tokens=1000, cache_write_tokens=1500, output_tokens=200
    )
    expected = (500 * 3.0 + 1000 * 0.30 + 1500 * 3.75 + 200 * 15.0) / 1e6
    assert cat.cost_usd("claude-sonnet-4-5", usage) == pytest.approx(expected)
    assert cat.cost_usd("claude-sonnet-4-5", usage, batch=True) == pytest.approx(expected / 2)


def test_cost_cache_write_defaults_to_input_price(tmp_path: Path) -> None:
    cat = load_catalogue(write(tmp_path, {"as_of": "2026-01-01", "models": {"m": entry()}}))
    usage = Usage(input_tokens=100, cache_write_tokens=100)
    assert cat.cost_usd("m", usage) == pytest.approx(100 * 1.0 / 1e6)


def test_cost_errors(tmp_path: Path) -> None:
    cat = load_catalogue(
        write(tmp_path, {"as_of": "2026-01-01", "models": {"m": entry(batch_api=False)}})
    )
    with pytest.raises(ValueError, match="no batch API"):
        cat.cost_usd("m", Usage(input_tokens=10), batch=True)
    with pytest.raises(UnknownModelError):
        cat.cost_usd("other", Usage(input_tokens=10))


# ---------------------------------------------------------------------------------------------
# Broken files
# ---------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, '{"as_of": "2026-01-01", "models": {')
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    message = str(info.value)
    assert str(path) in message and "not valid JSON" in message and "line 1" in message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ({"models": {"m": entry()}}, "as_of"),
        ({"as_of": "yesterday", "models": {"m": entry()}}, "as_of"),
        ({"as_of": "2026-01-01", "models": {}}, "models"),
        (
            {"as_of": "2026-01-01", "models": {"m": entry(input_per_mtok=-1)}},
            "models.m.input_per_mtok",
        ),
        (
            {"as_of": "2026-01-01", "models": {"m": entry(structured_output="xml")}},
            "structured_output",
        ),
        ({"as_of": "2026-01-01", "models": {"m": entry(inptu_per_mtok=1)}}, "inptu_per_mtok"),
        ({"as_of": "2026-01-01", "models": {"m": entry(batch_discount=1.5)}}, "batch_discount"),
        ({"as_of": "2026-01-01", "models": {" m": entry()}}, "surrounding spaces"),
        (["not", "an", "object"], "invalid"),
    ],
)
def test_invalid_catalogue(tmp_path: Path, content: object, fragment: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message


def test_default_path_follows_resources_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"as_of": "2025-05-05", "models": {"only-model": entry()}})
    monkeypatch.setenv("HULEEDU_RESOURCES", str(tmp_path))
    cat = load_catalogue()
    assert cat.as_of == date(2025, 5, 5) and cat.names() == ["only-model"]
    monkeypatch.delenv("HULEEDU_RESOURCES")
    assert (resources_dir() / "models.json").is_file()


def test_default_catalogue_is_cached() -> None:
    default_catalogue.cache_clear()
    first = default_catalogue()
    assert first is default_catalogue()
    assert isinstance(first, Catalogue)
    assert catalogue_module.CATALOGUE_FILE == "models.json"


def test_catalogue_is_valid_json_on_disk() -> None:
    data = json.loads((resources_dir() / "models.json").read_text(encoding="utf-8"))
    assert data["as_of"] == "2026-11-01"
    assert set(REQUIRED) <= set(data["models"])
