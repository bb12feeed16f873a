"""Proposals: validation at creation, the state machine, promotion and rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from knowledge.history import (
    TRANSITIONS,
    ConflictError,
    InvalidArgumentError,
    InvalidBlueprintError,
    InvalidPatchError,
    NotFoundError,
    add_version,
    advance_proposal,
    create_proposal,
    create_workflow,
    get_proposal,
    get_version,
    history,
    list_proposals,
    query_audit,
    set_production,
)
from knowledge.store.models import Proposal, ProposalState, VersionOrigin, WorkflowVersion
from tests.knowledge.history.factories import blueprint

P = ProposalState
PATCH = [{"op": "replace", "path": "/steps/1/tool", "value": "svc.rollback"}]
EVIDENCE = {"success": {"predicted": 0.93, "replayed": 0.95, "interval": [0.9, 0.98]}}
#: The legal path from draft to each state.
PATHS = {
    P.DRAFT: [],
    P.EVALUATED: [P.EVALUATED],
    P.CANDIDATE: [P.EVALUATED, P.CANDIDATE],
    P.APPROVED: [P.EVALUATED, P.CANDIDATE, P.APPROVED],
    P.REJECTED: [P.EVALUATED, P.CANDIDATE, P.REJECTED],
    P.PRODUCTION: [P.EVALUATED, P.CANDIDATE, P.APPROVED, P.PRODUCTION],
    P.ROLLED_BACK: [P.EVALUATED, P.CANDIDATE, P.APPROVED, P.PRODUCTION, P.ROLLED_BACK],
}


def propose(session, workflow="deploy", patch=PATCH, **extra):
    return create_proposal(
        session,
        workflow,
        patch,
        rationale="health check fails on cold starts\nmore detail",
        evidence=EVIDENCE,
        created_by="optimizer",
        **extra,
    )


def walk(session, proposal_id, states, registry=None):
    info = None
    for state in states:
        info = advance_proposal(session, proposal_id, state, by="U-reviewer", registry=registry)
    return info


def version_count(session) -> int:
    return session.scalar(select(func.count()).select_from(WorkflowVersion)) or 0


def test_create_proposal_is_a_validated_draft(db, registry):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        before = version_count(s)
        info = propose(s, registry=registry)
        assert version_count(s) == before  # nothing is added yet
        [entry] = query_audit(s, action="proposal.*")
    assert (info.state, info.workflow, info.base_version, info.created_by) == (
        P.DRAFT,
        "deploy",
        1,
        "optimizer",
    )
    assert info.patch == PATCH and info.evidence == EVIDENCE
    assert info.reviewer is None and info.decided_at is None and info.result_version is None
    assert (entry.action, entry.actor, entry.subject_id) == (
        "proposal.draft",
        "optimizer",
        str(info.id),
    )


def test_create_proposal_refuses_bad_patches_and_stores_nothing(db, registry):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        with pytest.raises(InvalidPatchError) as caught:
            propose(s, patch=[{"op": "remove", "path": "/steps/8"}])
        assert caught.value.index == 0 and caught.value.path == "/steps/8"
        with pytest.raises(InvalidBlueprintError) as invalid:
            propose(
                s,
                patch=[{"op": "replace", "path": "/steps/1/tool", "value": "svc.nope"}],
                registry=registry,
            )
        assert [p.loc for p in invalid.value.problems] == ["steps[1].tool"]
        with pytest.raises(InvalidPatchError, match="changes nothing in v1"):
            propose(s, patch=[{"op": "replace", "path": "/name", "value": "deploy"}])
        with pytest.raises(InvalidPatchError, match="changes nothing"):
            propose(s, patch=[])
        assert s.scalar(select(func.count()).select_from(Proposal)) == 0
        assert query_audit(s, action="proposal.*") == []


def test_proposal_against_an_older_base(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="2"), author="U1", origin=VersionOrigin.USER)
        assert propose(s, base_version=1).base_version == 1
        assert propose(s).base_version == 2


def test_full_path_to_production_and_back(db, registry):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
        pid = propose(s).id
        walk(s, pid, [P.EVALUATED, P.CANDIDATE])
        approved = advance_proposal(s, pid, P.APPROVED, by="U-lead", comment="ship it")
        assert (approved.reviewer, approved.review_comment) == ("U-lead", "ship it")
        assert approved.decided_at is not None
        live = advance_proposal(s, pid, P.PRODUCTION, by="U-lead", registry=registry)
        new = get_version(s, "deploy")
        assert live.state is P.PRODUCTION
        assert live.result_version == 2 and live.result_version_id == new.id
        assert (new.number, new.origin, new.author) == (2, VersionOrigin.OPTIMIZER, "optimizer")
        assert new.is_production and new.parent_number == 1 and new.patch == PATCH
        assert new.note == f"proposal #{pid}: health check fails on cold starts"
        assert new.blueprint().steps[1].tool == "svc.rollback"
        assert live.reviewer == "U-lead"  # the decision is kept

        back = advance_proposal(s, pid, P.ROLLED_BACK, by="U-oncall", comment="paging")
        restored = get_version(s, "deploy")
        assert back.state is P.ROLLED_BACK
        assert (restored.number, restored.origin, restored.restores_number) == (
            3,
            VersionOrigin.ROLLBACK,
            1,
        )
        assert restored.blueprint_json == v1.blueprint_json and restored.is_production
        proposal_actions = [e.action for e in reversed(query_audit(s, action="proposal.*"))]
        version_entries = query_audit(s, action="version.*")
    assert proposal_actions == [
        "proposal.draft",
        "proposal.evaluated",
        "proposal.candidate",
        "proposal.approved",
        "proposal.production",
        "proposal.rolled_back",
    ]
    assert [(e.action, e.actor) for e in version_entries[:4]] == [
        ("version.production", "U-oncall"),
        ("version.rollback", "U-oncall"),
        ("version.production", "U-lead"),
        ("version.created", "optimizer"),
    ]


def test_rejection_records_the_reviewer(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        pid = propose(s).id
        walk(s, pid, [P.EVALUATED, P.CANDIDATE])
        info = advance_proposal(s, pid, P.REJECTED, by="U-lead", comment="not convinced")
        assert version_count(s) == 1
    assert (info.state, info.reviewer, info.review_comment) == (
        P.REJECTED,
        "U-lead",
        "not convinced",
    )
    assert info.decided_at is not None and info.result_version_id is None


def test_every_illegal_transition_is_refused(db):
    tried = 0
    with db.session() as s:
        for state, path in PATHS.items():
            create_workflow(s, blueprint(f"wf_{state.value}"), author="U1")
            pid = propose(s, workflow=f"wf_{state.value}").id
            walk(s, pid, path)
            assert get_proposal(s, pid).state is state
            allowed = TRANSITIONS[state]
            for target in P:
                if target in allowed:
                    continue
                with pytest.raises(ConflictError) as caught:
                    advance_proposal(s, pid, target, by="U1")
                message = str(caught.value)
                assert f"is {state.value} and cannot become {target.value}" in message
                for option in allowed:
                    assert option.value in message.split("may become:")[1]
                if not allowed:
                    assert "nothing: it is final" in message
                assert get_proposal(s, pid).state is state
                tried += 1
    # 7 states × 7 targets − 6 legal transitions
    assert tried == 43


def test_promotion_is_refused_when_a_newer_version_exists(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        pid = propose(s).id
        walk(s, pid, [P.EVALUATED, P.CANDIDATE, P.APPROVED])
        add_version(s, "deploy", blueprint(description="2"), author="U1", origin=VersionOrigin.USER)
        with pytest.raises(ConflictError, match="newest version is now v2"):
            advance_proposal(s, pid, P.PRODUCTION, by="U-lead")
        assert get_proposal(s, pid).state is P.APPROVED
        assert [v.number for v in history(s, "deploy")] == [2, 1]


def test_rollback_is_refused_when_production_moved_on(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        pid = propose(s).id
        walk(s, pid, [P.EVALUATED, P.CANDIDATE, P.APPROVED, P.PRODUCTION])
        set_production(s, "deploy", 1, by="U1")
        with pytest.raises(ConflictError, match="no longer production"):
            advance_proposal(s, pid, P.ROLLED_BACK, by="U1")
        assert get_proposal(s, pid).state is P.PRODUCTION


def test_promotion_revalidates_with_the_registry(db, registry):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        pid = propose(s).id
        walk(s, pid, [P.EVALUATED, P.CANDIDATE, P.APPROVED])
        registry.unregister("svc.rollback")
        with pytest.raises(InvalidBlueprintError, match=r"svc\.rollback"):
            advance_proposal(s, pid, P.PRODUCTION, by="U-lead", registry=registry)


def test_advance_errors(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        pid = propose(s).id
        with pytest.raises(InvalidArgumentError):
            advance_proposal(s, pid, P.EVALUATED, by="")
        with pytest.raises(NotFoundError, match="proposal #999"):
            advance_proposal(s, 999, P.EVALUATED, by="U1")
        with pytest.raises(ValueError, match="'shipped' is not a valid ProposalState"):
            advance_proposal(s, pid, "shipped", by="U1")  # type: ignore[arg-type]


def test_list_proposals(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        create_workflow(s, blueprint("release"), author="U1")
        a = propose(s).id
        b = propose(s, workflow="release").id
        c = propose(s).id
        advance_proposal(s, c, P.EVALUATED, by="gate")
        assert [p.id for p in list_proposals(s)] == [c, b, a]
        assert [p.id for p in list_proposals(s, workflow="deploy")] == [c, a]
        assert [p.id for p in list_proposals(s, state=P.DRAFT)] == [b, a]
        assert [p.id for p in list_proposals(s, workflow="deploy", state=P.EVALUATED)] == [c]
        assert list_proposals(s, state=P.PRODUCTION) == []
