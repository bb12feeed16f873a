"""Exact JSON for values runs read back; an index for an object's audit trail

``runs.inputs``, ``runs.outputs`` and ``step_records.output`` become ``json`` on PostgreSQL
(``jsonb`` reorders keys, and a resumed run's templates may see the order). SQLite stores JSON
as text already: nothing changes there but the new index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:56:57
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable, comment)
EXACT_COLUMNS = (
    ("runs", "inputs", False, None),
    ("runs", "outputs", True, None),
    ("step_records", "output", True, "redacted, truncated when large"),
)


def upgrade() -> None:
    op.create_index(
        "ix_audit_log_subject", "audit_log", ["subject_type", "subject_id"], unique=False
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable, comment in EXACT_COLUMNS:
        op.alter_column(
            table,
            column,
            existing_type=postgresql.JSONB(astext_type=sa.Text()),
            type_=sa.JSON(),
            existing_nullable=nullable,
            existing_comment=comment,
            postgresql_using=f"{column}::json",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, nullable, comment in EXACT_COLUMNS:
            op.alter_column(
                table,
                column,
                existing_type=sa.JSON(),
                type_=postgresql.JSONB(astext_type=sa.Text()),
                existing_nullable=nullable,
                existing_comment=comment,
                postgresql_using=f"{column}::jsonb",
            )
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
