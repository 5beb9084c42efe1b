"""Find out what a model accepts with one paid call: ``huleedu check-model``.

The probe judges one tiny pair with every optional parameter the API family has (a
``temperature``; OpenAI-style ``logprobs`` and ``reasoning_effort``; Gemini's thinking budget).
A request the API refuses (400, nothing is billed) names the parameter it objects to: that
parameter is marked refused and the request is sent again without it, until one call succeeds
(the one billed call) or the refusal names nothing the probe can leave out. What the successful
answer shows is read too: log-probabilities asked for but not returned count as not supported,
and hidden reasoning tokens in the usage mark a reasoning model.

The result is a :class:`~app.llm.capabilities.ModelCapabilities` with a ready
``--model-capabilities`` text and a user-catalogue entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx

from app.llm.capabilities import ModelCapabilities, safe_capabilities
from app.llm.catalogue import ModelInfo
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import CallOutcome, FailureCategory, PairTask, ProviderError
from core.prompt import AssignmentContext

__all__ = ["PROBE_CONTEXT", "ProbeReport", "probe_model"]

PROBE_CONTEXT = AssignmentContext(
    "Probe",
    "Write a short paragraph: should schools ban phones?",
    "A clear position, one reason and one example.",
    "Prefer the paragraph that argues better.",
)
_PAIR = PairTask(
    "probe",
    "Phones should be banned in class because they distract pupils. In my class, marks rose "
    "after our teacher collected phones at the door.",
    "Phones are fine i guess. Some people use them and some dont.",
)
_NONCE = "probenonce000001"

#: Words in a refusal that name each optional parameter.
_NAMES: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "logprobs": ("logprobs", "top_logprobs"),
    "reasoning_effort": ("reasoning_effort", "reasoning", "thinking", "thinking_config"),
}
_QUOTED = re.compile(r"'([A-Za-z_.]+)'|\"([A-Za-z_.]+)\"")


@dataclass
class ProbeReport:
    """What the probe found.

    ``capabilities`` is None when no call succeeded (``error`` says why); ``refused`` lists
    the parameters the API refused, with its words; ``calls`` counts requests sent (refused
    ones are not billed).
    """

    provider: str
    model: str
    capabilities: ModelCapabilities | None = None
    refused: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    error: ProviderError | None = None
    reasoning_tokens: int = 0
    verdict_ok: bool = False

    @property
    def override(self) -> str:
        """The ``--model-capabilities`` text for what was found."""
        caps = self.capabilities
        if caps is None:
            return ""
        values = caps.model_dump()
        return ",".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()
        )

    def catalogue_entry(self) -> dict[str, object]:
        """A user-catalogue entry for the model (prices left at 0 to be filled in)."""
        caps = self.capabilities or safe_capabilities(self.provider)
        structured = {"anthropic": "tool", "gemini": "response_schema"}.get(
            self.provider, "json_schema"
        )
        entry: dict[str, object] = {
            "provider": self.provider,
            "input_per_mtok": 0.0,
            "cached_input_per_mtok": 0.0,
            "output_per_mtok": 0.0,
            "supports_temperature": caps.temperature,
            "structured_output": structured,
            "logprobs": caps.logprobs,
            "batch_api": False,
            "prompt_caching": "none",
            "context_tokens": 128000,
            "max_tokens_param": caps.max_tokens_param,
            "reasoning": caps.reasoning,
            "reasoning_effort": caps.reasoning_effort,
            "notes": "found by huleedu check-model; fill in the prices (USD per million tokens)",
        }
        ModelInfo.model_validate(entry)  # the entry must load as written
        return entry

    def as_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "model": self.model,
            "ok": self.capabilities is not None,
            "capabilities": None if self.capabilities is None else self.capabilities.model_dump(),
            "refused": self.refused,
            "calls": self.calls,
            "reasoning_tokens": self.reasoning_tokens,
            "verdict_parsed": self.verdict_ok,
            "model_capabilities": self.override,
            "catalogue_entry": self.catalogue_entry(),
            "error": None
            if self.error is None
            else {"category": str(self.error.category), "message": self.error.message},
        }


def _named(message: str, tried: ModelCapabilities) -> str | None:
    """The optional parameter (still switched on in ``tried``) a refusal names, or None."""
    low = message.lower()
    quoted = {a or b for a, b in _QUOTED.findall(message)}
    for key, words in _NAMES.items():
        if not getattr(tried, key):
            continue
        if any(w in quoted for w in words) or any(w in low for w in words):
            return key
    return None


def _everything(kind: str) -> ModelCapabilities:
    base = safe_capabilities(kind)
    return base.model_copy(
        update={
            "temperature": True,
            "logprobs": kind in ("openai", "openai_compatible"),
            "reasoning_effort": kind in ("openai", "openai_compatible", "gemini"),
        }
    )


async def probe_model(
    config: ProviderConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_calls: int = 5,
) -> ProbeReport:
    """Probe ``config.model`` (see the module docstring). ``config``'s own temperature and
    capabilities are replaced by the probe's."""
    report = ProbeReport(config.kind, config.model)
    caps = _everything(config.kind)
    while report.calls < max_calls:
        probe_config = config.model_copy(
            update={"capabilities": caps, "temperature": 0.0, "use_logprobs": None}
        )
        provider = make_provider(probe_config, transport=transport)
        report.calls += 1
        try:
            outcome: CallOutcome = await provider.judge(PROBE_CONTEXT, [_PAIR], nonce=_NONCE)
        except ProviderError as err:
            key = _named(err.message, caps) if err.category is FailureCategory.BAD_REQUEST else None
            if key is None:
                report.error = err
                return report
            report.refused[key] = err.message
            caps = caps.model_copy(update={key: False})
            continue
        finally:
            await provider.aclose()
        item = outcome.items[0]
        report.verdict_ok = item.verdict is not None
        reasoning = outcome.extra.get("reasoning_tokens")
        report.reasoning_tokens = reasoning if isinstance(reasoning, int) else 0
        updates: dict[str, object] = {}
        if caps.logprobs and item.probability_first is None:
            updates["logprobs"] = False  # accepted but not returned: no use
        updates["reasoning"] = report.reasoning_tokens > 0 or caps.reasoning_effort
        report.capabilities = caps.model_copy(update=updates)
        return report
    return report
