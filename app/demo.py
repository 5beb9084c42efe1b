"""`huleedu demo`: grade the bundled demo batch with the simulated judge, headless.

The batch (essays, anchors with known grades, the assignment) lives in ``resources/demo``. It is
graded exactly as ``huleedu grade`` grades a folder, through the same operations
(:mod:`app.operations.runs`): a run in a throw-away database, and the ranking, grades and
figures shown are the run's stored results, read back as any screen reads them. The judge is the
project's simulated provider server (``huleedu sim-server``), started on 127.0.0.1: it reads the
essays' text, errs like an LLM, and answers over the OpenAI wire format, reached through the real
provider client, dispatcher, prompt rendering and strict verdict parsing. No account, key or
network is needed. Anchors are shown to it exactly like student essays.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.db.engine import open_database
from app.intake.anchors import screen_anchor_files
from app.intake.essays import screen_documents
from app.intake.outcomes import IntakeLimits
from app.llm.types import QuotaExhaustedError
from app.operations.base import Completed, OperationError
from app.operations.estimate import estimate_texts
from app.operations.export import ResultRow, result_rows
from app.operations.judge import STOPS, batch_mode_problem
from app.operations.queries import RunReport
from app.operations.runs import (
    FolderRunRequest,
    drive_run,
    prepare_folder_run,
    settings_for,
)
from app.paths import resources_dir
from app.runs.settings import RunSettings
from app.runtime import tune_for_responsiveness
from core.grading import anchor_order
from core.injection import find_injection
from core.prompt import AssignmentContext
from core.scales import get_scale


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
    context = _context(spec)
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


def _context(spec: dict[str, Any]) -> AssignmentContext:
    return AssignmentContext(
        title=spec["title"],
        student_prompt=spec["student_prompt"],
        assessment_criteria=spec["assessment_criteria"],
        judge_rubric=spec.get("judge_rubric", ""),
    )


def _stem(source: str) -> str:
    return PurePosixPath(source).stem


#: The demo's budget: comparisons per essay at most (each comparison involves two essays).
DEMO_BUDGET_PER_ESSAY = 8
#: The demo stops once its honest reliability reaches this after two waves in a row.
DEMO_TARGET_RELIABILITY = 0.85

#: Simulated latency is divided by this, so the demo takes seconds, not minutes.
DEMO_SPEED = 25.0


class DemoError(RuntimeError):
    """The demo could not grade (the judge refused, the batch could not be read, …)."""


class DemoQuotaError(DemoError):
    """The provider account cannot pay for more calls; the message says what to do."""


def demo_settings(n_items: int, seed: int = 1, **judge: Any) -> RunSettings:
    """The demo run's settings: 8 comparisons per essay at most, stop at 0.85, every essay
    compared at least 6 times; ``judge`` options (provider, model, base_url, …) as for grade."""
    options: dict[str, Any] = {
        "budget": DEMO_BUDGET_PER_ESSAY * n_items,
        "target_reliability": DEMO_TARGET_RELIABILITY,
        "min_comparisons_per_essay": 6,
        "sim_speed": DEMO_SPEED,
        "seed": seed,
        **judge,
    }
    return settings_for(n_items, **options)


@dataclass(frozen=True)
class DemoResult:
    """The demo run as stored: its report and one result row per essay, best first."""

    batch: DemoBatch
    report: RunReport
    rows: list[ResultRow]
    anchor_inversions: int
    anchor_kendall_tau: float
    judge: str

    def grade_of(self, name: str) -> str | None:
        return next((r.grade for r in self.rows if _stem(r.file or "") == name), None)


def grade_demo(
    folder: Path | None = None, seed: int = 1, judge: dict[str, Any] | None = None
) -> DemoResult:
    """Grade the demo batch (see the module docstring); raises :class:`DemoError`."""
    return asyncio.run(grade_demo_async(folder, seed, judge))


async def grade_demo_async(
    folder: Path | None = None, seed: int = 1, judge: dict[str, Any] | None = None
) -> DemoResult:
    root = folder or resources_dir() / "demo"
    batch = load_demo(root)
    settings = demo_settings(len(batch.items), seed, **(judge or {}))
    request = FolderRunRequest(
        [root / "essays"],
        title=batch.context.title,
        context=batch.context,
        scale=batch.scale_id,
        anchors=root / "anchors",
    )
    with tempfile.TemporaryDirectory(prefix="huleedu-demo-") as tmp:
        db = open_database(path=Path(tmp) / "demo.sqlite3")
        try:
            loop = asyncio.get_running_loop()
            try:
                prepared = await loop.run_in_executor(
                    None, prepare_folder_run, db, request, settings.to_json()
                )
            except OperationError as exc:
                raise DemoError(exc.message) from exc
            stops: list[QuotaExhaustedError] = []
            STOPS.set(stops)
            outcome = await drive_run(db, prepared.run_id)
            if stops:
                raise DemoQuotaError(
                    f"{stops[0].advice.split(', then resume')[0]}; then run the demo again."
                )
            if not isinstance(outcome, Completed):
                message = getattr(outcome, "message", "the run did not complete")
                raise DemoError(message)
            rows = await loop.run_in_executor(None, result_rows, db, prepared.run_id)
        finally:
            db.close()
    scale = get_scale(batch.scale_id)
    anchors = [r for r in rows if r.is_anchor and r.anchor_grade]
    inversions, tau = anchor_order(
        [r.ability for r in anchors], [scale.index(r.anchor_grade or "") for r in anchors]
    )
    label = (
        settings.model
        if settings.provider in ("sim", "openai_compatible")
        else (f"{settings.provider}:{settings.model}")
    )
    return DemoResult(batch, outcome.value, rows, inversions, tau, label)


def _as_dict(result: DemoResult) -> dict[str, Any]:
    report = result.report
    flagged = {item.name for item in result.batch.items if find_injection(item.text)}
    essays = [
        {
            "rank": r.rank,
            "essay": _stem(r.file or ""),
            "anchor_grade": r.anchor_grade,
            "ability": round(r.ability, 3),
            "se": None if r.se is None else round(r.se, 3),
            "grade": r.grade,
            "confidence": r.confidence,
            "probabilities": {k: round(v, 3) for k, v in (r.grade_probabilities or {}).items()},
            "comparisons": r.comparisons,
            "misfit": bool(r.misfit),
            "injection": _stem(r.file or "") in flagged,
        }
        for r in result.rows
    ]
    return {
        "essays": essays,
        "comparisons": report.comparisons_done,
        "calls": report.calls,
        "cost_usd": round(report.cost_usd, 6),
        "stop_reason": report.stop_reason,
        "stop_message": report.stop_text,
        "reliability": _round(report.reliability),
        "model_reliability": _round(report.model_reliability),
        "ssr": _round(report.ssr),
        "position_bias": _round(report.position_bias),
        "fit_converged": report.fit_converged,
        "anchor_inversions": result.anchor_inversions,
        "anchor_kendall_tau": round(result.anchor_kendall_tau, 3),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _print(result: DemoResult, console: Console) -> None:
    summary = _as_dict(result)
    batch = result.batch
    report = result.report
    console.print(f"[bold]{escape(batch.context.title)}[/bold]")
    console.print(
        f"{len(batch.items) - len(batch.anchors)} essays and {len(batch.anchors)} anchors; "
        f"judged by {escape(result.judge)} in {report.comparisons_done} comparisons, "
        f"{report.calls} calls, ${report.cost_usd:.4f}"
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
    for row, stored in zip(summary["essays"], result.rows, strict=True):
        probs = row["probabilities"]
        bare = stored.grade if stored.grade in probs else (stored.grade or "").rstrip("+-")
        others = sorted(
            ((k, v) for k, v in probs.items() if k != bare and v >= 0.10), key=lambda t: -t[1]
        )
        table.add_row(
            str(row["rank"]),
            escape(row["essay"]),
            f"{row['ability']:+.2f}",
            "" if row["se"] is None else f"{row['se']:.2f}",
            row["grade"] or "",
            f"{probs.get(bare, 0.0):.2f}" if probs else "",
            row["confidence"] or "",
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
        f"Reliability (honest): {_fmt(summary['reliability'])}   model: "
        f"{_fmt(summary['model_reliability'])}   SSR: {_fmt(summary['ssr'])}"
    )
    console.print(
        f"Stopped: {summary['stop_reason']} — {summary['stop_message']}   "
        f"Position bias: {_fmt(summary['position_bias'], '+.2f')} logits"
    )
    console.print(
        f"Anchors: {summary['anchor_inversions']} inversion(s), Kendall τ "
        f"{summary['anchor_kendall_tau']:.2f}"
    )
    for stored in result.rows:
        if stored.is_anchor and stored.anchor_grade and stored.grade:
            fitted = (
                stored.grade
                if stored.grade in (stored.grade_probabilities or {})
                else (stored.grade.rstrip("+-"))
            )
            if fitted != stored.anchor_grade:
                console.print(
                    f"  anchor {escape(_stem(stored.file or ''))} (known {stored.anchor_grade}) "
                    f"fits as {fitted}"
                )
    if report.fit_converged is False:
        console.print("[yellow]The last fit did not converge: read the scale with care.[/yellow]")
    flagged = [row["essay"] for row in summary["essays"] if row["injection"]]
    if flagged:
        console.print(
            f"[red]Check by hand: text addressed to an AI grader in "
            f"{escape(', '.join(flagged))}.[/red]"
        )


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def run_demo(
    seed: int = 1,
    demo_dir: Path | None = None,
    as_json: bool = False,
    judge: dict[str, Any] | None = None,
) -> int:
    """`huleedu demo`: 0 when graded; 1 when the batch cannot be read or the judge refused;
    2 for invalid judge options; 4 when the provider account cannot pay for more calls (the
    demo stops at once, nothing is retried)."""
    try:
        batch = load_demo(demo_dir)
    except (OSError, KeyError, ValueError) as exc:
        sys.stderr.write(f"huleedu demo: cannot read the demo batch: {exc}\n")
        return 1
    try:
        settings = demo_settings(len(batch.items), seed, **(judge or {}))
    except OperationError as exc:
        sys.stderr.write(f"huleedu demo: {exc.message}\n")
        return 2
    if settings.mode == "provider_batch":
        problem = batch_mode_problem(settings.provider, settings.model)
        if problem is not None:
            sys.stderr.write(f"huleedu demo: {problem}\n")
            return 2
    flagged = [item.name for item in batch.items if find_injection(item.text)]
    if flagged and not as_json:
        Console(stderr=True).print(
            f"[red]Before the run: text addressed to an AI grader in "
            f"{escape(', '.join(flagged))}; it is taken out of what the judge reads and the grade "
            "is marked for review.[/red]"
        )
    if not as_json:
        estimate = estimate_texts(settings, batch.context, [item.text for item in batch.items])
        Console(stderr=True).print(estimate.sentence())
    tune_for_responsiveness()
    try:
        result = grade_demo(demo_dir, seed, judge)
    except DemoQuotaError as exc:
        sys.stderr.write(f"huleedu demo: {exc}\n")
        return 4
    except DemoError as exc:
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
