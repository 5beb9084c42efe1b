"""A simulated listwise judge: it ranks the essays of a bundle in one answer.

Measured, not offered: ``huleedu bench llm`` compares it with pairwise bundles over the same
essays. The judge perceives every essay of a call once, as θ + e with e ~ N(0, σ²/2) drawn
per call (so the difference of two perceived essays has the pairwise judge's noise σ), and
ranks them; a lapse (probability ``lapse_rate`` per call) returns a uniformly random ranking.
A ranking of m essays is read as its m(m−1)/2 implied pairs (full rank-breaking), which the
engine fits as if they were independent verdicts. They are not: pairs that share an essay
share its noise, so each carries less information than a pairwise verdict and the engine's
reliability figures, which count verdicts as independent, are expected to overstate; the
benchmark measures both.
"""

from __future__ import annotations

import math

import numpy as np

from core.comparisons import FloatArray
from core.simulate import JudgeProfile, SimulatedVerdict, stable_seed

__all__ = ["ListwiseJudge"]


class ListwiseJudge:
    """Answers the pairs of one bundle from a single noisy ranking of its essays.

    ``simulate_run`` asks a bundle's pairs in a row with ``place_in_bundle`` 0, 1, …; a new
    call starts at place 0, when fresh noise is drawn. Position bias is not modelled.
    """

    def __init__(self, truth: FloatArray, profile: JudgeProfile, seed: int | str) -> None:
        self.truth = np.asarray(truth, dtype=np.float64)
        self.profile = profile
        self.rng = np.random.default_rng(stable_seed("listwise", seed))
        self._perceived: dict[int, float] = {}
        self._lapsed = False

    def _perceive(self, essay: int) -> float:
        if essay not in self._perceived:
            if self._lapsed:
                self._perceived[essay] = float(self.rng.uniform())
            else:
                noise = float(self.rng.normal(0.0, self.profile.noise_sd / math.sqrt(2.0)))
                self._perceived[essay] = float(self.truth[essay]) + noise
        return self._perceived[essay]

    def judge(self, first: int, second: int, place_in_bundle: int = 0) -> SimulatedVerdict:
        if place_in_bundle == 0:
            self._perceived = {}
            self._lapsed = float(self.rng.uniform()) < self.profile.lapse_rate
        first_wins = self._perceive(first) > self._perceive(second)
        p = 0.75 if first_wins else 0.25
        return SimulatedVerdict(first_wins, p, 3, self._lapsed)
