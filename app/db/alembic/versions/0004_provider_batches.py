"""Provider batches: the job and intent of each wave's provider batch, kept in the database
instead of JSON files beside it (one row per run and wave).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(200), nullable=True),
        sa.Column("intent", sa.JSON(), nullable=True),
        sa.Column("job", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_provider_batches"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name="fk_provider_batches_run_id_runs",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("run_id", "wave", name="uq_provider_batches_run_id_wave"),
    )
    op.create_index("ix_provider_batches_run_id", "provider_batches", ["run_id"])


def downgrade() -> None:
    op.drop_table("provider_batches")
