"""Feedback and proposals in Slack over real HTTP: reactions on a run card and ``/improve``
stored against the right run; proposal cards decided once, by approvers only, with a reason
asked for rejections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.slack.cards import actions
from bot.slack.listeners.proposals import proposal_message
from knowledge.history.audit import query_audit
from knowledge.history.drafts import recent_drafts
from knowledge.history.feedback import feedback_for
from knowledge.history.proposals import advance_proposal, create_proposal, get_proposal
from knowledge.history.workflows import create_workflow, get_version
from knowledge.store.models import ProposalState
from tests.bot.slack.served_app import Served, serve
from tests.bot.slack.slack_requests import reaction_added_event

NOTE = {
    "name": "note",
    "steps": [{"id": "write", "tool": "file.append", "params": {"path": "n.txt", "content": "x"}}],
}


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with serve(tmp_path, monkeypatch, KAIZEN_SLACK_APPROVERS='["UBOSS", "SREV"]') as app:
        app.stub.usergroups["SREV"] = ["UREV"]
        yield app


def _run_note(served: Served, channel: str = "C1") -> tuple[str, str]:
    """Run the workflow ``note`` from ``channel`` and wait for its end; (run id, the run
    card's ts)."""
    before = len(served.runs())
    served.command("run note", channel_id=channel)
    served.wait_for_runs(before + 1)
    deadline = time.monotonic() + 10
    while True:
        (draft,) = served.read(recent_drafts, channel=channel, limit=1)
        if draft.run_id is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert draft.run_id is not None
    assert draft.message_ts is not None
    return draft.run_id, draft.message_ts


def test_reactions_on_a_run_card_are_feedback_on_that_run(served: Served) -> None:
    served.read(create_workflow, NOTE, author="U1")
    run_id, ts = _run_note(served)
    served.event(reaction_added_event("+1", user="U2", item_ts=ts), event_id="EvR1")
    served.event(reaction_added_event("+1", user="U2", item_ts=ts), event_id="EvR1")  # retry
    served.event(reaction_added_event("x::skin-tone-2", user="U3", item_ts=ts))
    served.event(reaction_added_event("pizza", user="U4", item_ts=ts))  # not configured
    served.event(reaction_added_event("+1", user="U5", item_ts="1600000000.000001"))  # not ours
    deadline = time.monotonic() + 10
    while len(served.read(feedback_for, run_id=run_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    feedback = served.read(feedback_for, run_id=run_id)
    assert sorted((f.user, f.reaction, f.score) for f in feedback) == [
        ("U2", "+1", 1),
        ("U3", "x", -1),
    ]
    assert len(served.read(feedback_for, workflow="note")) == 2


def test_improve_goes_to_the_channels_last_run_or_the_run_named(served: Served) -> None:
    served.read(create_workflow, NOTE, author="U1")
    first, first_ts = _run_note(served)
    second, _ = _run_note(served)
    _run_note(served, channel="C2")  # another channel's run is not "the last run" here

    served.command("use a longer note", command="/improve")
    served.wait_ephemeral("Thanks")
    served.command(f"{first} it was slow", command="/improve")
    link = f"https://kaizen-test.slack.com/archives/C1/p{first_ts.replace('.', '')}"
    served.command(f"{link} wrong file", command="/improve", user_id="U9")
    deadline = time.monotonic() + 10
    while len(served.ephemerals()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    texts = {f.text: f.run_id for f in served.read(feedback_for, workflow="note")}
    assert texts == {"use a longer note": second, "it was slow": first, "wrong file": first}


def test_improve_without_a_run_or_text_says_what_is_missing(served: Served) -> None:
    served.command("make it faster", command="/improve")
    served.wait_ephemeral("no run in this channel yet")
    served.command("", command="/improve")
    served.wait_ephemeral("say what should be better")
    served.command(f"{'0' * 32} faster", command="/improve")
    served.wait_ephemeral("not found")
    assert served.read(feedback_for) == []


# ---------------------------------------------------------------------- proposals


def _candidate(session: Session) -> int:
    create_workflow(session, NOTE, author="U1")
    patch = [{"op": "replace", "path": "/steps/0/params/content", "value": "better"}]
    evidence = {"success": {"before": 0.8, "after": 0.95}, "n": 40}
    proposal = create_proposal(
        session, "note", patch, rationale="Write more.", evidence=evidence, created_by="optimizer"
    )
    for state in (ProposalState.EVALUATED, ProposalState.CANDIDATE):
        advance_proposal(session, proposal.id, state, by="optimizer")
    return proposal.id


def _post_card(served: Served, proposal_id: int) -> dict[str, Any]:
    """Post the proposal's card as the optimizer will (through the Web API)."""
    card = served.read(proposal_message, proposal_id)
    client = WebClient(token="xoxb-test-token", base_url=served.stub.base_url)
    ts = client.chat_postMessage(channel="C1", text=card["text"], blocks=card["blocks"])["ts"]
    message = served.stub.message("C1", str(ts))
    assert message is not None
    return message


def test_proposal_card_shows_the_diff_and_approvers_decide_once(served: Served) -> None:
    proposal_id = served.read(_candidate)
    card = _post_card(served, proposal_id)
    assert "better" in str(card["blocks"])  # the diff
    served.click(card, actions.PROPOSAL_APPROVE, user="U1")
    served.wait_ephemeral("Only an approver")
    assert served.read(get_proposal, proposal_id).state is ProposalState.CANDIDATE

    served.click(card, actions.PROPOSAL_APPROVE, user="UREV")  # a member of SREV
    served.stub.wait_for(
        "chat.update", where=lambda p: "Approved by <@UREV>" in str(p.get("blocks")), timeout=30
    )
    served.click(card, actions.PROPOSAL_APPROVE, user="UBOSS")  # a second decision: refused
    served.wait_ephemeral("already decided")
    proposal = served.read(get_proposal, proposal_id)
    assert (proposal.state, proposal.reviewer) == (ProposalState.PRODUCTION, "UREV")
    production = served.read(get_version, "note")
    assert production.number == 2
    assert production.blueprint_json["steps"][0]["params"]["content"] == "better"
    decided = served.stub.message("C1", str(card["ts"]))
    assert decided is not None
    assert actions.PROPOSAL_APPROVE not in str(decided["blocks"])
    approvals = served.read(query_audit, action="proposal.approved")
    assert [a.actor for a in approvals] == ["UREV"]


def test_rejecting_asks_why_and_records_it(served: Served) -> None:
    proposal_id = served.read(_candidate)
    card = _post_card(served, proposal_id)
    served.click(card, actions.PROPOSAL_REJECT, user="UBOSS")
    (opened,) = served.stub.wait_for("views.open", timeout=30)
    view = opened.params["view"]
    assert view["callback_id"] == actions.REJECT_MODAL
    values = {actions.REASON_BLOCK: {actions.REASON_INPUT: "   "}}
    empty = served.submit(actions.REJECT_MODAL, values, view["private_metadata"], user="UBOSS")
    assert empty.json()["response_action"] == "errors"
    values = {actions.REASON_BLOCK: {actions.REASON_INPUT: "too risky on Fridays"}}
    stranger = served.submit(actions.REJECT_MODAL, values, view["private_metadata"], user="U1")
    assert "approver" in stranger.json()["errors"][actions.REASON_BLOCK]
    served.submit(actions.REJECT_MODAL, values, view["private_metadata"], user="UBOSS")
    served.stub.wait_for(
        "chat.update", where=lambda p: "too risky on Fridays" in str(p.get("blocks")), timeout=30
    )
    proposal = served.read(get_proposal, proposal_id)
    assert proposal.state is ProposalState.REJECTED
    assert (proposal.reviewer, proposal.review_comment) == ("UBOSS", "too risky on Fridays")
    again = served.submit(actions.REJECT_MODAL, values, view["private_metadata"], user="UBOSS")
    assert again.json()["response_action"] == "errors"  # decided already: nothing changes
    assert served.read(get_version, "note").number == 1
