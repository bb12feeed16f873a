"""Runs remember a cancel: asked for before a crash, it stands after it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 07:01:19
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cancel_reason",
                sa.Text(),
                nullable=True,
                comment="a cancel asked for (and why): it stands after a crash",
            )
        )
        batch_op.add_column(sa.Column("cancel_compensate", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("cancel_compensate")
        batch_op.drop_column("cancel_reason")
