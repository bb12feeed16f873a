"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 05:25:02.874369
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import knowledge.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "patterns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False, comment="hash of the sequence"),
        sa.Column(
            "tools",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("support", sa.Integer(), nullable=False, comment="sessions it appeared in"),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column(
            "example_runs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("first_seen", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patterns")),
        sa.UniqueConstraint("key", name=op.f("uq_patterns_key")),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("fitness", sa.Float(), nullable=True, comment="measured score, higher is better"),
        sa.Column("fitness_samples", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["prompts.id"], name=op.f("fk_prompts_parent_id_prompts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_prompts_name")),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("production_version_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("name", name=op.f("uq_workflows_name")),
    )
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=True),
        sa.Column("daily_tokens", sa.Integer(), nullable=True),
        sa.Column("daily_usd", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_budgets_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_budgets_workflow_id")),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_usage_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage")),
        sa.UniqueConstraint("day", "workflow_id", name=op.f("uq_usage_day")),
    )
    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, comment="1, 2, 3… within the workflow"),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "blueprint",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("blueprint_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "patch",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="RFC 6902 JSON Patch from the parent version's blueprint",
        ),
        sa.Column(
            "origin", sa.String(length=20), nullable=False, comment="user, planner, feedback, …"
        ),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "restores_version_id",
            sa.Integer(),
            nullable=True,
            comment="for rollbacks: the version restored",
        ),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["workflow_versions.id"],
            name=op.f("fk_workflow_versions_parent_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["restores_version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_workflow_versions_restores_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_versions_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint("workflow_id", "number", name=op.f("uq_workflow_versions_workflow_id")),
    )
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_versions_blueprint_hash"), ["blueprint_hash"], unique=False
        )
    # workflows <-> workflow_versions reference each other: this key comes after both tables
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_workflows_production_version_id_workflow_versions"),
            "workflow_versions",
            ["production_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=False),
        sa.Column(
            "patch",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.Column("result_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_proposals_base_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["result_version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_proposals_result_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_proposals_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposals_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("inputs_redacted", sa.Boolean(), nullable=False),
        sa.Column(
            "outputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_step", sa.String(length=200), nullable=True),
        sa.Column(
            "attention",
            sa.Text(),
            nullable=True,
            comment="why the run needs a person (needs_attention)",
        ),
        sa.Column(
            "issues",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column(
            "owner",
            sa.String(length=200),
            nullable=True,
            comment="host:pid of the process running it",
        ),
        sa.Column(
            "lease_expires_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("resumes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_runs_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_runs_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_runs_idempotency_key")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_version_id"), ["version_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("tool", sa.String(length=200), nullable=False),
        sa.Column(
            "approvers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("requested_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_approvals_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("run_id", "step_id", name=op.f("uq_approvals_run_id")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False, comment="reaction or improve"),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("step_id", sa.String(length=200), nullable=True),
        sa.Column("workflow_id", sa.Integer(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("reaction", sa.String(length=100), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False, comment="+1 good, -1 bad, 0 neutral"),
        sa.Column("created_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_feedback_run_id_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_feedback_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_feedback_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "step_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("tool", sa.String(length=200), nullable=False),
        sa.Column(
            "kind", sa.String(length=20), nullable=False, comment="action, fallback or compensation"
        ),
        sa.Column("item_index", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "final", sa.Boolean(), nullable=False, comment="settles the step's status and output"
        ),
        sa.Column(
            "side_effect",
            sa.String(length=20),
            nullable=False,
            comment="none, idempotent, mutating",
        ),
        sa.Column("started_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", knowledge.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column(
            "issues",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="redacted, truncated when large",
        ),
        sa.Column("output_hash", sa.String(length=64), nullable=True),
        sa.Column("output_summary", sa.Text(), nullable=True),
        sa.Column("output_size", sa.Integer(), nullable=True),
        sa.Column("output_truncated", sa.Boolean(), nullable=False),
        sa.Column("output_redacted", sa.Boolean(), nullable=False),
        sa.Column("error_class", sa.String(length=200), nullable=True),
        sa.Column("error_category", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "decided_by",
            sa.String(length=200),
            nullable=True,
            comment="who settled an interrupted call by hand",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_step_records_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_records")),
    )
    with op.batch_alter_table("step_records", schema=None) as batch_op:
        batch_op.create_index("ix_step_records_run_step", ["run_id", "step_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_step_records_started_at"), ["started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_step_records_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_step_records_tool"), ["tool"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("step_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_records_tool"))
        batch_op.drop_index(batch_op.f("ix_step_records_status"))
        batch_op.drop_index(batch_op.f("ix_step_records_started_at"))
        batch_op.drop_index("ix_step_records_run_step")

    op.drop_table("step_records")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_run_id"))

    op.drop_table("feedback")
    op.drop_table("approvals")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_runs_version_id"))
        batch_op.drop_index(batch_op.f("ix_runs_status"))
        batch_op.drop_index(batch_op.f("ix_runs_created_at"))

    op.drop_table("runs")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposals_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_proposals_state"))

    op.drop_table("proposals")
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_versions_blueprint_hash"))

    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_workflows_production_version_id_workflow_versions"), type_="foreignkey"
        )
    op.drop_table("workflow_versions")
    op.drop_table("usage")
    op.drop_table("budgets")
    op.drop_table("workflows")
    op.drop_table("prompts")
    op.drop_table("patterns")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
