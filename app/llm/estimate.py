"""Cost and time of judging before a run starts, from the catalogue and the real prompts.

Tokens are estimated by rendering the actual prompts for a representative call (the same
rendering the providers send: one pair, or a bundle of k pairs over ``group_size(k)`` essays in
the shape the scheduler plans, :mod:`core.groups`) and dividing characters by the model's
``chars_per_token``; the essays are then rescaled to the batch's mean essay length.

Prompt caching, per the model's catalogue entry (``prompt_caching``, ``cache_min_tokens``,
cache prices):

* **explicit** (Anthropic): the prefix up to the last ``cache_control`` mark (the tool
  definition, the system prompt and the assignment) is cached only when it is at least the
  model's minimum (4,096 tokens for Haiku 4.5, 1,024 for Sonnet 4.5). Then the calls of the
  first concurrent round each write it (billed at the cache-write price; none of them can read
  what another has not finished writing) and every later call reads it. Below the minimum
  nothing is written or read.
* **automatic** (OpenAI, Gemini): the provider reuses the longest prefix already seen, in steps
  of 128 tokens and only from the model's minimum (1,024) on. Every call shares system +
  assignment + the fixed opening of the request; a call whose first essay was shown first
  before shares that essay too. The share of such calls is taken as 1 − essays/calls (each essay
  first at most once before it repeats).
* with a provider batch API, or for a model whose catalogue entry lists no
  ``cache_min_tokens``, nothing is read from or written to a cache.

Time is calls × mean latency / concurrency, in whole rounds; with a provider batch API it is
the provider's window.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.llm.catalogue import Catalogue
from app.llm.providers.base import estimate_output_tokens
from app.llm.types import Usage
from core.groups import bundle_shape, group_size
from core.prompt import AssignmentContext, render_bundle_prompt, render_pair_prompt

_NONCE = "0123456789abcdef"
#: Tokens a provider adds per message block (role, separators), counted in the cached prefix.
_BLOCK_OVERHEAD = 3.0
#: Tokens of a tool definition besides its schema (name, description, wrapper).
_TOOL_OVERHEAD = 25.0
#: Tokens of an essay's fence lines.
_FENCE = 12.0
#: Automatic caching reuses prefixes in steps of this many tokens.
_CACHE_STEP = 128.0


def _steps(prefix: float, minimum: int) -> float:
    """Tokens an automatic cache reuses of a shared ``prefix``: whole steps, from the minimum."""
    if prefix < minimum:
        return 0.0
    return _CACHE_STEP * math.floor(prefix / _CACHE_STEP)


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to cost and take."""

    pairs: int
    calls: int
    usage: Usage
    cost_usd: float
    seconds: float

    @property
    def cost_per_verdict(self) -> float:
        return self.cost_usd / self.pairs if self.pairs else 0.0


def estimate_run(
    catalogue: Catalogue,
    model: str,
    context: AssignmentContext,
    essay_texts: Sequence[str],
    n_pairs: int,
    *,
    pairs_per_call: int = 1,
    concurrency: int = 8,
    mean_latency_s: float = 2.0,
    provider_batch: bool = False,
    batch_window_s: float = 24 * 3600.0,
) -> Estimate:
    """Estimate ``n_pairs`` verdicts judged ``pairs_per_call`` at a time (see module docstring)."""
    if n_pairs <= 0 or not essay_texts:
        return Estimate(max(n_pairs, 0), 0, Usage(), 0.0, 0.0)
    info = catalogue.get(model)

    def estimate_tokens(text: str) -> float:
        return len(text) / info.chars_per_token

    calls = math.ceil(n_pairs / pairs_per_call)
    texts = list(essay_texts)
    m = 2 if pairs_per_call == 1 else group_size(pairs_per_call)
    # A representative call: consecutive essays of the batch, in the scheduler's bundle shape.
    sample = [texts[i % len(texts)] + ("" if i < len(texts) else f" ({i})") for i in range(m)]
    if pairs_per_call == 1:
        prompt = render_pair_prompt(context, sample[0], sample[1], _NONCE)
        shape = [(0, 1)]
    else:
        shape = bundle_shape(pairs_per_call)
        prompt = render_bundle_prompt(context, [(sample[a], sample[b]) for a, b in shape], _NONCE)
    mean_essay = sum(estimate_tokens(t) for t in texts) / len(texts)
    shown = sum(estimate_tokens(t) for t in sample)
    # Re-scale the essays shown from the sample to the batch's mean essay length.
    body = max(0.0, estimate_tokens(prompt.body) - shown + m * mean_essay)
    system = estimate_tokens(prompt.system) + estimate_tokens(prompt.context)
    schema = estimate_tokens(json.dumps(prompt.schema))
    per_call_input = system + body + schema
    minimum = info.cache_minimum
    usage_cached = 0.0
    usage_written = 0.0
    if provider_batch or minimum is None:
        pass  # nothing read from a cache: a batch, or a model whose minimum is not listed
    elif info.prompt_caching == "explicit":
        prefix = system + schema + _TOOL_OVERHEAD + _BLOCK_OVERHEAD * 3
        if prefix >= minimum:
            writers = min(calls, max(1, concurrency))
            usage_written = writers * prefix
            usage_cached = (calls - writers) * prefix
    elif info.prompt_caching == "automatic":
        opening = system + estimate_tokens(prompt.body[: prompt.body.find("<<<")])
        repeat = max(0.0, 1.0 - len(texts) / calls) if calls else 0.0
        per_call = (1.0 - repeat) * _steps(opening, minimum) + repeat * _steps(
            opening + mean_essay + _FENCE, minimum
        )
        usage_cached = max(0, calls - max(1, concurrency)) * per_call
    usage = Usage(
        input_tokens=round(calls * per_call_input),
        cached_input_tokens=round(usage_cached),
        output_tokens=round(calls * estimate_output_tokens(pairs_per_call)),
        cache_write_tokens=round(usage_written),
    )
    cost = catalogue.cost_usd(model, usage, batch=provider_batch)
    if provider_batch:
        seconds = batch_window_s
    else:
        rounds = calls / max(1, concurrency)
        seconds = math.ceil(rounds) * mean_latency_s if calls else 0.0
    return Estimate(n_pairs, calls, usage, cost, seconds)
