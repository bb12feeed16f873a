"""The audit log: the one place that writes entries, and queries over them.

Actions used across Kaizen: ``run.started``, ``run.finished``, ``run.needs_attention``,
``run.resolved``, ``approval.requested``, ``approval.granted``, ``approval.denied``,
``permission.denied``, ``version.created``, ``version.production``, ``version.rollback``,
``proposal.<state>``, ``feedback.recorded``, ``prompt.created``, ``prompt.activated``,
``budget.updated``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from knowledge.history._lookup import require_aware
from knowledge.history.errors import InvalidArgumentError
from knowledge.history.views import AuditInfo
from knowledge.store.models import AuditEntry
from knowledge.store.types import utcnow


def audit(
    executor: Session | Connection,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit entry (in the caller's transaction: it commits with the change). Takes
    a session, or the connection of a transaction in progress."""
    if not actor:
        raise InvalidArgumentError("an audit entry needs an actor")
    if not action:
        raise InvalidArgumentError("an audit entry needs an action")
    executor.execute(
        _INSERT_ENTRY,
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "detail": dict(detail or {}),
        },
    )


_INSERT_ENTRY = insert(AuditEntry)


def query_audit(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[AuditInfo]:
    """Audit entries, newest first. ``action`` may end in ``.*`` to match a family
    (``proposal.*``); ``since`` is inclusive."""
    stmt = select(AuditEntry)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action is not None:
        if action.endswith(".*"):
            stmt = stmt.where(AuditEntry.action.startswith(action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == action)
    if subject_type is not None:
        stmt = stmt.where(AuditEntry.subject_type == subject_type)
    if subject_id is not None:
        stmt = stmt.where(AuditEntry.subject_id == str(subject_id))
    if require_aware(since, "since") is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return [
        AuditInfo(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            detail=dict(row.detail or {}),
        )
        for row in session.scalars(stmt)
    ]
