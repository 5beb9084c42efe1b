"""Cost and time of judging before a run starts, from the catalogue and the real prompts.

Tokens are estimated by rendering the actual prompts for representative pairs (the same
rendering the providers send) and dividing characters by the model's ``chars_per_token`` from
the catalogue. When the model caches prompts automatically, every call after the first
``concurrency`` reads the stable prefix (system + assignment context) from the cache, in whole
blocks of 128 tokens and only for prompts of at least 1,024 tokens, as OpenAI does; explicit
caching (Anthropic) reads the whole prefix. Time is calls × mean latency / concurrency, plus a tail
for the last, partly filled round; with a provider batch API it is the provider's window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.llm.catalogue import Catalogue
from app.llm.providers.base import estimate_output_tokens
from app.llm.types import Usage
from core.prompt import AssignmentContext, render_bundle_prompt, render_pair_prompt

_NONCE = "0123456789abcdef"


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
    # A representative call: consecutive essays in pairs, cycling through the batch.
    sample_pairs = [
        (texts[(2 * i) % len(texts)], texts[(2 * i + 1) % len(texts)])
        for i in range(pairs_per_call)
    ]
    if pairs_per_call == 1:
        prompt = render_pair_prompt(context, sample_pairs[0][0], sample_pairs[0][1], _NONCE)
    else:
        prompt = render_bundle_prompt(context, sample_pairs, _NONCE)
    prefix = estimate_tokens(prompt.system) + estimate_tokens(prompt.context)
    body: float = estimate_tokens(prompt.body)
    mean_essay = sum(estimate_tokens(t) for t in texts) / len(texts)
    sample_essays = sum(estimate_tokens(a) + estimate_tokens(b) for a, b in sample_pairs)
    # Re-scale the body from the sampled essays to the batch's mean essay length.
    body = max(0.0, body - sample_essays + 2 * pairs_per_call * mean_essay)
    per_call_input = prefix + body
    cached_per_call = 0.0
    if info.prompt_caching == "explicit":
        cached_per_call = prefix
    elif info.prompt_caching == "automatic" and per_call_input >= 1024:
        cached_per_call = 128.0 * math.floor(prefix / 128.0)
    cached_calls = 0 if provider_batch else max(0, calls - max(1, concurrency))
    usage = Usage(
        input_tokens=round(calls * per_call_input),
        cached_input_tokens=round(cached_calls * cached_per_call),
        output_tokens=round(calls * estimate_output_tokens(pairs_per_call)),
    )
    cost = catalogue.cost_usd(model, usage, batch=provider_batch)
    if provider_batch:
        seconds = batch_window_s
    else:
        rounds = calls / max(1, concurrency)
        seconds = math.ceil(rounds) * mean_latency_s if calls else 0.0
    return Estimate(n_pairs, calls, usage, cost, seconds)
