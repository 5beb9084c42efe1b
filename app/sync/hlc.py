"""Hybrid logical clocks (Kulkarni et al. 2014) as the protocol's strings.

A stamp is ``(physical_ms, counter, device_id)`` written ``f"{ms:013d}-{counter:05d}-{device}"``;
the fixed widths make string order equal tuple order. :meth:`Clock.now` never goes backwards,
even if the wall clock does, and :meth:`Clock.observe` moves the clock past a remote stamp, so
an edit made after seeing another device's edit always carries a later stamp.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COUNTER_LIMIT = 100_000


@dataclass(frozen=True, order=True)
class Stamp:
    """One clock reading; ordered as a tuple ``(ms, counter, device)``."""

    ms: int
    counter: int
    device: str

    def __str__(self) -> str:
        return f"{self.ms:013d}-{self.counter:05d}-{self.device}"

    @classmethod
    def parse(cls, text: str) -> Stamp:
        """Read a stamp string; ``ValueError`` if it is not one."""
        ms, counter, device = text.split("-", 2)
        if len(ms) != 13 or len(counter) != 5 or not device:
            raise ValueError(f"not a clock stamp: {text!r}")
        return cls(int(ms), int(counter), device)


class Clock:
    """A thread-safe hybrid logical clock for one device."""

    def __init__(self, device: str, wall_ms: Callable[[], int] | None = None) -> None:
        if not device or "-" in device:
            raise ValueError("a device id must be non-empty and hold no '-'")
        self.device = device
        self._wall = wall_ms or (lambda: int(time.time() * 1000))
        self._ms = 0
        self._counter = 0
        self._lock = threading.Lock()

    def _advance(self, ms: int, counter: int) -> None:
        if counter >= COUNTER_LIMIT:  # more than 100,000 stamps in one millisecond
            ms, counter = ms + 1, 0
        self._ms, self._counter = ms, counter

    def now(self) -> str:
        """A stamp later than every stamp this clock gave or observed."""
        with self._lock:
            wall = self._wall()
            if wall > self._ms:
                self._advance(wall, 0)
            else:
                self._advance(self._ms, self._counter + 1)
            return str(Stamp(self._ms, self._counter, self.device))

    def observe(self, remote: str) -> None:
        """Move the clock past ``remote`` (a stamp seen on another device)."""
        stamp = Stamp.parse(remote)
        with self._lock:
            if (stamp.ms, stamp.counter) >= (self._ms, self._counter):
                self._advance(stamp.ms, stamp.counter)
