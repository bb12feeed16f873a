"""Drafts: previewed plans, where their cards are, re-plans superseding them, and the atomic
claim that lets exactly one of many clicks (or processes) run a draft."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete

from knowledge.history import (
    ConflictError,
    DraftState,
    InvalidArgumentError,
    NotFoundError,
    attach_message,
    claim_draft,
    create_draft,
    create_workflow,
    find_draft_by_message,
    get_draft,
    latest_draft_in_thread,
    query_audit,
    recent_drafts,
    set_draft_run,
    update_draft_blueprint,
)
from knowledge.store.database import Database
from knowledge.store.models import Run, VersionOrigin
from tests.knowledge.history.factories import add_run, blueprint

S = DraftState
PLAN = {"path": "new", "confidence": 0.82, "explanation": "deploy, then check", "question": None}
QUESTION = {"path": "clarify", "confidence": 0.3, "question": "Which service?"}


def draft(session, request="deploy api", **extra):
    values = {"blueprint": blueprint(), "plan": PLAN, "requested_by": "U1", "channel": "C1"}
    values.update(extra)
    return create_draft(session, request=request, **values)


def test_a_draft_is_previewed_and_found_again(db):
    with db.session() as session:
        made = draft(session, "  deploy api  ", thread_ts="100.1")
        question = draft(session, "deploy", blueprint=None, plan=QUESTION)
    assert made.state is S.PREVIEWED and made.request == "deploy api"
    assert made.blueprint == blueprint() and made.plan == PLAN
    assert (made.channel, made.thread_ts, made.message_ts) == ("C1", "100.1", None)
    assert made.run_id is made.decided_by is made.decided_at is made.parent_id is None
    assert made.created_at.tzinfo is not None
    with db.session() as session:
        assert get_draft(session, made.id) == made
        assert get_draft(session, question.id).blueprint is None
        assert get_draft(session, question.id).plan["question"] == "Which service?"
        with pytest.raises(NotFoundError, match="draft #999 not found"):
            get_draft(session, 999)
        with pytest.raises(InvalidArgumentError, match="request's text"):
            draft(session, "   ")
        with pytest.raises(InvalidArgumentError, match="requested_by"):
            draft(session, requested_by="")


def test_cards_are_found_by_message_and_by_thread(db):
    with db.session() as session:
        first = draft(session)
        attached = attach_message(session, first.id, channel="C1", message_ts="200.1")
        assert attached.message_ts == "200.1" and attached.updated_at >= first.updated_at
        reply = draft(session, "also post it", thread_ts="200.1", parent_id=first.id)
        attach_message(session, reply.id, channel="C1", message_ts="200.5")
        elsewhere = draft(session, channel="C2", thread_ts="200.1")
        with pytest.raises(NotFoundError, match="#999"):
            attach_message(session, 999, channel="C1", message_ts="1.0")

    with db.session() as session:
        assert find_draft_by_message(session, "C1", "200.1").id == first.id  # type: ignore[union-attr]
        assert find_draft_by_message(session, "C1", "200.5").id == reply.id  # type: ignore[union-attr]
        assert find_draft_by_message(session, "C2", "200.1") is None
        assert find_draft_by_message(session, "C1", "999.9") is None
        # the thread's newest draft: the reply in it, newer than the card that started it
        assert latest_draft_in_thread(session, "C1", "200.1").id == reply.id  # type: ignore[union-attr]
        assert latest_draft_in_thread(session, "C2", "200.1").id == elsewhere.id  # type: ignore[union-attr]
        assert latest_draft_in_thread(session, "C1", "300.1") is None


def test_a_card_updated_in_place_finds_the_newest_draft(db):
    with db.session() as session:
        old = draft(session)
        attach_message(session, old.id, channel="C1", message_ts="200.1")
        new = draft(session, "deploy api to prod", parent_id=old.id)
        attach_message(session, new.id, channel="C1", message_ts="200.1")
        assert find_draft_by_message(session, "C1", "200.1").id == new.id  # type: ignore[union-attr]
        assert latest_draft_in_thread(session, "C1", "200.1").id == new.id  # type: ignore[union-attr]


def test_a_replan_supersedes_a_previewed_parent_only(db):
    with db.session() as session:
        parent = draft(session)
        child = draft(session, "deploy api, then post", parent_id=parent.id, requested_by="U2")
        assert child.parent_id == parent.id and child.state is S.PREVIEWED
        old = get_draft(session, parent.id)
        assert old.state is S.SUPERSEDED and old.decided_by == "U2" and old.decided_at
        # a draft already run stays run: a reply in its thread plans anew
        assert claim_draft(session, child.id, S.RUNNING, by="U1") is not None
        grandchild = draft(session, "again", parent_id=child.id)
        assert get_draft(session, child.id).state is S.RUNNING
        assert grandchild.parent_id == child.id
        with pytest.raises(NotFoundError, match="draft #999"):
            draft(session, parent_id=999)


def test_a_claim_moves_a_draft_once(db, registry):
    with db.session() as session:
        version = create_workflow(
            session, blueprint(), author="U1", origin=VersionOrigin.PLANNER, registry=registry
        )
        add_run(session, version, "run-1")
        made = draft(session)
        edited = blueprint(description="edited")

        won = claim_draft(
            session,
            made.id,
            S.RUNNING,
            by="U7",
            run_id="run-1",
            version_id=version.id,
            blueprint=edited,
        )
        assert won is not None and won.state is S.RUNNING
        assert (won.run_id, won.workflow_version_id, won.blueprint) == ("run-1", version.id, edited)
        assert won.decided_by == "U7" and won.decided_at is not None
        assert claim_draft(session, made.id, S.RUNNING, by="U8") is None  # the double click
        assert claim_draft(session, made.id, S.CANCELLED, by="U8") is None
        assert get_draft(session, made.id).decided_by == "U7"
        assert claim_draft(session, 999, S.RUNNING, by="U7") is None

        # other expected states, and a state given as text
        saved = draft(session)
        assert claim_draft(session, saved.id, "saved", by="U7", version_id=version.id)
        back = claim_draft(session, saved.id, S.PREVIEWED, by="U7", expected=("saved", "running"))
        assert back is not None and back.state is S.PREVIEWED
        assert claim_draft(session, saved.id, S.CANCELLED, by="U7", expected="previewed")

        assert [entry.action for entry in query_audit(session, actor="U7")] == [
            "draft.cancelled",
            "draft.previewed",
            "draft.saved",
            "draft.running",
        ]
        with pytest.raises(InvalidArgumentError, match="one of previewed"):
            claim_draft(session, made.id, "done", by="U7")
        with pytest.raises(InvalidArgumentError, match="by="):
            claim_draft(session, made.id, S.SAVED, by="")
        with pytest.raises(InvalidArgumentError, match="expected names no state"):
            claim_draft(session, made.id, S.SAVED, by="U7", expected=())
        with pytest.raises(NotFoundError, match="run nope"):
            claim_draft(session, draft(session).id, S.RUNNING, by="U7", run_id="nope")
        with pytest.raises(NotFoundError, match="version #999"):
            claim_draft(session, draft(session).id, S.SAVED, by="U7", version_id=999)


def test_only_a_previewed_draft_can_be_edited(db):
    with db.session() as session:
        made = draft(session)
        edited = update_draft_blueprint(session, made.id, blueprint("deploy2"), by="U1")
        assert edited.blueprint == blueprint("deploy2") and edited.plan == PLAN
        assert edited.state is S.PREVIEWED
        claim_draft(session, made.id, S.CANCELLED, by="U1")
        with pytest.raises(ConflictError, match="is cancelled: only a previewed draft"):
            update_draft_blueprint(session, made.id, blueprint("deploy3"), by="U1")
        assert get_draft(session, made.id).blueprint == blueprint("deploy2")
        with pytest.raises(NotFoundError, match="draft #999"):
            update_draft_blueprint(session, 999, blueprint(), by="U1")


def test_a_run_is_remembered_and_forgotten_with_the_run(db, registry):
    with db.session() as session:
        version = create_workflow(
            session, blueprint(), author="U1", origin=VersionOrigin.PLANNER, registry=registry
        )
        add_run(session, version, "run-1")
        made = draft(session)
        claim_draft(session, made.id, S.RUNNING, by="U1")
        assert set_draft_run(session, made.id, "run-1").run_id == "run-1"
        with pytest.raises(NotFoundError, match="run nope"):
            set_draft_run(session, made.id, "nope")
        with pytest.raises(NotFoundError, match="draft #999"):
            set_draft_run(session, 999, "run-1")
    with db.session() as session:
        session.execute(delete(Run).where(Run.id == "run-1"))  # ON DELETE SET NULL
    with db.session() as session:
        assert get_draft(session, made.id).run_id is None


def test_recent_drafts_are_newest_first(db):
    with db.session() as session:
        ids = [draft(session, f"request {n}", channel=f"C{n % 2}").id for n in range(5)]
        assert [d.id for d in recent_drafts(session)] == ids[::-1]
        assert [d.id for d in recent_drafts(session, channel="C0")] == [ids[4], ids[2], ids[0]]
        assert [d.id for d in recent_drafts(session, limit=2)] == [ids[4], ids[3]]
        assert recent_drafts(session, channel="C9") == []
        with pytest.raises(InvalidArgumentError, match="limit"):
            recent_drafts(session, limit=0)


def test_of_racing_claims_exactly_one_wins(db: Database):
    """A double-clicked Run button handled by several processes: every one of them sees the
    draft previewed, and yet exactly one claim succeeds."""
    with db.session() as session:
        draft_id = draft(session).id
    racers = 6
    databases = [db, *(Database(db.url) for _ in range(racers - 1))]  # like other processes
    barrier = threading.Barrier(racers, timeout=30)
    results: list[object] = []
    errors: list[BaseException] = []

    def click(database: Database, who: str) -> None:
        try:
            with database.session() as session:
                if database.dialect == "postgresql":
                    # everyone reads "previewed" in an open transaction before anyone claims
                    # (on SQLite the read would take the write lock and the others would queue)
                    assert get_draft(session, draft_id).state is S.PREVIEWED
                barrier.wait()
                results.append(claim_draft(session, draft_id, S.RUNNING, by=who))
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=click, args=(database, f"U{n}"))
        for n, database in enumerate(databases)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for database in databases[1:]:
            database.dispose()
    assert errors == []
    winners = [result for result in results if result is not None]
    assert len(results) == racers and len(winners) == 1
    with db.session() as session:
        stored = get_draft(session, draft_id)
        assert stored.state is S.RUNNING and stored.decided_by == winners[0].decided_by  # type: ignore[attr-defined]
        assert len(query_audit(session, action="draft.running")) == 1
