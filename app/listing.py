"""`huleedu list`: the ids and states headless users need between commands.

``classes``, ``assignments``, ``batches``, ``students CLASS`` and ``intake ID`` (every file
ever offered to a batch or to an assignment's anchors, or every roster row offered to a class,
with its outcome). A table, or ``--json``. The rows come from :mod:`app.operations.queries`.
Exit codes: 0 listed; 2 unknown class, batch or assignment; 5 the database cannot be used.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.db.engine import Database, open_database
from app.db.migrate import DatabaseError
from app.operations import queries
from app.operations.base import FailureKind, OperationError

EXIT_OK, EXIT_UNKNOWN, EXIT_DATABASE = 0, 2, 5

Rows = list[dict[str, Any]]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="classes, assignments, batches, students, intake records")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, text in (
        ("classes", "classes with their number of students"),
        ("assignments", "assignments with their scale and anchors"),
        ("batches", "batches with their class, status, essays and latest run"),
    ):
        what.add_parser(name, help=text)
    students = what.add_parser("students", help="the roster of a class")
    students.add_argument("class_id", metavar="CLASS", help="class id or name")
    intake = what.add_parser(
        "intake",
        help="every file offered to a batch or to an assignment's anchors, or every roster row "
        "offered to a class, with its outcome",
    )
    intake.add_argument("owner", metavar="ID", help="batch id, assignment id, or class id/name")
    for sp in what.choices.values():
        sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
        sp.add_argument("--data-dir", type=Path, help="where the database lives")


def _classes(db: Database, _args: argparse.Namespace) -> tuple[Rows, list[str]]:
    rows = [c.to_json() for c in queries.list_classes(db)]
    return rows, ["id", "name", "course", "school_year", "students"]


def _assignments(db: Database, _args: argparse.Namespace) -> tuple[Rows, list[str]]:
    rows = [a.to_json() for a in queries.list_assignments(db)]
    return rows, ["id", "title", "scale", "anchors"]


def _batches(db: Database, _args: argparse.Namespace) -> tuple[Rows, list[str]]:
    rows = [b.to_json() for b in queries.list_batches(db)]
    return rows, ["id", "title", "class", "assignment", "status", "essays", "last_run_status"]


def _students(db: Database, args: argparse.Namespace) -> tuple[Rows, list[str]]:
    rows = [st.to_json() for st in queries.list_students(db, args.class_id)]
    return rows, ["id", "first_name", "last_name", "code", "email"]


def _intake(db: Database, args: argparse.Namespace) -> tuple[Rows, list[str]]:
    listing = queries.intake_records(db, args.owner)
    columns = ["source", "outcome", "reason", "message"]
    if listing.owner != "class":
        columns.append("characters")
    return listing.to_json(), columns


_LISTERS: dict[str, Callable[[Database, argparse.Namespace], tuple[Rows, list[str]]]] = {
    "classes": _classes,
    "assignments": _assignments,
    "batches": _batches,
    "students": _students,
    "intake": _intake,
}


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu list: {escape(str(exc))}[/red]")
        return EXIT_DATABASE
    try:
        rows, columns = _LISTERS[args.what](db, args)
    except OperationError as exc:
        err.print(f"[red]huleedu list: {escape(exc.message)}[/red]")
        return EXIT_DATABASE if exc.kind is FailureKind.DATABASE else EXIT_UNKNOWN
    finally:
        db.close()
    out = Console()
    if args.json:
        out.print_json(json.dumps(rows))
        return EXIT_OK
    table = Table(title=args.what)
    if not rows:
        columns = ["(none)"]
    for column in columns:
        if column == "id":  # whole, so it can be copied into the next command
            table.add_column(column, no_wrap=True, min_width=36)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if row[c] is None else escape(str(row[c])) for c in columns))
    out.print(table)
    return EXIT_OK
