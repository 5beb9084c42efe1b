"""One vocabulary for a run's life: every stop reason ends in exactly one terminal status."""

from __future__ import annotations

import pytest

from core.lifecycle import LEGACY_STOP_REASONS, TERMINAL, RunStatus, status_for
from core.stopping import RunProgress, StoppingRule, StopReason, decide


def test_every_reason_to_stop_ends_in_a_terminal_status() -> None:
    for reason in StopReason:
        if reason is StopReason.CONTINUE:
            with pytest.raises(ValueError):
                status_for(reason)
            continue
        assert status_for(reason).value in TERMINAL
    assert status_for(StopReason.BUDGET_REACHED) is RunStatus.COMPLETE
    assert status_for(StopReason.STALLED) is RunStatus.FAILED
    assert status_for(StopReason.CANCELLED) is RunStatus.CANCELLED
    assert set(LEGACY_STOP_REASONS.values()) <= set(StopReason)


def test_a_fit_that_did_not_converge_never_stops_a_run_as_stable_or_precise() -> None:
    rule = StoppingRule(budget=100, target_reliability=0.8, target_rms_se=0.5)
    good = RunProgress(10, 50, 0, 8, reliability=0.9, previous_reliability=0.9, rms_se=0.3)
    assert decide(rule, good).reason is StopReason.STABLE
    stuck = RunProgress(
        10, 50, 0, 8, reliability=0.9, previous_reliability=0.9, rms_se=0.3, converged=False
    )
    assert not decide(rule, stuck).stop
    # The budget still ends it: a run never goes on for ever.
    spent = RunProgress(10, 100, 0, 8, reliability=0.9, converged=False)
    assert decide(rule, spent).reason is StopReason.BUDGET_REACHED
