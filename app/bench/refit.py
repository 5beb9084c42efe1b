"""What one wave's refit costs, against one plain fit of the same data.

After every wave the engine calls :func:`core.engine.refit`: the hard fit, the confidence
calibration (cross-fits), up to two soft fits and the split-half reliability check. This
benchmark times one such refit, with all its checks, and one plain :func:`core.bt.fit_bt` (hard
verdicts, position bias and standard errors, started from zero) of the same comparisons, in the
same process, and reports the ratio. The comparisons come from a simulated adaptive run (the
engine's own scheduler and waves) with the engine benchmark's argmax judge, which states an
informative confidence, so the refit takes its longest path: calibration, trusted confidence,
two logit-evidence fits, then the split halves. Each side is timed ``repeats`` times, the best
time is kept.

Keys:

* ``refit_s``, ``plain_fit_s``, ``refit_ratio_vs_plain_fit``: the refit with nothing to start
  from (``previous=None``, as the first refit of a resumed run) against the plain fit.
* ``refit_hard_only_s`` and its ratio: the same refit without stated confidence (hard fit and
  split halves only).
* ``refit_warm_s`` and its ratio: the refit as the run loop calls it, warm-started from the fit
  of the verdicts before the last wave.
* The figures of the timed refit (reliability, split-half figures, ``converged``), so a faster
  refit can be seen to report the same.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from core.bt import fit_bt
from core.comparisons import ComparisonSet
from core.engine import Verdict, default_wave_size, refit, simulate_run
from core.simulate import JudgeProfile, SimulatedJudge, stable_seed, true_abilities
from core.stopping import StoppingRule

ABILITY_SD = 1.5
#: The engine benchmark's argmax judge (see :mod:`app.bench.engine`).
JUDGE = JudgeProfile(noise_sd=1.0, position_bias=0.3, lapse_rate=0.05)


def adaptive_verdicts(n: int, comparisons: int, seed: int = 0) -> list[Verdict]:
    """``comparisons`` verdicts of a simulated adaptive run over ``n`` essays."""
    truth = true_abilities(n, ABILITY_SD, seed)
    judge = SimulatedJudge(truth, JUDGE, seed=stable_seed("bench-refit", seed))
    rule = StoppingRule(budget=comparisons, target_reliability=None, min_comparisons_per_essay=0)
    # No split halves while generating: only the pairs and verdicts are wanted here.
    return simulate_run(judge, n, rule, seed=seed, reliability_splits=0).verdicts


def hard_data(n: int, verdicts: list[Verdict]) -> ComparisonSet:
    """The verdicts as hard outcomes (1 when the first-shown essay won)."""
    return ComparisonSet.from_arrays(
        n,
        [v.first for v in verdicts],
        [v.second for v in verdicts],
        [1.0 if v.first_wins else 0.0 for v in verdicts],
    )


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_refit(
    n: int = 200, comparisons: int = 1000, seed: int = 0, repeats: int = 3
) -> dict[str, float]:
    """Best-of-``repeats`` time of one full refit and of one plain fit, and their ratio."""
    verdicts = adaptive_verdicts(n, comparisons, seed)
    data = hard_data(n, verdicts)
    before_wave = verdicts[: max(1, len(verdicts) - default_wave_size(n))]
    previous = refit(n, before_wave, seed=seed, reliability_splits=0).fit
    result = refit(n, verdicts, seed=seed)  # also warms up imports and caches
    plain_s = _best_time(lambda: fit_bt(data), repeats)
    refit_s = _best_time(lambda: refit(n, verdicts, seed=seed), repeats)
    hard_s = _best_time(lambda: refit(n, verdicts, use_confidence=False, seed=seed), repeats)
    warm_s = _best_time(lambda: refit(n, verdicts, previous=previous, seed=seed), repeats)
    half = result.split_half
    return {
        "n": float(n),
        "comparisons": float(len(verdicts)),
        "refit_s": refit_s,
        "plain_fit_s": plain_s,
        "refit_ratio_vs_plain_fit": refit_s / plain_s,
        "refit_hard_only_s": hard_s,
        "refit_hard_only_ratio_vs_plain_fit": hard_s / plain_s,
        "refit_warm_s": warm_s,
        "refit_warm_ratio_vs_plain_fit": warm_s / plain_s,
        "reliability": result.reliability,
        "model_reliability": result.model_reliability,
        "split_half_correlation": half.half_correlation,
        "split_half_model_half": half.model_half,
        "split_half_inflation": half.inflation,
        "split_half_splits": float(half.splits),
        "confidence_weight": (
            float("nan") if result.calibration is None else result.calibration.weight
        ),
        "converged": float(result.converged),
    }


def main(argv: list[str] | None = None) -> int:
    """Print :func:`measure_refit` at n = 200 with 1,000 comparisons as JSON.

    Arguments, if given, are essay counts; each is measured with 5 comparisons per essay and a
    list is printed.
    """
    args = sys.argv[1:] if argv is None else argv
    if not args:
        out: object = measure_refit()
    else:
        out = [measure_refit(n=int(a), comparisons=5 * int(a)) for a in args]
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
