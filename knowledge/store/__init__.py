"""The database: models, migrations, sessions, and what is written to it.

- :mod:`knowledge.store.models` — the tables (SQLAlchemy 2 typed models);
- :mod:`knowledge.store.database` — opening SQLite or PostgreSQL, sessions;
- :mod:`knowledge.store.migrate` — Alembic upgrade / downgrade / current / drift;
- :mod:`knowledge.store.redaction` — secrets out and big outputs truncated before writing;
- :mod:`knowledge.store.types` — column types that behave alike on both databases.
"""

from __future__ import annotations

from knowledge.store.database import Database, DatabaseError, default_database_url
from knowledge.store.migrate import ensure_current


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Open the database at ``url`` and (by default) bring its schema up to date."""
    db = Database(url)
    if upgrade:
        try:
            ensure_current(db)
        except Exception:
            db.dispose()
            raise
    return db


__all__ = ["Database", "DatabaseError", "default_database_url", "open_database"]
