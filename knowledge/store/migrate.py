"""Schema migrations: upgrade, downgrade, where a database stands, and model/migration drift.

Kaizen upgrades its database on start (:func:`upgrade`); ``kaizen db upgrade`` and
``kaizen db current`` do it by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from knowledge.store.database import Database, DatabaseError
from knowledge.store.models import Base

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations in migrations/versions"
    return head


def current_revision(db: Database) -> str | None:
    """The migration the database is at (``None``: empty database)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _with_connection(db: Database, action: Any, *args: Any) -> None:
    config = alembic_config(db.engine)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, *args)


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Bring the schema up to ``revision`` (default: newest); returns where it ends up."""
    _with_connection(db, command.upgrade, revision)
    return current_revision(db)


def downgrade(db: Database, revision: str = "base") -> str | None:
    """Take the schema down to ``revision`` (``base``: nothing left)."""
    _with_connection(db, command.downgrade, revision)
    return current_revision(db)


def revision(db: Database, message: str) -> None:
    """Write a new migration with what the models add to the (up-to-date) database."""
    _with_connection(db, lambda config, m: command.revision(config, m, autogenerate=True), message)


def schema_drift(db: Database) -> list[Any]:
    """What autogenerate would put in a new migration: empty when the models match."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def is_known(revision_id: str) -> bool:
    """Whether ``revision_id`` is one of the migrations this code ships."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision_id) is not None
    except Exception:  # alembic raises its ResolutionError for unknown ids
        return False


def ensure_current(db: Database) -> str | None:
    """Upgrade on start, unless the database is already at head. A database migrated by a
    newer Kaizen (a revision this code does not know) is refused."""
    current = current_revision(db)
    head = head_revision()
    if current == head:
        return current
    if current is not None and not is_known(current):
        raise DatabaseError(
            f"the database is at migration {current}, which this Kaizen does not know "
            "(was it upgraded by a newer Kaizen?)"
        )
    return upgrade(db)
