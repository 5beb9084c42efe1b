"""A simulated LLM provider on loopback: OpenAI, Anthropic and Gemini wire formats, seeded
judging.

Every test and demo uses it instead of a real LLM. See :mod:`app.simserver.server` for the
endpoints and how the application is assembled and run, :mod:`app.simserver.openai_wire`,
:mod:`app.simserver.anthropic_wire` and :mod:`app.simserver.gemini_wire` for the wire
formats, :mod:`app.simserver.state` for what a running server remembers,
:mod:`app.simserver.faults` for error answers and injected faults,
:mod:`app.simserver.profiles` for the behaviour profiles and :mod:`app.simserver.judging` for
how essays are judged and what the truth is.
"""

from __future__ import annotations

from app.simserver.judging import true_quality, true_winner, truth_probability
from app.simserver.profiles import PROFILES, FaultRates, SimProfile, get_profile, profile_names
from app.simserver.server import STATE_KEY, SimState, build_app, running_server, start_in_thread

__all__ = [
    "PROFILES",
    "STATE_KEY",
    "FaultRates",
    "SimProfile",
    "SimState",
    "build_app",
    "get_profile",
    "profile_names",
    "running_server",
    "start_in_thread",
    "true_quality",
    "true_winner",
    "truth_probability",
]
