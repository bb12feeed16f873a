"""Exemplar memory: requests and the workflow versions people accepted for them.

A version is accepted when a run of it succeeded, when a person approved it, or when they saved
it; the planner retrieves the most similar past requests (see :mod:`knowledge.search.exemplars`)
and adapts what worked.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.history.audit import audit
from knowledge.history.errors import InvalidArgumentError, NotFoundError
from knowledge.history.views import ExemplarInfo
from knowledge.store.models import Exemplar, WorkflowVersion

AcceptedHow = Literal["ran", "approved", "saved"]


def request_hash(request: str) -> str:
    """The same for requests that differ only in case and spacing."""
    normal = " ".join(request.lower().split())
    return hashlib.sha256(normal.encode()).hexdigest()


def record_exemplar(
    session: Session, request: str, version_id: int, *, how: AcceptedHow, by: str
) -> ExemplarInfo:
    """Remember that ``version_id`` answered ``request`` well. Recording the same request for
    the same version again returns the existing exemplar."""
    request = request.strip()
    if not request:
        raise InvalidArgumentError("an exemplar needs the request's text")
    if how not in ("ran", "approved", "saved"):
        raise InvalidArgumentError(f"accepted how? 'ran', 'approved' or 'saved', not {how!r}")
    version = session.get(WorkflowVersion, version_id)
    if version is None:
        raise NotFoundError(f"workflow version #{version_id} not found")
    digest = request_hash(request)
    existing = session.scalars(
        select(Exemplar).where(Exemplar.request_hash == digest, Exemplar.version_id == version_id)
    ).one_or_none()
    if existing is not None:
        return _info(existing, version.blueprint)
    row = Exemplar(
        request=request,
        request_hash=digest,
        workflow_id=version.workflow_id,
        version_id=version_id,
        accepted_how=how,
        accepted_by=by,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=by,
        action="exemplar.recorded",
        subject_type="workflow_version",
        subject_id=version_id,
        detail={"how": how},
    )
    return _info(row, version.blueprint)


def list_exemplars(session: Session, *, limit: int | None = None) -> list[ExemplarInfo]:
    """Every exemplar, newest first."""
    query = select(Exemplar).order_by(Exemplar.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.scalars(query))
    versions = select(WorkflowVersion.id, WorkflowVersion.blueprint).where(
        WorkflowVersion.id.in_({row.version_id for row in rows})
    )
    blueprints: dict[int, dict[str, Any]] = {}
    for version_id, blueprint in session.execute(versions):
        blueprints[version_id] = blueprint
    return [_info(row, blueprints[row.version_id]) for row in rows]


def _info(row: Exemplar, blueprint: dict[str, Any]) -> ExemplarInfo:
    return ExemplarInfo(
        id=row.id,
        request=row.request,
        blueprint=blueprint,
        workflow_id=row.workflow_id,
        version_id=row.version_id,
        accepted_how=row.accepted_how,
        accepted_by=row.accepted_by,
        created_at=row.created_at,
    )
