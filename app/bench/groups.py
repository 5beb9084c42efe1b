"""Do bundles that share essays cost the scheduler efficiency? Keys for ``huleedu bench llm``.

For each layout the engine runs in memory (``core.engine.simulate_run``) against simulated
judges unlike the model the fit assumes (probit noise, first-position bias, lapses: the
``REALISTIC`` judge of ``huleedu bench engine``, about 84 % of random pairs right), and the
comparisons per essay at which the mean Spearman curve over seeds reaches 0.90 are read off
(as in ``huleedu bench engine``):

* ``separate``: bundles of 4 separate pairs (8 essays), waves of ``default_wave_size``;
* ``shared4``: bundles of 4 pairs over 4 essays (a 4-cycle), the run loop's layout;
* ``shared6``: bundles of 6 pairs over 4 essays (every pair of the 4).

``groups_comparisons_ratio_shared4_over_separate_nN`` > 1 means the shared layout needs that
many times the comparisons; combined with the measured input tokens per verdict it gives
``input_tokens_to_spearman_0_90`` per layout (tokens per verdict × verdicts needed).

The reliability a teacher reads must hold for the layout the run loop uses: every judge family
of ``huleedu bench engine`` (``FAMILIES``) runs to target 0.80 with shared bundles of 4 and with
separate pairs, and ``groups_false_stable_share_shared4`` (stable stops whose true r² is below
0.70), ``groups_reliability_abs_error_shared4`` and the comparisons per essay at the stop
(``groups_stop_comparisons_ratio_shared4_over_separate``) are reported, and the same for
bundles of 6 pairs over 4 essays (``shared6``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.bench.engine import (
    ABILITY_SD,
    FAMILIES,
    FAMILY_BUDGET_PER_ESSAY,
    REALISTIC,
    mean_crossing,
    run_curve,
)
from app.bench.listwise import ListwiseJudge
from core.comparisons import FloatArray
from core.engine import simulate_run
from core.simulate import JudgeProfile, SimulatedJudge, stable_seed, true_abilities
from core.stopping import StoppingRule

#: Seeds per layout and size (the curves are averaged over them).
GROUP_SEEDS = 40
#: Seeds per judge family, size and layout of the reliability-at-stop keys.
STOP_SEEDS = 10
#: The curves run to this many comparisons per essay.
HORIZON = 16.0
LAYOUTS: dict[str, tuple[int, bool]] = {
    "separate": (4, False),
    "shared4": (4, True),
    "shared6": (6, True),
}


def _judge(
    truth: FloatArray, profile: JudgeProfile, seed: int, tag: str, listwise: bool
) -> ListwiseJudge | SimulatedJudge:
    if listwise:
        return ListwiseJudge(truth, profile, seed=stable_seed(tag, seed))
    return SimulatedJudge(truth, profile, seed=stable_seed(tag, seed))


def _curve(
    n: int, seed: int, profile: JudgeProfile, bundle: int, shared: bool, listwise: bool = False
) -> list[tuple[float, float]]:
    truth = true_abilities(n, ABILITY_SD, seed)
    judge = _judge(truth, profile, seed, "judge", listwise)
    return run_curve(judge, truth, HORIZON, seed=seed, bundle_size=bundle, shared_bundles=shared)


def comparisons_to_target(
    n: int,
    seeds: int,
    bundle: int,
    shared: bool,
    profile: JudgeProfile = REALISTIC,
    listwise: bool = False,
) -> float:
    """Comparisons per essay where the mean Spearman curve over seeds crosses 0.90."""
    return mean_crossing(
        (_curve(n, seed, profile, bundle, shared, listwise) for seed in range(seeds)), HORIZON
    )


def _at_stop(
    n: int, seed: int, profile: JudgeProfile, shared: bool, listwise: bool = False, bundle: int = 4
) -> dict[str, float | str]:
    truth = true_abilities(n, ABILITY_SD, seed)
    judge = _judge(truth, profile, seed, "judge-rel", listwise)
    rule = StoppingRule(
        budget=int(FAMILY_BUDGET_PER_ESSAY * n / 2),
        target_reliability=0.80,
        min_comparisons_per_essay=5,
    )
    run = simulate_run(judge, n, rule, seed=seed, bundle_size=bundle, shared_bundles=shared)
    final = run.final
    assert final is not None and run.decision is not None
    r = float(np.corrcoef(final.fit.abilities, truth)[0, 1])
    return {
        "reported": final.reliability,
        "true": r * r,
        "per_essay": 2.0 * final.data.size / n,
        "reason": str(run.decision.reason),
    }


def stop_keys(seeds: int = STOP_SEEDS, sizes: tuple[int, ...] = (30, 100)) -> dict[str, Any]:
    """Honesty of the reliability at the stop: shared bundles of 4 and of 6 against separate
    pairs (bundles of 4)."""
    rows: dict[str, list[dict[str, float | str]]] = {"shared4": [], "shared6": [], "separate": []}
    per_family: dict[str, dict[str, float]] = {}
    for name, profile in FAMILIES.items():
        for n in sizes:
            for layout, shared, bundle in (
                ("shared4", True, 4),
                ("shared6", True, 6),
                ("separate", False, 4),
            ):
                cell = [_at_stop(n, s, profile, shared, bundle=bundle) for s in range(seeds)]
                rows[layout].extend(cell)
                per_family.setdefault(f"{name}_n{n}", {})[f"per_essay_{layout}"] = float(
                    np.mean([float(r["per_essay"]) for r in cell])
                )
    out: dict[str, Any] = {}
    for layout, cell in rows.items():
        stable = [r for r in cell if r["reason"] == "stable"]
        false = [r for r in stable if float(r["true"]) < 0.70]
        out[f"groups_false_stable_share_{layout}"] = len(false) / len(stable) if stable else 0.0
        out[f"groups_stable_stops_{layout}"] = len(stable)
        out[f"groups_reliability_abs_error_{layout}"] = float(
            np.mean([abs(float(r["reported"]) - float(r["true"])) for r in cell])
        )
        out[f"groups_reliability_bias_{layout}"] = float(
            np.mean([float(r["reported"]) - float(r["true"]) for r in cell])
        )
    stops = {
        layout: np.mean([float(r["per_essay"]) for r in cell]) for layout, cell in rows.items()
    }
    for layout in ("shared4", "shared6"):
        out[f"groups_stop_comparisons_ratio_{layout}_over_separate"] = float(
            stops[layout] / stops["separate"]
        )
    out["groups_stop_comparisons_per_essay"] = per_family
    out["groups_stop_seeds"] = seeds
    return out


#: The judge of the listwise comparison: REALISTIC's noise and lapses, no position bias (the
#: listwise judge models none), for both the listwise and the pairwise bundles of 6.
UNBIASED = JudgeProfile(noise_sd=1.0, lapse_rate=0.05)


def listwise_keys(seeds: int = GROUP_SEEDS, n: int = 30) -> dict[str, Any]:
    """Listwise rankings of 4 essays (6 implied pairs per call) against pairwise bundles of 6
    pairs over the same 4 essays: comparisons per essay to Spearman 0.90, and the reliability
    the engine reports at a stop (target 0.80) against the truth, for both."""
    pairwise = comparisons_to_target(n, seeds, 6, True, UNBIASED)
    ranked = comparisons_to_target(n, seeds, 6, True, UNBIASED, listwise=True)
    out: dict[str, Any] = {
        f"listwise_comparisons_ratio_over_pairwise6_n{n}": ranked / pairwise,
        "listwise_comparisons_per_essay_to_spearman_0_90": {
            "pairwise6": pairwise,
            "listwise4_essays": ranked,
        },
    }
    for name, listwise in (("pairwise6", False), ("listwise", True)):
        rows = [_at_stop(n, s, UNBIASED, True, listwise, bundle=6) for s in range(seeds)]
        out[f"listwise_reliability_bias_{name}"] = float(
            np.mean([float(r["reported"]) - float(r["true"]) for r in rows])
        )
    return out


def group_keys(
    seeds: int = GROUP_SEEDS, sizes: tuple[int, ...] = (30, 100), stop_seeds: int = STOP_SEEDS
) -> dict[str, Any]:
    """Comparisons per essay to Spearman 0.90 per layout and size, their ratios, and
    :func:`stop_keys` (skipped with ``stop_seeds=0``)."""
    out: dict[str, Any] = {}
    detail: dict[str, dict[str, float]] = {}
    for n in sizes:
        per = {
            name: comparisons_to_target(n, seeds, bundle, shared)
            for name, (bundle, shared) in LAYOUTS.items()
        }
        detail[f"n{n}"] = per
        for name in ("shared4", "shared6"):
            out[f"groups_comparisons_ratio_{name}_over_separate_n{n}"] = per[name] / per["separate"]
    out["groups_comparisons_per_essay_to_spearman_0_90"] = detail
    out["groups_seeds"] = seeds
    out.update(stop_keys(stop_seeds, sizes) if stop_seeds > 0 else {})
    out.update(listwise_keys(seeds) if stop_seeds > 0 else {})
    return out
