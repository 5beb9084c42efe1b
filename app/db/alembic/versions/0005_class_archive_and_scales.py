"""Classes can be archived (kept with their batches, hidden from the working lists), and
teachers' own grade scales are stored (``grade_scales``; an assignment's ``grade_scale`` names
either a built-in scale or one of these by id).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("school_classes") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))
    op.create_table(
        "grade_scales",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("scale_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("grades", sa.JSON(), nullable=False),
        sa.Column("priors", sa.JSON(), nullable=True),
        sa.Column("below_lowest", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_grade_scales"),
        sa.UniqueConstraint("scale_id", name="uq_grade_scales_scale_id"),
    )


def downgrade() -> None:
    op.drop_table("grade_scales")
    with op.batch_alter_table("school_classes") as batch:
        batch.drop_column("archived_at")
