"""`huleedu grade`: grade a folder (or files) of essays headless, resumably.

A thin renderer over :mod:`app.operations.runs`: it parses options, calls the operations, draws
their progress and writes each run's results into a folder of its own (``--out/RUN_ID/``).

Exit codes: 0 the run completed (stable, precise, budget reached, no pairs left, forced recovery,
target out of reach: the judge cannot reach the target within the budget, and it says what it can)
or was cancelled (its results so far are written); 1 bad input (no essays, unreadable files, a
bad anchor grade, an unknown run, essays waiting for their student); 2 usage error (invalid
settings, a different judge on resume: nothing is stored); 3 the run failed (too few essays, too
many failed comparisons, stalled); 4 the judge refused the requests (key, model, request) or
the provider account cannot pay for more calls (out of credit, spend limit, billing off: the run
is paused at once, nothing is retried, and the message says where to top up; resume it after); 5 the
database cannot be used (locked, corrupt, newer than this app); 6 another process is driving the
run; 130 interrupted (Ctrl-C or SIGTERM: the run is paused and ``--resume RUN_ID`` continues it;
no results are written, none are overwritten).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from app.db.engine import Database, open_database
from app.db.migrate import DatabaseError
from app.intake.encodings import decode_text
from app.intake.outcomes import FileOutcome, Outcome
from app.llm.capabilities import CapabilitiesError, ModelCapabilities, parse_capabilities
from app.llm.catalogue import (
    USER_CATALOGUE_FILE,
    CatalogueError,
    default_catalogue,
    use_user_catalogue,
)
from app.llm.types import QuotaExhaustedError
from app.operations.base import (
    Cancelled,
    CancelToken,
    Completed,
    Failed,
    FailureKind,
    OperationError,
    Paused,
)
from app.operations.base import Progress as OpProgress
from app.operations.estimate import estimate_batch
from app.operations.export import export_results
from app.operations.judge import CAPABILITIES, STOPS, batch_mode_problem
from app.operations.queries import RunReport, run_report
from app.operations.runs import (
    DEFAULT_STALL_TIMEOUT_S,
    FolderRunRequest,
    cancel_run,
    check_settings,
    drive_run,
    find_interrupted,
    frozen_settings,
    judge_mismatch,
    prepare_batch_run,
    prepare_folder_run,
    settings_for,
)
from app.operations.school import find_batch
from app.runs.orchestrator import ProgressEvent
from app.runtime import tune_for_responsiveness
from core.prompt import DEFAULT_BUNDLE_PAIRS, AssignmentContext
from core.scales import BUILTIN_SCALES
from core.stopping import StopReason

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_FAILED, EXIT_JUDGE, EXIT_DATABASE = 0, 1, 2, 3, 4, 5
EXIT_BUSY = 6
EXIT_INTERRUPTED = 130

_EXIT_FOR = {
    FailureKind.INPUT: EXIT_INPUT,
    FailureKind.RUN_FAILED: EXIT_FAILED,
    FailureKind.JUDGE_REFUSED: EXIT_JUDGE,
    FailureKind.DATABASE: EXIT_DATABASE,
    FailureKind.BUSY: EXIT_BUSY,
    FailureKind.INTERNAL: EXIT_INPUT,
}

#: Options that are frozen with a run: given with --resume they must match it.
_FROZEN_OPTIONS = {
    "provider": "provider",
    "model": "model",
    "base_url": "base_url",
    "mode": "mode",
    "bundle_size": "bundle_size",
    "budget": "budget",
    "target_reliability": "target_reliability",
    "target_se": "target_rms_se",
    "min_per_essay": "min_comparisons_per_essay",
    "api_key_env": "api_key_env",
}
#: Options that may differ on each drive.
_OPERATIONAL_OPTIONS = {
    "concurrency": "concurrency",
    "poll_interval": "poll_interval_s",
    "sim_speed": "sim_speed",
}


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
        metavar="BATCH",
        help="grade a batch stored by `huleedu import essays` (its id or title; its students "
        "confirmed)",
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
    p.add_argument(
        "--target-reliability", type=float, help="stop once this reliability holds (0.85)"
    )
    p.add_argument(
        "--target-se",
        type=float,
        help="also stop once the root-mean-square standard error is this small (logits)",
    )
    p.add_argument("--min-per-essay", type=int, help="comparisons every essay gets first (5)")
    p.add_argument(
        "--provider",
        choices=["sim", "openai", "anthropic", "gemini", "openai_compatible"],
        help="who judges (default: the built-in simulated judge)",
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
        help="provider_batch: each wave is one OpenAI/Anthropic batch (half price, may take "
        "hours; resumable)",
    )
    p.add_argument(
        "--model-capabilities",
        metavar="CAPS",
        help="what the model accepts, overriding the model catalogue: JSON or key=value pairs "
        "(temperature, logprobs, reasoning, reasoning_effort, max_tokens_param), e.g. "
        "'temperature=no,max_tokens_param=max_completion_tokens'. A model the catalogue does "
        "not list gets no optional parameter; see `huleedu check-model`. Give it again with "
        "--resume",
    )
    p.add_argument("--poll-interval", type=float, help="seconds between batch status checks (60)")
    p.add_argument(
        "--bundle-size",
        type=int,
        help=f"pairs per call, 1-10 ({DEFAULT_BUNDLE_PAIRS}: every pair of 4 essays)",
    )
    p.add_argument("--concurrency", type=int, help="calls in flight (4)")
    p.add_argument(
        "--sim-speed",
        type=float,
        help="the simulated judge's latency is divided by this (25)",
    )
    p.add_argument("--data-dir", type=Path, help="where the database lives (or HULEEDU_DATA_DIR)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("huleedu-results"),
        help="results go to OUT/RUN_ID/ (results.csv, results.json, results.xlsx)",
    )
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run")
    p.add_argument(
        "--resume-interrupted",
        action="store_true",
        help="continue every run a crash or kill left running (nobody else driving it)",
    )
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=None,
        help="seconds without progress after which the run is recovered: completed as forced "
        "recovery with >= 80%% of the budget done, otherwise failed (default 4 h)",
    )
    p.add_argument(
        "--cancel", metavar="RUN_ID", help="cancel a run (results so far are kept and written)"
    )
    p.add_argument(
        "--keep-identity",
        action="store_true",
        default=None,
        help="show the judge the essays as stored; by default name lines, e-mail addresses and "
        "the student's full name and code are replaced before an essay is sent",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _read_text(path: Path) -> str:
    """A text option file (prompt, criteria, rubric) in any common encoding."""
    return decode_text(path.read_bytes())[0]


def _text_option(args: argparse.Namespace, name: str) -> str:
    path: Path | None = getattr(args, f"{name}_file")
    return _read_text(path) if path is not None else str(getattr(args, name))


def _new_run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of a new run from the options (defaults filled in by the operation)."""
    options: dict[str, Any] = {
        setting: getattr(args, option) for option, setting in _FROZEN_OPTIONS.items()
    }
    options.update(
        {setting: getattr(args, option) for option, setting in _OPERATIONAL_OPTIONS.items()}
    )
    options["provider"] = args.provider or "sim"
    if options["target_reliability"] is None:
        options["target_reliability"] = 0.85
    if args.keep_identity:
        options["redact_identity"] = False
    return options


def _given(args: argparse.Namespace, table: dict[str, str]) -> dict[str, Any]:
    return {
        setting: getattr(args, option)
        for option, setting in table.items()
        if getattr(args, option) is not None
    }


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    tune_for_responsiveness()
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    use_user_catalogue(db.path.parent / USER_CATALOGUE_FILE)
    try:
        default_catalogue()
        return _run(db, args, err)
    except CatalogueError as exc:
        err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    except DatabaseError as exc:  # locked, disk full, … outside a run: its cause, exit 5
        err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    finally:
        db.close()


def _run(db: Database, args: argparse.Namespace, err: Console) -> int:
    if args.cancel:
        cancelled = cancel_run(db, args.cancel)
        if isinstance(cancelled, Failed):
            return _failed(cancelled, err)
        return _finish(db, args.cancel, cancelled, args, err)
    if args.resume_interrupted:
        runs = find_interrupted(db)
        if not runs:
            err.print("No interrupted runs.")
            return EXIT_OK
        codes = []
        for run_id in runs:
            err.print(f"resuming run {run_id}")
            code = _drive(db, run_id, args, err, resume=True)
            codes.append(code)
            if code == EXIT_INTERRUPTED:
                break  # Ctrl-C pauses this run and leaves the others for later
        return max(codes)
    if args.resume:
        return _drive(db, args.resume, args, err, resume=True)
    options = _new_run_options(args)
    try:
        check_settings(**options)
    except OperationError as exc:
        err.print(f"[red]huleedu grade: {escape(exc.message)}[/red]")
        return EXIT_USAGE
    try:
        _capabilities(args, str(options["provider"]))  # checked before anything is stored
    except CapabilitiesError as exc:
        err.print(f"[red]huleedu grade: --model-capabilities: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    if options.get("mode") == "provider_batch":
        problem = batch_mode_problem(str(options["provider"]), settings_for(1, **options).model)
        if problem is not None:
            err.print(f"[red]huleedu grade: {escape(problem)}[/red]")
            return EXIT_USAGE
    try:
        if args.batch:
            if args.paths or args.anchors:
                raise OperationError(
                    FailureKind.INPUT,
                    "--batch grades a stored batch; give no files or --anchors with it",
                )
            prepared = prepare_batch_run(db, find_batch(db, args.batch).id, options)
        else:
            context = AssignmentContext(
                args.title,
                _text_option(args, "prompt"),
                _text_option(args, "criteria"),
                _text_option(args, "rubric"),
            )
            prepared = prepare_folder_run(
                db,
                FolderRunRequest(
                    list(args.paths),
                    title=args.title,
                    context=context,
                    scale=args.scale,
                    anchors=args.anchors,
                ),
                options,
            )
    except OSError as exc:
        err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
        return EXIT_INPUT
    except OperationError as exc:
        return _failed(exc.failed(), err)
    except DatabaseError as exc:
        err.print(f"[red]huleedu grade: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    _show_left_out(prepared.left_out, err)
    for name in prepared.addressed_to_grader:
        err.print(
            f"[yellow]{escape(name)}: text addressed to an AI grader; it is taken out of what "
            "the judge reads and its grade is marked for review (confidence at most "
            "medium).[/yellow]"
        )
    err.print(f"run {prepared.run_id} (database {db.path})")
    if not args.quiet:
        err.print(
            estimate_batch(db, prepared.batch_id, frozen_settings(db, prepared.run_id)).sentence()
        )
    return _drive(db, prepared.run_id, args, err, resume=False)


def _drive(
    db: Database, run_id: str, args: argparse.Namespace, err: Console, *, resume: bool
) -> int:
    judge = _given(args, _FROZEN_OPTIONS) if resume else None
    if resume and args.keep_identity:
        judge = {**(judge or {}), "redact_identity": False}
    if judge:
        try:
            wrong = judge_mismatch(frozen_settings(db, run_id), judge)
        except OperationError as exc:
            return _failed(exc.failed(), err)
        if wrong:
            err.print(
                f"[red]huleedu grade: run {run_id} keeps the settings it started with; asked "
                f"for {escape('; '.join(wrong))}. To grade with another judge or rule, start a "
                "new run (e.g. `huleedu grade --batch BATCH_ID ...`).[/red]"
            )
            return EXIT_USAGE
    try:
        capabilities = _capabilities(args, frozen_settings(db, run_id).provider)
    except CapabilitiesError as exc:
        err.print(f"[red]huleedu grade: --model-capabilities: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    except OperationError as exc:
        return _failed(exc.failed(), err)
    operational = _given(args, _OPERATIONAL_OPTIONS)
    stall = args.stall_timeout if args.stall_timeout is not None else DEFAULT_STALL_TIMEOUT_S
    stops: list[QuotaExhaustedError] = []
    outcome = asyncio.run(
        _drive_async(
            db, run_id, args, err, judge, operational, stall, stops=stops, caps=capabilities
        )
    )
    if stops and not isinstance(outcome, Completed):
        # Refused for want of credit: the run was paused at once; say what to do, in full.
        err.print(
            f"[red]huleedu grade: {escape(stops[0].advice)}[/red]\n"
            f"[yellow]Run {run_id} is paused; nothing judged is lost. Continue with "
            f"`huleedu grade --resume {run_id}`.[/yellow]"
        )
        return EXIT_JUDGE
    return _finish(db, run_id, outcome, args, err)


async def _drive_async(
    db: Database,
    run_id: str,
    args: argparse.Namespace,
    err: Console,
    judge: dict[str, Any] | None,
    operational: dict[str, Any],
    stall: float,
    *,
    stops: list[QuotaExhaustedError] | None = None,
    caps: ModelCapabilities | None = None,
) -> Completed[RunReport] | Paused | Cancelled | Failed:
    """Drive the run; quota stops are appended to ``stops``, and ``--model-capabilities``
    reaches the judge (both through :mod:`app.operations.judge`'s context variables)."""
    STOPS.set(stops)
    CAPABILITIES.set(caps)
    token = CancelToken()
    loop = asyncio.get_running_loop()

    def interrupt(name: str) -> None:
        # The first Ctrl-C (or SIGTERM) pauses the run cleanly; a second one is not caught.
        token.cancel(f"interrupted ({name})")
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    handled = threading.current_thread() is threading.main_thread()
    if handled:  # signals reach only the main thread
        for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
            loop.add_signal_handler(sig, interrupt, name)
    try:
        if args.quiet:
            return await drive_run(
                db,
                run_id,
                cancel=token,
                stall_timeout_s=stall,
                judge=judge,
                operational=operational,
            )
        with Progress(
            TextColumn("[bold]grading"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} comparisons"),
            TextColumn("{task.fields[extra]}"),
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("grade", total=None, extra="")

            def show(p: OpProgress) -> None:
                e = p.data
                if not isinstance(e, ProgressEvent):
                    return
                rel = f"reliability {e.reliability:.2f}" if math.isfinite(e.reliability) else ""
                waiting = "  waiting for the batch" if e.kind == "poll" else ""
                bar.update(
                    task,
                    completed=e.done,
                    total=e.budget,
                    extra=f"{rel}  ${e.cost_usd:.4f}{waiting}",
                )

            return await drive_run(
                db,
                run_id,
                progress=show,
                cancel=token,
                stall_timeout_s=stall,
                judge=judge,
                operational=operational,
            )
    finally:
        if handled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def _capabilities(args: argparse.Namespace, provider: str) -> ModelCapabilities | None:
    """``--model-capabilities`` read for ``provider`` (None when not given)."""
    text = getattr(args, "model_capabilities", None)
    if text is None:
        return None
    kind = "openai_compatible" if provider == "sim" else provider
    return parse_capabilities(text, kind)


def _finish(
    db: Database,
    run_id: str,
    outcome: Completed[RunReport] | Paused | Cancelled | Failed,
    args: argparse.Namespace,
    err: Console,
) -> int:
    """Say how the run ended, write its results (when it ended) and pick the exit code."""
    if isinstance(outcome, Paused):
        err.print(
            f"[yellow]{escape(outcome.message)} Continue with `{outcome.resume_hint}`.[/yellow]"
        )
        return EXIT_INTERRUPTED
    if isinstance(outcome, Failed) and outcome.kind is not FailureKind.RUN_FAILED:
        return _failed(outcome, err)
    report = run_report(db, run_id)
    if report.stop_reason == StopReason.INSUFFICIENT_ESSAYS.value:
        # nothing was compared: a results file would hold its header alone
        err.print(
            f"[red]huleedu grade: run {run_id} stopped: fewer than 2 essays to compare "
            "(comparative judgement needs at least 2; files left out are listed above). "
            "No results were written.[/red]"
        )
        return EXIT_FAILED
    folder: Path = args.out / run_id
    try:
        exported = export_results(db, run_id, folder, summary=report.summary())
    except OperationError as exc:
        return _failed(exc.failed(), err)
    rel = report.reliability
    err.print(
        f"{report.status}: {report.stop_reason} ({report.stop_text}), reliability "
        f"{'n/a' if rel is None else f'{rel:.2f}'}; results in {folder}/results.csv, .json, .xlsx"
    )
    outlook = (report.settings.get("extra") or {}).get("outlook")
    if report.stop_reason == StopReason.TARGET_UNREACHABLE.value and isinstance(outlook, dict):
        # the judge cannot reach the target within the budget: what it can reach, what it needs
        err.print(f"[yellow]{escape(str(outlook.get('message', '')))}[/yellow]")
    if exported.rows and exported.anchors.message:  # anchors disagree, or no grades without them
        err.print(f"[yellow]{escape(exported.anchors.message)}[/yellow]")
    if report.fit_converged is False:
        err.print(
            "[yellow]The last fit did not converge: treat abilities and grades with care.[/yellow]"
        )
    return EXIT_FAILED if isinstance(outcome, Failed) else EXIT_OK


def _failed(failed: Failed, err: Console) -> int:
    err.print(f"[red]huleedu grade: {escape(failed.message)}[/red]")
    return _EXIT_FOR[failed.kind]


def _show_left_out(outcomes: list[FileOutcome], err: Console) -> None:
    for o in outcomes:
        if not o.ok:
            colour = "red" if o.outcome is Outcome.FAILED else "yellow"
            err.print(f"[{colour}]{o.outcome.value}: {escape(o.message)}[/{colour}]")


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - convenience
    parser = argparse.ArgumentParser(prog="huleedu")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
