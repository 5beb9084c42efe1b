"""`huleedu import` and `huleedu match`: intake and student matching, headless.

Exit codes: 0 every file or row was imported or skipped; 1 some failed (the good ones were
imported; the table says why each failed); 2 usage error or nothing could be imported (unknown
batch, class or assignment; a file that is not a roster); 5 the database cannot be used.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from app.db.engine import Database, open_database
from app.db.migrate import DatabaseError
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome
from core.scales import BUILTIN_SCALES

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 5
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
    target.add_argument("--batch", help="id of the batch to add the essays to")
    target.add_argument("--new-batch", metavar="TITLE", help="create a batch with this title")
    essays.add_argument(
        "--class", dest="class_id", help="class id or name (new batch; omit: guest)"
    )
    essays.add_argument("--assignment", help="assignment id (new batch)")
    essays.add_argument("--assignment-title", help="create an assignment with this title")
    essays.add_argument("--scale", default="swedish_8_anchor", choices=sorted(BUILTIN_SCALES))
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
    anchors.add_argument("--assignment", help="assignment id")
    anchors.add_argument("--assignment-title", help="create an assignment with this title")
    anchors.add_argument("--scale", default="swedish_8_anchor", choices=sorted(BUILTIN_SCALES))
    anchors.add_argument("--grades", type=Path, help="CSV mapping file,grade[,label]")
    _limit_options(anchors)
    _common(anchors)

    match = sub.add_parser(
        "match", help="show and settle which student wrote which essay of a class batch"
    )
    match.add_argument("batch", help="batch id")
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


def outcome_table(outcomes: Sequence[FileOutcome], title: str) -> Table:
    """The table of file outcomes shown to the user."""
    table = Table(title=title, show_lines=False)
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


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def run_import(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    if args.what == "essays" and not (args.batch or args.new_batch):
        return _check_only(args, out)
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu import: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    handler: Callable[[Database, argparse.Namespace, Console], int] = {
        "essays": _essays,
        "roster": _roster,
        "anchors": _anchors,
    }[args.what]
    try:
        return handler(db, args, out)
    except (LookupError, ValueError, RuntimeError) as exc:
        err.print(f"[red]huleedu import {args.what}: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    finally:
        db.close()


def _check_only(args: argparse.Namespace, out: Console) -> int:
    from app.intake.essays import count_outcomes, screen_documents  # noqa: PLC0415

    outcomes = [o for o, _ in screen_documents(args.paths, _limits(args))]
    counts = count_outcomes(outcomes)
    if args.json:
        out.print_json(
            json.dumps(
                {"stored": False, "counts": counts, "files": [o.to_json() for o in outcomes]}
            )
        )
    else:
        out.print(outcome_table(outcomes, "Checked (nothing stored: give --batch or --new-batch)"))
        out.print(
            _summary({"would import" if k == "imported" else k: n for k, n in counts.items()})
        )
    return EXIT_SOME_FAILED if counts["failed"] else EXIT_OK


def _essays(db: Database, args: argparse.Namespace, out: Console) -> int:
    from app.db.models import Assignment  # noqa: PLC0415
    from app.intake.essays import import_essays  # noqa: PLC0415
    from app.school import create_assignment, create_batch, find_class, find_live  # noqa: PLC0415

    batch_id = args.batch
    if batch_id is None:
        class_id = None
        with db.session() as s:  # look everything up before creating anything
            if args.class_id:
                class_id = find_class(s, args.class_id).id
            if args.assignment:
                find_live(s, Assignment, args.assignment)
        assignment_id = args.assignment or create_assignment(
            db, args.assignment_title or args.new_batch, args.scale
        )
        batch_id = create_batch(db, args.new_batch, assignment_id, class_id)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} files"),
        console=Console(stderr=True),
        transient=True,
        disable=args.json,
    ) as bar:
        task = bar.add_task("importing", total=None)
        report = import_essays(
            db, batch_id, args.paths, _limits(args), progress=lambda _: bar.advance(task)
        )
    if args.json:
        out.print_json(json.dumps(report.to_json()))
    else:
        out.print(outcome_table(report.outcomes, f"Essays into batch {batch_id}"))
        out.print(_summary(report.counts))
        out.print(f"batch {batch_id}: {report.batch_status}")
        if report.auto_matched or report.awaiting_confirmation:
            out.print(
                f"students: {report.auto_matched} matched automatically, "
                f"{report.awaiting_confirmation} waiting for you (`huleedu match {batch_id}`)"
            )
    return EXIT_SOME_FAILED if report.counts["failed"] else EXIT_OK


def _roster(db: Database, args: argparse.Namespace, out: Console) -> int:
    from app.intake.roster import read_roster  # noqa: PLC0415
    from app.intake.roster_store import import_roster  # noqa: PLC0415
    from app.school import create_class  # noqa: PLC0415

    if bool(args.class_id) == bool(args.new_class):
        raise ValueError("give either --class or --new-class")
    if args.new_class:
        read_roster(args.file)  # a file that is no roster creates no class
    class_id = args.class_id or create_class(db, args.new_class, args.course, args.year)
    report = import_roster(db, class_id, args.file)
    if args.json:
        out.print_json(json.dumps(report.to_json()))
    else:
        table = Table(title=f"Roster {args.file} into class {report.class_id}")
        for column in ("row", "outcome", "student", "why"):
            table.add_column(column, overflow="fold")
        for r in report.rows:
            name = f"{r.student.first_name} {r.student.last_name}" if r.student else ""
            table.add_row(
                str(r.row),
                f"[{_STYLE[r.outcome]}]{r.outcome.value}[/]",
                escape(name),
                escape(r.message),
            )
        out.print(table)
        out.print(
            f"{_summary(report.counts)}; {report.added} new, {report.linked} from other classes"
        )
        out.print(f"class {report.class_id}")
    return EXIT_SOME_FAILED if report.counts["failed"] else EXIT_OK


def _anchors(db: Database, args: argparse.Namespace, out: Console) -> int:
    from app.intake.anchors import import_anchors  # noqa: PLC0415
    from app.school import create_assignment  # noqa: PLC0415

    if bool(args.assignment) == bool(args.assignment_title):
        raise ValueError("give either --assignment or --assignment-title")
    assignment_id = args.assignment or create_assignment(db, args.assignment_title, args.scale)
    report = import_anchors(db, assignment_id, args.paths, args.grades, _limits(args))
    if args.json:
        out.print_json(json.dumps(report.to_json()))
    else:
        out.print(outcome_table(report.outcomes, f"Anchors into assignment {assignment_id}"))
        out.print(_summary(report.counts))
        out.print(f"assignment {assignment_id}")
    return EXIT_SOME_FAILED if report.counts["failed"] else EXIT_OK


def run_match(args: argparse.Namespace) -> int:
    from app.intake.matching_store import (  # noqa: PLC0415
        MatchError,
        accept_top_suggestions,
        confirm_student,
        match_overview,
        unconfirm,
    )

    out, err = Console(), Console(stderr=True)
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu match: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    try:
        for essay in args.unassign:
            unconfirm(db, essay)
        for pair in args.confirm:
            essay, sep, student = pair.partition("=")
            if not sep:
                raise ValueError(f"--confirm takes ESSAY=STUDENT, got {pair!r}")
            confirm_student(db, essay, None if student.lower() == "none" else student)
        if args.accept_top:
            err.print(f"settled {accept_top_suggestions(db, args.batch)} essays")
        overview = match_overview(db, args.batch)
    except (LookupError, ValueError, MatchError) as exc:
        err.print(f"[red]huleedu match: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    finally:
        db.close()
    if args.json:
        out.print_json(json.dumps(overview.to_json()))
        return EXIT_OK
    if overview.guest:
        out.print("A guest batch: its essays are known by file name, no matching needed.")
        return EXIT_OK
    table = Table(title=f"Students of batch {args.batch}")
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
