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
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(model).values(**values)
        statement: Any = pg.on_conflict_do_update(
            index_elements=list(conflict), set_=dict(update(pg.excluded))
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(model).values(**values)
        statement = lite.on_conflict_do_update(
            index_elements=list(conflict), set_=dict(update(lite.excluded))
        )
    else:  # pragma: no cover - Database refuses other backends
        raise NotImplementedError(f"no upsert for {dialect}")
    session.execute(statement, execution_options={"synchronize_session": False})
