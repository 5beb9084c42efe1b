"""Runs: a lease (holder and heartbeat) so one process drives a run at a time, whether the fit
behind the results converged, and stop reasons in the engine's vocabulary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Stop reasons stored by 0.1 and their names in the engine's vocabulary.
_RENAMED = {"budget": "budget_reached", "error": "too_many_failures"}


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("fit_converged", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("lease_holder", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_heartbeat_at", sa.DateTime(), nullable=True))
    for old, new in _RENAMED.items():
        op.execute(
            sa.text("UPDATE runs SET stop_reason = :new WHERE stop_reason = :old").bindparams(
                new=new, old=old
            )
        )


def downgrade() -> None:
    for old, new in _RENAMED.items():
        op.execute(
            sa.text("UPDATE runs SET stop_reason = :old WHERE stop_reason = :new").bindparams(
                new=new, old=old
            )
        )
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_heartbeat_at")
        batch.drop_column("lease_holder")
        batch.drop_column("fit_converged")
