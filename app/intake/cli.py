"""`huleedu import` and `huleedu match`: intake and student matching, headless.

Exit codes: 0 every file or row was imported or skipped; 1 some failed (the good ones were
imported; the table says why each failed); 2 usage error or nothing could be imported (unknown
batch, class or assignment; a file that is not a roster); 5 the database cannot be used;
130 interrupted (Ctrl-C: the files done so far are kept and listed; import the same files again
to add the rest).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rich import progress as bars
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.db.engine import Database, open_database
from app.db.migrate import DatabaseError
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome
from app.operations.base import CancelToken, FailureKind, OperationError, Progress, ProgressSink
from app.operations.intake import (
    AnchorImportResult,
    Counts,
    EssayImportResult,
    MatchDecision,
    RosterImportResult,
    check_essays,
    confirm_match,
    import_anchors,
    import_essays,
    import_roster,
    match_overview,
)
from app.operations.school import (
    NewAssignment,
    NewBatch,
    NewClass,
    find_assignment,
    find_batch,
)
from core.scales import BUILTIN_SCALES

_SCALE_HELP = "grade scale of a new assignment (default swedish_8_anchor): " + "; ".join(
    f"{scale_id} = {scale.name}" for scale_id, scale in sorted(BUILTIN_SCALES.items())
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 5
EXIT_INTERRUPTED = 130
_EXIT_FOR = {FailureKind.INPUT: EXIT_USAGE, FailureKind.DATABASE: EXIT_DATABASE}
_STYLE = {Outcome.IMPORTED: "green", Outcome.SKIPPED: "yellow", Outcome.FAILED: "red"}


def add_parsers(sub: Any) -> None:
    """Add ``import`` (with essays/roster/anchors) and ``match`` to the command line."""
    imp = sub.add_parser(
        "import",
        help="import essays, a class roster or anchor essays (an outcome per file or row)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = imp.add_subparsers(dest="what", metavar="WHAT", required=True)

    essays = what.add_parser(
        "essays",
        help="essay files, folders or .zip archives into a batch (without a batch: check only)",
    )
    essays.add_argument("paths", nargs="+", type=Path)
    target = essays.add_mutually_exclusive_group()
    target.add_argument("--batch", help="id or title of the batch to add the essays to")
    target.add_argument("--new-batch", metavar="TITLE", help="create a batch with this title")
    essays.add_argument(
        "--class", dest="class_id", help="class id or name (new batch; omit: guest)"
    )
    essays.add_argument("--assignment", help="assignment id or title (new batch)")
    essays.add_argument("--assignment-title", help="create an assignment with this title")
    essays.add_argument(
        "--scale", default="swedish_8_anchor", choices=sorted(BUILTIN_SCALES), help=_SCALE_HELP
    )
    _limit_options(essays)
    _common(essays)

    roster = what.add_parser("roster", help="a class list (CSV or XLSX) into a class")
    roster.add_argument("file", type=Path)
    roster.add_argument("--class", dest="class_id", help="class id or name")
    roster.add_argument("--new-class", metavar="NAME", help="create a class with this name")
    roster.add_argument("--course", default="ENG5", help="course code of a new class")
    roster.add_argument("--year", default="", help="school year of a new class, e.g. 2026/27")
    _common(roster)

    anchors = what.add_parser("anchors", help="anchor essays with known grades")
    anchors.add_argument("paths", nargs="+", type=Path)
    anchors.add_argument("--assignment", help="assignment id or title")
    anchors.add_argument("--assignment-title", help="create an assignment with this title")
    anchors.add_argument(
        "--scale", default="swedish_8_anchor", choices=sorted(BUILTIN_SCALES), help=_SCALE_HELP
    )
    anchors.add_argument("--grades", type=Path, help="CSV mapping file,grade[,label]")
    _limit_options(anchors)
    _common(anchors)

    match = sub.add_parser(
        "match", help="show and settle which student wrote which essay of a class batch"
    )
    match.add_argument("batch", help="batch id or title")
    match.add_argument(
        "--confirm",
        action="append",
        default=[],
        metavar="ESSAY=STUDENT",
        help="settle an essay on a student (ids; STUDENT 'none' for no roster student)",
    )
    match.add_argument("--unassign", action="append", default=[], metavar="ESSAY")
    match.add_argument(
        "--accept-top",
        action="store_true",
        help="settle every waiting essay on its best suggestion when that student is free",
    )
    _common(match)


def _limit_options(p: argparse.ArgumentParser) -> None:
    d = IntakeLimits()
    p.add_argument("--min-chars", type=int, default=d.min_chars, help="shortest text accepted")
    p.add_argument("--max-chars", type=int, default=d.max_chars, help="longest text accepted")
    p.add_argument(
        "--max-file-mb", type=float, default=d.max_file_bytes / 2**20, help="largest file (MiB)"
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--data-dir", type=Path, help="where the database lives (or HULEEDU_DATA_DIR)")


def _limits(args: argparse.Namespace) -> IntakeLimits:
    return IntakeLimits(
        min_chars=args.min_chars,
        max_chars=args.max_chars,
        max_file_bytes=int(args.max_file_mb * 2**20),
    )


# ---------------------------------------------------------------------------------- rendering


def outcome_table(outcomes: Sequence[FileOutcome], title: str) -> Table:
    """The table of file outcomes shown to the user."""
    table = Table(title=escape(title), show_lines=False)
    for column in ("file", "outcome", "why", "characters", "encoding"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        why = o.message or (f"grade {o.grade}" if o.grade else "")
        if o.ok and o.grade:
            why = f"grade {o.grade}"
        table.add_row(
            escape(o.source),
            f"[{_STYLE[o.outcome]}]{o.outcome.value}[/]",
            escape(why),
            "" if o.characters is None else f"{o.characters:,}",
            o.encoding or o.format or "",
        )
    return table


def _summary(counts: Counts, imported: str = "imported") -> str:
    return f"{counts.imported} {imported}, {counts.skipped} skipped, {counts.failed} failed"


def _interrupted(err: Console, done: int, found: int, unit: str, again: str) -> int:
    message = f"Interrupted: {done} of {found} {unit} done and kept; {found - done} not reached."
    err.print(f"[yellow]{escape(f'{message} {again}'.strip())}[/yellow]")
    return EXIT_INTERRUPTED


def _exit_for(counts: Counts) -> int:
    return EXIT_SOME_FAILED if counts.failed else EXIT_OK


@contextmanager
def _cancel_on_ctrl_c(token: CancelToken) -> Iterator[None]:
    """Ctrl-C sets ``token`` (the work stops between two files); a second one interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel("interrupted")

    previous = signal.signal(signal.SIGINT, on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _working(show: bool, unit: str) -> Iterator[tuple[ProgressSink, CancelToken]]:
    """A progress bar on stderr fed by the operation's sink, and a token Ctrl-C sets."""
    token = CancelToken()
    console = Console(stderr=True)
    with bars.Progress(
        bars.SpinnerColumn(),
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TextColumn(unit),
        bars.TextColumn("{task.fields[detail]}"),
        console=console,
        transient=True,
        disable=not (show and console.is_terminal),
    ) as bar:
        task = bar.add_task("importing", total=None, detail="")

        def sink(event: Progress) -> None:
            if event.kind in ("file", "row"):
                detail = event.detail if len(event.detail) <= 50 else "…" + event.detail[-49:]
                bar.update(task, completed=event.done, total=event.total, detail=escape(detail))
            elif event.kind == "status":
                bar.update(task, description=escape(event.detail), detail="")

        with _cancel_on_ctrl_c(token):
            yield sink, token


# ---------------------------------------------------------------------------------- import


def run_import(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    try:
        limits = _limits(args) if args.what in ("essays", "anchors") else IntakeLimits()
        if args.what == "roster" and bool(args.class_id) == bool(args.new_class):
            raise ValueError("give either --class or --new-class")
        if args.what == "anchors" and bool(args.assignment) == bool(args.assignment_title):
            raise ValueError("give either --assignment or --assignment-title")
    except ValueError as exc:
        err.print(f"[red]huleedu import {args.what}: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    if args.what == "essays" and not (args.batch or args.new_batch):
        return _check_only(args, limits, out, err)
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu import: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    handler: Callable[[Database, argparse.Namespace, IntakeLimits, Console, Console], int] = {
        "essays": _essays,
        "roster": _roster,
        "anchors": _anchors,
    }[args.what]
    try:
        return handler(db, args, limits, out, err)
    except OperationError as exc:
        err.print(f"[red]huleedu import {args.what}: {escape(exc.message)}[/red]")
        return _EXIT_FOR.get(exc.kind, EXIT_USAGE)
    finally:
        db.close()


def _check_only(args: argparse.Namespace, limits: IntakeLimits, out: Console, err: Console) -> int:
    with _working(not args.json, "files") as (sink, token):
        try:
            result = check_essays(args.paths, limits, sink, token)
        except OperationError as exc:
            err.print(f"[red]huleedu import essays: {escape(exc.message)}[/red]")
            return _EXIT_FOR.get(exc.kind, EXIT_USAGE)
    if args.json:
        out.print_json(json.dumps(result.to_json()))
    else:
        out.print(
            outcome_table(result.outcomes, "Checked (nothing stored: give --batch or --new-batch)")
        )
        out.print(_summary(result.counts, "would import"))
    if result.cancelled:
        return _interrupted(err, len(result.outcomes), result.found, "files", "")
    return _exit_for(result.counts)


def _announce_scale(err: Console, new: NewAssignment) -> None:
    """Say which grade scale a new assignment gets (the default is easy to miss)."""
    others = ", ".join(s for s in sorted(BUILTIN_SCALES) if s != new.scale)
    err.print(
        escape(
            f"New assignment {new.title!r} on the grade scale {new.scale} "
            f"({BUILTIN_SCALES[new.scale].name}); another with --scale: {others}."
        )
    )


def _essays(
    db: Database, args: argparse.Namespace, limits: IntakeLimits, out: Console, err: Console
) -> int:
    batch: str | NewBatch = find_batch(db, args.batch).id if args.batch else args.batch
    if args.assignment:
        args.assignment = find_assignment(db, args.assignment).id
    if batch is None:
        assignment = args.assignment or NewAssignment(
            args.assignment_title or args.new_batch, args.scale
        )
        if isinstance(assignment, NewAssignment):
            _announce_scale(err, assignment)
        batch = NewBatch(args.new_batch, assignment, args.class_id)
    with _working(not args.json, "files") as (sink, token):
        result = import_essays(db, args.paths, batch, limits, sink, token)
    if args.json:
        out.print_json(json.dumps(result.to_json()))
    else:
        _show_essays(result, out)
    if result.cancelled:
        return _interrupted(
            err,
            len(result.outcomes),
            result.found,
            "files",
            f"Import the same files into batch {result.batch_id} again to add the rest.",
        )
    return _exit_for(result.counts)


def _show_essays(result: EssayImportResult, out: Console) -> None:
    out.print(outcome_table(result.outcomes, f"Essays into batch {result.batch_id}"))
    out.print(_summary(result.counts))
    if result.batch_removed:
        out.print(
            f"No essay was stored, so the new batch {result.batch_id} was not kept; "
            "fix the files above and import them again."
        )
        return
    out.print(f"batch {result.batch_id}: {result.batch_status}")
    if result.auto_matched or result.awaiting_confirmation:
        out.print(
            f"students: {result.auto_matched} matched automatically, "
            f"{result.awaiting_confirmation} waiting for you "
            f"(`huleedu match {result.batch_id}`)"
        )


def _roster(
    db: Database, args: argparse.Namespace, _limits: IntakeLimits, out: Console, err: Console
) -> int:
    target: str | NewClass = args.class_id or NewClass(args.new_class, args.course, args.year)
    with _working(not args.json, "rows") as (sink, token):
        result = import_roster(db, args.file, target, sink, token)
    if args.json:
        out.print_json(json.dumps(result.to_json()))
    else:
        _show_roster(result, args.file, out)
    if result.cancelled:
        return _interrupted(
            err,
            len(result.rows),
            result.found,
            "rows",
            "Import the roster again: rows already in the class are skipped.",
        )
    return _exit_for(result.counts)


def _show_roster(result: RosterImportResult, file: Path, out: Console) -> None:
    table = Table(title=escape(f"Roster {file} into class {result.class_id}"))
    for column in ("row", "outcome", "student", "why"):
        table.add_column(column, overflow="fold")
    for r in result.rows:
        name = f"{r.student.first_name} {r.student.last_name}" if r.student else ""
        table.add_row(
            str(r.row),
            f"[{_STYLE[r.outcome]}]{r.outcome.value}[/]",
            escape(name),
            escape(r.message),
        )
    out.print(table)
    out.print(f"{_summary(result.counts)}; {result.added} new, {result.linked} from other classes")
    out.print(f"class {result.class_id}")


def _anchors(
    db: Database, args: argparse.Namespace, limits: IntakeLimits, out: Console, err: Console
) -> int:
    target: str | NewAssignment = (
        find_assignment(db, args.assignment).id
        if args.assignment
        else NewAssignment(args.assignment_title, args.scale)
    )
    if isinstance(target, NewAssignment):
        _announce_scale(err, target)
    with _working(not args.json, "files") as (sink, token):
        result = import_anchors(db, args.paths, target, args.grades, limits, sink, token)
    if args.json:
        out.print_json(json.dumps(result.to_json()))
    else:
        _show_anchors(result, out)
    if result.cancelled:
        return _interrupted(
            err,
            len(result.outcomes),
            result.found,
            "files",
            f"Import the same files into assignment {result.assignment_id} again to add the rest.",
        )
    return _exit_for(result.counts)


def _show_anchors(result: AnchorImportResult, out: Console) -> None:
    out.print(outcome_table(result.outcomes, f"Anchors into assignment {result.assignment_id}"))
    out.print(_summary(result.counts))
    out.print(f"assignment {result.assignment_id}")


# ---------------------------------------------------------------------------------- match


def _decisions(pairs: Sequence[str]) -> list[MatchDecision]:
    decisions = []
    for pair in pairs:
        essay, sep, student = pair.partition("=")
        if not sep or not essay or not student:
            raise ValueError(f"--confirm takes ESSAY=STUDENT, got {pair!r}")
        decisions.append(MatchDecision(essay, None if student.lower() == "none" else student))
    return decisions


def run_match(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    try:
        decisions = _decisions(args.confirm)
    except ValueError as exc:
        err.print(f"[red]huleedu match: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu match: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    try:
        args.batch = find_batch(db, args.batch).id
        if decisions or args.unassign or args.accept_top:
            update = confirm_match(
                db, args.batch, decisions, unassign=args.unassign, accept_top=args.accept_top
            )
            if args.accept_top:
                err.print(f"settled {update.accepted_top} essays")
            overview = update.overview
        else:
            overview = match_overview(db, args.batch)
    except OperationError as exc:
        err.print(f"[red]huleedu match: {escape(exc.message)}[/red]")
        return _EXIT_FOR.get(exc.kind, EXIT_USAGE)
    finally:
        db.close()
    if args.json:
        out.print_json(json.dumps(overview.to_json()))
        return EXIT_OK
    if overview.guest:
        out.print("A guest batch: its essays are known by file name, no matching needed.")
        return EXIT_OK
    table = Table(title=escape(f"Students of batch {args.batch}"))
    for column in ("essay", "file", "student", "settled", "suggestions"):
        table.add_column(column, overflow="fold")
    for e in overview.essays:
        settled = f"{e.match_source}" if e.confirmed else "[yellow]waiting[/]"
        table.add_row(
            e.essay_id,
            escape(e.source_file or ""),
            escape(e.student_name or ("(none)" if e.confirmed else "")),
            settled,
            escape(
                "; ".join(
                    f"{s.name} {s.score:.2f} ({s.source}) {s.student_id}" for s in e.suggestions
                )
            ),
        )
    out.print(table)
    if overview.students_without_essay:
        out.print(
            "Students without an essay: "
            + escape(
                ", ".join(f"{s.name} ({s.student_id})" for s in overview.students_without_essay)
            )
        )
    out.print(f"{len(overview.waiting)} essays waiting for a person")
    return EXIT_OK
