"""`huleedu demo`: grade the bundled demo batch with the simulated judge, headless.

The batch (essays, anchors with known grades, the assignment) lives in ``resources/demo``. The
judge is simulated: it perceives each essay's quality from its text (:mod:`core.textquality`),
errs like an LLM (noise, position bias, lapses), and answers in the same JSON an LLM would,
which goes through the real prompt rendering and strict verdict parsing. Anchors are shown to
it exactly like student essays.
"""

from __future__ import annotations

import csv
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from app.paths import resources_dir
from core.engine import Refit, SimulatedRun, simulate_run
from core.grading import AnchorObservation, GradingResult, grade_essays
from core.injection import find_injection
from core.prompt import AssignmentContext, render_pair_prompt, safe_nonce
from core.reliability import misfit
from core.scales import get_scale
from core.simulate import JudgeProfile, SimulatedJudge, stable_seed
from core.stopping import StoppingRule
from core.textquality import text_quality
from core.verdict import confidence_to_probability, parse_pair_verdict


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


@dataclass(frozen=True)
class _Answer:
    first_wins: bool
    probability_first: float


class TextJudge:
    """A simulated LLM judge that reads the essays' text and answers in JSON.

    Each call renders the real pair prompt (neutral labels, fenced essays), draws the simulated
    verdict, writes it as the JSON reply an LLM would give, and parses that reply strictly.
    """

    def __init__(self, batch: DemoBatch, seed: int) -> None:
        quality = np.array([text_quality(item.text) for item in batch.items])
        spread = float(quality.std()) or 1.0
        abilities = 1.5 * (quality - quality.mean()) / spread
        profile = JudgeProfile(noise_sd=0.8, position_bias=0.2, lapse_rate=0.03)
        self._sim = SimulatedJudge(abilities, profile, seed=stable_seed("demo", seed))
        self._batch = batch
        self._nonce = safe_nonce([i.text for i in batch.items], secrets.token_bytes(16))
        self.calls = 0

    def judge(self, first: int, second: int, place_in_bundle: int = 0) -> _Answer:
        items = self._batch.items
        render_pair_prompt(self._batch.context, items[first].text, items[second].text, self._nonce)
        sim = self._sim.judge(first, second, place_in_bundle)
        reply = json.dumps(
            {
                "winner": "A" if sim.first_wins else "B",
                "justification": "Clearer argument and more accurate language.",
                "confidence": sim.confidence,
            }
        )
        verdict = parse_pair_verdict(reply)
        self.calls += 1
        return _Answer(
            verdict.first_wins, confidence_to_probability(verdict.first_wins, verdict.confidence)
        )


@dataclass(frozen=True)
class DemoResult:
    batch: DemoBatch
    run: SimulatedRun
    grading: GradingResult
    misfit_flags: list[bool]


def grade_demo(batch: DemoBatch, seed: int = 1) -> DemoResult:
    """Run the comparative-judgement loop over the demo batch and grade it from its anchors."""
    scale = get_scale(batch.scale_id)
    judge = TextJudge(batch, seed)
    n = len(batch.items)
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

    def boundary(refit: Refit) -> np.ndarray:
        result = grades_for(refit)
        return np.array([1.0 - max(g.probabilities.values()) for g in result.essays])

    rule = StoppingRule(budget=8 * n, target_reliability=0.85, min_comparisons_per_essay=6)
    run = simulate_run(
        judge, n, rule, seed=seed, use_confidence=True, boundary_uncertainty=boundary
    )
    final = run.final
    if final is None:
        raise RuntimeError("the demo run produced no comparisons")
    flags = misfit(final.fit, final.data).flagged.tolist()
    return DemoResult(batch, run, grades_for(final), [bool(f) for f in flags])


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
            }
        )
    return {
        "essays": rows,
        "comparisons": final.data.size,
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
        f"{len(batch.items) - len(batch.anchors)} essays and {len(batch.anchors)} anchors, "
        f"simulated judge, {summary['comparisons']} comparisons."
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
            "judged inconsistently" if row["misfit"] else "",
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
    flagged = [it.name for it in batch.items if find_injection(it.text)]
    if flagged:
        console.print(f"[red]Text addressed to an AI grader found in: {', '.join(flagged)}[/red]")


def run_demo(seed: int = 1, demo_dir: Path | None = None, as_json: bool = False) -> int:
    try:
        batch = load_demo(demo_dir)
    except (OSError, KeyError, ValueError) as exc:
        sys.stderr.write(f"huleedu demo: cannot read the demo batch: {exc}\n")
        return 1
    result = grade_demo(batch, seed)
    if as_json:
        sys.stdout.write(json.dumps(_as_dict(result), indent=2, ensure_ascii=False) + "\n")
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)
        _print(result, console)
    return 0
