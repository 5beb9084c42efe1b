"""The refit/decide loop in memory with simulated judges."""

from __future__ import annotations

from dataclasses import replace

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from core.engine import Verdict, _progress, refit, simulate_run
from core.simulate import JudgeProfile, SimulatedJudge, true_abilities
from core.stopping import StoppingRule, StopReason, decide


def test_run_stops_stable_and_ranks_well() -> None:
    truth = true_abilities(20, 1.5, seed=4)
    judge = SimulatedJudge(truth, JudgeProfile(noise_sd=0.8), seed=4)
    rule = StoppingRule(budget=400, target_reliability=0.85, min_comparisons_per_essay=5)
    run = simulate_run(judge, 20, rule, seed=4)
    assert run.decision is not None and run.decision.reason is StopReason.STABLE
    final = run.final
    assert final is not None and final.reliability >= 0.85
    assert spearmanr(final.fit.abilities, truth)[0] > 0.85
    counts = final.fit.comparisons_per_item
    assert counts.min() >= 5


def test_budget_stop_is_never_called_stable() -> None:
    truth = true_abilities(12, 1.5, seed=2)
    judge = SimulatedJudge(truth, JudgeProfile(), seed=2)
    rule = StoppingRule(
        budget=20,
        target_reliability=0.99,
        min_comparisons_per_essay=0,
        stop_when_unreachable=False,
    )
    run = simulate_run(judge, 12, rule, seed=2)
    assert run.decision is not None and run.decision.reason is StopReason.BUDGET_REACHED
    assert run.final is not None and run.final.data.size == 20
    # Allowed to, the same run says early that 0.99 is out of reach within 20 comparisons.
    early = simulate_run(judge, 12, replace(rule, stop_when_unreachable=True), seed=2)
    assert early.decision is not None
    assert early.decision.reason is StopReason.TARGET_UNREACHABLE
    assert early.decision.outlook is not None and early.decision.outlook.reachable < 0.99
    assert early.final is not None and early.final.data.size < 20


def test_insufficient_essays() -> None:
    judge = SimulatedJudge([0.0], JudgeProfile(), seed=0)
    run = simulate_run(judge, 1, StoppingRule(), seed=0)
    assert run.decision is not None
    assert run.decision.reason is StopReason.INSUFFICIENT_ESSAYS
    assert run.verdicts == []


def test_small_batch_runs_out_of_pairs_or_budget_cleanly() -> None:
    judge = SimulatedJudge([1.0, 0.0, -1.0], JudgeProfile(), seed=0)
    rule = StoppingRule(budget=9, target_reliability=None, min_comparisons_per_essay=0)
    run = simulate_run(judge, 3, rule, seed=0)
    assert run.decision is not None and run.decision.reason is StopReason.BUDGET_REACHED
    pairs = [frozenset((v.first, v.second)) for v in run.verdicts]
    # All three pairs used before any repeats.
    assert set(pairs[:3]) == {frozenset((0, 1)), frozenset((0, 2)), frozenset((1, 2))}


def test_same_seed_same_run() -> None:
    truth = true_abilities(10, 1.5, seed=1)
    rule = StoppingRule(budget=60, target_reliability=None, min_comparisons_per_essay=0)
    a = simulate_run(SimulatedJudge(truth, seed=9), 10, rule, seed=9)
    b = simulate_run(SimulatedJudge(truth, seed=9), 10, rule, seed=9)
    assert a.verdicts == b.verdicts


def test_refit_uses_confidence_only_when_informative() -> None:
    truth = true_abilities(24, 1.5, seed=5)
    rng = np.random.default_rng(5)
    for kind, expect_soft in (("informative", True), ("noise", False)):
        judge = SimulatedJudge(truth, JudgeProfile(confidence=kind), seed=5)  # type: ignore[arg-type]
        verdicts = []
        for _ in range(8):
            perm = rng.permutation(24)
            for a, b in zip(perm[::2], perm[1::2], strict=True):
                v = judge.judge(int(a), int(b))
                verdicts.append(Verdict(int(a), int(b), v.first_wins, v.probability_first))
        result = refit(24, verdicts, use_confidence=True)
        assert result.calibration is not None
        if expect_soft:
            assert result.calibration.weight > 0.5
            assert np.any((result.data.outcome > 0.0) & (result.data.outcome < 1.0))
        else:
            assert result.calibration.weight < 0.5


def _verdicts(truth: np.ndarray, profile: JudgeProfile, rounds: int, seed: int) -> list[Verdict]:
    judge = SimulatedJudge(truth, profile, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    n = truth.shape[0]
    for _ in range(rounds):
        perm = rng.permutation(n)
        for a, b in zip(perm[::2], perm[1::2], strict=True):
            v = judge.judge(int(a), int(b))
            out.append(Verdict(int(a), int(b), v.first_wins, v.probability_first))
    return out


def test_trusted_confidence_enters_as_logit_evidence_with_honest_precision() -> None:
    truth = true_abilities(30, 1.5, seed=8)
    sampling = JudgeProfile(noise_sd=0.6, verdict="sampled")
    result = refit(30, _verdicts(truth, sampling, 10, seed=8), use_confidence=True)
    assert result.soft_model == "logit"
    r2 = float(np.corrcoef(result.fit.abilities, truth)[0, 1] ** 2)
    # The evidence is weighted by its observed precision, so the reported figure is close.
    assert abs(result.reliability - r2) < 0.08
    noisy = JudgeProfile(noise_sd=0.6, verdict="sampled", confidence="noise")
    untrusted = refit(30, _verdicts(truth, noisy, 10, seed=8), use_confidence=True)
    assert untrusted.soft_model == "fractional"


def test_refit_says_whether_its_fits_converged() -> None:
    truth = true_abilities(30, 1.5, seed=6)
    verdicts = _verdicts(truth, JudgeProfile(noise_sd=0.6, verdict="sampled"), 8, seed=6)
    for use_confidence in (False, True):
        result = refit(30, verdicts, use_confidence=use_confidence)
        assert result.converged
        assert result.split_half.converged and result.fit.converged
        # One Newton iteration cannot reach the optimum from zero: the refit must say so.
        capped = refit(30, verdicts, use_confidence=use_confidence, max_iter=1)
        assert not capped.converged
        assert not capped.hard_fit.converged
        assert math.isfinite(capped.reliability)


def test_a_refit_that_did_not_converge_is_not_trusted_by_the_stopping_rule() -> None:
    truth = true_abilities(20, 1.5, seed=3)
    verdicts = _verdicts(truth, JudgeProfile(noise_sd=0.5), 12, seed=3)
    good = refit(20, verdicts)
    capped = refit(20, verdicts, max_iter=1)
    rule = StoppingRule(budget=10_000, target_reliability=0.5, min_comparisons_per_essay=0)
    assert decide(rule, _progress(20, verdicts, [good, good], pairs_available=True)).stop
    progress = _progress(20, verdicts, [good, capped], pairs_available=True)
    assert not progress.converged
    assert not decide(rule, progress).stop


def test_warm_started_refit_reports_the_same_figures() -> None:
    truth = true_abilities(40, 1.5, seed=7)
    verdicts = _verdicts(truth, JudgeProfile(noise_sd=0.6, verdict="sampled"), 8, seed=7)
    earlier = refit(40, verdicts[:-20])
    for use_confidence in (False, True):
        cold = refit(40, verdicts, use_confidence=use_confidence)
        warm = refit(40, verdicts, use_confidence=use_confidence, previous=earlier.fit)
        assert warm.soft_model == cold.soft_model
        np.testing.assert_allclose(warm.fit.abilities, cold.fit.abilities, atol=1e-6)
        np.testing.assert_allclose(warm.fit.se, cold.fit.se, atol=1e-6)
        assert warm.reliability == pytest.approx(cold.reliability, abs=2e-3)


def test_refit_of_no_verdicts() -> None:
    result = refit(5, [])
    assert result.data.size == 0
    assert result.split_half.splits == 0
    assert result.converged
