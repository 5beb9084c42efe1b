"""Provider clients against canned provider responses (httpx.MockTransport, no network)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.llm.catalogue import load_catalogue
from app.llm.providers import (
    AnthropicProvider,
    GeminiProvider,
    OpenAIProvider,
    ProviderConfig,
    error_from_response,
    estimate_prompt_tokens,
    estimate_tokens,
    gemini_schema,
    make_provider,
    parse_duration,
    parse_retry_after,
    rate_limit_info,
    retry_after_from,
    strict_compatible,
    winner_probabilities,
)
from app.llm.providers.base import BaseProvider
from app.llm.providers.openai import TokenLogprob, winner_offsets
from app.llm.types import FailureCategory, PairTask, ProviderError, ProviderKind, Usage
from core.prompt import AssignmentContext, bundle_schema, pair_schema, render_pair_prompt

CONTEXT = AssignmentContext(
    title="A letter to the council",
    student_prompt="Write a letter arguing for or against a new park.",
    assessment_criteria="Argument, structure, language.",
    judge_rubric="Reward a clear line of argument.",
)
NONCE = "n0nce1234abcdef0"
CATALOGUE = load_catalogue()

Handler = Callable[[httpx.Request], httpx.Response]


def tasks(n: int) -> list[PairTask]:
    return [
        PairTask(f"p{i}", f"First essay number {i}, quite good.", f"Second essay {i}, weaker.")
        for i in range(n)
    ]


class Recorder:
    """A MockTransport handler that records requests and returns a canned response."""

    def __init__(self, response: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if callable(self.response):
            return self.response(request)
        return self.response

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    @property
    def body(self) -> dict[str, object]:
        data = json.loads(self.last.content)
        assert isinstance(data, dict)
        return data


def provider(kind: ProviderKind, model: str, handler: Handler, **config: object) -> BaseProvider:
    settings: dict[str, object] = {"kind": kind, "model": model, "api_key": "sk-test", **config}
    if kind == "openai_compatible":
        settings.setdefault("base_url", "http://127.0.0.1:11434/v1")
    return make_provider(
        ProviderConfig.model_validate(settings),
        transport=httpx.MockTransport(handler),
        catalogue=CATALOGUE,
    )


def pair_json(winner: str = "A", confidence: int = 4, why: str = "Clearer argument.") -> str:
    return json.dumps({"winner": winner, "justification": why, "confidence": confidence})


def bundle_json(items: Sequence[dict[str, object]]) -> str:
    return json.dumps({"verdicts": list(items)})


def verdict(pair: int, winner: str = "A", confidence: int = 3) -> dict[str, object]:
    return {
        "pair": pair,
        "winner": winner,
        "justification": "Better structure.",
        "confidence": confidence,
    }


# ---------------------------------------------------------------------------------------------
# Canned responses
# ---------------------------------------------------------------------------------------------


def openai_body(
    content: str | None,
    *,
    finish: str = "stop",
    refusal: str | None = None,
    logprobs: list[dict[str, object]] | None = None,
    prompt_tokens: int = 1450,
    cached: int = 1024,
    completion: int = 54,
) -> dict[str, object]:
    choice: dict[str, object] = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": refusal},
        "finish_reason": finish,
        "logprobs": None if logprobs is None else {"content": logprobs, "refusal": None},
    }
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "system_fingerprint": "fp_test",
    }


OPENAI_HEADERS = {
    "x-request-id": "req_openai_1",
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-remaining-requests": "4999",
    "x-ratelimit-limit-tokens": "2000000",
    "x-ratelimit-remaining-tokens": "1998000",
    "x-ratelimit-reset-requests": "12ms",
    "x-ratelimit-reset-tokens": "1m30s",
}


def openai_ok(content: str | None, **kwargs: object) -> httpx.Response:
    return httpx.Response(200, json=openai_body(content, **kwargs), headers=OPENAI_HEADERS)  # type: ignore[arg-type]


def anthropic_body(
    tool_input: object,
    *,
    name: str = "submit_verdict",
    stop: str = "tool_use",
    read: int = 1200,
    written: int = 0,
) -> dict[str, object]:
    return {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": name, "input": tool_input}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 250,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "output_tokens": 61,
        },
    }


def gemini_body(
    text: str | None, *, finish: str = "STOP", thoughts: int = 120
) -> dict[str, object]:
    candidate: dict[str, object] = {"finishReason": finish, "index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": 1500,
            "candidatesTokenCount": 58,
            "cachedContentTokenCount": 1024,
            "thoughtsTokenCount": thoughts,
            "totalTokenCount": 1500 + 58 + thoughts,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-gem-1",
    }


# ---------------------------------------------------------------------------------------------
# Log-probability tokens
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z]+|\d+|[^A-Za-z\d]+")


def tokenize(
    content: str, winner_alternatives: Sequence[list[tuple[str, float]]]
) -> list[dict[str, object]]:
    """Split ``content`` into tokens; the k-th winner letter gets ``winner_alternatives[k]``."""
    pieces = _TOKEN.findall(content)
    assert "".join(pieces) == content
    out: list[dict[str, object]] = []
    k = 0
    for i, piece in enumerate(pieces):
        top = [{"token": piece, "logprob": -0.01, "bytes": list(piece.encode())}]
        logprob = -0.01
        if piece in ("A", "B") and i >= 2 and pieces[i - 2] == "winner":
            alternatives = winner_alternatives[k]
            k += 1
            top = [
                {"token": tok, "logprob": lp, "bytes": list(tok.encode())}
                for tok, lp in alternatives
            ]
            logprob = next(lp for tok, lp in alternatives if tok == piece)
        out.append(
            {"token": piece, "logprob": logprob, "bytes": list(piece.encode()), "top_logprobs": top}
        )
    return out


def as_tokens(raw: list[dict[str, object]]) -> list[TokenLogprob]:
    return [TokenLogprob.model_validate(t) for t in raw]


def expected(lp_a: float, lp_b: float) -> float:
    return math.exp(lp_a) / (math.exp(lp_a) + math.exp(lp_b))


# ---------------------------------------------------------------------------------------------
# OpenAI: request shapes
# ---------------------------------------------------------------------------------------------


async def test_openai_pair_request_shape() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider("openai", "gpt-4.1-mini", rec, temperature=0.2)
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    await p.aclose()

    request = rec.last
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    body = rec.body
    assert body["model"] == "gpt-4.1-mini"
    messages = body["messages"]
    assert isinstance(messages, list)
    assert [m["role"] for m in messages] == ["system", "user"]
    prompt = render_pair_prompt(CONTEXT, tasks(1)[0].first_text, tasks(1)[0].second_text, NONCE)
    assert messages[0]["content"] == prompt.system
    assert messages[1]["content"] == prompt.user
    assert messages[1]["content"].startswith(prompt.context)  # stable prefix first
    fmt = body["response_format"]
    assert isinstance(fmt, dict)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "pair_verdict"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema == strict_compatible(pair_schema())
    assert "maxLength" not in json.dumps(schema)
    assert "minimum" not in json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert body["max_tokens"] == 550
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.2
    assert body["logprobs"] is True
    assert body["top_logprobs"] == 5
    assert "reasoning_effort" not in body


async def test_openai_gpt5_gets_no_temperature_and_max_completion_tokens() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider("openai", "gpt-5-mini", rec, temperature=0.2, use_logprobs=True)
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    body = rec.body
    assert "temperature" not in body
    assert "max_tokens" not in body
    assert body["max_completion_tokens"] == 550 + 4096  # answer cap + reasoning allowance
    assert "logprobs" not in body and "top_logprobs" not in body
    assert body["reasoning_effort"] == "low"


async def test_openai_unlisted_gpt5_snapshot_follows_family_rules() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider(
        "openai", "gpt-5-nano-2025-08-07", rec, temperature=0.5, reasoning_effort="minimal"
    )
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    body = rec.body
    assert "temperature" not in body
    assert "max_completion_tokens" in body
    assert body["reasoning_effort"] == "minimal"
    # A GPT-5 name that is not in the catalogue at all still follows the family rules.
    rec2 = Recorder(openai_ok(pair_json()))
    p2 = provider("openai", "gpt-5.7-turbo", rec2, temperature=0.5)
    await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert "temperature" not in rec2.body
    assert "max_completion_tokens" in rec2.body


async def test_openai_bundle_request_shape() -> None:
    rec = Recorder(openai_ok(bundle_json([verdict(1), verdict(2), verdict(3)])))
    p = provider("openai", "gpt-4o-mini", rec)
    await p.judge(CONTEXT, tasks(3), nonce=NONCE)
    body = rec.body
    fmt = body["response_format"]
    assert isinstance(fmt, dict)
    assert fmt["json_schema"]["name"] == "bundle_verdicts"
    schema = fmt["json_schema"]["schema"]
    assert schema == strict_compatible(bundle_schema())
    assert "minItems" not in json.dumps(schema) and "maxItems" not in json.dumps(schema)
    assert body["max_tokens"] == 400 + 150 * 3
    assert "temperature" not in body  # not configured
    user = body["messages"][1]["content"]  # type: ignore[index]
    assert "Pair 3" in user and NONCE in user


async def test_openai_compatible_server_without_strict_schema_or_key() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider(
        "openai_compatible",
        "llama3.1:8b",
        rec,
        api_key="",
        base_url="http://192.168.1.20:8000/v1/",
        strict_schema=False,
        max_output_tokens=300,
    )
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert str(rec.last.url) == "http://192.168.1.20:8000/v1/chat/completions"
    assert "authorization" not in rec.last.headers
    body = rec.body
    fmt = body["response_format"]
    assert isinstance(fmt, dict)
    assert "strict" not in fmt["json_schema"]
    assert fmt["json_schema"]["schema"] == pair_schema()  # full schema, limits kept
    # an unknown model gets room for hidden reasoning tokens on top of the cap (safe profile)
    assert body["max_tokens"] == 300 + 4096
    assert "logprobs" not in body  # unknown model: only when asked for
    assert "reasoning_effort" not in body
    assert out.items[0].verdict is not None


async def test_openai_compatible_json_modes_and_logprobs_on_request() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider("openai_compatible", "qwen2.5", rec, json_mode="none", use_logprobs=True)
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert "response_format" not in rec.body
    assert rec.body["logprobs"] is True
    rec2 = Recorder(openai_ok(pair_json()))
    p2 = provider("openai_compatible", "qwen2.5", rec2, json_mode="json_object")
    await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert rec2.body["response_format"] == {"type": "json_object"}


async def test_use_logprobs_false_overrides_catalogue() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider("openai", "gpt-4.1", rec, use_logprobs=False)
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert "logprobs" not in rec.body


async def test_extra_headers_and_name() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider(
        "openai_compatible",
        "meta-llama/llama-3.3-70b-instruct",
        rec,
        base_url="https://openrouter.ai/api/v1",
        extra_headers={"X-Title": "HuleEdu"},
        name="openrouter",
    )
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert rec.last.headers["x-title"] == "HuleEdu"
    assert p.name == "openrouter"
    assert p.model == "meta-llama/llama-3.3-70b-instruct"


# ---------------------------------------------------------------------------------------------
# OpenAI: answers
# ---------------------------------------------------------------------------------------------


async def test_openai_pair_answer_usage_request_id_and_rate_limits() -> None:
    rec = Recorder(openai_ok(pair_json("B", 5)))
    p = provider("openai", "gpt-4.1-mini", rec, use_logprobs=False)
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert len(out.items) == 1
    item = out.items[0]
    assert item.pair_id == "p0" and item.place_in_bundle == 0
    assert item.verdict is not None
    assert item.verdict.first_wins is False and item.verdict.confidence == 5
    assert item.error is None and item.category is None and item.probability_first is None
    assert out.usage == Usage(input_tokens=1450, cached_input_tokens=1024, output_tokens=54)
    assert out.request_id == "req_openai_1"
    assert out.model == "gpt-4.1-mini"
    assert out.raw_finish_reason == "stop"
    assert out.latency_s >= 0
    assert out.extra["rate_limit_remaining_requests"] == 4999
    assert out.extra["rate_limit_remaining_tokens"] == 1998000
    assert out.extra["rate_limit_limit_requests"] == 5000
    assert out.extra["rate_limit_reset_requests_s"] == pytest.approx(0.012)
    assert out.extra["rate_limit_reset_tokens_s"] == pytest.approx(90.0)
    assert out.extra["response_id"] == "chatcmpl-abc123"


async def test_openai_bundle_with_one_bad_item_keeps_the_others() -> None:
    items = [verdict(1, "A", 4), {**verdict(2), "winner": "C"}, verdict(3, "B", 2)]
    rec = Recorder(openai_ok(bundle_json(items)))
    p = provider("openai", "gpt-5-mini", rec)
    out = await p.judge(CONTEXT, tasks(3), nonce=NONCE)
    assert [i.pair_id for i in out.items] == ["p0", "p1", "p2"]
    assert [i.place_in_bundle for i in out.items] == [0, 1, 2]
    good0, bad, good2 = out.items
    assert good0.verdict is not None and good0.verdict.first_wins and good0.verdict.confidence == 4
    assert good2.verdict is not None and not good2.verdict.first_wins
    assert bad.verdict is None
    assert bad.category is FailureCategory.PARSE_ERROR
    assert bad.error is not None and bad.error.category == "unknown_winner"


async def test_openai_bundle_missing_item() -> None:
    rec = Recorder(openai_ok(bundle_json([verdict(2, "B")])))
    p = provider("openai", "gpt-4.1", rec)
    out = await p.judge(CONTEXT, tasks(2), nonce=NONCE)
    assert out.items[0].error is not None and out.items[0].error.category == "missing_item"
    assert out.items[0].category is FailureCategory.PARSE_ERROR
    assert out.items[1].verdict is not None


async def test_openai_unparseable_answer_keeps_usage() -> None:
    rec = Recorder(openai_ok("I think Essay A is better."))
    p = provider("openai", "gpt-4.1", rec)
    out = await p.judge(CONTEXT, tasks(2), nonce=NONCE)
    assert all(i.category is FailureCategory.PARSE_ERROR for i in out.items)
    assert out.usage.input_tokens == 1450  # tokens were spent and are accounted


async def test_openai_truncated_answer() -> None:
    text = bundle_json([verdict(1), verdict(2)])[:70]
    rec = Recorder(openai_ok(text, finish="length"))
    p = provider("openai", "gpt-5-mini", rec)
    out = await p.judge(CONTEXT, tasks(2), nonce=NONCE)
    assert out.raw_finish_reason == "length"
    assert [i.category for i in out.items] == [FailureCategory.TRUNCATED] * 2
    assert all(i.verdict is None and i.error is not None for i in out.items)


async def test_openai_truncated_with_no_content() -> None:
    rec = Recorder(openai_ok(None, finish="length"))
    p = provider("openai", "gpt-5", rec)
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out.items[0].category is FailureCategory.TRUNCATED


async def test_openai_refusal() -> None:
    rec = Recorder(openai_ok(None, refusal="I can't help with that."))
    p = provider("openai", "gpt-4.1", rec)
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.REFUSAL
    assert info.value.request_id == "req_openai_1"
    assert not info.value.category.retryable


async def test_openai_content_filter_is_a_refusal() -> None:
    rec = Recorder(openai_ok(None, finish="content_filter"))
    p = provider("openai", "gpt-4.1", rec)
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.REFUSAL


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json={"id": "x", "choices": []}),
        httpx.Response(200, json={"choices": [{"finish_reason": "stop"}]}),
        httpx.Response(200, json=["not", "an", "object"]),
    ],
    ids=["not-json", "no-choices", "no-message", "wrong-type"],
)
async def test_openai_malformed_response_body(response: httpx.Response) -> None:
    p = provider("openai", "gpt-4.1", Recorder(response))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.PARSE_ERROR


# ---------------------------------------------------------------------------------------------
# Log-probabilities
# ---------------------------------------------------------------------------------------------


async def test_logprob_probability_for_a_pair() -> None:
    content = json.dumps(
        {"winner": "A", "justification": "Clear.", "confidence": 4}, separators=(",", ":")
    )
    logprobs = tokenize(content, [[("A", -0.2), ("B", -1.8), ("Essay", -6.0)]])
    rec = Recorder(openai_ok(content, logprobs=logprobs))
    p = provider("openai", "gpt-4.1-mini", rec)
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out.items[0].verdict is not None and out.items[0].verdict.first_wins
    assert out.items[0].probability_first == pytest.approx(expected(-0.2, -1.8))


async def test_logprob_probabilities_for_a_bundle() -> None:
    content = json.dumps(
        {
            "verdicts": [
                {"pair": 1, "winner": "B", "justification": "Tydligare språk.", "confidence": 3},
                {"pair": 2, "winner": "A", "justification": "Bättre.", "confidence": 5},
                {"pair": 3, "winner": "Z", "justification": "?", "confidence": 1},
            ]
        },
        ensure_ascii=False,
    )
    logprobs = tokenize(
        content,
        [
            [("B", -0.4), ("A", -1.1)],
            [("A", -0.05), ("B", -3.0), ("C", -9.0)],
        ],
    )
    rec = Recorder(openai_ok(content, logprobs=logprobs))
    p = provider("openai", "gpt-4.1", rec)
    out = await p.judge(CONTEXT, tasks(3), nonce=NONCE)
    assert out.items[0].probability_first == pytest.approx(expected(-1.1, -0.4))
    assert out.items[1].probability_first == pytest.approx(expected(-0.05, -3.0))
    assert out.items[2].verdict is None and out.items[2].probability_first is None


def test_logprob_quoted_and_spaced_token_variants_are_pooled() -> None:
    content = '{"winner": "A", "justification": "x", "confidence": 2}'
    raw = [
        {"token": '{"winner":', "logprob": 0.0, "top_logprobs": []},
        {
            "token": ' "A',
            "logprob": -0.5,
            "top_logprobs": [
                {"token": ' "A', "logprob": -0.5},
                {"token": ' "B', "logprob": -1.5},
                {"token": " A", "logprob": -2.5},
                {"token": ' "Essay', "logprob": -4.0},
            ],
        },
        {"token": '", "justification": "x", "confidence": 2}', "logprob": 0.0, "top_logprobs": []},
    ]
    probs = winner_probabilities(content, as_tokens(raw), 1)
    log_a = math.log(math.exp(-0.5) + math.exp(-2.5))
    assert probs == [pytest.approx(expected(log_a, -1.5))]


def test_logprob_letter_inside_a_multi_character_token() -> None:
    content = '{"winner":"B","justification":"x","confidence":2}'
    raw = [
        {"token": '{"winner', "logprob": 0.0},
        {
            "token": '":"B","',
            "logprob": -0.3,
            "top_logprobs": [
                {"token": '":"B","', "logprob": -0.3},
                {"token": '":"A","', "logprob": -1.4},
            ],
        },
        {"token": 'justification":"x","confidence":2}', "logprob": 0.0},
    ]
    assert winner_probabilities(content, as_tokens(raw), 1) == [pytest.approx(expected(-1.4, -0.3))]


def test_logprob_other_letter_missing_uses_lowest_shown_as_bound() -> None:
    content = '{"winner":"A","justification":"x","confidence":5}'
    logprobs = tokenize(content, [[("A", -0.001), ("Essay", -7.0), ("\u200b", -9.0)]])
    [prob] = winner_probabilities(content, as_tokens(logprobs), 1)
    assert prob == pytest.approx(expected(-0.001, -9.0))
    assert 0.99 < prob < 1.0  # type: ignore[operator]


def test_logprob_not_derivable() -> None:
    content = '{"winner":"A","justification":"x","confidence":5}'
    # Tokens that do not spell the content.
    wrong = as_tokens([{"token": "something else", "logprob": -0.1}])
    assert winner_probabilities(content, wrong, 1) == [None]
    # No alternatives at all.
    bare = tokenize(content, [[("A", -0.01)]])
    assert winner_probabilities(content, as_tokens(bare), 1) == [None]
    # No tokens.
    assert winner_probabilities(content, [], 2) == [None, None]


def test_logprob_tokens_by_bytes_across_split_characters() -> None:
    content = '{"verdicts":[{"pair":1,"justification":"å","winner":"A","confidence":3}]}'
    encoded = content.encode()
    cut = encoded.index("å".encode()) + 1  # split the two bytes of "å" across tokens
    letter = encoded.index(b'"A"') + 1
    pieces = [
        encoded[:cut],
        encoded[cut:letter],
        encoded[letter : letter + 1],
        encoded[letter + 1 :],
    ]
    raw: list[dict[str, object]] = []
    for piece in pieces:
        entry: dict[str, object] = {
            "token": piece.decode("utf-8", errors="replace"),
            "logprob": -0.01,
            "bytes": list(piece),
            "top_logprobs": [],
        }
        if piece == b"A":
            entry["top_logprobs"] = [
                {"token": "A", "logprob": -0.7, "bytes": [65]},
                {"token": "B", "logprob": -0.9, "bytes": [66]},
            ]
        raw.append(entry)
    assert winner_probabilities(content, as_tokens(raw), 1) == [pytest.approx(expected(-0.7, -0.9))]


def test_winner_offsets_ignore_winner_text_inside_strings() -> None:
    content = (
        '```json\n{"verdicts": [{"pair": 2, "justification": "says \\"winner\\": \\"B\\"", '
        '"winner": "Essay B", "confidence": 3}, {"winner": "A", "pair": 1, '
        '"justification": "", "confidence": 1}]}\n```'
    )
    found = dict(winner_offsets(content))
    assert set(found) == {1, 2}
    assert content[found[2]] == "B" and content[found[2] - 6 : found[2]] == "Essay "
    assert content[found[1]] == "A"


def test_winner_offsets_of_a_truncated_answer() -> None:
    content = (
        '{"verdicts":[{"pair":1,"winner":"A","justification":"ok","confidence":2},{"pair":2,"win'
    )
    assert [pair for pair, _ in winner_offsets(content)] == [1]
    assert winner_offsets("no json here") == []


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


def test_strict_compatible_strips_keywords_not_property_names() -> None:
    schema: dict[str, object] = {
        "type": "object",
        "properties": {
            "minimum": {"type": "integer", "minimum": 0, "maximum": 3},
            "items": {"type": "array", "items": {"type": "string", "maxLength": 4}, "minItems": 1},
        },
    }
    out = strict_compatible(schema)
    assert out == {
        "type": "object",
        "properties": {
            "minimum": {"type": "integer"},
            "items": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
        "required": ["minimum", "items"],
    }
    assert schema["properties"]["minimum"]["minimum"] == 0  # type: ignore[index]  # input intact


def test_gemini_schema() -> None:
    out = gemini_schema(bundle_schema())
    text = json.dumps(out)
    assert "additionalProperties" not in text and "maxLength" not in text
    assert out["type"] == "OBJECT"
    items = out["properties"]["verdicts"]["items"]  # type: ignore[index]
    assert items["type"] == "OBJECT"
    assert items["properties"]["winner"] == {"type": "STRING", "enum": ["A", "B"]}
    assert items["propertyOrdering"] == ["pair", "winner", "justification", "confidence"]


# ---------------------------------------------------------------------------------------------
# HTTP errors and transport failures
# ---------------------------------------------------------------------------------------------


def _error(
    status: int, headers: dict[str, str] | None = None, body: object = None
) -> httpx.Response:
    payload = body if body is not None else {"error": {"message": f"status {status}", "type": "x"}}
    return httpx.Response(status, json=payload, headers=headers or {})


@pytest.mark.parametrize(
    ("response", "category", "retry_after"),
    [
        (_error(429, {"retry-after": "7"}), FailureCategory.RATE_LIMIT, 7.0),
        (_error(429, {"retry-after": "1.5"}), FailureCategory.RATE_LIMIT, 1.5),
        (_error(429, {"retry-after-ms": "250"}), FailureCategory.RATE_LIMIT, 0.25),
        (
            _error(
                429,
                {
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "1s",
                    "x-ratelimit-remaining-tokens": "5000",
                    "x-ratelimit-reset-tokens": "6m0s",
                },
            ),
            FailureCategory.RATE_LIMIT,
            1.0,
        ),
        (
            _error(
                429,
                {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "20ms"},
            ),
            FailureCategory.RATE_LIMIT,
            0.02,
        ),
        (_error(429), FailureCategory.RATE_LIMIT, None),
        (_error(401), FailureCategory.AUTH, None),
        (_error(403), FailureCategory.AUTH, None),
        (_error(402), FailureCategory.QUOTA, None),
        (_error(400), FailureCategory.BAD_REQUEST, None),
        (_error(404), FailureCategory.BAD_REQUEST, None),
        (_error(413), FailureCategory.BAD_REQUEST, None),
        (
            _error(422, body={"detail": [{"msg": "field required"}]}),
            FailureCategory.BAD_REQUEST,
            None,
        ),
        (_error(408), FailureCategory.TIMEOUT, None),
        (_error(500), FailureCategory.SERVER, None),
        (httpx.Response(502, text="Bad gateway"), FailureCategory.SERVER, None),
        (_error(503, {"retry-after": "30"}), FailureCategory.SERVER, 30.0),
        (
            _error(
                529,
                body={
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"},
                },
            ),
            FailureCategory.SERVER,
            None,
        ),
    ],
)
async def test_http_error_mapping(
    response: httpx.Response, category: FailureCategory, retry_after: float | None
) -> None:
    p = provider("openai", "gpt-4.1", Recorder(response))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    err = info.value
    assert err.category is category
    assert err.status == response.status_code
    assert f"HTTP {response.status_code}" in err.message
    if retry_after is None:
        assert err.retry_after is None
    else:
        assert err.retry_after == pytest.approx(retry_after)
    assert err.category.retryable == (
        category not in (FailureCategory.AUTH, FailureCategory.BAD_REQUEST, FailureCategory.QUOTA)
    )


async def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=40)
    response = _error(429, {"retry-after": format_datetime(when, usegmt=True)})
    p = provider("anthropic", "claude-haiku-4-5", Recorder(response))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.retry_after is not None
    assert 35.0 <= info.value.retry_after <= 40.0


def test_error_message_and_request_id() -> None:
    response = httpx.Response(
        400,
        json={
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "max_tokens: too big"},
        },
        headers={"request-id": "req_ant_9"},
    )
    err = error_from_response(response, request_id="req_ant_9")
    assert err.category is FailureCategory.BAD_REQUEST
    assert "max_tokens: too big" in err.message
    assert err.request_id == "req_ant_9"


async def test_error_request_id_from_headers() -> None:
    response = httpx.Response(
        500, json={"error": {"message": "boom"}}, headers={"x-request-id": "req_500"}
    )
    p = provider("openai", "gpt-4.1", Recorder(response))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.request_id == "req_500"


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (httpx.ReadTimeout("read timed out"), FailureCategory.TIMEOUT),
        (httpx.ConnectTimeout("connect timed out"), FailureCategory.TIMEOUT),
        (httpx.PoolTimeout("pool"), FailureCategory.TIMEOUT),
        (httpx.ConnectError("connection refused"), FailureCategory.NETWORK),
        (httpx.RemoteProtocolError("server disconnected"), FailureCategory.NETWORK),
        (httpx.ReadError("connection reset"), FailureCategory.NETWORK),
    ],
)
async def test_transport_failures(exc: Exception, category: FailureCategory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    for kind, model in (
        ("openai", "gpt-4.1"),
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-flash"),
    ):
        p = provider(kind, model, handler)  # type: ignore[arg-type]
        with pytest.raises(ProviderError) as info:
            await p.judge(CONTEXT, tasks(1), nonce=NONCE)
        assert info.value.category is category
        await p.aclose()


async def test_bad_pair_count_or_nonce_is_a_bad_request_and_sends_nothing() -> None:
    rec = Recorder(openai_ok(pair_json()))
    p = provider("openai", "gpt-4.1", rec)
    for pairs, nonce in ((tasks(11), NONCE), ([], NONCE), (tasks(1), "short")):
        with pytest.raises(ProviderError) as info:
            await p.judge(CONTEXT, pairs, nonce=nonce)
        assert info.value.category is FailureCategory.BAD_REQUEST
    assert rec.requests == []


# ---------------------------------------------------------------------------------------------
# Retry-After helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("20ms", 0.02),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("3", 3.0),
        ("250us", 0.00025),
        ("", None),
        ("soon", None),
        ("5x", None),
        ("1s junk", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    result = parse_duration(text)
    if seconds is None:
        assert result is None
    else:
        assert result == pytest.approx(seconds)


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now=now) == pytest.approx(30.0)
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now=now) == 0.0  # past
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after("whenever", now=now) is None


def test_retry_after_from_anthropic_reset_and_gemini_retry_info() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-11-01T12:00:12Z",
    }
    assert retry_after_from(headers, now=now) == pytest.approx(12.0)
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Quota exceeded",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"},
            ],
        }
    }
    assert retry_after_from({}, body, now=now) == pytest.approx(13.0)
    assert retry_after_from({}, None, now=now) is None


def test_rate_limit_info_anthropic() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    info = rate_limit_info(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-tokens-remaining": "39000",
            "anthropic-ratelimit-input-tokens-remaining": "30000",
            "anthropic-ratelimit-output-tokens-remaining": "9000",
            "anthropic-ratelimit-tokens-reset": "2026-11-01T12:00:03Z",
        },
        now=now,
    )
    assert info == {
        "rate_limit_limit_requests": 50,
        "rate_limit_remaining_requests": 49,
        "rate_limit_remaining_tokens": 39000,
        "rate_limit_remaining_input_tokens": 30000,
        "rate_limit_remaining_output_tokens": 9000,
        "rate_limit_reset_tokens_s": pytest.approx(3.0),
    }


# ---------------------------------------------------------------------------------------------
# Anthropic
# ---------------------------------------------------------------------------------------------


async def test_anthropic_request_shape() -> None:
    rec = Recorder(httpx.Response(200, json=anthropic_body(json.loads(pair_json()))))
    p = provider("anthropic", "claude-haiku-4-5", rec, temperature=0.0)
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    request = rec.last
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    body = rec.body
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 550
    assert body["temperature"] == 0.0
    assert body["tools"] == [
        {
            "name": "submit_verdict",
            "description": "Submit the verdict for the pair of essays.",
            "input_schema": pair_schema(),
        }
    ]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "submit_verdict",
        "disable_parallel_tool_use": True,
    }
    prompt = render_pair_prompt(CONTEXT, tasks(1)[0].first_text, tasks(1)[0].second_text, NONCE)
    system = body["system"]
    assert system == [
        {"type": "text", "text": prompt.system, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": prompt.context, "cache_control": {"type": "ephemeral"}},
    ]
    messages = body["messages"]
    assert messages == [{"role": "user", "content": [{"type": "text", "text": prompt.body}]}]
    # Only the static blocks are marked for caching; the essays are not.
    assert json.dumps(messages).count("cache_control") == 0
    assert json.dumps(body).count("cache_control") == 2
    assert NONCE in prompt.body and NONCE not in json.dumps(system)


async def test_anthropic_bundle_request_and_answer() -> None:
    tool_input = {"verdicts": [verdict(2, "B", 2), verdict(1, "A", 5), {"pair": 3}]}
    rec = Recorder(
        httpx.Response(
            200,
            json=anthropic_body(tool_input, name="submit_verdicts", read=0, written=1800),
            headers={"request-id": "req_ant_1", "anthropic-ratelimit-requests-remaining": "42"},
        )
    )
    p = provider("anthropic", "claude-sonnet-4-5", rec)
    out = await p.judge(CONTEXT, tasks(3), nonce=NONCE)
    body = rec.body
    assert body["tool_choice"]["name"] == "submit_verdicts"  # type: ignore[index]
    assert body["tools"][0]["input_schema"] == bundle_schema()  # type: ignore[index]
    assert body["max_tokens"] == 850
    assert "temperature" not in body
    first, second, third = out.items
    assert first.verdict is not None and first.verdict.first_wins and first.verdict.confidence == 5
    assert second.verdict is not None and not second.verdict.first_wins
    assert third.verdict is None and third.category is FailureCategory.PARSE_ERROR
    assert out.request_id == "req_ant_1"
    assert out.extra["rate_limit_remaining_requests"] == 42
    assert out.usage == Usage(
        input_tokens=250 + 1800, cached_input_tokens=0, output_tokens=61, cache_write_tokens=1800
    )


async def test_anthropic_usage_with_cache_read() -> None:
    rec = Recorder(httpx.Response(200, json=anthropic_body(json.loads(pair_json("B", 3)))))
    p = provider("anthropic", "claude-haiku-4-5", rec)
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out.items[0].verdict is not None and not out.items[0].verdict.first_wins
    assert out.usage == Usage(input_tokens=1450, cached_input_tokens=1200, output_tokens=61)
    assert out.raw_finish_reason == "tool_use"
    assert out.request_id == "msg_01ABC"  # no header: falls back to the message id
    cost = CATALOGUE.cost_usd("claude-haiku-4-5", out.usage)
    assert cost == pytest.approx((250 * 1.0 + 1200 * 0.1 + 61 * 5.0) / 1e6)


async def test_anthropic_truncated_and_refusal() -> None:
    partial = {"verdicts": [verdict(1)]}
    rec = Recorder(
        httpx.Response(200, json=anthropic_body(partial, name="submit_verdicts", stop="max_tokens"))
    )
    p = provider("anthropic", "claude-haiku-4-5", rec)
    out = await p.judge(CONTEXT, tasks(2), nonce=NONCE)
    assert out.items[0].verdict is not None  # a complete item is still kept
    assert out.items[1].category is FailureCategory.TRUNCATED
    assert out.raw_finish_reason == "max_tokens"

    refusal = anthropic_body({}, stop="refusal")
    refusal["content"] = []
    p2 = provider("anthropic", "claude-haiku-4-5", Recorder(httpx.Response(200, json=refusal)))
    with pytest.raises(ProviderError) as info:
        await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.REFUSAL


async def test_anthropic_text_answer_without_tool_call() -> None:
    body = anthropic_body({}, stop="end_turn")
    body["content"] = [{"type": "text", "text": pair_json("A", 2)}]
    p = provider("anthropic", "claude-haiku-4-5", Recorder(httpx.Response(200, json=body)))
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out.items[0].verdict is not None and out.items[0].verdict.confidence == 2


async def test_anthropic_overloaded_and_rate_limited() -> None:
    overloaded = httpx.Response(
        529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    p = provider("anthropic", "claude-haiku-4-5", Recorder(overloaded))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.SERVER
    limited = httpx.Response(
        429,
        json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        headers={"retry-after": "3", "request-id": "req_429"},
    )
    p2 = provider("anthropic", "claude-haiku-4-5", Recorder(limited))
    with pytest.raises(ProviderError) as info:
        await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.RATE_LIMIT
    assert info.value.retry_after == 3.0
    assert info.value.request_id == "req_429"


async def test_anthropic_unexpected_body() -> None:
    p = provider(
        "anthropic", "claude-haiku-4-5", Recorder(httpx.Response(200, json={"content": []}))
    )
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.PARSE_ERROR
    assert "usage" in info.value.message


# ---------------------------------------------------------------------------------------------
# Gemini
# ---------------------------------------------------------------------------------------------


async def test_gemini_request_shape() -> None:
    rec = Recorder(httpx.Response(200, json=gemini_body(pair_json())))
    p = provider("gemini", "gemini-2.5-flash", rec, temperature=0.3)
    await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    request = rec.last
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers["x-goog-api-key"] == "sk-test"
    assert "key=" not in str(request.url)
    body = rec.body
    prompt = render_pair_prompt(CONTEXT, tasks(1)[0].first_text, tasks(1)[0].second_text, NONCE)
    assert body["systemInstruction"] == {"parts": [{"text": prompt.system}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": prompt.context}, {"text": prompt.body}]}
    ]
    config = body["generationConfig"]
    assert isinstance(config, dict)
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == gemini_schema(pair_schema())
    assert config["temperature"] == 0.3
    assert config["thinkingConfig"] == {"thinkingBudget": 4096}
    assert config["maxOutputTokens"] == 550 + 4096


async def test_gemini_bundle_answer_and_usage() -> None:
    text = bundle_json([verdict(1, "B"), verdict(2, "A", 5)])
    rec = Recorder(httpx.Response(200, json=gemini_body(text)))
    p = provider("gemini", "gemini-2.5-flash", rec)
    out = await p.judge(CONTEXT, tasks(2), nonce=NONCE)
    assert [i.verdict.first_wins for i in out.items if i.verdict] == [False, True]
    assert out.usage == Usage(input_tokens=1500, cached_input_tokens=1024, output_tokens=58 + 120)
    assert out.extra["reasoning_tokens"] == 120
    assert out.request_id == "resp-gem-1"
    assert out.raw_finish_reason == "STOP"


async def test_gemini_thought_parts_are_skipped() -> None:
    body = gemini_body(None)
    body["candidates"][0]["content"] = {  # type: ignore[index]
        "role": "model",
        "parts": [{"text": "Let me think...", "thought": True}, {"text": pair_json("B")}],
    }
    p = provider("gemini", "gemini-2.5-flash", Recorder(httpx.Response(200, json=body)))
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out.items[0].verdict is not None and not out.items[0].verdict.first_wins


async def test_gemini_refusals_and_truncation() -> None:
    safety = gemini_body(None, finish="SAFETY")
    p = provider("gemini", "gemini-2.5-flash", Recorder(httpx.Response(200, json=safety)))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.REFUSAL

    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {}}
    p2 = provider("gemini", "gemini-2.5-flash", Recorder(httpx.Response(200, json=blocked)))
    with pytest.raises(ProviderError) as info:
        await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.REFUSAL

    cut = gemini_body(bundle_json([verdict(1), verdict(2)])[:50], finish="MAX_TOKENS")
    p3 = provider("gemini", "gemini-2.5-flash", Recorder(httpx.Response(200, json=cut)))
    out = await p3.judge(CONTEXT, tasks(2), nonce=NONCE)
    assert [i.category for i in out.items] == [FailureCategory.TRUNCATED] * 2


async def test_gemini_errors() -> None:
    bad_key = httpx.Response(
        400,
        json={
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            }
        },
    )
    p = provider("gemini", "gemini-2.5-flash", Recorder(bad_key))
    with pytest.raises(ProviderError) as info:
        await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.AUTH

    quota = httpx.Response(
        429,
        json={
            "error": {
                "code": 429,
                "message": "Resource has been exhausted",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}
                ],
            }
        },
    )
    p2 = provider("gemini", "gemini-2.5-flash", Recorder(quota))
    with pytest.raises(ProviderError) as info:
        await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.RATE_LIMIT
    assert info.value.retry_after == pytest.approx(13.0)

    empty = httpx.Response(200, json={"candidates": []})
    p3 = provider("gemini", "gemini-2.5-flash", Recorder(empty))
    with pytest.raises(ProviderError) as info:
        await p3.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert info.value.category is FailureCategory.PARSE_ERROR


# ---------------------------------------------------------------------------------------------
# Configuration, factory, client
# ---------------------------------------------------------------------------------------------


def test_config_defaults_and_validation() -> None:
    cfg = ProviderConfig(kind="openai", model="gpt-5-mini")
    assert cfg.resolved_base_url == "https://api.openai.com/v1"
    assert cfg.timeout_s == 60 and cfg.max_connections == 8
    assert cfg.strict_schema is True and cfg.temperature is None
    assert cfg.api_key.get_secret_value() == ""
    assert "sk-" not in repr(
        ProviderConfig.model_validate({"kind": "openai", "model": "x", "api_key": "sk-secret"})
    )
    assert cfg.output_token_limit(1) == 550 and cfg.output_token_limit(4) == 1000
    assert ProviderConfig(kind="anthropic", model="m").resolved_base_url == (
        "https://api.anthropic.com/v1"
    )
    assert ProviderConfig(kind="gemini", model="m").resolved_base_url == (
        "https://generativelanguage.googleapis.com/v1beta"
    )
    with pytest.raises(ValueError, match="base_url"):
        ProviderConfig(kind="openai_compatible", model="llama3")
    with pytest.raises(ValueError, match="http"):
        ProviderConfig(kind="openai", model="m", base_url="ftp://example.org")
    with pytest.raises(ValueError):
        ProviderConfig(kind="openai", model="m", timeout_s=0)


async def test_factory_and_client_settings() -> None:
    handler = Recorder(openai_ok(pair_json()))
    kinds: list[tuple[ProviderKind, str, type]] = [
        ("openai", "gpt-4.1", OpenAIProvider),
        ("openai_compatible", "sim-gpt51-low", OpenAIProvider),
        ("anthropic", "claude-haiku-4-5", AnthropicProvider),
        ("gemini", "gemini-2.5-flash", GeminiProvider),
    ]
    for kind, model, cls in kinds:
        p = provider(kind, model, handler, timeout_s=12.5, max_connections=3)
        assert isinstance(p, cls)
        assert p.name == kind and p.model == model
        timeout = p.client.timeout
        assert timeout.read == 12.5 and timeout.connect == 10.0 and timeout.pool is None
        await p.aclose()
        assert p.client.is_closed


async def test_provider_as_async_context_manager() -> None:
    rec = Recorder(openai_ok(pair_json()))
    async with provider("openai_compatible", "sim-flaky", rec) as p:
        out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
        assert out.items[0].verdict is not None
        assert rec.body["logprobs"] is True  # the catalogue lists logprobs for the simulator
    assert p.client.is_closed


def test_token_estimates() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("word " * 100) >= 100
    assert estimate_tokens("x" * 400) == 100
    prompt = render_pair_prompt(CONTEXT, "a " * 500, "b " * 500, NONCE)
    total = estimate_prompt_tokens(prompt)
    assert total > estimate_tokens(prompt.body) + estimate_tokens(prompt.system)


async def test_odd_logprobs_and_null_usage_do_not_spoil_a_good_answer() -> None:
    body = openai_body(pair_json("A"))
    body["choices"][0]["logprobs"] = {"content": [{"token": 5}]}  # type: ignore[index]
    body["usage"] = {"prompt_tokens": None, "completion_tokens": 12}
    p = provider("openai", "gpt-4.1", Recorder(httpx.Response(200, json=body)))
    out = await p.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out.items[0].verdict is not None and out.items[0].probability_first is None
    assert out.usage == Usage(input_tokens=0, output_tokens=12)
    content = '{"winner":"B","justification":"x","confidence":2}'
    raw = tokenize(content, [[("B", -0.1), ("A", -2.0)]])
    for token in raw:
        if token["token"] != "B":
            token["top_logprobs"] = None
    body2 = openai_body(content, logprobs=raw)
    p2 = provider("openai", "gpt-4.1", Recorder(httpx.Response(200, json=body2)))
    out2 = await p2.judge(CONTEXT, tasks(1), nonce=NONCE)
    assert out2.items[0].probability_first == pytest.approx(expected(-2.0, -0.1))
