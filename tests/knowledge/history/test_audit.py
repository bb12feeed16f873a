"""The audit log: writing, and querying by each filter, newest first."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from knowledge.history import InvalidArgumentError, audit, query_audit
from knowledge.store.models import AuditEntry
from knowledge.store.types import utcnow


def test_audit_writes_an_entry(db):
    with db.session() as s:
        audit(
            s,
            actor="U1",
            action="run.started",
            subject_type="run",
            subject_id="r1",
            detail={"workflow": "deploy"},
        )
    with db.session() as s:
        [entry] = query_audit(s)
    assert (entry.actor, entry.action, entry.subject_type, entry.subject_id) == (
        "U1",
        "run.started",
        "run",
        "r1",
    )
    assert entry.detail == {"workflow": "deploy"}
    assert entry.at.tzinfo is not None and utcnow() - entry.at < timedelta(minutes=5)


def test_audit_needs_actor_and_action(db):
    with db.session() as s:
        with pytest.raises(InvalidArgumentError):
            audit(s, actor="", action="x", subject_type="run", subject_id=1)
        with pytest.raises(InvalidArgumentError):
            audit(s, actor="U1", action="", subject_type="run", subject_id=1)


@pytest.fixture
def entries(db):
    with db.session() as s:
        for actor, action, subject_type, subject_id in [
            ("U1", "run.started", "run", "r1"),
            ("U2", "approval.requested", "run", "r1"),
            ("U3", "approval.granted", "run", "r1"),
            ("U1", "run.finished", "run", "r1"),
            ("bot", "proposal.draft", "proposal", 7),
            ("U3", "proposal.approved", "proposal", 7),
            ("U4", "permission.denied", "run", "r2"),
        ]:
            audit(s, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id)
    return db


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {},
            [
                "permission.denied",
                "proposal.approved",
                "proposal.draft",
                "run.finished",
                "approval.granted",
                "approval.requested",
                "run.started",
            ],
        ),
        ({"actor": "U3"}, ["proposal.approved", "approval.granted"]),
        ({"action": "run.started"}, ["run.started"]),
        ({"action": "proposal.*"}, ["proposal.approved", "proposal.draft"]),
        ({"action": "approval.*", "actor": "U2"}, ["approval.requested"]),
        ({"subject_type": "proposal", "subject_id": 7}, ["proposal.approved", "proposal.draft"]),
        ({"subject_type": "run", "subject_id": "r2"}, ["permission.denied"]),
        ({"limit": 2}, ["permission.denied", "proposal.approved"]),
    ],
)
def test_query_audit_filters(entries, filters, expected):
    with entries.session() as s:
        found = [e.action for e in query_audit(s, **filters)]
    assert found == expected


def test_query_audit_since(db):
    now = utcnow()
    with db.session() as s:
        s.add(
            AuditEntry(
                at=now - timedelta(days=2),
                actor="U1",
                action="old",
                subject_type="run",
                subject_id="r0",
                detail={},
            )
        )
        s.add(
            AuditEntry(
                at=now, actor="U1", action="new", subject_type="run", subject_id="r1", detail={}
            )
        )
    with db.session() as s:
        assert [e.action for e in query_audit(s, since=now - timedelta(days=1))] == ["new"]
        assert [e.action for e in query_audit(s)] == ["new", "old"]
        with pytest.raises(InvalidArgumentError):
            query_audit(s, since=datetime(2026, 1, 1))
