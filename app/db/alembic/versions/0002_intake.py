"""Intake: a record per imported file (and roster row), up to three student suggestions per
essay, and who settled an essay's student and when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _record() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
    ]


def _fk(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}", ondelete=ondelete
    )


def _index(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    with op.batch_alter_table("essays") as batch:
        batch.add_column(sa.Column("match_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("match_confirmed_at", sa.DateTime(), nullable=True))

    op.create_table(
        "match_suggestions",
        *_record(),
        sa.Column("essay_id", sa.String(36), nullable=False),
        sa.Column("student_id", sa.String(36), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("evidence", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_match_suggestions"),
        _fk("match_suggestions", "essay_id", "essays", "CASCADE"),
        _fk("match_suggestions", "student_id", "students", "CASCADE"),
    )
    _index("match_suggestions", "essay_id")
    _index("match_suggestions", "student_id")

    op.create_table(
        "intake_records",
        *_record(),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("assignment_id", sa.String(36), nullable=True),
        sa.Column("school_class_id", sa.String(36), nullable=True),
        sa.Column("import_id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("encoding", sa.String(32), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("characters", sa.Integer(), nullable=True),
        sa.Column("grade", sa.String(32), nullable=True),
        sa.Column("essay_id", sa.String(36), nullable=True),
        sa.Column("anchor_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_intake_records"),
        _fk("intake_records", "batch_id", "batches", "CASCADE"),
        _fk("intake_records", "assignment_id", "assignments", "CASCADE"),
        _fk("intake_records", "school_class_id", "school_classes", "CASCADE"),
        _fk("intake_records", "essay_id", "essays", "SET NULL"),
        _fk("intake_records", "anchor_id", "anchors", "SET NULL"),
    )
    for column in (
        "batch_id",
        "assignment_id",
        "school_class_id",
        "import_id",
        "essay_id",
        "anchor_id",
    ):
        _index("intake_records", column)


def downgrade() -> None:
    op.drop_table("intake_records")
    op.drop_table("match_suggestions")
    with op.batch_alter_table("essays") as batch:
        batch.drop_column("match_confirmed_at")
        batch.drop_column("match_source")
