"""`huleedu list`: the ids and states headless users need between commands.

``classes``, ``assignments``, ``batches``, ``students CLASS`` and ``intake BATCH`` (every file
ever offered to a batch with its outcome). A table, or ``--json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from app.db.engine import Database, open_database
from app.db.migrate import DatabaseError
from app.db.models import Anchor, Assignment, Batch, Essay, SchoolClass, live
from app.intake.essays import intake_history
from app.intake.matching_store import roster_of
from app.intake.roster_store import roster_history
from app.school import find_class


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="classes, assignments, batches, students, intake records")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, text in (
        ("classes", "classes with their number of students"),
        ("assignments", "assignments with their scale and anchors"),
        ("batches", "batches with their class, status and essays"),
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


def _classes(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    with db.session() as s:
        return [
            {
                "id": c.id,
                "name": c.name,
                "course": c.course.code,
                "school_year": c.school_year,
                "students": len(roster_of(s, c.id)),
            }
            for c in s.scalars(select(SchoolClass).where(live(SchoolClass)).order_by("name"))
        ]


def _assignments(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    with db.session() as s:
        anchors = dict(
            s.execute(
                select(Anchor.assignment_id, func.count())
                .where(live(Anchor))
                .group_by(Anchor.assignment_id)
            ).all()
        )
        return [
            {"id": a.id, "title": a.title, "scale": a.grade_scale, "anchors": anchors.get(a.id, 0)}
            for a in s.scalars(select(Assignment).where(live(Assignment)).order_by("created_at"))
        ]


def _batches(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    with db.session() as s:
        essays = dict(
            s.execute(
                select(Essay.batch_id, func.count())
                .where(live(Essay), Essay.is_anchor.is_(False))
                .group_by(Essay.batch_id)
            ).all()
        )
        return [
            {
                "id": b.id,
                "title": b.title,
                "class": b.school_class.name if b.school_class else None,
                "assignment": b.assignment.title,
                "status": b.status,
                "essays": essays.get(b.id, 0),
            }
            for b in s.scalars(select(Batch).where(live(Batch)).order_by("created_at"))
        ]


def _students(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    with db.session() as s:
        school_class = find_class(s, args.class_id)
        return [
            {
                "id": st.id,
                "first_name": st.first_name,
                "last_name": st.last_name,
                "code": st.code,
                "email": st.email,
            }
            for st in roster_of(s, school_class.id)
        ]


def _intake(db: Database, args: argparse.Namespace) -> list[dict[str, Any]]:
    with db.session() as s:
        batch = s.get(Batch, args.owner)
        assignment = s.get(Assignment, args.owner) if batch is None else None
    if batch is not None:
        outcomes = intake_history(db, batch.id)
    elif assignment is not None:
        outcomes = intake_history(db, assignment_id=assignment.id)
    else:
        return roster_history(db, args.owner)  # LookupError when no class has that id/name
    return [{k: v for k, v in o.to_json().items() if k != "duplicate_of"} for o in outcomes]


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        db = open_database(args.data_dir)
    except DatabaseError as exc:
        err.print(f"[red]huleedu list: {escape(str(exc))}[/red]")
        return 5
    lister = {
        "classes": _classes,
        "assignments": _assignments,
        "batches": _batches,
        "students": _students,
        "intake": _intake,
    }[args.what]
    try:
        rows = lister(db, args)
    except LookupError as exc:
        err.print(f"[red]huleedu list: {escape(str(exc))}[/red]")
        return 2
    finally:
        db.close()
    out = Console()
    if args.json:
        out.print_json(json.dumps(rows))
        return 0
    table = Table(title=args.what)
    columns = list(rows[0]) if rows else ["(none)"]
    if args.what == "intake" and rows and "characters" in rows[0]:
        columns = ["source", "outcome", "reason", "message", "characters"]
    for column in columns:
        if column == "id":  # whole, so it can be copied into the next command
            table.add_column(column, no_wrap=True, min_width=36)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if row[c] is None else escape(str(row[c])) for c in columns))
    out.print(table)
    return 0
