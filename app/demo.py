"""`huleedu demo`: grade the bundled demo batch with the simulated judge, headless.

The batch (essays, anchors with known grades, the assignment) lives in ``resources/demo``. The
judge is the project's simulated provider server (``huleedu sim-server``), started in-process
on 127.0.0.1: it reads the essays' text, errs like an LLM, and answers over the OpenAI wire
format, reached through the real provider client, dispatcher, prompt rendering and strict
verdict parsing. No account, key or network is needed. Anchors are shown to it exactly like
student essays.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.estimate import estimate_run
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import PairTask, Usage
from app.paths import resources_dir
from app.simserver import running_server
from core.engine import Refit, SimulatedRun, Verdict, default_wave_size, refit
from core.grading import AnchorObservation, GradingResult, grade_essays
from core.injection import find_injection
from core.prompt import AssignmentContext
from core.reliability import misfit
from core.scales import get_scale
from core.scheduler import SchedulerState, plan_wave
from core.stopping import RunProgress, StoppingRule, decide
from core.verdict import confidence_to_probability


@dataclass(frozen=True)
class DemoItem:
    """An essay or anchor of the demo batch. ``grade`` is set for anchors only."""

    name: str
    text: str
    grade: str | None = None
    label: str = ""


@dataclass(frozen=True)
class DemoBatch:
    context: AssignmentContext
    scale_id: str
    items: list[DemoItem]

    @property
    def anchors(self) -> list[int]:
        return [i for i, item in enumerate(self.items) if item.grade is not None]


def load_demo(folder: Path | None = None) -> DemoBatch:
    """Read the demo batch: assignment.json, essays/*.txt, anchors/anchors.csv + texts."""
    root = folder or resources_dir() / "demo"
    spec = json.loads((root / "assignment.json").read_text(encoding="utf-8"))
    context = AssignmentContext(
        title=spec["title"],
        student_prompt=spec["student_prompt"],
        assessment_criteria=spec["assessment_criteria"],
        judge_rubric=spec.get("judge_rubric", ""),
    )
    items = [
        DemoItem(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted((root / "essays").glob("*.txt"))
    ]
    with (root / "anchors" / "anchors.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = (root / "anchors" / row["file"]).read_text(encoding="utf-8")
            items.append(DemoItem(Path(row["file"]).stem, text, row["grade"], row["label"]))
    return DemoBatch(context, spec.get("grade_scale", "swedish_8_anchor"), items)


def _estimate_line(
    batch: DemoBatch, config: ProviderConfig | None, settings: DispatchSettings | None
) -> str:
    """The cost and time estimate shown before the run, for the whole budget."""
    catalogue = load_catalogue()
    model = "sim-gpt51-low" if config is None else config.model
    if catalogue.find(model) is None:
        return f"Estimate: {model} is not in the price catalogue; cost unknown."
    s = settings or DispatchSettings(mode="bundle", bundle_size=4)
    n = len(batch.items)
    budget = DEMO_BUDGET_PER_ESSAY * n
    est = estimate_run(
        catalogue,
        model,
        batch.context,
        [item.text for item in batch.items],
        budget,
        pairs_per_call=s.pairs_per_call,
        concurrency=min(s.concurrency, default_wave_size(n)),
        mean_latency_s=(1.6 / DEMO_SPEED) if config is None else 2.0,
    )
    return (
        f"Estimate before the run: at most {budget} comparisons in {est.calls} calls, "
        f"about ${est.cost_usd:.3f}"
        + (" at simulated prices" if config is None else "")
        + f" (catalogue of {catalogue.as_of}); the run stops earlier once reliable."
    )


class JudgeUnavailableError(RuntimeError):
    """The judge refused every request of a wave (bad key, wrong model, bad request)."""


#: The demo's budget: comparisons per essay at most (each comparison involves two essays).
DEMO_BUDGET_PER_ESSAY = 8

#: Simulated latency is divided by this, so the demo takes seconds, not minutes.
DEMO_SPEED = 25.0


@dataclass(frozen=True)
class DemoResult:
    batch: DemoBatch
    run: SimulatedRun
    grading: GradingResult
    misfit_flags: list[bool]
    calls: int = 0
    cost_usd: float = 0.0
    injection_flags: tuple[bool, ...] = ()
    judge: str = "sim-gpt51-low"


def grade_demo(
    batch: DemoBatch,
    seed: int = 1,
    config: ProviderConfig | None = None,
    settings: DispatchSettings | None = None,
) -> DemoResult:
    """Run the comparative-judgement loop over the demo batch and grade it from its anchors."""
    return asyncio.run(grade_demo_async(batch, seed, config, settings))


async def grade_demo_async(
    batch: DemoBatch,
    seed: int = 1,
    config: ProviderConfig | None = None,
    settings: DispatchSettings | None = None,
) -> DemoResult:
    """The demo run. Without ``config`` the judge is the simulated provider server, started on
    127.0.0.1 and reached through the real provider client and dispatcher (OpenAI wire format,
    bundles of 4, log-probability soft verdicts); with ``config`` it is that provider."""
    settings = settings or DispatchSettings(mode="bundle", bundle_size=4, seed=seed)
    if config is not None:
        return await _grade_with(batch, seed, config, settings)
    async with running_server("gpt51-low", speed=DEMO_SPEED, seed=seed) as url:
        sim = ProviderConfig(
            kind="openai_compatible",
            model="sim-gpt51-low",
            base_url=url + "/v1",
            api_key=SecretStr("sim"),
        )
        # The simulated judge is seeded; a nonce from the seed makes the whole demo repeatable.
        return await _grade_with(batch, seed, sim, settings, reproducible=True)


async def _grade_with(
    batch: DemoBatch,
    seed: int,
    config: ProviderConfig,
    settings: DispatchSettings,
    *,
    reproducible: bool = False,
) -> DemoResult:
    scale = get_scale(batch.scale_id)
    n = len(batch.items)
    texts = [item.text for item in batch.items]
    anchor_idx = batch.anchors

    def grades_for(refit: Refit) -> GradingResult:
        fit = refit.fit
        anchors = [
            AnchorObservation(
                float(fit.abilities[i]),
                float(fit.se[i]),
                batch.items[i].grade or "",
                batch.items[i].label,
            )
            for i in anchor_idx
        ]
        return grade_essays(fit.abilities, fit.se, anchors, scale)

    rule = StoppingRule(
        budget=DEMO_BUDGET_PER_ESSAY * n, target_reliability=0.85, min_comparisons_per_essay=6
    )
    catalogue = load_catalogue()
    calls = 0
    cost = 0.0
    run = SimulatedRun()
    shown: list[tuple[int, int]] = []
    failures = 0
    provider = make_provider(config)

    def price(usage: Usage) -> float:
        return catalogue.cost_usd(config.model, usage) if catalogue.find(config.model) else 0.0

    dispatcher = Dispatcher(provider, settings, cost=price)
    try:
        wave = 0
        while True:
            current = run.final
            counts = np.zeros(n, dtype=int)
            for v in run.verdicts:
                counts[v.first] += 1
                counts[v.second] += 1
            progress = RunProgress(
                n_essays=n,
                results=len(run.verdicts),
                failures=failures,
                min_comparisons=int(counts.min()),
                reliability=float("nan") if current is None else current.reliability,
                previous_reliability=(
                    run.refits[-2].reliability if len(run.refits) > 1 else float("nan")
                ),
            )
            decision = decide(rule, progress)
            if decision.stop:
                run.decision = decision
                break
            state = SchedulerState(
                n_items=n,
                shown=shown,
                abilities=None if current is None else current.fit.abilities,
                se=None if current is None else current.fit.se,
                boundary_uncertainty=(None if current is None else _boundary(grades_for(current))),
                soft_evidence=current is not None and current.soft_model == "logit",
                min_comparisons=rule.min_comparisons_per_essay,
            )
            size = min(default_wave_size(n), rule.budget - len(run.verdicts))
            planned = plan_wave(state, size, seed=seed, wave=wave)
            if not planned:
                run.decision = decide(rule, replace(progress, pairs_available=False))
                break
            tasks = [
                PairTask(f"w{wave}-{k}", texts[a], texts[b]) for k, (a, b) in enumerate(planned)
            ]
            summary = await dispatcher.run(batch.context, tasks)
            calls += summary.calls
            cost += summary.cost_usd
            by_id = {o.pair_id: o for o in summary.outcomes}
            for k, (a, b) in enumerate(planned):
                outcome = by_id[f"w{wave}-{k}"]
                if outcome.verdict is None:
                    failures += 1
                    continue
                shown.append((a, b))
                stated = outcome.probability_first
                if stated is None:
                    stated = confidence_to_probability(
                        outcome.verdict.first_wins, outcome.verdict.confidence
                    )
                run.verdicts.append(Verdict(a, b, outcome.verdict.first_wins, stated))
            run.refits.append(
                refit(
                    n,
                    run.verdicts,
                    use_confidence=True,
                    previous=None if current is None else current.fit,
                    seed=seed,
                )
            )
            wave += 1
    finally:
        await provider.aclose()
    final = run.final
    if final is None:
        raise RuntimeError("the demo run produced no comparisons")
    flags = misfit(final.fit, final.data).flagged.tolist()
    injected = tuple(bool(find_injection(t)) for t in texts)
    return DemoResult(
        batch,
        run,
        grades_for(final),
        [bool(f) for f in flags],
        calls,
        cost,
        injected,
        config.label if config.kind != "openai_compatible" else config.model,
    )


def _boundary(grading: GradingResult) -> np.ndarray:
    """1 − the largest grade probability of each essay: where grade boundaries are uncertain."""
    return np.array([1.0 - max(g.probabilities.values()) for g in grading.essays])


def _as_dict(result: DemoResult) -> dict[str, Any]:
    final = result.run.final
    assert final is not None and result.run.decision is not None
    fit = final.fit
    order = np.argsort(-fit.abilities)
    rows = []
    for rank, i in enumerate(order.tolist(), start=1):
        item = result.batch.items[i]
        g = result.grading.essays[i]
        rows.append(
            {
                "rank": rank,
                "essay": item.name,
                "anchor_grade": item.grade,
                "ability": round(float(fit.abilities[i]), 3),
                "se": round(float(fit.se[i]), 3),
                "grade": g.display_grade,
                "confidence": g.confidence,
                "probabilities": {k: round(v, 3) for k, v in g.probabilities.items()},
                "comparisons": int(fit.comparisons_per_item[i]),
                "misfit": result.misfit_flags[i],
                "injection": bool(result.injection_flags and result.injection_flags[i]),
            }
        )
    return {
        "essays": rows,
        "comparisons": final.data.size,
        "calls": result.calls,
        "cost_usd": round(result.cost_usd, 6),
        "stop_reason": str(result.run.decision.reason),
        "stop_message": result.run.decision.message,
        "reliability": round(final.reliability, 3),
        "model_reliability": round(final.model_reliability, 3),
        "ssr": round(final.ssr, 3),
        "split_half_correlation": round(final.split_half.half_correlation, 3),
        "position_bias": round(fit.position_bias, 3),
        "confidence_weight": None if final.calibration is None else final.calibration.weight,
        "anchor_inversions": result.grading.anchor_inversions,
        "anchor_kendall_tau": round(result.grading.anchor_kendall_tau, 3),
    }


def _print(result: DemoResult, console: Console) -> None:
    summary = _as_dict(result)
    batch = result.batch
    console.print(f"[bold]{batch.context.title}[/bold]")
    console.print(
        f"{len(batch.items) - len(batch.anchors)} essays and {len(batch.anchors)} anchors; "
        f"judged by {result.judge} in {summary['comparisons']} comparisons, "
        f"{result.calls} calls, ${result.cost_usd:.4f}"
        + (" at simulated prices." if result.judge.startswith("sim-") else ".")
    )
    table = Table(title="Ranking and proposed grades", show_lines=False)
    for col, justify in [
        ("#", "right"),
        ("Essay", "left"),
        ("θ", "right"),
        ("SE", "right"),
        ("Grade", "center"),
        ("P", "right"),
        ("Confidence", "left"),
        ("Also likely", "left"),
        ("Anchor", "center"),
        ("Note", "left"),
    ]:
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in summary["essays"]:
        probs = row["probabilities"]
        grade = result.grading.essays[
            batch.items.index(next(it for it in batch.items if it.name == row["essay"]))
        ].grade
        others = sorted(
            ((k, v) for k, v in probs.items() if k != grade and v >= 0.10), key=lambda t: -t[1]
        )
        table.add_row(
            str(row["rank"]),
            row["essay"],
            f"{row['ability']:+.2f}",
            f"{row['se']:.2f}",
            row["grade"],
            f"{probs[grade]:.2f}",
            row["confidence"],
            " ".join(f"{k} {v:.2f}" for k, v in others[:2]),
            row["anchor_grade"] or "",
            "; ".join(
                note
                for note, on in (
                    ("judged inconsistently", row["misfit"]),
                    ("addressed to an AI grader", row["injection"]),
                )
                if on
            ),
        )
    console.print(table)
    console.print(
        f"Reliability (honest): {summary['reliability']:.2f}   model: "
        f"{summary['model_reliability']:.2f}   SSR: {summary['ssr']:.2f}   "
        f"split-half r: {summary['split_half_correlation']:.2f}"
    )
    console.print(
        f"Stopped: {summary['stop_reason']} — {summary['stop_message']}   "
        f"Position bias: {summary['position_bias']:+.2f} logits"
    )
    console.print(
        f"Anchors: {summary['anchor_inversions']} inversion(s), Kendall τ "
        f"{summary['anchor_kendall_tau']:.2f}"
    )
    for a in result.grading.anchors:
        if a.misplaced:
            console.print(
                f"  anchor {a.label or '?'} (known {a.known_grade}) fits as {a.fitted_grade}"
            )
    flagged = [it.name for it, on in zip(batch.items, result.injection_flags, strict=True) if on]
    if flagged:
        console.print(
            f"[red]Check by hand: text addressed to an AI grader in {', '.join(flagged)}.[/red]"
        )


def run_demo(
    seed: int = 1,
    demo_dir: Path | None = None,
    as_json: bool = False,
    config: ProviderConfig | None = None,
    settings: DispatchSettings | None = None,
) -> int:
    try:
        batch = load_demo(demo_dir)
    except (OSError, KeyError, ValueError) as exc:
        sys.stderr.write(f"huleedu demo: cannot read the demo batch: {exc}\n")
        return 1
    flagged = [item.name for item in batch.items if find_injection(item.text)]
    if flagged and not as_json:
        Console(stderr=True).print(
            f"[red]Before the run: text addressed to an AI grader in {', '.join(flagged)}; "
            "it is judged as writing, never obeyed.[/red]"
        )
    if not as_json:
        Console(stderr=True).print(_estimate_line(batch, config, settings))
    try:
        result = grade_demo(batch, seed, config, settings)
    except JudgeUnavailableError as exc:
        sys.stderr.write(f"huleedu demo: {exc}\n")
        return 1
    if as_json:
        sys.stdout.write(json.dumps(_as_dict(result), indent=2, ensure_ascii=False) + "\n")
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)
        _print(result, console)
    return 0
