"""Exemplar memory: accepted requests are stored once per version and found again by
meaning."""

from __future__ import annotations

import pytest

from knowledge.history import (
    InvalidArgumentError,
    NotFoundError,
    create_workflow,
    list_exemplars,
    query_audit,
    record_exemplar,
)
from knowledge.search.exemplars import ExemplarIndex
from knowledge.store.models import VersionOrigin
from tests.knowledge.history.factories import blueprint


def test_an_accepted_request_is_stored_once_per_version(db, registry):
    with db.session() as session:
        version = create_workflow(
            session, blueprint(), author="alice", origin=VersionOrigin.PLANNER, registry=registry
        )
        first = record_exemplar(session, "Deploy api to staging", version.id, how="ran", by="alice")
        again = record_exemplar(
            session, "  deploy API   to staging ", version.id, how="approved", by="bob"
        )
        assert again.id == first.id  # the same request (case and spacing aside)
        assert first.workflow_id == version.workflow_id and first.accepted_how == "ran"
        assert [e.request for e in list_exemplars(session)] == ["Deploy api to staging"]
        assert [a.action for a in query_audit(session, action="exemplar.recorded")] == [
            "exemplar.recorded"
        ]
        with pytest.raises(InvalidArgumentError, match="request's text"):
            record_exemplar(session, "   ", version.id, how="ran", by="alice")
        with pytest.raises(InvalidArgumentError, match="accepted how"):
            record_exemplar(session, "x y z", version.id, how="liked", by="alice")  # type: ignore[arg-type]
        with pytest.raises(NotFoundError, match="#999"):
            record_exemplar(session, "x y z", 999, how="ran", by="alice")


def test_the_most_similar_past_requests_are_found_first(db, registry, tmp_path):
    requests = [
        "Deploy the payments service to production",
        "Roll back the checkout service to the previous release",
        "Post the release notes to #dev",
        "Page the on-call engineer about the outage",
    ]
    with db.session() as session:
        version = create_workflow(
            session, blueprint(), author="alice", origin=VersionOrigin.PLANNER, registry=registry
        )
        for request in requests:
            record_exemplar(session, request, version.id, how="ran", by="alice")
        exemplars = list_exemplars(session)
    index = ExemplarIndex(tmp_path)
    assert index.sync(exemplars) == 4
    hits = index.search("undo the last release of checkout", k=2)
    assert hits[0].exemplar.request == requests[1]
    assert 0 < hits[1].similarity < hits[0].similarity <= 1
    assert ExemplarIndex(tmp_path).sync(exemplars) == 0  # already embedded
    assert ExemplarIndex(tmp_path).sync(exemplars[:1]) == 0
    assert [h.exemplar.request for h in ExemplarIndex(tmp_path).search("anything")] == []


def test_an_exemplar_added_later_is_found_and_adding_it_again_replaces_it(db, registry, tmp_path):
    with db.session() as session:
        version = create_workflow(
            session, blueprint(), author="alice", origin=VersionOrigin.PLANNER, registry=registry
        )
        first = record_exemplar(session, "deploy api to staging", version.id, how="ran", by="a")
        later = record_exemplar(session, "roll back checkout", version.id, how="saved", by="b")
    index = ExemplarIndex(tmp_path)
    index.sync([first])
    assert index.add(later) is True
    assert index.search("undo the checkout release", k=1)[0].exemplar.id == later.id
    assert index.add(later) is False  # already held: replaced, not doubled
    assert sorted(e.id for e in index.exemplars) == [first.id, later.id]
    assert len(index.search("anything", k=5)) == 2
