"""What a model accepts, as the provider clients use it: from an override, the catalogue, or a
safe profile for models nobody has described.

Order (first found wins):

1. an override given with the run (``--model-capabilities``, :func:`parse_capabilities`);
2. the model's catalogue entry (the user's catalogue file in the data folder first, then the
   bundled one; see :mod:`app.llm.catalogue`);
3. :func:`safe_capabilities`: no optional parameter at all (no temperature, no
   log-probabilities, no reasoning effort or thinking budget), the output cap parameter every
   model of the API accepts, and room in that cap for hidden reasoning tokens in case the model
   spends them (a cap is an upper bound: room that is not used costs nothing).

Model names are never guessed from: ``gpt-5-chat-latest`` and ``gpt-5-pro`` differ from
``gpt-5`` in what they reject, and ``openai/gpt-5`` through a router is not ``gpt-5`` either.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "CAPABILITY_KEYS",
    "CapabilitiesError",
    "ModelCapabilities",
    "parse_capabilities",
    "safe_capabilities",
]

MaxTokensParam = Literal["max_tokens", "max_completion_tokens"]


class CapabilitiesError(ValueError):
    """A ``--model-capabilities`` text that cannot be read."""


class ModelCapabilities(BaseModel):
    """The optional request parameters a model accepts.

    Attributes:
        temperature: a ``temperature`` may be sent (when one is configured).
        logprobs: token log-probabilities may be asked for (OpenAI-style APIs).
        reasoning: the model spends hidden reasoning tokens out of the output cap, so the cap
            gets ``reasoning_token_allowance`` more room.
        reasoning_effort: the model accepts a reasoning control: OpenAI ``reasoning_effort``,
            Gemini ``thinkingConfig.thinkingBudget``.
        max_tokens_param: the field that caps output tokens (OpenAI-style APIs):
            ``max_tokens`` or ``max_completion_tokens``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: bool = False
    logprobs: bool = False
    reasoning: bool = True
    reasoning_effort: bool = False
    max_tokens_param: MaxTokensParam = "max_tokens"


CAPABILITY_KEYS = tuple(ModelCapabilities.model_fields)
"""The keys a capabilities text may set."""


def safe_capabilities(kind: str) -> ModelCapabilities:
    """The profile of a model neither the catalogue nor an override describes.

    Every optional parameter is left out. The output cap is ``max_completion_tokens`` at OpenAI
    (every current OpenAI chat model accepts it; the GPT-5 and o-series reject ``max_tokens``)
    and ``max_tokens`` elsewhere (what OpenAI-compatible servers understand; Anthropic and
    Gemini have one cap field each anyway).
    """
    param: MaxTokensParam = "max_completion_tokens" if kind == "openai" else "max_tokens"
    return ModelCapabilities(max_tokens_param=param)


_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def _key_values(text: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for raw in text.replace(";", ",").split(","):
        part = raw.strip()
        if not part:
            continue
        if "=" not in part:
            raise CapabilitiesError(f"{part!r} is not key=value")
        key, value = (p.strip() for p in part.split("=", 1))
        low = value.lower()
        if low in _TRUE:
            values[key] = True
        elif low in _FALSE:
            values[key] = False
        else:
            values[key] = value
    return values


def parse_capabilities(text: str, kind: str) -> ModelCapabilities:
    """Capabilities from a JSON object (``{"temperature": true}``) or ``key=value`` pairs
    separated by commas (``temperature=yes,max_tokens_param=max_completion_tokens``).

    Keys not given keep the safe profile's value for ``kind`` (:func:`safe_capabilities`).

    Raises:
        CapabilitiesError: naming what is wrong and the keys that may be set.
    """
    stripped = text.strip()
    if not stripped:
        raise CapabilitiesError("the capabilities are empty")
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CapabilitiesError(f"not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise CapabilitiesError("the JSON must be an object")
        values: dict[str, object] = dict(data)
    else:
        values = _key_values(stripped)
    unknown = sorted(set(values) - set(CAPABILITY_KEYS))
    if unknown:
        raise CapabilitiesError(
            f"unknown key(s) {', '.join(unknown)}; known: {', '.join(CAPABILITY_KEYS)}"
        )
    base = safe_capabilities(kind).model_dump()
    base.update(values)
    try:
        return ModelCapabilities.model_validate(base, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CapabilitiesError(f"{where}: {first['msg']}") from exc
