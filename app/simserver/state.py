"""What a running simulated provider remembers, and how it judges one prompt.

:class:`SimState` holds the profile, speed and seed, the attempt counters that make answers
deterministic, the rate-limit window, the prompt-cache prefixes, the stored files and batches
of both providers and the ledger of stated winners. :meth:`SimState.answer` judges a prompt
(through :mod:`app.simserver.judging`) and applies content faults. The stored-object
dataclasses render themselves in their provider's JSON shape.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from aiohttp import web

from app.simserver.judging import (
    PairJudgement,
    extract_essays,
    judge_pairs,
    pair_fingerprint,
    payload_for,
    render_content,
)
from app.simserver.profiles import SimProfile
from core.simulate import stable_seed

JSONDict = dict[str, Any]

PREFIX_CACHE_LIMIT = 50_000


def json_digest(obj: object) -> str:
    raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _duration(seconds: float) -> str:
    if seconds < 1.0:
        return f"{max(1, round(seconds * 1000))}ms"
    return f"{seconds:.3f}s"


@dataclass
class OpenAIBatch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    created_at: int
    metadata: JSONDict | None
    requests: list[JSONDict]
    status: str = "validating"
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: JSONDict | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    cancel_requested: bool = False
    started_monotonic: float = 0.0

    def to_json(self) -> JSONDict:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.created_at + 86_400,
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }


@dataclass
class AnthropicBatch:
    id: str
    created_at: float
    requests: list[JSONDict]
    processing_status: str = "in_progress"
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    results: list[JSONDict] | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "processing": 0,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
    )
    cancel_requested: bool = False
    started_monotonic: float = 0.0

    def to_json(self, base_url: str) -> JSONDict:
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": dict(self.counts),
            "ended_at": _iso(self.ended_at) if self.ended_at is not None else None,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.created_at + 86_400),
            "archived_at": None,
            "cancel_initiated_at": (
                _iso(self.cancel_initiated_at) if self.cancel_initiated_at is not None else None
            ),
            "results_url": (
                f"{base_url}/v1/messages/batches/{self.id}/results"
                if self.processing_status == "ended"
                else None
            ),
        }


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def to_json(self) -> JSONDict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class Answer:
    """A judged answer before it is put in a provider's envelope."""

    judgements: list[PairJudgement]
    payload: JSONDict
    content: str
    finish: str  # "stop" | "length" | "malformed"
    malformed_kind: str | None
    seed_key: str
    n_pairs: int


class SimState:
    """Everything one running simulated server remembers."""

    def __init__(self, profile: SimProfile, speed: float, seed: int) -> None:
        if not speed > 0 or not math.isfinite(speed):
            raise ValueError("speed must be a positive finite number")
        self.profile = profile
        self.speed = float(speed)
        self.seed = int(seed)
        self.attempts: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        # Every winner this server has stated for an ordered pair (faulty answers included), so
        # a client's verdict can be checked against what was really said.
        self.ledger: dict[str, list[str]] = {}
        self.files: dict[str, StoredFile] = {}
        self.openai_batches: dict[str, OpenAIBatch] = {}
        self.anthropic_batches: dict[str, AnthropicBatch] = {}
        # Cached OpenAI/Gemini prefix -> when it becomes readable (the writing call's answer).
        self.openai_prefixes: dict[str, float] = {}
        # Cached Anthropic prefix -> when it becomes readable (the writing call's first answer).
        self.anthropic_prefixes: dict[str, float] = {}
        self.window: deque[tuple[float, int]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self._ids = 0

    # -- helpers ------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        tail = hashlib.sha256(f"{self.seed}/{prefix}/{self._ids}".encode()).hexdigest()[:24]
        return f"{prefix}{tail}"

    def scaled(self, seconds: float) -> float:
        return seconds / self.speed

    def next_attempt(self, kind: str, body: object) -> tuple[str, int]:
        digest = json_digest([kind, body])
        attempt = self.attempts[digest]
        self.attempts[digest] = attempt + 1
        return digest, attempt

    def rng(self, *parts: object) -> np.random.Generator:
        return np.random.default_rng(stable_seed(self.seed, *parts))

    def tokens(self, text: str) -> int:
        return math.ceil(len(text) / self.profile.chars_per_token) if text else 0

    # -- rate limits --------------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        horizon = now - self.scaled(60.0)
        while self.window and self.window[0][0] <= horizon:
            self.window.popleft()

    def rate_check(self, tokens: int) -> float | None:
        """Record a request of ``tokens``; the wait until allowed if over a limit, else None."""
        now = time.monotonic()
        self._prune(now)
        used_tokens = sum(t for _, t in self.window)
        prof = self.profile
        if len(self.window) >= prof.requests_per_minute or (
            self.window and used_tokens + tokens > prof.tokens_per_minute
        ):
            oldest = self.window[0][0]
            return max(oldest + self.scaled(60.0) - now, 0.001)
        self.window.append((now, tokens))
        return None

    def rate_remaining(self) -> tuple[int, int, float]:
        now = time.monotonic()
        self._prune(now)
        used_tokens = sum(t for _, t in self.window)
        reset = (self.window[0][0] + self.scaled(60.0) - now) if self.window else 0.0
        return (
            max(0, self.profile.requests_per_minute - len(self.window)),
            max(0, self.profile.tokens_per_minute - used_tokens),
            max(reset, 0.0),
        )

    def openai_rate_headers(self) -> dict[str, str]:
        req, tok, reset = self.rate_remaining()
        return {
            "x-ratelimit-limit-requests": str(self.profile.requests_per_minute),
            "x-ratelimit-limit-tokens": str(self.profile.tokens_per_minute),
            "x-ratelimit-remaining-requests": str(req),
            "x-ratelimit-remaining-tokens": str(tok),
            "x-ratelimit-reset-requests": _duration(reset),
            "x-ratelimit-reset-tokens": _duration(reset),
        }

    def anthropic_rate_headers(self) -> dict[str, str]:
        req, tok, reset = self.rate_remaining()
        reset_at = _iso(time.time() + reset)
        return {
            "anthropic-ratelimit-requests-limit": str(self.profile.requests_per_minute),
            "anthropic-ratelimit-requests-remaining": str(req),
            "anthropic-ratelimit-requests-reset": reset_at,
            "anthropic-ratelimit-tokens-limit": str(self.profile.tokens_per_minute),
            "anthropic-ratelimit-tokens-remaining": str(tok),
            "anthropic-ratelimit-tokens-reset": reset_at,
        }

    # -- caching ------------------------------------------------------------------------------

    def openai_cached_tokens(self, prompt: str, model: str, readable_after: float = 0.0) -> int:
        """OpenAI-style automatic prefix caching in steps of ``openai_cache_step_tokens``.

        The longest step-aligned prefix (from ``openai_cache_min_tokens`` on) that an earlier
        call wrote is read. This call's prefixes become readable ``readable_after`` seconds
        from now (when it begins to answer): calls sent at the same moment all miss, as at the
        providers, whose cache holds a prefix only once a request has processed it.
        """
        prof = self.profile
        total = self.tokens(prompt)
        if total < prof.openai_cache_min_tokens:
            return 0
        step = max(1, prof.openai_cache_step_tokens)
        now = time.monotonic()
        cached = 0
        boundaries = range(prof.openai_cache_min_tokens, total + 1, step)
        keys = []
        for m in boundaries:
            chars = int(m * prof.chars_per_token)
            key = json_digest([model, prompt[:chars]])
            keys.append(key)
            readable_at = self.openai_prefixes.get(key)
            if readable_at is not None and readable_at <= now:
                cached = m
        if len(self.openai_prefixes) > PREFIX_CACHE_LIMIT:
            self.openai_prefixes.clear()
        for key in keys:
            self.openai_prefixes[key] = min(
                self.openai_prefixes.get(key, float("inf")), now + readable_after
            )
        return cached

    # -- judging ------------------------------------------------------------------------------

    def answer(
        self,
        prompt_text: str,
        *,
        digest: str,
        attempt: int,
        max_tokens: int | None,
        fault: str | None,
    ) -> Answer:
        """Judge the prompt and apply content faults (malformed, truncated, max_tokens)."""
        essays = extract_essays(prompt_text)
        seed_key = f"{self.seed}/{digest}/{attempt}"
        judgements = judge_pairs(essays, self.profile, seed_key=seed_key)
        for pair, judgement in zip(essays.pairs, judgements, strict=True):
            key = pair_fingerprint(pair.text_a, pair.text_b)
            self.ledger.setdefault(key, []).append(judgement.winner)
        payload = payload_for(judgements, essays.bundle)
        content = render_content(payload)
        rng = self.rng("content-fault", digest, attempt)
        finish = "stop"
        malformed_kind: str | None = None
        if fault == "malformed":
            malformed_kind = str(
                rng.choice(["prose", "unclosed", "bad_winner", "bad_confidence", "missing_field"])
            )
            payload, content = _malform(payload, content, malformed_kind)
            finish = "malformed"
            self.stats["fault_malformed"] += 1
        completion = self.tokens(content) + self.profile.reasoning_tokens
        if fault == "truncated":
            fraction = float(rng.uniform(0.2, 0.8))
            content = content[: max(1, int(len(content) * fraction))]
            finish = "length"
            self.stats["fault_truncated"] += 1
        elif max_tokens is not None and completion > max_tokens:
            visible = max(0, max_tokens - self.profile.reasoning_tokens)
            content = content[: int(visible * self.profile.chars_per_token)]
            finish = "length"
            self.stats["truncated_by_max_tokens"] += 1
        return Answer(
            judgements=judgements,
            payload=payload,
            content=content,
            finish=finish,
            malformed_kind=malformed_kind,
            seed_key=seed_key,
            n_pairs=len(essays.pairs),
        )

    def latency(self, digest: str, attempt: int, n_pairs: int) -> float:
        prof = self.profile
        mu, sigma = prof.latency_lognormal
        rng = self.rng("latency", digest, attempt)
        base = float(math.exp(mu + sigma * float(rng.standard_normal())))
        return self.scaled(base * (1.0 + prof.latency_per_extra_pair * max(0, n_pairs - 1)))

    def draw_fault(self, digest: str, attempt: int) -> str | None:
        u = float(self.rng("fault", digest, attempt).uniform())
        acc = 0.0
        for kind, rate in self.profile.faults.kinds():
            acc += rate
            if u < acc:
                return kind
        return None


def _malform(payload: JSONDict, content: str, kind: str) -> tuple[JSONDict, str]:
    """Spoil an answer: the payload (for tool inputs) and the text (for message content)."""
    spoiled = copy.deepcopy(payload)
    target: JSONDict = spoiled
    verdicts = spoiled.get("verdicts")
    if isinstance(verdicts, list) and verdicts:
        target = verdicts[0]
    if kind == "prose":
        return spoiled, "Here is my assessment of the essays.\n" + content + "\nThank you!"
    if kind == "unclosed":
        return spoiled, content[: max(1, len(content) - 7)]
    if kind == "bad_winner":
        target["winner"] = "Essay C"
    elif kind == "bad_confidence":
        target["confidence"] = "high"
    else:
        target.pop("confidence", None)
    return spoiled, json.dumps(spoiled, ensure_ascii=False)


STATE_KEY = web.AppKey("sim_state", SimState)


def request_state(request: web.Request) -> SimState:
    return request.app[STATE_KEY]
