"""Google Gemini ``generateContent`` with a response schema.

The answer is forced into JSON by ``responseMimeType: application/json`` and ``responseSchema``
(an OpenAPI-style subset: upper-case types, no ``additionalProperties``; see
:func:`gemini_schema`). The system prompt is the ``systemInstruction``; the assignment context
leads the user turn, so Gemini's implicit prefix caching can reuse it. Thinking models get a
``thinkingBudget`` so hidden reasoning cannot crowd out the answer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from app.llm.providers.base import Answer, BaseProvider
from app.llm.types import FailureCategory, ProviderError, Usage
from core.prompt import RenderedPrompt

__all__ = [
    "REFUSAL_FINISH_REASONS",
    "GeminiProvider",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "gemini_schema",
]

REFUSAL_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
    }
)
"""``finishReason`` values meaning the answer was withheld."""

_GEMINI_UNSUPPORTED = frozenset(
    {"additionalProperties", "maxLength", "minLength", "pattern", "$schema", "title"}
)


def gemini_schema(schema: Mapping[str, object]) -> dict[str, object]:
    """``schema`` as a Gemini ``responseSchema``: types upper-cased, unsupported keywords
    (``additionalProperties``, string length limits, ``pattern``) removed, and
    ``propertyOrdering`` set to the properties' order so the fields come out as listed."""
    return _convert(copy.deepcopy(dict(schema)))


def _convert(node: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in node.items():
        if key in _GEMINI_UNSUPPORTED:
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.upper()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _convert(sub) if isinstance(sub, dict) else sub for name, sub in value.items()
            }
            out["propertyOrdering"] = list(value)
        elif key == "items" and isinstance(value, dict):
            out[key] = _convert(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_convert(sub) if isinstance(sub, dict) else sub for sub in value]
        else:
            out[key] = value
    return out


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Part(_Camel):
    text: str | None = None
    thought: bool | None = None


class Content(_Camel):
    role: str | None = None
    parts: list[Part] = Field(default_factory=list)


class ThinkingConfig(_Camel):
    thinking_budget: int | None = None


class GenerationConfig(_Camel):
    response_mime_type: str = "application/json"
    response_schema: dict[str, object] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    thinking_config: ThinkingConfig | None = None


class GenerateContentRequest(_Camel):
    """Body of ``POST /v1beta/models/{model}:generateContent`` (the fields this client uses)."""

    system_instruction: Content
    contents: list[Content]
    generation_config: GenerationConfig


class Candidate(_Camel):
    content: Content | None = None
    finish_reason: str | None = None
    index: int | None = None


class UsageMetadata(_Camel):
    prompt_token_count: int | None = 0
    candidates_token_count: int | None = 0
    cached_content_token_count: int | None = 0
    thoughts_token_count: int | None = 0
    total_token_count: int | None = None


class PromptFeedback(_Camel):
    block_reason: str | None = None


class GenerateContentResponse(_Camel):
    """Body of a ``generateContent`` response (the fields this client reads)."""

    candidates: list[Candidate] = Field(default_factory=list)
    usage_metadata: UsageMetadata | None = None
    prompt_feedback: PromptFeedback | None = None
    response_id: str | None = None
    model_version: str | None = None


class GeminiProvider(BaseProvider):
    """Gemini via the Generative Language API."""

    request_id_headers = ("x-request-id", "x-goog-request-id")

    def endpoint(self) -> str:
        model = self.model.removeprefix("models/")
        return f"models/{model}:generateContent"

    def auth_headers(self) -> dict[str, str]:
        key = self.config.api_key.get_secret_value()
        return {"x-goog-api-key": key} if key else {}

    def build_request(self, prompt: RenderedPrompt) -> dict[str, object]:
        thinking = None
        if self.traits.reasoning_effort:
            thinking = ThinkingConfig(thinking_budget=self.config.reasoning_token_allowance)
        request = GenerateContentRequest(
            system_instruction=Content(parts=[Part(text=prompt.system)]),
            contents=[
                Content(role="user", parts=[Part(text=prompt.context), Part(text=prompt.body)])
            ],
            generation_config=GenerationConfig(
                response_schema=gemini_schema(prompt.schema),
                max_output_tokens=self.output_token_limit(prompt.n_pairs),
                temperature=self.temperature(),
                thinking_config=thinking,
            ),
        )
        return request.model_dump(exclude_none=True, by_alias=True)

    def read_answer(
        self, payload: object, prompt: RenderedPrompt, request_id: str | None
    ) -> Answer:
        try:
            response = GenerateContentResponse.model_validate(payload)
        except ValidationError as exc:
            raise self.invalid_response(exc, request_id) from exc
        if not response.candidates:
            feedback = response.prompt_feedback
            if feedback is not None and feedback.block_reason:
                raise ProviderError(
                    FailureCategory.REFUSAL,
                    f"the prompt was blocked ({feedback.block_reason})",
                    request_id=request_id,
                )
            raise ProviderError(
                FailureCategory.PARSE_ERROR, "response has no candidates", request_id=request_id
            )
        candidate = response.candidates[0]
        reason = candidate.finish_reason
        if reason in REFUSAL_FINISH_REASONS:
            raise ProviderError(
                FailureCategory.REFUSAL,
                f"the answer was withheld (finishReason {reason})",
                request_id=request_id,
            )
        text = ""
        if candidate.content is not None:
            text = "".join(p.text or "" for p in candidate.content.parts if not p.thought)
        meta = response.usage_metadata or UsageMetadata()
        extra: dict[str, object] = {}
        if meta.thoughts_token_count:
            extra["reasoning_tokens"] = meta.thoughts_token_count
        return Answer(
            raw=text or None,
            finish_reason=reason,
            truncated=reason == "MAX_TOKENS",
            usage=Usage(
                input_tokens=meta.prompt_token_count or 0,
                cached_input_tokens=meta.cached_content_token_count or 0,
                output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
            ),
            response_id=response.response_id,
            extra=extra,
        )
