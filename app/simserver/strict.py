"""What the real APIs refuse, refused here too, with the real error bodies.

The simulated server checks every request (direct calls and provider batch items) against the
rules below, per model family, before it judges anything. Each rule is an *invalid request
kind* (:data:`INVALID_KINDS`) with an example that breaks it, so a test or the bench can show
that the server catches it and that the project's clients never send it.

OpenAI Chat Completions (bodies ``{"error": {"message", "type", "param", "code"}}``):

* GPT-5 / o-series reasoning models (``gpt-5``, ``gpt-5.1``, ``gpt-5-mini``, ``gpt-5-nano``,
  ``gpt-5-pro``, ``o3``, ``o4-mini``, dated snapshots of these): a ``temperature`` other than the
  default 1 (``unsupported_value``), ``max_tokens`` instead of ``max_completion_tokens``
  (``unsupported_parameter``), ``logprobs`` / ``top_logprobs`` (``unsupported_parameter``);
  ``gpt-5-pro`` takes ``reasoning_effort`` ``high`` only.
* Models without a reasoning control (``gpt-4*``, ``gpt-5-chat*``): ``reasoning_effort``.
* Any model, ``response_format`` ``json_schema`` with ``strict: true``: every object schema needs
  ``additionalProperties: false`` and every property listed in ``required``.

Anthropic Messages (``{"type": "error", "error": {"type", "message"}}``):

* more than 4 blocks marked ``cache_control`` (tools, system and message blocks together);
* ``thinking`` enabled with a ``tool_choice`` that forces tool use (``tool`` or ``any``).
* Prompt caching stores a prefix only from the model's minimum length on
  (:func:`anthropic_cache_minimum`): shorter prefixes are neither written nor read, as at
  Anthropic (no error, ``cache_creation_input_tokens`` stays 0).

Gemini ``generateContent`` (``google.rpc.Status``): ``additionalProperties`` in
``generationConfig.responseSchema`` (an unknown field of the OpenAPI subset).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from app.simserver.faults import FaultError, anthropic_error, gemini_error
from app.simserver.state import JSONDict

__all__ = [
    "INVALID_KINDS",
    "InvalidKind",
    "anthropic_cache_minimum",
    "check_anthropic",
    "check_gemini",
    "check_openai",
    "rejection_kind",
]

Wire = Literal["openai", "anthropic", "gemini"]

_OPENAI_REASONING = re.compile(
    r"^(?:gpt-5(?:\.\d+)?(?:-mini|-nano|-pro|-codex)?|o[1-9](?:-mini|-pro)?)"
    r"(?:-\d{4}-\d{2}-\d{2})?$"
)
_OPENAI_NO_EFFORT = re.compile(r"^(?:gpt-4|gpt-3\.5|gpt-5(?:\.\d+)?-chat)")
_GPT5_PRO = re.compile(r"^gpt-5(?:\.\d+)?-pro")

KIND_HEADER = "x-sim-rejection"
"""Response header naming the invalid request kind a 400 answer is for."""


def _openai_400(kind: str, message: str, param: str | None, code: str | None) -> FaultError:
    err = FaultError(
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        },
        {KIND_HEADER: kind},
    )
    return err


def _unsupported_parameter(kind: str, param: str, extra: str = "") -> FaultError:
    return _openai_400(
        kind,
        f"Unsupported parameter: '{param}' is not supported with this model.{extra}",
        param,
        "unsupported_parameter",
    )


def _object_schemas(
    node: object, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], JSONDict]]:
    """Every object schema inside ``node`` with its path (as OpenAI reports ``context=``)."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "object" or isinstance(node.get("properties"), dict):
        yield path, node
    for key in ("properties", "$defs", "definitions"):
        sub = node.get(key)
        if isinstance(sub, dict):
            for name, child in sub.items():
                yield from _object_schemas(child, (*path, key, name))
    for key in ("items", "not"):
        if isinstance(node.get(key), dict):
            yield from _object_schemas(node[key], (*path, key))
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        sub = node.get(key)
        if isinstance(sub, list):
            for i, child in enumerate(sub):
                yield from _object_schemas(child, (*path, key, str(i)))


def _strict_schema(body: JSONDict) -> None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or spec.get("strict") is not True:
        return
    name = spec.get("name", "")
    for path, schema in _object_schemas(spec.get("schema")):
        context = "(" + ", ".join(repr(p) for p in path) + ("," if len(path) == 1 else "") + ")"
        if schema.get("additionalProperties") is not False:
            raise _openai_400(
                "openai_strict_schema_additional_properties",
                f"Invalid schema for response_format '{name}': In context={context}, "
                "'additionalProperties' is required to be supplied and to be false.",
                "response_format",
                None,
            )
        properties = schema.get("properties")
        keys = list(properties) if isinstance(properties, dict) else []
        required = schema.get("required")
        listed = set(required) if isinstance(required, list) else set()
        missing = [k for k in keys if k not in listed]
        if missing:
            raise _openai_400(
                "openai_strict_schema_required",
                f"Invalid schema for response_format '{name}': In context={context}, "
                "'required' is required to be supplied and to be an array including every key "
                f"in properties. Missing '{missing[0]}'.",
                "response_format",
                None,
            )


def check_openai(body: JSONDict) -> None:
    """Refuse a Chat Completions body the real API would refuse (see the module docstring).

    Raises:
        FaultError: 400 with OpenAI's error body and the kind in :data:`KIND_HEADER`.
    """
    model = str(body.get("model") or "")
    if _OPENAI_REASONING.match(model):
        temperature = body.get("temperature")
        if temperature is not None and temperature != 1:
            raise _openai_400(
                "openai_reasoning_temperature",
                f"Unsupported value: 'temperature' does not support {temperature} with this "
                "model. Only the default (1) value is supported.",
                "temperature",
                "unsupported_value",
            )
        if "max_tokens" in body:
            raise _unsupported_parameter(
                "openai_reasoning_max_tokens",
                "max_tokens",
                " Use 'max_completion_tokens' instead.",
            )
        for param in ("logprobs", "top_logprobs"):
            if body.get(param) not in (None, False):
                raise _unsupported_parameter("openai_reasoning_logprobs", param)
        effort = body.get("reasoning_effort")
        if effort is not None and _GPT5_PRO.match(model) and effort != "high":
            raise _openai_400(
                "openai_reasoning_effort_value",
                f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this "
                "model. Supported values are: 'high'.",
                "reasoning_effort",
                "unsupported_value",
            )
    elif _OPENAI_NO_EFFORT.match(model) and body.get("reasoning_effort") is not None:
        raise _unsupported_parameter("openai_reasoning_effort_unsupported", "reasoning_effort")
    _strict_schema(body)


def _cache_marks(body: JSONDict) -> int:
    count = 0
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and "cache_control" in tool:
            count += 1
    system = body.get("system")
    if isinstance(system, list):
        count += sum(1 for b in system if isinstance(b, dict) and "cache_control" in b)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            count += sum(1 for b in content if isinstance(b, dict) and "cache_control" in b)
    return count


def _anthropic_400(kind: str, message: str) -> FaultError:
    err = anthropic_error(400, message, "invalid_request_error")
    err.headers[KIND_HEADER] = kind
    return err


def check_anthropic(body: JSONDict) -> None:
    """Refuse a Messages body the real API would refuse (see the module docstring).

    Raises:
        FaultError: 400 ``invalid_request_error`` with the kind in :data:`KIND_HEADER`.
    """
    marks = _cache_marks(body)
    if marks > 4:
        raise _anthropic_400(
            "anthropic_cache_breakpoints",
            f"A maximum of 4 blocks with cache_control may be provided. Found {marks}.",
        )
    thinking = body.get("thinking")
    choice = body.get("tool_choice")
    if (
        isinstance(thinking, dict)
        and thinking.get("type") == "enabled"
        and isinstance(choice, dict)
        and choice.get("type") in ("tool", "any")
    ):
        raise _anthropic_400(
            "anthropic_thinking_forced_tool",
            "Thinking may not be enabled when tool_choice forces tool use.",
        )


def _schema_has(node: object, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(_schema_has(v, key) for v in node.values())
    if isinstance(node, list):
        return any(_schema_has(v, key) for v in node)
    return False


def check_gemini(body: JSONDict) -> None:
    """Refuse a generateContent body the real API would refuse (see the module docstring).

    Raises:
        FaultError: 400 ``INVALID_ARGUMENT`` with the kind in :data:`KIND_HEADER`.
    """
    config = body.get("generationConfig")
    schema = config.get("responseSchema") if isinstance(config, dict) else None
    if schema is not None and _schema_has(schema, "additionalProperties"):
        err = gemini_error(
            400,
            'Invalid JSON payload received. Unknown name "additionalProperties" at '
            "'generation_config.response_schema': Cannot find field.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {
                            "field": "generation_config.response_schema",
                            "description": 'Invalid JSON payload received. Unknown name "'
                            "additionalProperties\" at 'generation_config.response_schema': "
                            "Cannot find field.",
                        }
                    ],
                }
            ],
        )
        err.headers[KIND_HEADER] = "gemini_schema_additional_properties"
        raise err


_ANTHROPIC_CACHE_MINIMUM: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^claude-(?:haiku-4-5|opus-4-[5-9])"), 4096),
    (re.compile(r"^claude-(?:3-5-haiku|3-haiku|haiku-3)"), 2048),
    (re.compile(r"^claude-"), 1024),
)


def anthropic_cache_minimum(model: str) -> int:
    """The shortest prefix (tokens) Anthropic caches for ``model``: 4,096 for Haiku 4.5 and
    Opus 4.5+, 2,048 for the Haiku 3 models, 1,024 for other Claude models, 0 for names that
    are not Claude models (the simulated ``sim-*`` models: the profile decides)."""
    for pattern, minimum in _ANTHROPIC_CACHE_MINIMUM:
        if pattern.match(model):
            return minimum
    return 0


# ---------------------------------------------------------------------------------------------
# The invalid request kinds, each with an example
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidKind:
    """One kind of request the real API refuses.

    ``model`` is a model the rule applies to and ``break_it`` turns a valid request body for
    that model (as the project's client builds it) into one that breaks the rule.
    """

    name: str
    wire: Wire
    model: str
    description: str
    break_it: Callable[[JSONDict], JSONDict]


def _with(**changes: object) -> Callable[[JSONDict], JSONDict]:
    def apply(body: JSONDict) -> JSONDict:
        out = copy.deepcopy(body)
        out.update(changes)
        return out

    return apply


def _max_tokens(body: JSONDict) -> JSONDict:
    out = copy.deepcopy(body)
    out["max_tokens"] = out.pop("max_completion_tokens", 1000)
    return out


def _schema_edit(edit: Callable[[JSONDict], None]) -> Callable[[JSONDict], JSONDict]:
    def apply(body: JSONDict) -> JSONDict:
        out = copy.deepcopy(body)
        spec = out["response_format"]["json_schema"]
        spec["strict"] = True
        edit(spec["schema"])
        return out

    return apply


def _drop_additional(schema: JSONDict) -> None:
    schema.pop("additionalProperties", None)


def _drop_required(schema: JSONDict) -> None:
    required = schema.get("required")
    if isinstance(required, list) and required:
        schema["required"] = required[:-1]


def _five_marks(body: JSONDict) -> JSONDict:
    out = copy.deepcopy(body)
    mark = {"type": "ephemeral"}
    system = out.get("system")
    blocks = system if isinstance(system, list) else [{"type": "text", "text": str(system)}]
    blocks = [dict(b, cache_control=mark) for b in blocks]
    while len(blocks) < 3:
        blocks.append({"type": "text", "text": "Be fair.", "cache_control": mark})
    out["system"] = blocks
    for tool in out.get("tools") or []:
        tool["cache_control"] = mark
    for message in out["messages"]:
        for block in message["content"]:
            block["cache_control"] = mark
    return out


def _gemini_additional(body: JSONDict) -> JSONDict:
    out = copy.deepcopy(body)
    out["generationConfig"]["responseSchema"]["additionalProperties"] = False
    return out


INVALID_KINDS: tuple[InvalidKind, ...] = (
    InvalidKind(
        "openai_reasoning_temperature",
        "openai",
        "gpt-5-mini",
        "a temperature other than 1 to a GPT-5 / o-series model",
        _with(temperature=0.2),
    ),
    InvalidKind(
        "openai_reasoning_max_tokens",
        "openai",
        "gpt-5-mini",
        "max_tokens (not max_completion_tokens) to a GPT-5 / o-series model",
        _max_tokens,
    ),
    InvalidKind(
        "openai_reasoning_logprobs",
        "openai",
        "gpt-5-mini",
        "logprobs to a GPT-5 / o-series model",
        _with(logprobs=True, top_logprobs=5),
    ),
    InvalidKind(
        "openai_strict_schema_additional_properties",
        "openai",
        "gpt-4.1-mini",
        "a strict json_schema with an object lacking additionalProperties: false",
        _schema_edit(_drop_additional),
    ),
    InvalidKind(
        "openai_strict_schema_required",
        "openai",
        "gpt-4.1-mini",
        "a strict json_schema with a property missing from required",
        _schema_edit(_drop_required),
    ),
    InvalidKind(
        "openai_reasoning_effort_unsupported",
        "openai",
        "gpt-4.1-mini",
        "reasoning_effort to a model without a reasoning control",
        _with(reasoning_effort="low"),
    ),
    InvalidKind(
        "anthropic_cache_breakpoints",
        "anthropic",
        "claude-haiku-4-5",
        "more than four cache_control breakpoints",
        _five_marks,
    ),
    InvalidKind(
        "anthropic_thinking_forced_tool",
        "anthropic",
        "claude-haiku-4-5",
        "thinking enabled with a tool_choice that forces a tool",
        _with(thinking={"type": "enabled", "budget_tokens": 1024}),
    ),
    InvalidKind(
        "gemini_schema_additional_properties",
        "gemini",
        "gemini-2.5-flash",
        "additionalProperties in a Gemini responseSchema",
        _gemini_additional,
    ),
)
"""Every kind the simulated server refuses, with an example."""


def rejection_kind(wire: Wire, body: JSONDict) -> str | None:
    """The invalid request kind ``body`` (for ``wire``) falls under, or None when the real API
    would take it."""
    check = {"openai": check_openai, "anthropic": check_anthropic, "gemini": check_gemini}[wire]
    try:
        check(body)
    except FaultError as err:
        return err.headers.get(KIND_HEADER, "unknown")
    return None
