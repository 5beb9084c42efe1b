"""OpenAI Chat Completions, also for OpenAI-compatible servers (Ollama, LM Studio, llama.cpp,
vLLM, OpenRouter, the simulated server).

The answer is forced into the verdict schema by ``response_format`` ``json_schema`` (strict on
OpenAI, with the keywords strict mode rejects stripped; the parser enforces those limits anyway).
Where log-probabilities are available (``logprobs: true, top_logprobs: 5``) the probability that
the first essay wins is read from the token that carries each verdict's winner letter.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.llm.providers.base import Answer, BaseProvider
from app.llm.types import FailureCategory, ProviderError, Usage
from core.prompt import RenderedPrompt

__all__ = [
    "STRICT_UNSUPPORTED_KEYWORDS",
    "TOP_LOGPROBS",
    "ChatRequest",
    "ChatResponse",
    "OpenAIProvider",
    "TokenLogprob",
    "strict_compatible",
    "winner_offsets",
    "winner_probabilities",
]

TOP_LOGPROBS = 5
"""Alternatives asked for per output token."""

STRICT_UNSUPPORTED_KEYWORDS = frozenset(
    {
        "maxLength",
        "minLength",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "format",
    }
)
"""Schema keywords removed for OpenAI strict mode."""


# ---------------------------------------------------------------------------------------------
# Wire models
# ---------------------------------------------------------------------------------------------


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    description: str | None = None
    json_schema: dict[str, object] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["json_schema", "json_object", "text"]
    json_schema: JsonSchemaFormat | None = None


class ChatRequest(BaseModel):
    """Body of ``POST /chat/completions`` (the fields this client uses)."""

    model: str
    messages: list[ChatMessage]
    response_format: ResponseFormat | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    reasoning_effort: str | None = None
    n: int | None = None
    stream: bool | None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(default_factory=list)

    @field_validator("top_logprobs", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None


class ResponseMessage(BaseModel):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = None
    logprobs: Any = None
    """Read separately (:meth:`token_logprobs`): odd log-probabilities from some servers must
    not make an otherwise good answer unreadable."""

    def token_logprobs(self) -> list[TokenLogprob] | None:
        """The output tokens' log-probabilities, or None when absent or malformed."""
        if self.logprobs is None:
            return None
        try:
            return ChoiceLogprobs.model_validate(self.logprobs).content
        except ValidationError:
            return None


class PromptTokensDetails(BaseModel):
    cached_tokens: int | None = None


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int | None = None


class ChatUsage(BaseModel):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatResponse(BaseModel):
    """Body of a chat completion (the fields this client reads)."""

    id: str | None = None
    model: str | None = None
    choices: list[Choice] = Field(min_length=1)
    usage: ChatUsage | None = None


# ---------------------------------------------------------------------------------------------
# Strict schemas
# ---------------------------------------------------------------------------------------------


def strict_compatible(schema: Mapping[str, object]) -> dict[str, object]:
    """A copy of ``schema`` that OpenAI strict mode accepts.

    Removes :data:`STRICT_UNSUPPORTED_KEYWORDS` from every subschema (property names are left
    alone), and makes every object closed (``additionalProperties: false``) with all its
    properties required, as strict mode demands.
    """
    return _strict(copy.deepcopy(dict(schema)))


def _strict(node: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in node.items():
        if key in STRICT_UNSUPPORTED_KEYWORDS:
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {
                name: _strict(sub) if isinstance(sub, dict) else sub for name, sub in value.items()
            }
        elif key in ("items", "not") and isinstance(value, dict):
            out[key] = _strict(value)
        elif key in ("anyOf", "allOf", "oneOf", "prefixItems") and isinstance(value, list):
            out[key] = [_strict(sub) if isinstance(sub, dict) else sub for sub in value]
        else:
            out[key] = value
    properties = out.get("properties")
    if out.get("type") == "object" and isinstance(properties, dict):
        out["additionalProperties"] = False
        out["required"] = list(properties)
    return out


# ---------------------------------------------------------------------------------------------
# Log-probabilities → P(first wins)
# ---------------------------------------------------------------------------------------------

_WINNER_VALUES = frozenset({"A", "B", "Essay A", "Essay B"})


class _ScanError(Exception):
    pass


class _WinnerScanner:
    """A small JSON reader that records where each object's "winner" letter sits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: list[tuple[object, int]] = []

    def _ws(self, i: int) -> int:
        text = self.text
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def _expect(self, i: int, char: str) -> int:
        if i >= len(self.text) or self.text[i] != char:
            raise _ScanError(i)
        return i + 1

    def value(self, i: int, depth: int = 0) -> tuple[object, int]:
        if depth > 64:
            raise _ScanError(i)
        i = self._ws(i)
        if i >= len(self.text):
            raise _ScanError(i)
        char = self.text[i]
        if char == "{":
            return self._object(i, depth)
        if char == "[":
            return self._array(i, depth)
        if char == '"':
            return self._string(i)
        for literal, result in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(literal, i):
                return result, i + len(literal)
        end = i
        while end < len(self.text) and self.text[end] in "+-0123456789.eE":
            end += 1
        if end == i:
            raise _ScanError(i)
        number = self.text[i:end]
        try:
            return (float(number) if any(c in number for c in ".eE") else int(number)), end
        except ValueError as exc:
            raise _ScanError(i) from exc

    def _string(self, i: int) -> tuple[str, int]:
        """The string whose opening quote is at ``i``, and the index after its closing quote."""
        text = self.text
        j = i + 1
        while j < len(text):
            char = text[j]
            if char == "\\":
                j += 2
                continue
            if char == '"':
                try:
                    decoded = json.loads(text[i : j + 1])
                except json.JSONDecodeError as exc:
                    raise _ScanError(i) from exc
                if not isinstance(decoded, str):
                    raise _ScanError(i)
                return decoded, j + 1
            j += 1
        raise _ScanError(i)

    def _array(self, i: int, depth: int) -> tuple[object, int]:
        i = self._ws(i + 1)
        items: list[object] = []
        if i < len(self.text) and self.text[i] == "]":
            return items, i + 1
        while True:
            item, i = self.value(i, depth + 1)
            items.append(item)
            i = self._ws(i)
            if i < len(self.text) and self.text[i] == ",":
                i += 1
                continue
            return items, self._expect(i, "]")

    def _object(self, i: int, depth: int) -> tuple[object, int]:
        i = self._ws(i + 1)
        result: dict[str, object] = {}
        letter_at: int | None = None
        if i < len(self.text) and self.text[i] == "}":
            return result, i + 1
        while True:
            i = self._expect(self._ws(i), '"')
            key, i = self._string(i - 1)
            i = self._ws(self._expect(self._ws(i), ":"))
            i = self._ws(i)
            start = i
            value, i = self.value(i, depth + 1)
            result[key] = value
            if key == "winner" and isinstance(value, str) and self.text[start] == '"':
                raw = self.text[start + 1 : i - 1]
                if raw == value and value.strip() in _WINNER_VALUES:
                    letter_at = start + len(raw.rstrip())
            i = self._ws(i)
            if i < len(self.text) and self.text[i] == ",":
                i += 1
                continue
            i = self._expect(i, "}")
            break
        if letter_at is not None:
            self.found.append((result.get("pair"), letter_at))
        return result, i


def winner_offsets(text: str) -> list[tuple[int | None, int]]:
    """Where the winner letters sit in a JSON answer.

    Returns ``(pair, offset)`` for every object with a string ``winner`` of A/B/Essay A/Essay B:
    ``pair`` is the object's whole-number ``pair`` field (None when absent, as in a single-pair
    answer) and ``offset`` the character index of the letter in ``text``. Text before the first
    ``{`` (e.g. a code fence) is skipped; objects completed before a cut-off are still reported.
    """
    start = text.find("{")
    if start < 0:
        return []
    scanner = _WinnerScanner(text)
    with contextlib.suppress(_ScanError, RecursionError, IndexError):
        scanner.value(start)
    out: list[tuple[int | None, int]] = []
    for found, offset in scanner.found:
        if found is None:
            out.append((None, offset))
        elif isinstance(found, int) and not isinstance(found, bool):
            out.append((found, offset))
        elif isinstance(found, float) and found.is_integer():
            out.append((int(found), offset))
    return out


def _token_bytes(token: TopLogprob) -> bytes:
    if token.bytes is not None:
        try:
            return bytes(token.bytes)
        except ValueError:
            pass
    return token.token.encode("utf-8")


_LETTERS = {ord("A"): "A", ord("B"): "B"}
_NORMALISE_STRIP = b" \t\r\n\"':,{}"


def _alternative_letter(alt: bytes, chosen: bytes, pos: int) -> str | None:
    if (
        len(alt) == len(chosen)
        and alt[:pos] == chosen[:pos]
        and alt[pos + 1 :] == chosen[pos + 1 :]
        and alt[pos] in _LETTERS
    ):
        return _LETTERS[alt[pos]]
    stripped = alt.strip(_NORMALISE_STRIP)
    if stripped in (b"A", b"B"):
        return stripped.decode()
    return None


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _letter_probability(token: TokenLogprob, pos: int) -> float | None:
    """P("A") / (P("A") + P("B")) at byte ``pos`` of ``token``, from its alternatives."""
    chosen = _token_bytes(token)
    if not 0 <= pos < len(chosen) or chosen[pos] not in _LETTERS:
        return None
    chosen_letter = _LETTERS[chosen[pos]]
    mass: dict[str, list[float]] = {"A": [], "B": []}
    seen_chosen = False
    for alt in token.top_logprobs:
        alt_bytes = _token_bytes(alt)
        if alt_bytes == chosen:
            seen_chosen = True
        letter = _alternative_letter(alt_bytes, chosen, pos)
        if letter is not None and math.isfinite(alt.logprob):
            mass[letter].append(alt.logprob)
    if not seen_chosen and math.isfinite(token.logprob):
        mass[chosen_letter].append(token.logprob)
    other = "B" if chosen_letter == "A" else "A"
    if not mass[chosen_letter]:
        return None
    if not mass[other]:
        # The other letter is not among the alternatives: its probability is at most that of
        # the least likely alternative shown. Using that bound keeps the estimate conservative.
        shown = [alt.logprob for alt in token.top_logprobs if math.isfinite(alt.logprob)]
        if len(shown) < 2:
            return None
        mass[other].append(min(shown))
    log_a = _logsumexp(mass["A"])
    log_b = _logsumexp(mass["B"])
    return 1.0 / (1.0 + math.exp(log_b - log_a))


def winner_probabilities(
    content: str, tokens: Sequence[TokenLogprob], n_pairs: int
) -> list[float | None]:
    """P(first essay wins) per pair from the output tokens' log-probabilities.

    The tokens are joined (by their ``bytes`` when given) and must spell ``content`` exactly;
    each verdict's winner letter is located in the JSON (:func:`winner_offsets`), the token
    carrying it is found, and P(first) = p(A) / (p(A) + p(B)) over that token's
    ``top_logprobs`` (variants such as ``A``, ``"A``, `` A`` are pooled per letter). Entry ``i``
    is for pair ``i + 1`` (a single-pair answer: entry 0); None where it cannot be derived.
    """
    result: list[float | None] = [None] * n_pairs
    if not tokens or n_pairs < 1:
        return result
    pieces = [_token_bytes(t) for t in tokens]
    if b"".join(pieces) != content.encode("utf-8"):
        return result
    starts: list[int] = []
    position = 0
    for piece in pieces:
        starts.append(position)
        position += len(piece)

    offsets: dict[int, list[int]] = {}
    for pair, offset in winner_offsets(content):
        if n_pairs == 1 and pair is None:
            index = 0
        elif pair is not None and 1 <= pair <= n_pairs:
            index = pair - 1
        else:
            continue
        offsets.setdefault(index, []).append(offset)

    for index, found in offsets.items():
        if len(found) != 1:
            continue
        byte_at = len(content[: found[0]].encode("utf-8"))
        token_index = _token_at(starts, pieces, byte_at)
        if token_index is None:
            continue
        result[index] = _letter_probability(tokens[token_index], byte_at - starts[token_index])
    return result


def _token_at(starts: Sequence[int], pieces: Sequence[bytes], byte_at: int) -> int | None:
    lo, hi = 0, len(starts) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if starts[mid] + len(pieces[mid]) <= byte_at:
            lo = mid + 1
        elif starts[mid] > byte_at:
            hi = mid - 1
        else:
            return mid
    return None


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


class OpenAIProvider(BaseProvider):
    """OpenAI Chat Completions; with ``kind="openai_compatible"`` any server speaking it."""

    def endpoint(self) -> str:
        return "chat/completions"

    def auth_headers(self) -> dict[str, str]:
        key = self.config.api_key.get_secret_value()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def response_format(self, prompt: RenderedPrompt) -> ResponseFormat | None:
        """The ``response_format`` for ``prompt`` under the configured ``json_mode``."""
        mode = self.config.json_mode
        if mode == "none":
            return None
        if mode == "json_object":
            return ResponseFormat(type="json_object")
        name = "pair_verdict" if prompt.n_pairs == 1 else "bundle_verdicts"
        if self.config.strict_schema:
            schema_format = JsonSchemaFormat.model_validate(
                {"name": name, "schema": strict_compatible(prompt.schema), "strict": True}
            )
        else:
            schema_format = JsonSchemaFormat.model_validate(
                {"name": name, "schema": dict(prompt.schema)}
            )
        return ResponseFormat(type="json_schema", json_schema=schema_format)

    def build_request(self, prompt: RenderedPrompt) -> dict[str, object]:
        limit = self.output_token_limit(prompt.n_pairs)
        traits = self.traits
        effort = None
        if traits.reasoning_effort:
            effort = self.config.reasoning_effort or "low"
        request = ChatRequest(
            model=self.model,
            messages=[ChatMessage.model_validate(m) for m in prompt.messages()],
            response_format=self.response_format(prompt),
            max_tokens=limit if traits.max_tokens_param == "max_tokens" else None,
            max_completion_tokens=limit
            if traits.max_tokens_param == "max_completion_tokens"
            else None,
            temperature=self.temperature(),
            logprobs=True if self.use_logprobs else None,
            top_logprobs=TOP_LOGPROBS if self.use_logprobs else None,
            reasoning_effort=effort,
        )
        return request.model_dump(exclude_none=True, by_alias=True)

    def read_answer(
        self, payload: object, prompt: RenderedPrompt, request_id: str | None
    ) -> Answer:
        try:
            response = ChatResponse.model_validate(payload)
        except ValidationError as exc:
            raise self.invalid_response(exc, request_id) from exc
        choice = response.choices[0]
        message = choice.message
        if message.refusal:
            raise ProviderError(
                FailureCategory.REFUSAL,
                f"the model refused: {message.refusal[:200]}",
                request_id=request_id,
            )
        if choice.finish_reason == "content_filter":
            raise ProviderError(
                FailureCategory.REFUSAL,
                "the answer was withheld by the provider's content filter",
                request_id=request_id,
            )
        usage = response.usage or ChatUsage()
        cached = 0
        if usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        extra: dict[str, object] = {}
        if usage.completion_tokens_details is not None:
            reasoning = usage.completion_tokens_details.reasoning_tokens
            if reasoning:
                extra["reasoning_tokens"] = reasoning
        probabilities: list[float | None] | None = None
        content = message.content
        tokens = choice.token_logprobs() if self.use_logprobs and content else None
        if content and tokens:
            probabilities = winner_probabilities(content, tokens, prompt.n_pairs)
        return Answer(
            raw=content,
            finish_reason=choice.finish_reason,
            truncated=choice.finish_reason == "length",
            usage=Usage(
                input_tokens=usage.prompt_tokens or 0,
                cached_input_tokens=cached,
                output_tokens=usage.completion_tokens or 0,
            ),
            probabilities=probabilities,
            response_id=response.id,
            extra=extra,
        )
