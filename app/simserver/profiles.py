"""Behaviour profiles of the simulated provider server.

A profile says how the simulated judge perceives essays (a :class:`core.simulate.JudgeProfile`),
how slow it is, how it counts tokens, which faults it injects and how its batch APIs behave.
All durations are in seconds at ``speed = 1``; the server divides them by its speed factor,
except :attr:`SimProfile.timeout_sleep_s`, which must outlast any client timeout.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from core.simulate import JudgeProfile

__all__ = [
    "PROFILES",
    "FaultRates",
    "SimProfile",
    "get_profile",
    "lognormal_params",
    "profile_names",
]


def lognormal_params(mean_s: float, p95_s: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal distribution with the given mean and 95th percentile.

    Solves ``exp(mu + sigma²/2) = mean`` and ``exp(mu + 1.645·sigma) = p95``; needs
    ``p95 > mean``. When ``p95 <= mean`` the latency is constant (sigma = 0).
    """
    if mean_s <= 0:
        raise ValueError("mean latency must be positive")
    if p95_s <= mean_s:
        return math.log(mean_s), 0.0
    z = 1.6448536269514722
    # 1.645·s − s²/2 = ln(p95/mean): take the smaller root.
    target = math.log(p95_s / mean_s)
    disc = z * z - 2.0 * target
    sigma = z - math.sqrt(disc) if disc > 0 else z
    mu = math.log(mean_s) - sigma * sigma / 2.0
    return mu, sigma


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per synchronous request (drawn once per request, seeded).

    Attributes:
        rate_limit: answer 429 with a ``Retry-After`` header.
        server_error: answer 500.
        timeout: hold the request open for :attr:`SimProfile.timeout_sleep_s` (past any client
            timeout) and never answer.
        drop: close the connection without an answer.
        malformed: answer 200 with content that is not the requested JSON.
        truncated: answer 200 with content cut short (``finish_reason`` "length" /
            ``stop_reason`` "max_tokens").
        overloaded: answer "overloaded": OpenAI 503, Anthropic 529 ``overloaded_error``,
            Gemini 503 ``UNAVAILABLE``.
    """

    rate_limit: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    truncated: float = 0.0
    overloaded: float = 0.0

    def __post_init__(self) -> None:
        total = 0.0
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {f.name} must be in [0, 1]")
            total += value
        if total > 1.0:
            raise ValueError("fault rates must sum to at most 1")

    def kinds(self) -> list[tuple[str, float]]:
        """(kind, rate) in a fixed order."""
        return [(f.name, float(getattr(self, f.name))) for f in dataclasses.fields(self)]


@dataclass(frozen=True)
class SimProfile:
    """Everything that distinguishes one simulated provider from another.

    Attributes:
        name: the profile's name.
        judge: perception noise, position bias, lapses, bundle degradation, verdict style.
        gullible: obey essays that address an AI grader (an essay with text found by
            :func:`core.injection.find_injection` beats one without).
        latency_mean_s, latency_p95_s: lognormal latency of a one-pair call.
        latency_per_extra_pair: a K-pair call takes ``1 + latency_per_extra_pair·(K−1)`` times
            as long.
        fault_latency_s: latency of an error answer (429, 500).
        chars_per_token: characters per token when counting prompt and completion tokens.
        message_overhead_tokens: tokens added per chat message (role markers).
        reasoning_tokens: hidden tokens added to every completion (counted as
            ``completion_tokens_details.reasoning_tokens``).
        openai_cache_min_tokens, openai_cache_step_tokens: OpenAI-style automatic caching: a
            prompt of at least ``min`` tokens reuses the longest previously seen prefix,
            counted in steps of ``step`` tokens.
        anthropic_cache_min_tokens: shortest prefix (up to the last ``cache_control``
            breakpoint) that Anthropic-style caching stores.
        faults: per-request fault rates.
        retry_after_s: the ``Retry-After`` of injected 429s.
        timeout_sleep_s: how long a "timeout" fault holds a request (not scaled by speed).
        requests_per_minute, tokens_per_minute: enforced rate limits (per simulated minute,
            i.e. 60 / speed real seconds); also reported in rate-limit headers.
        batch_validating_s, batch_delay_s: provider batch timing: validating, then in
            progress until ``batch_delay_s`` after creation.
        batch_item_error_rate: share of batch items that end in an error.
        batch_expire_rate: share of batches that expire with part of their items unfinished.
        justification_words: (min, max) words in a justification.
        quota_after_calls: after this many requests (direct calls and batch creations, all
            wire formats together), every further one is refused for want of credit: OpenAI
            429 ``insufficient_quota``, Anthropic 400 "Your credit balance is too low", Gemini
            429 ``RESOURCE_EXHAUSTED`` with a per-day ``QuotaFailure``. None = never.
        quota_style: which documented answer: ``credit`` (above), ``billing`` (Anthropic 402
            ``billing_error``, Gemini 403 ``PERMISSION_DENIED`` with reason
            ``BILLING_DISABLED``) or ``spend_limit`` (Anthropic 429 with
            ``enforced_spend_limit_reached``, Gemini 402 prepaid credit used up); OpenAI
            answers 429 ``insufficient_quota`` in every style.
    """

    name: str
    judge: JudgeProfile = field(default_factory=JudgeProfile)
    gullible: bool = False
    latency_mean_s: float = 0.4
    latency_p95_s: float = 0.6
    latency_per_extra_pair: float = 0.3
    fault_latency_s: float = 0.05
    chars_per_token: float = 4.0
    message_overhead_tokens: int = 4
    reasoning_tokens: int = 0
    openai_cache_min_tokens: int = 1024
    openai_cache_step_tokens: int = 128
    anthropic_cache_min_tokens: int = 0
    faults: FaultRates = field(default_factory=FaultRates)
    retry_after_s: float = 2.0
    timeout_sleep_s: float = 600.0
    requests_per_minute: int = 10_000
    tokens_per_minute: int = 10_000_000
    batch_validating_s: float = 5.0
    batch_delay_s: float = 60.0
    batch_item_error_rate: float = 0.0
    batch_expire_rate: float = 0.0
    justification_words: tuple[int, int] = (18, 34)
    quota_after_calls: int | None = None
    quota_style: str = "credit"

    def __post_init__(self) -> None:
        if self.latency_mean_s <= 0 or self.fault_latency_s < 0:
            raise ValueError("latencies must be positive")
        if self.chars_per_token <= 0:
            raise ValueError("chars_per_token must be positive")
        if not 0.0 <= self.batch_item_error_rate <= 1.0:
            raise ValueError("batch_item_error_rate must be in [0, 1]")
        if not 0.0 <= self.batch_expire_rate <= 1.0:
            raise ValueError("batch_expire_rate must be in [0, 1]")
        if self.batch_validating_s < 0 or self.batch_delay_s < self.batch_validating_s:
            raise ValueError("batch_delay_s must be at least batch_validating_s")
        lo, hi = self.justification_words
        if not 1 <= lo <= hi:
            raise ValueError("justification_words must be (min, max) with 1 <= min <= max")
        if self.quota_after_calls is not None and self.quota_after_calls < 0:
            raise ValueError("quota_after_calls must be at least 0")
        if self.quota_style not in ("credit", "billing", "spend_limit"):
            raise ValueError("quota_style must be credit, billing or spend_limit")

    @property
    def latency_lognormal(self) -> tuple[float, float]:
        """(mu, sigma) of the one-pair latency."""
        return lognormal_params(self.latency_mean_s, self.latency_p95_s)


# Characters per token that make a one-pair prompt of two ~300-word essays (about 7,900
# characters with the cj-v1 templates and a typical assignment) count ~1,450 prompt tokens, as
# in the recorded gpt-5.1 runs.
_GPT51_CHARS_PER_TOKEN = 5.4

PROFILES: dict[str, SimProfile] = {
    profile.name: profile
    for profile in (
        SimProfile(
            name="generic",
            judge=JudgeProfile(noise_sd=0.6, lapse_rate=0.02),
            latency_mean_s=0.4,
            latency_p95_s=0.6,
        ),
        SimProfile(
            name="gpt51-low",
            judge=JudgeProfile(
                noise_sd=0.7, position_bias=0.06, lapse_rate=0.03, verdict="sampled"
            ),
            latency_mean_s=1.6,
            latency_p95_s=2.2,
            latency_per_extra_pair=0.35,
            chars_per_token=_GPT51_CHARS_PER_TOKEN,
            reasoning_tokens=6,
            requests_per_minute=5_000,
            tokens_per_minute=4_000_000,
            batch_delay_s=1_800.0,
            batch_validating_s=30.0,
            justification_words=(22, 34),
        ),
        SimProfile(
            name="flaky",
            judge=JudgeProfile(noise_sd=0.6, lapse_rate=0.02),
            faults=FaultRates(
                rate_limit=0.08,
                server_error=0.06,
                timeout=0.03,
                drop=0.04,
                malformed=0.05,
                truncated=0.04,
            ),
            retry_after_s=2.0,
            batch_item_error_rate=0.05,
        ),
        SimProfile(
            name="biased",
            judge=JudgeProfile(noise_sd=0.7, position_bias=1.5, lapse_rate=0.02),
        ),
        SimProfile(
            name="bundle-degrading",
            judge=JudgeProfile(noise_sd=0.5, lapse_rate=0.01, bundle_degradation=0.6),
        ),
        SimProfile(
            name="gullible",
            judge=JudgeProfile(noise_sd=0.6, lapse_rate=0.02),
            gullible=True,
        ),
        SimProfile(
            name="quota",
            judge=JudgeProfile(noise_sd=0.6, lapse_rate=0.02),
            quota_after_calls=20,
        ),
        SimProfile(
            name="overloaded",
            judge=JudgeProfile(noise_sd=0.6, lapse_rate=0.02),
            faults=FaultRates(overloaded=0.3),
            retry_after_s=1.0,
        ),
    )
}
"""The built-in profiles by name."""


def profile_names() -> list[str]:
    """Names of the built-in profiles."""
    return list(PROFILES)


def get_profile(profile: str | SimProfile, **overrides: object) -> SimProfile:
    """A built-in profile by name (or a given profile), with fields replaced by ``overrides``.

    ``faults`` may be given as a :class:`FaultRates` or as a dict of rates; ``judge`` as a
    :class:`JudgeProfile` or a dict of its fields (merged into the profile's judge).

    Raises:
        KeyError: for an unknown profile name.
        TypeError: for an unknown field.
    """
    if isinstance(profile, SimProfile):
        base = profile
    else:
        if profile not in PROFILES:
            raise KeyError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        base = PROFILES[profile]
    if not overrides:
        return base
    changes = dict(overrides)
    faults = changes.get("faults")
    if isinstance(faults, dict):
        changes["faults"] = FaultRates(**faults)
    judge = changes.get("judge")
    if isinstance(judge, dict):
        changes["judge"] = dataclasses.replace(base.judge, **judge)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
