"""`huleedu grade`: grade a folder (or files) of essays headless, resumably.

Exit codes: 0 the run completed (stable, precise, budget reached or no pairs left); 1 bad input
(no essays, unreadable files, a bad anchor grade, an unknown run); 2 usage error; 3 the run
failed (too few essays, too many failed comparisons); 4 the judge refused the requests (key,
model or request rejected); 5 the database cannot be used (locked, corrupt, newer than this
app); 130 interrupted (Ctrl-C: the run is paused and ``--resume RUN_ID`` continues it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select

from app.db.engine import Database, open_database
from app.db.migrate import DatabaseError
from app.db.models import Essay, Result, Run, RunStatus, live
from app.intake.anchors import screen_anchor_files
from app.intake.encodings import decode_text
from app.intake.essays import screen_documents
from app.intake.matching_store import match_overview
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome
from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import Usage
from app.runs.batches import TextItem, create_batch
from app.runs.monitor import interrupted_runs, recover_stalled
from app.runs.orchestrator import (
    JudgeRefusedError,
    Orchestrator,
    ProgressEvent,
    RunSettings,
    cancel_run,
)
from app.secrets import find_api_key
from app.simserver import running_server
from core.injection import find_injection
from core.prompt import AssignmentContext
from core.scales import BUILTIN_SCALES, get_scale

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_FAILED, EXIT_JUDGE, EXIT_DATABASE = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "grade",
        help="grade a folder of essays headless (resumable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="essay files, folders or .zip archives (.txt, .md, .docx, .odt, .rtf, .pdf)",
    )
    p.add_argument(
        "--batch",
        metavar="BATCH_ID",
        help="grade a batch stored by `huleedu import essays` (its students confirmed)",
    )
    p.add_argument("--title", default="Batch", help="batch title")
    for name in ("prompt", "criteria", "rubric"):
        p.add_argument(f"--{name}", default="", help=f"assignment {name} text")
        p.add_argument(f"--{name}-file", type=Path, help=f"read the assignment {name} from a file")
    p.add_argument(
        "--anchors",
        type=Path,
        help="folder of anchor essays: anchors.csv (file,grade,label) or grades in the file "
        "names (e.g. 'grade_B_2.txt', 'C+ anchor 3.txt', 'anchor_Cplus.txt')",
    )
    p.add_argument("--scale", default="swedish_8_anchor", choices=sorted(BUILTIN_SCALES))
    p.add_argument("--budget", type=int, help="most comparisons (default 8 per essay)")
    p.add_argument("--target-reliability", type=float, default=0.85)
    p.add_argument("--min-per-essay", type=int, default=5)
    p.add_argument(
        "--provider",
        default="sim",
        choices=["sim", "openai", "anthropic", "gemini", "openai_compatible"],
    )
    p.add_argument("--model", help="model name (default for sim: sim-gpt51-low)")
    p.add_argument("--base-url", help="API base URL (required for openai_compatible)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable with the API key (default: the system keyring, service "
        "'huleedu', user = provider)",
    )
    p.add_argument(
        "--mode",
        choices=["per_request", "bundle", "provider_batch"],
        default="bundle",
        help="provider_batch: each wave is one OpenAI/Anthropic batch (half price, may take "
        "hours; resumable)",
    )
    p.add_argument(
        "--poll-interval", type=float, default=60.0, help="seconds between batch status checks"
    )
    p.add_argument("--bundle-size", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument(
        "--sim-speed",
        type=float,
        default=25.0,
        help="the simulated judge's latency is divided by this",
    )
    p.add_argument("--data-dir", type=Path, help="where the database lives (or HULEEDU_DATA_DIR)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("huleedu-results"),
        help="folder for results.csv, results.json and results.xlsx",
    )
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run")
    p.add_argument(
        "--resume-interrupted",
        action="store_true",
        help="continue every run a crash or kill left running",
    )
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=4 * 3600.0,
        help="seconds without progress after which the run is recovered: completed as forced "
        "recovery with >= 80%% of the budget done, otherwise failed (default 4 h)",
    )
    p.add_argument(
        "--cancel", metavar="RUN_ID", help="cancel a run (results so far are kept and written)"
    )
    p.add_argument(
        "--keep-identity",
        action="store_true",
        help="show the judge the essays as stored; by default name lines, e-mail addresses and "
        "the student's full name and code are replaced before an essay is sent",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _read_text(path: Path) -> str:
    """A text option file (prompt, criteria, rubric) in any common encoding."""
    return decode_text(path.read_bytes())[0]


def _essays(paths: list[Path], err: Console) -> list[TextItem]:
    """The essays to grade: every file read through intake; the others listed and left out."""
    screened = screen_documents(paths, IntakeLimits())
    _show_left_out([o for o, _ in screened], err)
    return [TextItem(d.source, d.text) for _, d in screened if d is not None]


def _anchors(folder: Path, scale_id: str, err: Console) -> list[TextItem]:
    """Anchors from a folder: ``anchors.csv`` (file,grade,label) or grades in the file names.

    Any anchor that cannot be used stops the run before it starts: grades rest on anchors.
    """
    mapping = folder / "anchors.csv"
    screened = screen_anchor_files(
        [folder], get_scale(scale_id), mapping if mapping.exists() else None
    )
    _show_left_out([a.outcome for a in screened], err)
    failed = [a.outcome for a in screened if a.outcome.outcome is Outcome.FAILED]
    if failed:
        raise ValueError(failed[0].message)
    return [
        TextItem(a.document.source, a.document.text, a.outcome.grade, a.label)
        for a in screened
        if a.document is not None
    ]


def _show_left_out(outcomes: list[FileOutcome], err: Console) -> None:
    for o in outcomes:
        if not o.ok:
            colour = "red" if o.outcome is Outcome.FAILED else "yellow"
            err.print(f"[{colour}]{o.outcome.value}: {escape(o.message)}[/{colour}]")


def _text_option(args: argparse.Namespace, name: str) -> str:
    path: Path | None = getattr(args, f"{name}_file")
    return _read_text(path) if path is not None else str(getattr(args, name))


@asynccontextmanager
async def _judge(args: argparse.Namespace) -> Any:
    if args.provider == "sim":
        async with running_server("gpt51-low", speed=args.sim_speed, seed=0) as url:
            yield ProviderConfig(
                kind="openai_compatible",
                model=args.model or "sim-gpt51-low",
                base_url=url + "/v1",
                api_key=SecretStr("sim"),
                max_connections=max(1, args.concurrency),
            )
        return
    if not args.model:
        raise ValueError(f"--model is required with --provider {args.provider}")
    key = find_api_key(args.provider, args.api_key_env)
    yield ProviderConfig(
        kind=args.provider,
        model=args.model,
        base_url=args.base_url,
        api_key=SecretStr(key),
        max_connections=max(1, args.concurrency),
    )


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    try:
        if args.cancel:
            status = cancel_run(db, args.cancel)
            if status is None:
                err.print(f"[red]huleedu grade: no run {args.cancel} in {db.path}[/red]")
                return EXIT_INPUT
            err.print(f"run {args.cancel}: {status}")
            return _report(db, args.cancel, status, args, err) if status else EXIT_INPUT
        if args.resume_interrupted:
            runs = interrupted_runs(db)
            if not runs:
                err.print("No interrupted runs.")
                return EXIT_OK
            codes = []
            for rid in runs:
                err.print(f"resuming run {rid}")
                status = asyncio.run(_drive(db, rid, args, err))
                codes.append(_report(db, rid, status, args, err))
            return max(codes)
        if args.resume:
            with db.session() as s:
                found = s.get(Run, args.resume)
                if found is None:
                    err.print(f"[red]huleedu grade: no run {args.resume} in {db.path}[/red]")
                    return EXIT_INPUT
            run_id = args.resume
        else:
            try:
                run_id = _new_run(db, args, err)
            except (OSError, ValueError, LookupError) as exc:
                err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
                return EXIT_INPUT
        err.print(f"run {run_id} (database {db.path})")
        try:
            status = asyncio.run(_drive(db, run_id, args, err))
        except KeyboardInterrupt:
            err.print(f"Interrupted: continue with `huleedu grade --resume {run_id}`.")
            return EXIT_INTERRUPTED
        except JudgeRefusedError as exc:
            err.print(
                f"[red]huleedu grade: {escape(str(exc))}. The run is paused; fix the judge "
                f"settings and continue with `huleedu grade --resume {run_id}`.[/red]"
            )
            return EXIT_JUDGE
        except ValueError as exc:
            err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
            return EXIT_USAGE
        return _report(db, run_id, status, args, err)
    finally:
        db.close()


def _existing_batch(db: Database, batch_id: str) -> int:
    """The number of essays (anchors included) of a stored batch that is ready to be graded."""
    overview = match_overview(db, batch_id)  # raises LookupError for an unknown batch
    if overview.waiting and not overview.guest:
        raise ValueError(
            f"{len(overview.waiting)} essays of batch {batch_id} wait for a person to confirm "
            f"their student: see `huleedu match {batch_id}`"
        )
    with db.session() as s:
        count = s.scalar(
            select(func.count()).select_from(Essay).where(live(Essay), Essay.batch_id == batch_id)
        )
    return int(count or 0)


def _new_run(db: Database, args: argparse.Namespace, err: Console) -> str:
    if args.batch:
        if args.paths or args.anchors:
            raise ValueError("--batch grades a stored batch; give no files or --anchors with it")
        batch_id = args.batch
        return _create_run(db, batch_id, _existing_batch(db, batch_id), args)
    essays = _essays(list(args.paths), err)
    if not essays:
        raise ValueError(
            "no essays found (give files or folders of .txt, .md, .docx, .odt, .rtf or .pdf)"
        )
    anchors = _anchors(args.anchors, args.scale, err) if args.anchors else []
    for item in [*essays, *anchors]:
        if find_injection(item.text):
            err.print(
                f"[yellow]{escape(item.name)}: text addressed to an AI grader; it is judged as "
                "writing, never obeyed — check its result.[/yellow]"
            )
    context = AssignmentContext(
        args.title,
        _text_option(args, "prompt"),
        _text_option(args, "criteria"),
        _text_option(args, "rubric"),
    )
    batch_id = create_batch(db, args.title, context, args.scale, essays, anchors)
    return _create_run(db, batch_id, len(essays) + len(anchors), args)


def _create_run(db: Database, batch_id: str, n: int, args: argparse.Namespace) -> str:
    settings = RunSettings(
        budget=args.budget or 8 * n,
        target_reliability=args.target_reliability,
        min_comparisons_per_essay=args.min_per_essay,
        provider=args.provider,
        model=args.model or ("sim-gpt51-low" if args.provider == "sim" else ""),
        mode=args.mode,
        bundle_size=args.bundle_size,
        redact_identity=not args.keep_identity,
        extra={"poll_interval_s": args.poll_interval},
    )
    return Orchestrator(db, None).create_run(batch_id, settings)  # type: ignore[arg-type]


async def _drive(db: Database, run_id: str, args: argparse.Namespace, err: Console) -> str:
    async with _judge(args) as config:
        provider = make_provider(config)
        catalogue = load_catalogue()

        def price(usage: Usage) -> float:
            return catalogue.cost_usd(config.model, usage) if catalogue.find(config.model) else 0.0

        dispatcher = Dispatcher(
            provider,
            DispatchSettings(
                mode="bundle" if args.mode == "provider_batch" else args.mode,
                bundle_size=args.bundle_size,
                concurrency=args.concurrency,
            ),
            cost=price,
        )
        try:
            orchestrator = Orchestrator(db, dispatcher)
            work = asyncio.create_task(_run_with_progress(orchestrator, run_id, args, err))
            watchdog = asyncio.create_task(_watch(db, run_id, args.stall_timeout, work))
            try:
                return await work
            except asyncio.CancelledError:
                with db.session() as s:
                    run = s.get(Run, run_id)
                    assert run is not None
                    err.print(
                        f"[yellow]No progress for {args.stall_timeout:.0f} s: "
                        f"run {run.status} ({run.stop_reason}).[/yellow]"
                    )
                    return run.status
            finally:
                watchdog.cancel()
        finally:
            await provider.aclose()


async def _run_with_progress(
    orchestrator: Orchestrator, run_id: str, args: argparse.Namespace, err: Console
) -> str:
    if args.quiet:
        return await orchestrator.run(run_id)
    with Progress(
        TextColumn("[bold]grading"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} comparisons"),
        TextColumn("{task.fields[extra]}"),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("grade", total=None, extra="")

        def show(e: ProgressEvent) -> None:
            rel = f"reliability {e.reliability:.2f}" if math.isfinite(e.reliability) else ""
            bar.update(task, completed=e.done, total=e.budget, extra=f"{rel}  ${e.cost_usd:.4f}")

        return await orchestrator.run(run_id, on_progress=show)


async def _watch(db: Database, run_id: str, timeout_s: float, work: asyncio.Task[str]) -> None:
    """The monitor during a run: recover it when it makes no progress for ``timeout_s``."""
    period = max(0.05, min(60.0, timeout_s / 4))
    while not work.done():
        await asyncio.sleep(period)
        if run_id in recover_stalled(db, timedelta(seconds=timeout_s)):
            work.cancel()
            return


def _report(db: Database, run_id: str, status: str, args: argparse.Namespace, err: Console) -> int:
    rows = results_rows(db, run_id)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        summary = {
            "run_id": run_id,
            "status": run.status,
            "stop_reason": run.stop_reason,
            "reliability": run.reliability,
            "model_reliability": run.model_reliability,
            "ssr": run.ssr,
            "position_bias": run.position_bias,
            "settings": run.settings,
            "completed_at": None if run.completed_at is None else run.completed_at.isoformat(),
        }
    write_results(out, summary, rows)
    rel = summary["reliability"]
    err.print(
        f"{status}: {summary['stop_reason']}, reliability "
        f"{'n/a' if rel is None else f'{rel:.2f}'}; results in {out}/results.csv, .json, .xlsx"
    )
    if status in (RunStatus.COMPLETE.value, RunStatus.CANCELLED.value):
        return EXIT_OK
    if status == RunStatus.PAUSED.value:
        return EXIT_INTERRUPTED
    return EXIT_FAILED


RESULT_COLUMNS = [
    "rank",
    "file",
    "student",
    "student_code",
    "is_anchor",
    "anchor_grade",
    "ability",
    "se",
    "grade",
    "grade_probability",
    "confidence",
    "comparisons",
    "infit",
    "outfit",
    "misfit",
]


def results_rows(db: Database, run_id: str) -> list[dict[str, Any]]:
    """One row per essay, best first (the documented CSV/JSON/XLSX schema)."""
    with db.session() as s:
        pairs = s.execute(
            select(Result, Essay)
            .join(Essay, Essay.id == Result.essay_id)
            .where(Result.run_id == run_id)
            .order_by(Result.rank)
        ).all()
        rows = []
        for r, e in pairs:
            probs = r.grade_probabilities or {}
            bare = (r.grade or "").rstrip("+-") if r.grade not in probs else r.grade
            rows.append(
                {
                    "rank": r.rank,
                    "file": e.source_file,
                    "student": e.student.full_name if e.student is not None else None,
                    "student_code": e.student.code if e.student is not None else None,
                    "is_anchor": e.is_anchor,
                    "anchor_grade": e.anchor.grade if e.anchor is not None else None,
                    "ability": round(r.ability, 4),
                    "se": None if r.se is None else round(r.se, 4),
                    "grade": r.grade,
                    "grade_probability": round(probs.get(bare or "", 0.0), 4) if probs else None,
                    "grade_probabilities": probs,
                    "confidence": r.confidence,
                    "comparisons": r.comparisons,
                    "infit": r.infit,
                    "outfit": r.outfit,
                    "misfit": r.misfit,
                }
            )
        return rows


def write_results(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    with (out / "results.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.json").write_text(
        json.dumps({"run": summary, "results": rows}, indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    from openpyxl import Workbook  # noqa: PLC0415

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Results"
    ws.append(RESULT_COLUMNS)
    for row in rows:
        ws.append([row.get(c) for c in RESULT_COLUMNS])
    wb.save(out / "results.xlsx")


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - convenience
    parser = argparse.ArgumentParser(prog="huleedu")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
