"""Tables of the optional sync with a school's server (:mod:`app.sync`): device facts, scopes
and cursors, the outbox, per-record versions and clocks (with tombstones), pending pushes and
the local list of conflicts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_meta")),
    )
    op.create_table(
        "sync_scopes",
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("server_url", sa.String(1000), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_sync_scopes")),
    )
    op.create_table(
        "sync_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("hlc", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_outbox")),
    )
    op.create_table(
        "sync_records",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("hlc", sa.String(120), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_sync_records")),
    )
    op.create_table(
        "sync_pending_pushes",
        sa.Column("push_id", sa.String(36), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("last_outbox_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("push_id", name=op.f("pk_sync_pending_pushes")),
    )
    op.create_table(
        "sync_conflicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("winner", sa.JSON(), nullable=True),
        sa.Column("loser", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("restored_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflicts")),
    )


def downgrade() -> None:
    for table in (
        "sync_conflicts",
        "sync_pending_pushes",
        "sync_records",
        "sync_outbox",
        "sync_scopes",
        "sync_meta",
    ):
        op.drop_table(table)
