"""The prompt registry: versioned prompts (the planner's, LLM steps') with lineage and
measured fitness.

Each name has versions 1, 2, 3…; at most one is active (what callers use); a version's
parent is the prompt it was derived from. Audit actions: ``prompt.created``,
``prompt.activated``.
"""

from __future__ import annotations

import math
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from knowledge.history.audit import audit
from knowledge.history.errors import InvalidArgumentError, NotFoundError
from knowledge.history.views import PromptInfo
from knowledge.store.models import Prompt
from knowledge.store.types import utcnow


def add_prompt(
    session: Session,
    name: str,
    text: str,
    *,
    author: str,
    note: str = "",
    parent: int | None = None,
    activate: bool = False,
) -> PromptInfo:
    """Add the next version of prompt ``name``. ``parent`` (a prompt id) defaults to the
    newest version of that name; ``activate`` makes the new version the active one."""
    if not name:
        raise InvalidArgumentError("a prompt needs a name")
    if not text.strip():
        raise InvalidArgumentError(f"prompt '{name}' needs a text")
    if parent is not None:
        _row(session, parent)
    else:
        parent = session.scalar(
            select(Prompt.id).where(Prompt.name == name).order_by(Prompt.version.desc()).limit(1)
        )
    latest = session.scalar(select(func.max(Prompt.version)).where(Prompt.name == name))
    row = Prompt(
        name=name,
        version=(latest or 0) + 1,
        parent_id=parent,
        text=text,
        author=author,
        note=note,
        fitness=None,
        fitness_samples=0,
        active=False,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=author,
        action="prompt.created",
        subject_type="prompt",
        subject_id=f"{name}@v{row.version}",
        detail={"prompt_id": row.id, "parent_id": parent},
    )
    if activate:
        return activate_prompt(session, row.id, by=author)
    return _info(row)


def activate_prompt(session: Session, prompt_id: int, *, by: str) -> PromptInfo:
    """Make this version the active one of its name (the others become inactive)."""
    row = _row(session, prompt_id)
    session.execute(
        update(Prompt)
        .where(Prompt.name == row.name, Prompt.id != row.id, Prompt.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    was_active = row.active
    row.active = True
    session.flush()
    if not was_active:
        audit(
            session,
            actor=by,
            action="prompt.activated",
            subject_type="prompt",
            subject_id=f"{row.name}@v{row.version}",
            detail={"prompt_id": row.id},
        )
    return _info(row)


def record_fitness(
    session: Session, prompt_id: int, score: float, *, samples: int = 1
) -> PromptInfo:
    """Fold ``samples`` measurements whose mean is ``score`` into the prompt's running mean
    fitness. One UPDATE does it, so concurrent recorders do not lose measurements."""
    if samples < 1:
        raise InvalidArgumentError(f"samples must be at least 1, not {samples}")
    if not math.isfinite(score):
        raise InvalidArgumentError(f"a fitness score must be a finite number, not {score}")
    # One UPDATE, before any read: it is atomic, and on SQLite it takes the write lock first.
    total = func.coalesce(Prompt.fitness, 0.0) * Prompt.fitness_samples + float(score) * samples
    result = session.execute(
        update(Prompt)
        .where(Prompt.id == prompt_id)
        .values(
            fitness=total / (Prompt.fitness_samples + samples),
            fitness_samples=Prompt.fitness_samples + samples,
        )
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", result).rowcount == 0:
        raise NotFoundError(f"prompt #{prompt_id} not found")
    return _info(_row(session, prompt_id, refresh=True))


def active_prompt(session: Session, name: str) -> PromptInfo:
    """The active version of ``name``, else its newest."""
    row = session.scalars(
        select(Prompt)
        .where(Prompt.name == name)
        .order_by(Prompt.active.desc(), Prompt.version.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        names = list(session.scalars(select(Prompt.name).distinct().order_by(Prompt.name)))
        known = f"; known: {', '.join(names)}" if names else "; there are no prompts yet"
        raise NotFoundError(f"prompt '{name}' not found{known}")
    return _info(row)


def get_prompt(session: Session, prompt_id: int) -> PromptInfo:
    """The prompt version with id ``prompt_id``."""
    return _info(_row(session, prompt_id))


def prompt_lineage(session: Session, prompt_id: int) -> list[PromptInfo]:
    """The prompt and its ancestors, following parent links to the root (the prompt first)."""
    lineage: list[PromptInfo] = []
    seen: set[int] = set()
    current: int | None = prompt_id
    while current is not None and current not in seen:
        seen.add(current)
        row = _row(session, current)
        lineage.append(_info(row))
        current = row.parent_id
    return lineage


def _row(session: Session, prompt_id: int, *, refresh: bool = False) -> Prompt:
    row = session.get(Prompt, prompt_id, populate_existing=refresh)
    if row is None:
        raise NotFoundError(f"prompt #{prompt_id} not found")
    return row


def _info(row: Prompt) -> PromptInfo:
    return PromptInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        parent_id=row.parent_id,
        text=row.text,
        author=row.author,
        note=row.note,
        fitness=row.fitness,
        fitness_samples=row.fitness_samples,
        active=row.active,
        created_at=row.created_at,
    )
