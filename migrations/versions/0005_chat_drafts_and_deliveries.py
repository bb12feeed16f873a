"""Chat drafts and deliveries: plans previewed before they run, Slack deliveries handled

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:12:40.518203
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import knowledge.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "kind", sa.String(length=40), nullable=False, comment="event, action, command, …"
        ),
        sa.Column("received_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column(
            "blueprint",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="none for a clarifying question",
        ),
        sa.Column(
            "plan",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="the planner's result",
        ),
        sa.Column(
            "state",
            sa.String(length=20),
            nullable=False,
            comment="previewed, running, saved, cancelled or superseded",
        ),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("thread_ts", sa.String(length=40), nullable=True),
        sa.Column("message_ts", sa.String(length=40), nullable=True, comment="the preview card"),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column(
            "workflow_version_id",
            sa.Integer(),
            nullable=True,
            comment="the version saved or run",
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True, comment="the draft this one replaces"),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["drafts.id"],
            name=op.f("fk_drafts_parent_id_drafts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_drafts_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_drafts_workflow_version_id_workflow_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_drafts_channel_message_ts", ["channel", "message_ts"], unique=False
        )
        batch_op.create_index("ix_drafts_channel_thread_ts", ["channel", "thread_ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_drafts_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_drafts_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_state"))
        batch_op.drop_index(batch_op.f("ix_drafts_run_id"))
        batch_op.drop_index("ix_drafts_channel_thread_ts")
        batch_op.drop_index("ix_drafts_channel_message_ts")

    op.drop_table("drafts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_received_at"))

    op.drop_table("deliveries")
