"""Rate limiting, back-off and a circuit breaker for provider calls (asyncio, no threads)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass


class TokenBucket:
    """A bucket refilled at ``rate_per_minute`` up to ``capacity``; ``acquire(n)`` waits for n.

    Requests larger than the capacity are let through when the bucket is full, so one big call
    can never block forever.
    """

    def __init__(
        self,
        rate_per_minute: float,
        capacity: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0
        self.capacity = capacity if capacity is not None else rate_per_minute
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._level = self.capacity
        self._stamp: float | None = None
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        if self._stamp is not None:
            self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> float:
        """Take ``amount`` units, sleeping as needed; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                self._refill()
                need = min(amount, self.capacity)
                if self._level >= need:
                    self._level -= amount
                    return waited
                delay = (need - self._level) / self.rate
                waited += delay
                await asyncio.sleep(delay)


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with full jitter: delay_n = U(0, min(cap, base·2ⁿ)).

    A server's ``Retry-After`` (or rate-limit reset) overrides it when longer.
    """

    base_s: float = 1.0
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2.0 ** max(0, attempt - 1)))
        jittered = rng.uniform(0.5 * ceiling, ceiling)
        if retry_after is not None and retry_after > jittered:
            return min(retry_after, max(self.cap_s, retry_after))
        return jittered


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failed calls; stays open ``cooldown_s``; then lets
    one trial call through (half-open): success closes it, failure opens it again."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.opened_count = 0

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def wait_time(self) -> float:
        """Seconds until a call may be tried (0 when closed, or half-open and no trial runs)."""
        if self._opened_at is None:
            return 0.0
        remaining = self.cooldown_s - (self._clock() - self._opened_at)
        if remaining > 0:
            return remaining
        return 0.05 if self._trial_running else 0.0

    def before_call(self) -> None:
        if self.state == "half_open":
            self._trial_running = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.threshold:
            if self._opened_at is None or self.state == "half_open":
                self.opened_count += 1
            self._opened_at = self._clock()
