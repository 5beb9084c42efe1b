"""`huleedu demo`: grade the bundled demo batch with the simulated judge, headless.

The batch (essays, anchors with known grades, the assignment) lives in ``resources/demo``. It is
graded exactly as ``huleedu grade`` grades a folder: a run in a throw-away database, driven by
the orchestrator (:mod:`app.runs`). The judge is the project's simulated provider server
(``huleedu sim-server``), started in-process on 127.0.0.1: it reads the essays' text, errs like
an LLM, and answers over the OpenAI wire format, reached through the real provider client,
dispatcher, prompt rendering and strict verdict parsing. No account, key or network is needed.
Anchors are shown to it exactly like student essays.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from app.db.engine import open_database
from app.db.models import Comparison, Essay, Run
from app.intake.anchors import screen_anchor_files
from app.intake.essays import screen_documents
from app.intake.outcomes import IntakeLimits
from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.estimate import estimate_run
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import Usage
from app.paths import resources_dir
from app.runs.batches import TextItem, create_batch
from app.runs.monitor import refit_stored
from app.runs.orchestrator import JudgeRefusedError, Orchestrator, RunSettings
from app.simserver import running_server
from core.engine import SimulatedRun, default_wave_size
from core.grading import AnchorObservation, GradingResult, grade_essays
from core.injection import find_injection
from core.prompt import AssignmentContext
from core.reliability import misfit
from core.scales import get_scale
from core.stopping import StopDecision
from core.stopping import StopReason as EngineReason


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
    """Read a demo batch: ``assignment.json``, ``essays/`` and ``anchors/`` (with
    ``anchors.csv``), through the same intake as every import (any supported format)."""
    root = folder or resources_dir() / "demo"
    spec = json.loads((root / "assignment.json").read_text(encoding="utf-8"))
    context = AssignmentContext(
        title=spec["title"],
        student_prompt=spec["student_prompt"],
        assessment_criteria=spec["assessment_criteria"],
        judge_rubric=spec.get("judge_rubric", ""),
    )
    scale_id = spec.get("grade_scale", "swedish_8_anchor")
    items = [
        DemoItem(_stem(doc.source), doc.text)
        for _, doc in screen_documents([root / "essays"], IntakeLimits())
        if doc is not None
    ]
    mapping = root / "anchors" / "anchors.csv"
    for anchor in screen_anchor_files(
        [root / "anchors"], get_scale(scale_id), mapping if mapping.exists() else None
    ):
        if anchor.document is not None and anchor.outcome.grade is not None:
            items.append(
                DemoItem(
                    _stem(anchor.document.source),
                    anchor.document.text,
                    anchor.outcome.grade,
                    anchor.label,
                )
            )
    return DemoBatch(context, scale_id, items)


def _stem(source: str) -> str:
    return PurePosixPath(source).stem


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
#: The demo stops once its honest reliability reaches this after two waves in a row.
DEMO_TARGET_RELIABILITY = 0.85

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
        return await _grade_with(batch, seed, sim, settings)


async def _grade_with(
    batch: DemoBatch,
    seed: int,
    config: ProviderConfig,
    settings: DispatchSettings,
) -> DemoResult:
    """Grade the batch the way `huleedu grade` does (a run in a throw-away database, driven by
    the orchestrator) and read the outcome back for display."""
    scale = get_scale(batch.scale_id)
    catalogue = load_catalogue()
    provider = make_provider(config)

    def price(usage: Usage) -> float:
        return catalogue.cost_usd(config.model, usage) if catalogue.find(config.model) else 0.0

    with tempfile.TemporaryDirectory(prefix="huleedu-demo-") as tmp:
        db = open_database(path=Path(tmp) / "demo.sqlite3")
        try:
            batch_id = create_batch(
                db,
                batch.context.title,
                batch.context,
                batch.scale_id,
                [TextItem(i.name, i.text) for i in batch.items if i.grade is None],
                [TextItem(i.name, i.text, i.grade, i.label) for i in batch.items if i.grade],
            )
            orchestrator = Orchestrator(db, Dispatcher(provider, settings, cost=price))
            run_id = orchestrator.create_run(
                batch_id,
                RunSettings(
                    budget=DEMO_BUDGET_PER_ESSAY * len(batch.items),
                    target_reliability=DEMO_TARGET_RELIABILITY,
                    min_comparisons_per_essay=6,
                    provider=config.kind,
                    model=config.model,
                    mode=settings.mode,
                    bundle_size=settings.bundle_size,
                    seed=seed,
                ),
            )
            try:
                await orchestrator.run(run_id)
            except JudgeRefusedError as exc:
                raise JudgeUnavailableError(str(exc)) from exc
            final = refit_stored(db, run_id)
            with db.session() as s:
                run = s.get(Run, run_id)
                assert run is not None
                reason = run.stop_reason or "error"
                rows = s.execute(
                    select(Essay.source_file, Comparison.provider_request_id, Comparison.cost_usd)
                    .select_from(Essay)
                    .outerjoin(Comparison, Comparison.first_essay_id == Essay.id)
                    .where(Essay.batch_id == batch_id)
                ).all()
                order = list(
                    s.scalars(
                        select(Essay.source_file)
                        .where(Essay.batch_id == batch_id)
                        .order_by(Essay.created_at, Essay.id)
                    )
                )
        finally:
            db.close()
            await provider.aclose()
    if final is None:
        raise RuntimeError("the demo run produced no comparisons")
    # The run's essay order is the database's; show the batch in that order.
    by_name = {item.name: item for item in batch.items}
    batch = DemoBatch(batch.context, batch.scale_id, [by_name[str(name)] for name in order])
    fit = final.fit
    anchors = [
        AnchorObservation(float(fit.abilities[i]), float(fit.se[i]), item.grade or "", item.label)
        for i, item in enumerate(batch.items)
        if item.grade is not None
    ]
    grading = grade_essays(fit.abilities, fit.se, anchors, scale)
    engine_reason = _ENGINE_REASON.get(reason, EngineReason.TOO_MANY_FAILURES)
    decision = StopDecision(True, engine_reason, _stop_message(reason, final.reliability))
    flags = misfit(fit, final.data.hardened()).flagged.tolist()
    calls = len({r[1] for r in rows if r[1]})
    cost = float(sum(r[2] or 0.0 for r in rows))
    return DemoResult(
        batch,
        SimulatedRun(refits=[final], decision=decision),
        grading,
        [bool(f) for f in flags],
        calls,
        cost,
        tuple(bool(find_injection(item.text)) for item in batch.items),
        config.label if config.kind != "openai_compatible" else config.model,
    )


_ENGINE_REASON = {
    "stable": EngineReason.STABLE,
    "precise": EngineReason.PRECISE,
    "budget": EngineReason.BUDGET_REACHED,
    "no_pairs_left": EngineReason.NO_PAIRS_LEFT,
    "insufficient_essays": EngineReason.INSUFFICIENT_ESSAYS,
}


def _stop_message(reason: str, reliability: float) -> str:
    if reason == "stable":
        return (
            f"Reliability {reliability:.2f} reached the target {DEMO_TARGET_RELIABILITY:.2f} "
            "after two waves in a row."
        )
    if reason == "budget":
        return f"Budget reached (reliability {reliability:.2f})."
    return f"Stopped: {reason}."


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
    console.print(f"[bold]{escape(batch.context.title)}[/bold]")
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
            escape(row["essay"]),
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
