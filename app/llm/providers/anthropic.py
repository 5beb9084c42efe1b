"""Anthropic Messages API with a forced tool call.

The verdict schema is the ``input_schema`` of one tool (``submit_verdict`` for a pair,
``submit_verdicts`` for a bundle) and ``tool_choice`` forces that tool, so the answer arrives
as the tool's decoded input. The system prompt and the assignment context are sent as system
blocks marked ``cache_control: ephemeral`` (the stable prefix); the essays follow in the user
message, unmarked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from app.llm.providers.base import Answer, BaseProvider
from app.llm.types import FailureCategory, ProviderError, Usage
from core.prompt import RenderedPrompt

__all__ = [
    "BUNDLE_TOOL",
    "PAIR_TOOL",
    "AnthropicProvider",
    "MessagesRequest",
    "MessagesResponse",
]

PAIR_TOOL = "submit_verdict"
BUNDLE_TOOL = "submit_verdicts"


class CacheControl(BaseModel):
    type: Literal["ephemeral"] = "ephemeral"


class TextBlock(BaseModel):
    type: Literal["text"] = "text"
    text: str
    cache_control: CacheControl | None = None


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: list[TextBlock]


class Tool(BaseModel):
    name: str
    description: str
    input_schema: dict[str, object]


class ToolChoice(BaseModel):
    type: Literal["tool"] = "tool"
    name: str
    disable_parallel_tool_use: bool | None = None


class MessagesRequest(BaseModel):
    """Body of ``POST /v1/messages`` (the fields this client uses)."""

    model: str
    max_tokens: int
    system: list[TextBlock]
    messages: list[Message]
    tools: list[Tool]
    tool_choice: ToolChoice
    temperature: float | None = None


class ContentBlock(BaseModel):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class MessagesUsage(BaseModel):
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class MessagesResponse(BaseModel):
    """Body of a Messages response (the fields this client reads)."""

    id: str | None = None
    type: str | None = None
    model: str | None = None
    content: list[ContentBlock] = Field(default_factory=list)
    stop_reason: str | None = None
    usage: MessagesUsage


class AnthropicProvider(BaseProvider):
    """Claude via the Messages API."""

    request_id_headers = ("request-id", "x-request-id")

    def endpoint(self) -> str:
        return "messages"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": self.config.anthropic_version}
        key = self.config.api_key.get_secret_value()
        if key:
            headers["x-api-key"] = key
        return headers

    @staticmethod
    def tool_name(prompt: RenderedPrompt) -> str:
        return PAIR_TOOL if prompt.n_pairs == 1 else BUNDLE_TOOL

    def build_request(self, prompt: RenderedPrompt) -> dict[str, object]:
        name = self.tool_name(prompt)
        if prompt.n_pairs == 1:
            description = "Submit the verdict for the pair of essays."
        else:
            # The same for every bundle size: the tool sits first in the cached prefix.
            description = "Submit one verdict for each numbered pair of essays in the request."
        request = MessagesRequest(
            model=self.model,
            max_tokens=self.output_token_limit(prompt.n_pairs),
            system=[
                TextBlock(text=prompt.system, cache_control=CacheControl()),
                TextBlock(text=prompt.context, cache_control=CacheControl()),
            ],
            messages=[Message(role="user", content=[TextBlock(text=prompt.body)])],
            tools=[Tool(name=name, description=description, input_schema=dict(prompt.schema))],
            tool_choice=ToolChoice(name=name, disable_parallel_tool_use=True),
            temperature=self.temperature(),
        )
        return request.model_dump(exclude_none=True)

    def read_answer(
        self, payload: object, prompt: RenderedPrompt, request_id: str | None
    ) -> Answer:
        try:
            response = MessagesResponse.model_validate(payload)
        except ValidationError as exc:
            raise self.invalid_response(exc, request_id) from exc
        if response.stop_reason == "refusal":
            raise ProviderError(
                FailureCategory.REFUSAL,
                "the model refused to answer (stop_reason 'refusal')",
                request_id=request_id,
            )
        name = self.tool_name(prompt)
        raw: str | Mapping[str, object] | None = None
        tool_blocks = [b for b in response.content if b.type == "tool_use"]
        chosen = next((b for b in tool_blocks if b.name == name), None)
        if chosen is None and tool_blocks:
            chosen = tool_blocks[0]
        if chosen is not None:
            raw = chosen.input if isinstance(chosen.input, Mapping) else None
        else:
            text = "".join(b.text or "" for b in response.content if b.type == "text")
            raw = text or None
        usage = response.usage
        read = usage.cache_read_input_tokens or 0
        written = usage.cache_creation_input_tokens or 0
        return Answer(
            raw=raw,
            finish_reason=response.stop_reason,
            truncated=response.stop_reason == "max_tokens",
            usage=Usage(
                input_tokens=(usage.input_tokens or 0) + read + written,
                cached_input_tokens=read,
                output_tokens=usage.output_tokens or 0,
                cache_write_tokens=written,
            ),
            response_id=response.id,
        )
