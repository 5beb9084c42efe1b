"""A run's frozen settings: checked before anything is stored, never edited afterwards.

The settings say everything needed to continue a run the same way after a restart: the stopping
rule, and who judges and how (provider, model, base URL, the *name* of the environment variable
holding the key — never the key —, mode, bundle size). Resuming a run uses them; a different
judge is a different run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.prompt import DEFAULT_BUNDLE_PAIRS, MAX_BUNDLE_PAIRS, PROMPT_VERSION
from core.stopping import StoppingRule

PROVIDERS = ("sim", "openai", "anthropic", "gemini", "openai_compatible")
MODES = ("per_request", "bundle", "provider_batch")
#: Providers whose batch API the run loop can use in ``provider_batch`` mode.
BATCH_PROVIDERS = ("openai", "anthropic", "openai_compatible", "sim")
SIM_MODEL = "sim-gpt51-low"

#: Settings that decide what the judge is; a resumed run keeps them.
JUDGE_FIELDS = ("provider", "model", "base_url", "mode", "bundle_size", "redact_identity")


class SettingsError(ValueError):
    """Settings that cannot make a run; the message names the setting and the allowed values."""


@dataclass(frozen=True)
class RunSettings:
    """The frozen settings of a run (stored as JSON on the run). Invalid values raise
    :class:`SettingsError` on construction, so an invalid run is never stored."""

    budget: int = 120
    target_reliability: float | None = 0.80
    target_rms_se: float | None = None
    min_comparisons_per_essay: int = 5
    use_confidence: bool = True
    wave_size: int | None = None
    provider: str = "sim"
    model: str = SIM_MODEL
    base_url: str | None = None
    api_key_env: str | None = None
    """The environment variable with the key (None: the system keyring). Never the key."""
    strict_schema: bool = True
    mode: str = "bundle"
    bundle_size: int = DEFAULT_BUNDLE_PAIRS
    concurrency: int = 4
    poll_interval_s: float = 60.0
    sim_speed: float = 25.0
    """The simulated judge's latency is divided by this (``provider="sim"`` only)."""
    prompt_version: str = PROMPT_VERSION
    seed: int = 0
    redact_identity: bool = True
    """Keep the writer's name, e-mail and code from the judge (see :mod:`core.redact`)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise SettingsError("; ".join(problems))

    def rule(self) -> StoppingRule:
        return StoppingRule(
            budget=self.budget,
            target_reliability=self.target_reliability,
            target_rms_se=self.target_rms_se,
            min_comparisons_per_essay=self.min_comparisons_per_essay,
        )

    def judge(self) -> dict[str, Any]:
        """The settings that decide what the judge is (see ``JUDGE_FIELDS``)."""
        return {name: getattr(self, name) for name in JUDGE_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSettings:
        """Settings stored by any version: unknown keys are ignored, and the poll interval of
        runs stored before it had its own field is read from ``extra``."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        extra = known.get("extra") or {}
        if "poll_interval_s" not in known and "poll_interval_s" in extra:
            known["poll_interval_s"] = float(extra["poll_interval_s"])
        return cls(**known)


def _problems(s: RunSettings) -> list[str]:
    out: list[str] = []
    if not isinstance(s.budget, int) or s.budget < 1:
        out.append(f"the budget must be at least 1 comparison (got {s.budget})")
    if s.target_reliability is not None and not (
        math.isfinite(s.target_reliability) and 0.0 < s.target_reliability < 1.0
    ):
        out.append(
            f"the target reliability must be between 0 and 1, e.g. 0.8 (got {s.target_reliability})"
        )
    if s.target_rms_se is not None and not (math.isfinite(s.target_rms_se) and s.target_rms_se > 0):
        out.append(f"the target standard error must be positive (got {s.target_rms_se})")
    if s.min_comparisons_per_essay < 0:
        out.append(
            f"the minimum comparisons per essay cannot be negative "
            f"(got {s.min_comparisons_per_essay})"
        )
    if s.wave_size is not None and s.wave_size < 1:
        out.append(f"the wave size must be at least 1 (got {s.wave_size})")
    if s.provider not in PROVIDERS:
        out.append(f"unknown provider {s.provider!r} (one of {', '.join(PROVIDERS)})")
    if not s.model:
        out.append(f"a model is needed with provider {s.provider}")
    if s.provider == "openai_compatible" and not s.base_url:
        out.append("provider openai_compatible needs a base URL (e.g. http://localhost:11434/v1)")
    if s.mode not in MODES:
        out.append(f"unknown mode {s.mode!r} (one of {', '.join(MODES)})")
    elif s.mode == "provider_batch" and s.provider not in BATCH_PROVIDERS:
        out.append(
            f"provider {s.provider} has no batch API the run can use "
            f"(provider_batch works with {', '.join(BATCH_PROVIDERS)})"
        )
    if not 1 <= s.bundle_size <= MAX_BUNDLE_PAIRS:
        out.append(f"the bundle size must be 1–{MAX_BUNDLE_PAIRS} pairs (got {s.bundle_size})")
    if s.concurrency < 1:
        out.append(f"the concurrency must be at least 1 (got {s.concurrency})")
    if not (math.isfinite(s.poll_interval_s) and s.poll_interval_s > 0):
        out.append(f"the poll interval must be positive (got {s.poll_interval_s})")
    if not (math.isfinite(s.sim_speed) and s.sim_speed > 0):
        out.append(f"the simulated judge's speed must be positive (got {s.sim_speed})")
    return out
