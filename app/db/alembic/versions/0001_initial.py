"""Initial schema: people, classes, assignments, batches, essays, runs and their records.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _record() -> list[sa.Column[Any]]:
    """The columns every table carries: client UUID, timestamps, soft-delete tombstone."""
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
    ]


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _fk(
    table: str, column: str, referred: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=f"fk_{table}_{column}_{referred}", ondelete=ondelete
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def upgrade() -> None:
    op.create_table(
        "teacher_profiles",
        *_record(),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("school", sa.String(200), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        _pk("teacher_profiles"),
    )

    op.create_table(
        "courses",
        *_record(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _pk("courses"),
    )
    _index("courses", "code")

    op.create_table(
        "school_classes",
        *_record(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("course_id", sa.String(36), nullable=False),
        sa.Column("school_year", sa.String(32), nullable=False),
        _pk("school_classes"),
        _fk("school_classes", "course_id", "courses"),
    )
    _index("school_classes", "course_id")

    op.create_table(
        "students",
        *_record(),
        sa.Column("first_name", sa.String(200), nullable=False),
        sa.Column("last_name", sa.String(200), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        _pk("students"),
    )
    _index("students", "code")

    op.create_table(
        "class_memberships",
        *_record(),
        sa.Column("school_class_id", sa.String(36), nullable=False),
        sa.Column("student_id", sa.String(36), nullable=False),
        _pk("class_memberships"),
        _fk("class_memberships", "school_class_id", "school_classes", "CASCADE"),
        _fk("class_memberships", "student_id", "students", "CASCADE"),
        sa.UniqueConstraint(
            "school_class_id",
            "student_id",
            name="uq_class_memberships_school_class_id_student_id",
        ),
    )
    _index("class_memberships", "school_class_id")
    _index("class_memberships", "student_id")

    op.create_table(
        "assignments",
        *_record(),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("student_prompt", sa.Text(), nullable=False),
        sa.Column("assessment_criteria", sa.Text(), nullable=False),
        sa.Column("judge_rubric", sa.Text(), nullable=False),
        sa.Column("grade_scale", sa.String(64), nullable=False),
        _pk("assignments"),
    )

    op.create_table(
        "anchors",
        *_record(),
        sa.Column("assignment_id", sa.String(36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("grade", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("source_file", sa.String(1000), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        _pk("anchors"),
        _fk("anchors", "assignment_id", "assignments", "CASCADE"),
    )
    _index("anchors", "assignment_id")

    op.create_table(
        "batches",
        *_record(),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("school_class_id", sa.String(36), nullable=True),
        sa.Column("assignment_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        _pk("batches"),
        _fk("batches", "school_class_id", "school_classes", "SET NULL"),
        _fk("batches", "assignment_id", "assignments"),
    )
    _index("batches", "school_class_id")
    _index("batches", "assignment_id")

    op.create_table(
        "essays",
        *_record(),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_file", sa.String(1000), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("student_id", sa.String(36), nullable=True),
        sa.Column("match_confidence", sa.Float(), nullable=True),
        sa.Column("match_confirmed", sa.Boolean(), nullable=False),
        sa.Column("is_anchor", sa.Boolean(), nullable=False),
        sa.Column("anchor_id", sa.String(36), nullable=True),
        _pk("essays"),
        _fk("essays", "batch_id", "batches", "CASCADE"),
        _fk("essays", "student_id", "students", "SET NULL"),
        _fk("essays", "anchor_id", "anchors", "SET NULL"),
        sa.UniqueConstraint("batch_id", "content_hash", name="uq_essays_batch_id_content_hash"),
    )
    _index("essays", "batch_id")
    _index("essays", "student_id")
    _index("essays", "anchor_id")

    op.create_table(
        "runs",
        *_record(),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("stop_reason", sa.String(40), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("last_progress_at", sa.DateTime(), nullable=True),
        sa.Column("reliability", sa.Float(), nullable=True),
        sa.Column("model_reliability", sa.Float(), nullable=True),
        sa.Column("ssr", sa.Float(), nullable=True),
        sa.Column("position_bias", sa.Float(), nullable=True),
        _pk("runs"),
        _fk("runs", "batch_id", "batches", "CASCADE"),
    )
    _index("runs", "batch_id")

    op.create_table(
        "comparisons",
        *_record(),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("first_essay_id", sa.String(36), nullable=False),
        sa.Column("second_essay_id", sa.String(36), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_wins", sa.Boolean(), nullable=True),
        sa.Column("probability_first", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("cached_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error_category", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_request_id", sa.String(200), nullable=True),
        sa.Column("provider_batch_id", sa.String(200), nullable=True),
        sa.Column("place_in_bundle", sa.Integer(), nullable=True),
        sa.Column("bundle_size", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        _pk("comparisons"),
        _fk("comparisons", "run_id", "runs", "CASCADE"),
        _fk("comparisons", "first_essay_id", "essays"),
        _fk("comparisons", "second_essay_id", "essays"),
        sa.CheckConstraint(
            "first_essay_id <> second_essay_id", name="ck_comparisons_distinct_essays"
        ),
    )
    _index("comparisons", "run_id", "status")
    _index("comparisons", "provider_batch_id")
    _index("comparisons", "first_essay_id")
    _index("comparisons", "second_essay_id")

    op.create_table(
        "results",
        *_record(),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("essay_id", sa.String(36), nullable=False),
        sa.Column("ability", sa.Float(), nullable=False),
        sa.Column("se", sa.Float(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("comparisons", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(32), nullable=True),
        sa.Column("grade_probabilities", sa.JSON(), nullable=True),
        sa.Column("confidence", sa.String(16), nullable=True),
        sa.Column("infit", sa.Float(), nullable=True),
        sa.Column("outfit", sa.Float(), nullable=True),
        sa.Column("misfit", sa.Boolean(), nullable=False),
        _pk("results"),
        _fk("results", "run_id", "runs", "CASCADE"),
        _fk("results", "essay_id", "essays"),
        sa.UniqueConstraint("run_id", "essay_id", name="uq_results_run_id_essay_id"),
    )
    _index("results", "run_id")
    _index("results", "essay_id")

    op.create_table(
        "teacher_overrides",
        *_record(),
        sa.Column("essay_id", sa.String(36), nullable=False),
        sa.Column("result_id", sa.String(36), nullable=True),
        sa.Column("grade", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _pk("teacher_overrides"),
        _fk("teacher_overrides", "essay_id", "essays", "CASCADE"),
        _fk("teacher_overrides", "result_id", "results", "SET NULL"),
    )
    _index("teacher_overrides", "essay_id")
    _index("teacher_overrides", "result_id")


def downgrade() -> None:
    for table in (
        "teacher_overrides",
        "results",
        "comparisons",
        "runs",
        "essays",
        "batches",
        "anchors",
        "assignments",
        "class_memberships",
        "students",
        "school_classes",
        "courses",
        "teacher_profiles",
    ):
        op.drop_table(table)
