"""Finding workflows and versions by name, id or number, with errors that say what exists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.problems import did_you_mean
from knowledge.history.errors import InvalidArgumentError, NotFoundError
from knowledge.store.models import Workflow, WorkflowVersion

#: A workflow named by its name or its id.
WorkflowRef = str | int

_KNOWN_SHOWN = 20


def workflow_row(session: Session, ref: WorkflowRef, *, lock: bool = False) -> Workflow:
    """The workflow ``ref`` names; ``lock`` takes a row lock (``FOR UPDATE`` on PostgreSQL)
    so that concurrent version changes of one workflow queue up."""
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise InvalidArgumentError(f"a workflow is named by its name or id, not {ref!r}")
    column = Workflow.id if isinstance(ref, int) else Workflow.name
    stmt = select(Workflow).where(column == ref)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFoundError(_not_found_message(session, ref))
    return row


def _not_found_message(session: Session, ref: WorkflowRef) -> str:
    names = list(
        session.scalars(select(Workflow.name).order_by(Workflow.name).limit(_KNOWN_SHOWN + 1))
    )
    what = f"workflow #{ref}" if isinstance(ref, int) else f"workflow '{ref}'"
    if not names:
        return f"{what} not found; there are no workflows yet"
    shown = ", ".join(names[:_KNOWN_SHOWN]) + (", …" if len(names) > _KNOWN_SHOWN else "")
    hint = did_you_mean(ref, names) if isinstance(ref, str) else None
    return f"{what} not found" + (f" ({hint})" if hint else "") + f"; known: {shown}"


def version_row(session: Session, workflow: Workflow, number: int) -> WorkflowVersion:
    """Version ``number`` of ``workflow``."""
    row = session.scalars(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == number
        )
    ).one_or_none()
    if row is None:
        low, high = session.execute(
            select(func.min(WorkflowVersion.number), func.max(WorkflowVersion.number)).where(
                WorkflowVersion.workflow_id == workflow.id
            )
        ).one()
        has = f"versions {low}–{high}" if low is not None and low != high else f"version {low}"
        raise NotFoundError(
            f"workflow '{workflow.name}' has no version {number}"
            + (f" (it has {has})" if low is not None else " (it has no versions)")
        )
    return row


def newest_version_row(session: Session, workflow: Workflow) -> WorkflowVersion:
    """The workflow's highest-numbered version."""
    row = session.scalars(
        select(WorkflowVersion)
        .where(WorkflowVersion.workflow_id == workflow.id)
        .order_by(WorkflowVersion.number.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"workflow '{workflow.name}' has no versions")
    return row


def version_id_for(
    session: Session, workflow: WorkflowRef | None, version: int | None
) -> int | None:
    """The id of ``version`` (a number) of ``workflow``; a version needs its workflow."""
    if version is None:
        return None
    if workflow is None:
        raise InvalidArgumentError(
            f"version {version} is a number within a workflow: name the workflow too"
        )
    return version_row(session, workflow_row(session, workflow), version).id


def require_aware(value: datetime | None, name: str) -> datetime | None:
    """``value``, refused when it has no time zone (Kaizen stores aware UTC times only)."""
    if value is not None and value.tzinfo is None:
        raise InvalidArgumentError(f"{name}={value.isoformat()} has no time zone; use UTC times")
    return value
