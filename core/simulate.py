"""Simulated judges for tests and benchmarks.

A simulated judge knows each essay's true ability θ (logits) and answers "which of these two is
better?" the way a fallible LLM does. For a pair shown as (first, second) it perceives::

    d = θ_first − θ_second + position_bias + ε,   ε ~ N(0, noise_sd²)  (or logistic noise)

and says the first essay wins when d > 0 (``verdict="argmax"``). With ``verdict="sampled"`` it
believes P(first is better) = σ(1.7·d) and *samples* its answer from that belief, as an LLM does
that answers at temperature 1 (GPT-5-family models take no other temperature); its stated
probability is then the belief itself, as token log-probabilities would give it, and may favour
the essay it did not pick. ``noise_sd`` grows with the pair's place inside a
bundle by ``bundle_degradation`` per place. With probability ``lapse_rate`` the judge lapses: the
winner is a coin flip and its confidence is uninformative. The judge also states how sure it is:

* ``confidence="informative"``: the stated probability that the first essay is better is
  σ(1.7·d/noise_sd) (so it tracks the judge's own perception of the gap), or the belief
  σ(1.7·d) for a sampling judge;
* ``confidence="noise"``: the stated strength is uniform on (0.5, 1) whatever the gap.

Stated probabilities are also reported as a 1–5 confidence (0.5–0.6 → 1, …, ≥ 0.9 → 5).

Every verdict is drawn from a generator seeded with a stable hash (BLAKE2b) of the judge's seed,
the ordered pair, the occasion number and the place in the bundle, so results do not depend on the
order in which questions are asked, on the process, or on Python's randomised ``hash()``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.comparisons import FloatArray


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the ``repr`` of ``parts`` through BLAKE2b (stable across runs)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def confidence_level(probability_first: float) -> int:
    """The 1–5 confidence a judge states for a probability that the first essay is better."""
    strength = max(probability_first, 1.0 - probability_first)
    # Round first so band edges (0.6, 0.7, …) fall in the upper band despite binary fractions.
    return int(min(5, max(1, math.floor(round((strength - 0.5) * 10.0, 9)) + 1)))


@dataclass(frozen=True)
class JudgeProfile:
    """How a simulated judge errs. Defaults: a fairly good, slightly fallible judge."""

    noise_sd: float = 1.0
    noise: Literal["normal", "logistic"] = "normal"
    position_bias: float = 0.0
    lapse_rate: float = 0.0
    confidence: Literal["informative", "noise"] = "informative"
    bundle_degradation: float = 0.0
    verdict: Literal["argmax", "sampled"] = "argmax"

    def __post_init__(self) -> None:
        if self.noise_sd <= 0:
            raise ValueError("noise_sd must be positive")
        if not 0.0 <= self.lapse_rate <= 1.0:
            raise ValueError("lapse_rate must be in [0, 1]")
        if self.bundle_degradation < 0:
            raise ValueError("bundle_degradation must be non-negative")


@dataclass(frozen=True)
class SimulatedVerdict:
    """A simulated answer: the hard verdict, the stated probability and its 1–5 confidence."""

    first_wins: bool
    probability_first: float
    confidence: int
    lapsed: bool

    @property
    def outcome(self) -> float:
        return 1.0 if self.first_wins else 0.0


class SimulatedJudge:
    """A seeded, fallible judge over known true abilities (see the module docstring)."""

    def __init__(
        self,
        true_abilities: FloatArray | list[float],
        profile: JudgeProfile | None = None,
        seed: int | str = 0,
    ) -> None:
        self.true_abilities = np.asarray(true_abilities, dtype=np.float64)
        self.profile = profile or JudgeProfile()
        self.seed = seed
        self._occasions: dict[tuple[int, int], int] = {}

    def judge(self, first: int, second: int, place_in_bundle: int = 0) -> SimulatedVerdict:
        """Judge the pair shown as (first, second); ``place_in_bundle`` counts from 0."""
        if first == second:
            raise ValueError("a judge cannot compare an essay with itself")
        key = (first, second)
        occasion = self._occasions.get(key, 0)
        self._occasions[key] = occasion + 1
        rng = np.random.default_rng(
            stable_seed(self.seed, first, second, occasion, place_in_bundle)
        )
        prof = self.profile
        sd = prof.noise_sd + prof.bundle_degradation * place_in_bundle
        gap = float(self.true_abilities[first] - self.true_abilities[second]) + prof.position_bias
        if prof.noise == "normal":
            eps = float(rng.normal(0.0, sd))
        else:
            u = float(rng.uniform(1e-12, 1.0 - 1e-12))
            eps = sd * math.sqrt(3.0) / math.pi * math.log(u / (1.0 - u))
        perceived = gap + eps
        lapse_draw = float(rng.uniform())
        strength_draw = float(rng.uniform(0.5, 1.0))
        coin = float(rng.uniform()) < 0.5
        sample_draw = float(rng.uniform())
        if lapse_draw < prof.lapse_rate:
            first_wins = coin
            strength = strength_draw
            lapsed = True
        elif prof.verdict == "sampled":
            # The judge believes P(first better) = σ(1.7·perceived) and samples its answer.
            belief = 1.0 / (1.0 + math.exp(-1.7 * perceived))
            first_wins = sample_draw < belief
            lapsed = False
            if prof.confidence == "informative":
                p = min(max(belief, 0.001), 0.999)
                return SimulatedVerdict(first_wins, p, confidence_level(p), lapsed)
            strength = strength_draw
        else:
            first_wins = perceived > 0.0
            lapsed = False
            if prof.confidence == "informative":
                strength = 1.0 / (1.0 + math.exp(-1.7 * abs(perceived) / sd))
            else:
                strength = strength_draw
        strength = min(max(strength, 0.5), 0.999)
        p_first = strength if first_wins else 1.0 - strength
        return SimulatedVerdict(
            first_wins=first_wins,
            probability_first=p_first,
            confidence=confidence_level(p_first),
            lapsed=lapsed,
        )

    def true_probability(self, first: int, second: int, place_in_bundle: int = 0) -> float:
        """P(first wins) for this judge, lapses included (normal noise; logistic approximated)."""
        prof = self.profile
        sd = prof.noise_sd + prof.bundle_degradation * place_in_bundle
        gap = float(self.true_abilities[first] - self.true_abilities[second]) + prof.position_bias
        spread = math.sqrt(sd * sd + 1.0) if prof.verdict == "sampled" else sd
        p = 0.5 * math.erfc(-gap / (spread * math.sqrt(2.0)))
        return (1.0 - prof.lapse_rate) * p + prof.lapse_rate * 0.5


def true_abilities(n: int, sd: float = 1.5, seed: int | str = 0) -> FloatArray:
    """n abilities drawn from N(0, sd²) with a stable seed, centred to sum to zero."""
    rng = np.random.default_rng(stable_seed("abilities", n, sd, seed))
    theta = rng.normal(0.0, sd, n)
    out: FloatArray = theta - theta.mean()
    return out
