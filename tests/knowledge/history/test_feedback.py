"""Feedback: reaction scores, /improve texts, linking to runs and versions, queries, audit."""

from __future__ import annotations

import pytest

from knowledge.history import (
    InvalidArgumentError,
    NotFoundError,
    add_version,
    create_workflow,
    feedback_for,
    get_run,
    query_audit,
    reaction_score,
    record_feedback,
)
from knowledge.store.models import FeedbackKind, VersionOrigin
from tests.knowledge.history.factories import add_run, blueprint

REACTION, IMPROVE = FeedbackKind.REACTION, FeedbackKind.IMPROVE


@pytest.mark.parametrize(
    ("reaction", "score"),
    [
        ("+1", 1),
        ("thumbsup", 1),
        ("white_check_mark", 1),
        ("heavy_check_mark", 1),
        ("tada", 1),
        ("rocket", 1),
        (":+1:", 1),
        ("+1::skin-tone-4", 1),
        ("-1", -1),
        ("thumbsdown", -1),
        ("x", -1),
        ("warning", -1),
        ("rotating_light", -1),
        ("confused", -1),
        ("-1::skin-tone-2", -1),
        ("eyes", 0),
        ("heart", 0),
    ],
)
def test_reaction_score_table(reaction, score):
    assert reaction_score(reaction) == score


@pytest.fixture
def with_runs(db):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
        v2 = add_version(
            s, "deploy", blueprint(description="2"), author="U1", origin=VersionOrigin.USER
        )
        create_workflow(s, blueprint("release"), author="U1")
        add_run(s, v1, "r1")
        add_run(s, v2, "r2")
    return db


def test_reaction_is_linked_to_the_run_workflow_and_version(with_runs):
    with with_runs.session() as s:
        info = record_feedback(s, user="U5", run_id="r2", kind=REACTION, reaction=":thumbsdown:")
    assert (info.workflow, info.version, info.run_id) == ("deploy", 2, "r2")
    assert (info.reaction, info.score, info.kind, info.user) == ("thumbsdown", -1, REACTION, "U5")
    assert info.text is None


def test_improve_text_is_stored_with_its_step(with_runs):
    with with_runs.session() as s:
        info = record_feedback(
            s, user="U5", run_id="r1", step_id="check", kind=IMPROVE, text="  retry the check "
        )
    assert (info.text, info.step_id, info.score, info.version) == ("retry the check", "check", 0, 1)


def test_improve_needs_text_and_reaction_needs_a_name(with_runs):
    with with_runs.session() as s:
        for text in (None, "", "   "):
            with pytest.raises(InvalidArgumentError, match="/improve needs a text"):
                record_feedback(s, user="U5", run_id="r1", kind=IMPROVE, text=text)
        with pytest.raises(InvalidArgumentError, match="reaction"):
            record_feedback(s, user="U5", run_id="r1", kind=REACTION, reaction="::")
        assert feedback_for(s) == []


def test_feedback_links_a_version_without_a_run(with_runs):
    with with_runs.session() as s:
        version_id = add_version(
            s,
            "release",
            blueprint("release", description="2"),
            author="U1",
            origin=VersionOrigin.USER,
        ).id
        info = record_feedback(s, user="U5", kind=REACTION, reaction="tada", version_id=version_id)
        assert (info.workflow, info.version, info.run_id, info.score) == ("release", 2, None, 1)
        loose = record_feedback(s, user="U5", kind=IMPROVE, text="more emoji")
        assert (loose.workflow_id, loose.version_id) == (None, None)


def test_feedback_errors(with_runs):
    with with_runs.session() as s:
        with pytest.raises(NotFoundError, match="run 'nope'"):
            record_feedback(s, user="U5", run_id="nope", kind=REACTION, reaction="+1")
        with pytest.raises(NotFoundError, match="version #999"):
            record_feedback(s, user="U5", kind=REACTION, reaction="+1", version_id=999)
        v1_id = get_run(s, "r1").version_id
        with pytest.raises(InvalidArgumentError, match="ran version"):
            record_feedback(
                s, user="U5", run_id="r2", kind=REACTION, reaction="+1", version_id=v1_id
            )


def test_feedback_for_filters_newest_first(with_runs):
    with with_runs.session() as s:
        a = record_feedback(s, user="U1", run_id="r1", kind=REACTION, reaction="+1")
        b = record_feedback(s, user="U2", run_id="r2", kind=REACTION, reaction="-1")
        c = record_feedback(s, user="U3", run_id="r2", kind=IMPROVE, text="faster")
        assert [f.id for f in feedback_for(s)] == [c.id, b.id, a.id]
        assert [f.id for f in feedback_for(s, run_id="r2")] == [c.id, b.id]
        assert [f.id for f in feedback_for(s, workflow="deploy")] == [c.id, b.id, a.id]
        assert [f.id for f in feedback_for(s, workflow="deploy", version=1)] == [a.id]
        assert [f.id for f in feedback_for(s, run_id="r1", workflow="deploy", version=2)] == []
        assert feedback_for(s, workflow="release") == []
        with pytest.raises(InvalidArgumentError):
            feedback_for(s, version=1)


def test_feedback_is_audited(with_runs):
    with with_runs.session() as s:
        info = record_feedback(s, user="U5", run_id="r1", kind=REACTION, reaction="rocket")
        [entry] = query_audit(s, action="feedback.recorded")
    assert (entry.actor, entry.subject_type, entry.subject_id) == ("U5", "feedback", str(info.id))
    assert entry.detail["run_id"] == "r1" and entry.detail["score"] == 1
