"""Alembic's entry point: runs migrations on the connection :mod:`knowledge.store.migrate`
hands over (or on ``sqlalchemy.url`` when started by the ``alembic`` command)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from knowledge.store.models import Base

#: Held while migrating so two Kaizen processes starting together do not both upgrade.
POSTGRES_MIGRATION_LOCK = 7_344_521_001


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": POSTGRES_MIGRATION_LOCK})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Kaizen's migrations run online only (kaizen db upgrade)")
run_migrations_online()
