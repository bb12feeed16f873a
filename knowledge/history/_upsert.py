"""INSERT … ON CONFLICT DO UPDATE on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from knowledge.store.models import Base


def upsert(
    session: Session,
    model: type[Base],
    values: Mapping[str, Any],
    *,
    conflict: Sequence[str],
    update: Callable[[Any], Mapping[str, Any]],
) -> None:
    """Insert ``values`` into ``model``'s table or, when a row with the same ``conflict``
    columns exists, update it with ``update(excluded)`` (``excluded`` is the proposed row,
    the model's columns are the existing one), atomically in one statement."""
    insert = dialect_insert(session.get_bind().dialect.name, model).values(**values)
    statement = insert.on_conflict_do_update(
        index_elements=list(conflict), set_=dict(update(insert.excluded))
    )
    session.execute(statement, execution_options={"synchronize_session": False})


def dialect_insert(dialect: str, model: type[Base]) -> Any:
    """The INSERT of ``dialect`` that knows ``ON CONFLICT`` (SQLite's or PostgreSQL's)."""
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"no upsert for {dialect}")  # Database refuses other backends
