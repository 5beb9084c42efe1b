"""Prompt caching: a prefix the same for every bundle size, the simulated server's cache rules,
and the caching keys of ``huleedu bench llm``."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx
from pydantic import SecretStr

from app.bench.caching import LONG_RUBRIC, measure_caching
from app.demo import load_demo
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import PairTask, ProviderKind
from app.simserver import running_server
from core.prompt import AssignmentContext

DEMO = load_demo()
TEXTS = [item.text for item in DEMO.items]


def _anthropic(model: str = "claude-sonnet-4-5", url: str = "http://127.0.0.1:9") -> object:
    return make_provider(
        ProviderConfig(kind="anthropic", model=model, base_url=url, api_key=SecretStr("k"))
    )


def _prefix(body: dict[str, object]) -> str:
    """Everything up to the last cache_control mark: the tools and the marked system blocks."""
    system = body["system"]
    assert isinstance(system, list) and "cache_control" in system[-1]
    return json.dumps([body["tools"], system], sort_keys=True)


def test_the_cached_prefix_is_the_same_for_every_bundle_size_and_essay() -> None:
    provider = _anthropic()
    prefixes = set()
    for k in range(2, 11):
        tasks = [PairTask(f"p{i}", TEXTS[i], TEXTS[i + 11]) for i in range(k)]
        body = provider.build_batch_body(DEMO.context, tasks, f"nonce{k:04d}xyz")  # type: ignore[attr-defined]
        prefixes.add(_prefix(body))
        marks = sum("cache_control" in b for b in body["system"]) + sum(
            "cache_control" in t for t in body["tools"]
        )
        assert marks <= 4
    assert len(prefixes) == 1


async def _call(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> dict[str, int]:
    response = await client.post(url + "/v1/messages", json=body, headers={"x-api-key": "k"})
    assert response.status_code == 200, response.text
    usage: dict[str, int] = response.json()["usage"]
    return usage


async def test_the_simulated_server_caches_as_anthropic_documents() -> None:
    long_context = _long_context()
    # Speed 5: a call takes a few hundred milliseconds, the window in which others still write.
    async with running_server("generic", speed=5.0) as url, httpx.AsyncClient() as client:
        bodies = [
            _anthropic(model, url).build_batch_body(  # type: ignore[attr-defined]
                context, [PairTask("p", TEXTS[i], TEXTS[i + 1])], f"nonce{i:04d}abc"
            )
            for model, context in (
                ("claude-sonnet-4-5", long_context),
                ("claude-haiku-4-5", long_context),
                ("claude-sonnet-4-5", DEMO.context),
            )
            for i in range(3)
        ]
        # Three calls at once with a long enough prefix all write it: none can read a prefix
        # whose writing call has not begun to answer.
        first = await asyncio.gather(*(_call(client, url, b) for b in bodies[:3]))
        assert all(u["cache_creation_input_tokens"] > 1024 for u in first)
        await asyncio.sleep(1.5)  # well after the first answers began
        later = await _call(client, url, bodies[1])
        assert later["cache_read_input_tokens"] == first[0]["cache_creation_input_tokens"]
        # Haiku 4.5 caches nothing under 4,096 tokens, Sonnet nothing under 1,024.
        for body in bodies[3:]:
            usage = await _call(client, url, body)
            assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0


def _long_context() -> AssignmentContext:
    return dataclasses.replace(DEMO.context, judge_rubric=LONG_RUBRIC)


async def test_openai_and_gemini_prefixes_are_read_only_after_the_writing_call_answers() -> None:
    context = _long_context()
    async with running_server("generic", speed=5.0) as url:
        settings: list[tuple[ProviderKind, str, str]] = [
            ("openai", "gpt-5-mini", "/v1"),
            ("gemini", "gemini-2.5-flash", ""),
        ]
        for kind, model, suffix in settings:
            provider = make_provider(
                ProviderConfig(
                    kind=kind,
                    model=model,
                    base_url=url + suffix,
                    api_key=SecretStr("k"),
                    max_connections=4,
                )
            )
            try:
                tasks = [PairTask(f"p{i}", TEXTS[i], TEXTS[i + 1]) for i in range(4)]
                # Sent together: no call can read what another has not yet processed.
                first = await asyncio.gather(
                    *(
                        provider.judge(context, [t], nonce=f"nonce{i:04d}abc")
                        for i, t in enumerate(tasks)
                    )
                )
                assert [o.usage.cached_input_tokens for o in first] == [0, 0, 0, 0]
                later = await provider.judge(
                    context, [PairTask("q", TEXTS[10], TEXTS[11])], nonce="nonce9999abc"
                )
                # The shared system prompt and assignment (> 1,024 tokens), in 128-token steps.
                assert later.usage.cached_input_tokens >= 1024
                assert later.usage.cached_input_tokens % 128 == 0
                assert later.usage.cached_input_tokens < later.usage.input_tokens
            finally:
                await provider.aclose()


async def test_caching_keys_measure_every_provider() -> None:
    """Inside a running event loop, as ``huleedu bench llm`` calls it."""
    out = await measure_caching(0)
    for wire in ("anthropic", "openai", "gemini"):
        assert 0.0 <= out[f"cached_share_{wire}"] < 1.0
        assert out[f"estimate_error_{wire}"] >= 0.0
    rows = out["caching"]
    assert rows["anthropic/claude-haiku-4-5/long_rubric/k4"]["cached_share"] == 0.0
    assert rows["anthropic/claude-sonnet-4-5/long_rubric/k4"]["cached_share"] > 0.3
    assert rows["openai/gpt-5-mini/long_rubric/k1"]["cached_share"] > 0.5
    # The first concurrent round writes the Sonnet prefix, as the estimate assumes (8 calls).
    sonnet = rows["anthropic/claude-sonnet-4-5/long_rubric/k1"]
    assert 0 < sonnet["cache_write_tokens"] <= 1.5 * sonnet["estimate_cache_write_tokens"]
