"""Patterns: frequent tool sequences found across sessions, and what became of them
(``new`` → ``posted`` in a digest → ``saved`` as a workflow or ``dismissed``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.history._upsert import upsert
from knowledge.history.errors import InvalidArgumentError, NotFoundError
from knowledge.history.views import PatternInfo, PatternState
from knowledge.store.models import Pattern
from knowledge.store.types import utcnow


def pattern_key(tools: Sequence[str]) -> str:
    """SHA-256 (hex) of the tool sequence (order matters)."""
    return hashlib.sha256(json.dumps(list(tools), ensure_ascii=False).encode("utf-8")).hexdigest()


def upsert_pattern(
    session: Session,
    tools: list[str],
    *,
    support: int,
    success_rate: float,
    example_runs: list[str],
) -> PatternInfo:
    """Record a pattern, or refresh the one with the same tool sequence: its support, success
    rate and example runs are replaced by these and ``last_seen`` is now; its state and
    ``first_seen`` are kept (a dismissed pattern stays dismissed)."""
    if not tools:
        raise InvalidArgumentError("a pattern needs at least one tool")
    if support < 0:
        raise InvalidArgumentError(f"support cannot be negative ({support})")
    if not 0.0 <= success_rate <= 1.0:
        raise InvalidArgumentError(f"success_rate is a fraction in [0, 1], not {success_rate}")
    key = pattern_key(tools)
    now = utcnow()
    upsert(
        session,
        Pattern,
        {
            "key": key,
            "tools": list(tools),
            "support": support,
            "success_rate": success_rate,
            "example_runs": list(example_runs),
            "state": PatternState.NEW.value,
            "first_seen": now,
            "last_seen": now,
        },
        conflict=["key"],
        update=lambda new: {
            "support": new.support,
            "success_rate": new.success_rate,
            "example_runs": new.example_runs,
            "last_seen": new.last_seen,
        },
    )
    row = session.scalars(
        select(Pattern).where(Pattern.key == key).execution_options(populate_existing=True)
    ).one()
    return _info(row)


def list_patterns(
    session: Session, *, min_support: int = 1, state: PatternState | None = None
) -> list[PatternInfo]:
    """Patterns with at least ``min_support``, most supported (then most successful) first."""
    stmt = select(Pattern).where(Pattern.support >= min_support)
    if state is not None:
        stmt = stmt.where(Pattern.state == PatternState(state).value)
    stmt = stmt.order_by(Pattern.support.desc(), Pattern.success_rate.desc(), Pattern.id)
    return [_info(row) for row in session.scalars(stmt)]


def set_pattern_state(session: Session, pattern_id: int, state: PatternState) -> PatternInfo:
    """Mark a pattern ``new``, ``posted``, ``saved`` or ``dismissed``."""
    try:
        value = PatternState(state)
    except ValueError:
        known = ", ".join(s.value for s in PatternState)
        raise InvalidArgumentError(f"unknown pattern state {state!r} (one of: {known})") from None
    row = session.get(Pattern, pattern_id)
    if row is None:
        raise NotFoundError(f"pattern #{pattern_id} not found")
    row.state = value.value
    session.flush()
    return _info(row)


def _info(row: Pattern) -> PatternInfo:
    return PatternInfo(
        id=row.id,
        key=row.key,
        tools=[str(tool) for tool in row.tools],
        support=row.support,
        success_rate=row.success_rate,
        example_runs=[str(run) for run in row.example_runs or []],
        state=PatternState(row.state),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )
