"""Each essay keeps what the injection screen found in it (``essays.addressed_to_grader``): the
phrases addressed to an AI grader (:func:`core.injection.find_injection`), ``[]`` when none were
found, NULL when the essay has not been screened yet (screened when a run is prepared).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("essays") as batch:
        batch.add_column(sa.Column("addressed_to_grader", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("essays") as batch:
        batch.drop_column("addressed_to_grader")
