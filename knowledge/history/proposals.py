"""Proposals: JSON Patches against a workflow version, moved through their review states.

::

    draft → evaluated → candidate → approved → production → rolled_back
                                  ↘ rejected

Reaching ``production`` adds the patched blueprint as a new version (origin ``optimizer``,
authored by the proposal's creator) and makes it production; ``rolled_back`` adds a version
restoring the base and makes that production. A proposal is promoted only onto the version
its evidence was measured on: if another version was added since, it is refused
(:class:`ConflictError`) and should be proposed again against the new version.

Audit actions: ``proposal.<state>`` (``proposal.draft`` when created).
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from engine.tools.registry import ToolRegistry
from knowledge.history._lookup import (
    WorkflowRef,
    newest_version_row,
    version_row,
    workflow_row,
)
from knowledge.history.audit import audit
from knowledge.history.blueprints import patched_blueprint
from knowledge.history.errors import (
    ConflictError,
    InvalidArgumentError,
    InvalidPatchError,
    NotFoundError,
)
from knowledge.history.views import ProposalInfo
from knowledge.history.workflows import add_version_from_patch, rollback, set_production
from knowledge.store.models import (
    Proposal,
    ProposalState,
    VersionOrigin,
    Workflow,
    WorkflowVersion,
)
from knowledge.store.types import utcnow

#: Where a proposal may go from each state.
TRANSITIONS: dict[ProposalState, tuple[ProposalState, ...]] = {
    ProposalState.DRAFT: (ProposalState.EVALUATED,),
    ProposalState.EVALUATED: (ProposalState.CANDIDATE,),
    ProposalState.CANDIDATE: (ProposalState.APPROVED, ProposalState.REJECTED),
    ProposalState.APPROVED: (ProposalState.PRODUCTION,),
    ProposalState.REJECTED: (),
    ProposalState.PRODUCTION: (ProposalState.ROLLED_BACK,),
    ProposalState.ROLLED_BACK: (),
}
#: States that record a reviewer's decision (``reviewer``, ``review_comment``, ``decided_at``).
DECISIONS = frozenset({ProposalState.APPROVED, ProposalState.REJECTED})


def create_proposal(
    session: Session,
    workflow: WorkflowRef,
    patch: Any,
    *,
    rationale: str,
    evidence: dict[str, Any],
    created_by: str,
    base_version: int | None = None,
    registry: ToolRegistry | None = None,
) -> ProposalInfo:
    """A ``draft`` proposal to apply ``patch`` to version ``base_version`` (default the
    newest). The patch is checked like :func:`add_version_from_patch` (it must apply, and the
    result must validate and differ from the base), but no version is added."""
    if not created_by:
        raise InvalidArgumentError("a proposal needs its creator")
    row = workflow_row(session, workflow)
    base = (
        newest_version_row(session, row)
        if base_version is None
        else version_row(session, row, base_version)
    )
    _, document = patched_blueprint(base.blueprint, patch, registry, name=row.name)
    if document == base.blueprint:
        raise InvalidPatchError(f"the patch changes nothing in v{base.number}")
    now = utcnow()
    proposal = Proposal(
        workflow_id=row.id,
        base_version_id=base.id,
        patch=copy.deepcopy([dict(op) for op in patch]),
        rationale=rationale,
        evidence=copy.deepcopy(evidence),
        state=ProposalState.DRAFT.value,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(proposal)
    session.flush()
    audit(
        session,
        actor=created_by,
        action="proposal.draft",
        subject_type="proposal",
        subject_id=proposal.id,
        detail={"workflow": row.name, "base_version": base.number, "ops": len(proposal.patch)},
    )
    return get_proposal(session, proposal.id)


def advance_proposal(
    session: Session,
    proposal_id: int,
    to_state: ProposalState,
    *,
    by: str,
    comment: str | None = None,
    registry: ToolRegistry | None = None,
) -> ProposalInfo:
    """Move a proposal to ``to_state`` (see the module's state machine).

    ``approved`` and ``rejected`` record ``by`` as the reviewer, with ``comment`` and the
    time. ``production`` adds and promotes the new version (validated with ``registry`` when
    given); ``rolled_back`` restores the base version. Illegal transitions raise
    :class:`ConflictError` naming the allowed ones.
    """
    if not by:
        raise InvalidArgumentError("say who advances the proposal (by=…)")
    target = ProposalState(to_state)
    proposal = session.scalars(
        select(Proposal).where(Proposal.id == proposal_id).with_for_update()
    ).one_or_none()
    if proposal is None:
        raise NotFoundError(f"proposal #{proposal_id} not found")
    current = ProposalState(proposal.state)
    allowed = TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(state.value for state in allowed) or "nothing: it is final"
        raise ConflictError(
            f"proposal #{proposal_id} is {current.value} and cannot become {target.value} "
            f"(from {current.value} it may become: {options})"
        )
    workflow = workflow_row(session, proposal.workflow_id, lock=True)
    base = session.get(WorkflowVersion, proposal.base_version_id)
    assert base is not None  # a foreign key
    detail: dict[str, Any] = {"workflow": workflow.name, "from": current.value}
    if target is ProposalState.PRODUCTION:
        proposal.result_version_id = _promote(session, proposal, workflow, base, by, registry)
    elif target is ProposalState.ROLLED_BACK:
        _roll_back(session, proposal, workflow, base, by)
    if target in DECISIONS:
        proposal.reviewer = by
        proposal.review_comment = comment
        proposal.decided_at = utcnow()
    if comment:
        detail["comment"] = comment
    proposal.state = target.value
    proposal.updated_at = utcnow()
    session.flush()
    info = get_proposal(session, proposal.id)
    if info.result_version is not None:
        detail["result_version"] = info.result_version
    audit(
        session,
        actor=by,
        action=f"proposal.{target.value}",
        subject_type="proposal",
        subject_id=proposal.id,
        detail=detail,
    )
    return info


def get_proposal(session: Session, proposal_id: int) -> ProposalInfo:
    """The proposal ``proposal_id``."""
    found = session.execute(_select().where(Proposal.id == proposal_id)).one_or_none()
    if found is None:
        raise NotFoundError(f"proposal #{proposal_id} not found")
    return _view(*found)


def list_proposals(
    session: Session,
    *,
    workflow: WorkflowRef | None = None,
    state: ProposalState | None = None,
) -> list[ProposalInfo]:
    """Proposals matching the filters, newest first."""
    stmt = _select()
    if workflow is not None:
        stmt = stmt.where(Proposal.workflow_id == workflow_row(session, workflow).id)
    if state is not None:
        stmt = stmt.where(Proposal.state == ProposalState(state).value)
    stmt = stmt.order_by(Proposal.created_at.desc(), Proposal.id.desc())
    return [_view(*found) for found in session.execute(stmt)]


# ---------------------------------------------------------------------------- internals


def _promote(
    session: Session,
    proposal: Proposal,
    workflow: Workflow,
    base: WorkflowVersion,
    by: str,
    registry: ToolRegistry | None,
) -> int:
    newest = newest_version_row(session, workflow)
    if newest.id != base.id:
        raise ConflictError(
            f"proposal #{proposal.id} was made against v{base.number} of '{workflow.name}', "
            f"but the newest version is now v{newest.number}: propose it again against "
            f"v{newest.number}"
        )
    summary = proposal.rationale.strip().splitlines()[0] if proposal.rationale.strip() else ""
    version = add_version_from_patch(
        session,
        workflow.id,
        proposal.patch,
        author=proposal.created_by,
        origin=VersionOrigin.OPTIMIZER,
        note=f"proposal #{proposal.id}" + (f": {summary}" if summary else ""),
        base=base.number,
        registry=registry,
    )
    set_production(session, workflow.id, version.number, by=by)
    return version.id


def _roll_back(
    session: Session, proposal: Proposal, workflow: Workflow, base: WorkflowVersion, by: str
) -> None:
    if workflow.production_version_id != proposal.result_version_id:
        live = session.get(WorkflowVersion, workflow.production_version_id or -1)
        result = session.get(WorkflowVersion, proposal.result_version_id or -1)
        raise ConflictError(
            f"proposal #{proposal.id}'s version "
            f"v{result.number if result else '?'} is no longer production "
            f"(v{live.number if live else '?'} is): roll '{workflow.name}' back by hand"
        )
    rollback(session, workflow.id, base.number, by=by, note=f"proposal #{proposal.id} rolled back")


_Base = aliased(WorkflowVersion)
_Result = aliased(WorkflowVersion)


def _select() -> Select[Proposal, str, int, int | None]:
    return (
        select(Proposal, Workflow.name, _Base.number, _Result.number)
        .join(Workflow, Workflow.id == Proposal.workflow_id)
        .join(_Base, _Base.id == Proposal.base_version_id)
        .outerjoin(_Result, _Result.id == Proposal.result_version_id)
    )


def _view(row: Proposal, workflow: str, base: int, result: int | None) -> ProposalInfo:
    return ProposalInfo(
        id=row.id,
        workflow_id=row.workflow_id,
        workflow=workflow,
        base_version_id=row.base_version_id,
        base_version=base,
        patch=copy.deepcopy(list(row.patch)),
        rationale=row.rationale,
        evidence=copy.deepcopy(dict(row.evidence or {})),
        state=ProposalState(row.state),
        created_by=row.created_by,
        reviewer=row.reviewer,
        review_comment=row.review_comment,
        result_version_id=row.result_version_id,
        result_version=result,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_at=row.decided_at,
    )
