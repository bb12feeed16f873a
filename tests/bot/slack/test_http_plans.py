"""Plans in Slack over real HTTP: the Edit modal (invalid YAML and blueprints answered inside
the modal, a valid one shown on the card), Save and Cancel, @mentions, thread replies that
re-plan, and Slack's retries that must not act twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.slack.cards import actions
from knowledge.history.audit import query_audit
from knowledge.history.drafts import get_draft, recent_drafts
from knowledge.history.exemplars import list_exemplars
from knowledge.history.workflows import history, list_workflows
from tests.bot.slack.served_app import Served, message_with, serve
from tests.bot.slack.slack_requests import (
    app_mention_event,
    message_event,
    retry_headers,
    slash_command_body,
)

REQUEST = "append 'hello world' to notes.txt"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with serve(tmp_path, monkeypatch) as app:
        yield app


def _preview(served: Served, request: str = REQUEST) -> dict[str, object]:
    served.command(request)
    return message_with(served.stub, "C1", action_id=actions.PLAN_RUN)


def _edit(served: Served, card: dict[str, object]) -> tuple[str, int]:
    """Click Edit; the YAML the modal was opened with, and the draft id."""
    served.click(card, actions.PLAN_EDIT)
    (opened,) = served.stub.wait_for("views.open", timeout=30)
    view = opened.params["view"]
    assert view["callback_id"] == actions.EDIT_MODAL
    (block,) = [b for b in view["blocks"] if b.get("block_id") == actions.EDIT_BLOCK]
    return block["element"]["initial_value"], int(view["private_metadata"])


def _submit(served: Served, draft_id: int, text: str) -> dict[str, object]:
    response = served.submit(
        actions.EDIT_MODAL, {actions.EDIT_BLOCK: {actions.EDIT_INPUT: text}}, str(draft_id)
    )
    return response.json() if response.content else {}


def test_edit_modal_answers_invalid_yaml_and_blueprints_in_the_modal(served: Served) -> None:
    card = _preview(served)
    original, draft_id = _edit(served, card)
    assert "file.append" in original

    broken = _submit(served, draft_id, "name: x\nsteps: [\n")
    assert broken["response_action"] == "errors"
    assert "line" in broken["errors"][actions.EDIT_BLOCK]  # says where

    unknown = original.replace("file.append", "file.apend")
    answer = _submit(served, draft_id, unknown)
    assert answer["response_action"] == "errors"
    assert "file.apend" in answer["errors"][actions.EDIT_BLOCK]

    not_a_mapping = _submit(served, draft_id, "- just\n- a list\n")
    assert "mapping" in not_a_mapping["errors"][actions.EDIT_BLOCK]

    assert served.read(get_draft, draft_id).blueprint["steps"][0]["tool"] == "file.append"
    assert served.stub.calls_to("chat.update") == []


def test_a_valid_edit_replaces_the_plan_and_run_uses_it(served: Served) -> None:
    card = _preview(served)
    original, draft_id = _edit(served, card)
    document = yaml.safe_load(original)
    document["steps"][0]["params"]["content"] = "edited text"
    assert _submit(served, draft_id, yaml.safe_dump(document)) == {}
    served.stub.wait_for(
        "chat.update", where=lambda p: "edited text" in str(p.get("blocks")), timeout=30
    )
    edited = served.stub.message("C1", str(card["ts"]))
    assert edited is not None
    served.click(edited, actions.PLAN_RUN)
    served.wait_for_runs(1)
    workspace = Path(served.settings.workspace_dir)
    assert (workspace / "notes.txt").read_text() == "edited text"
    edits = served.read(query_audit, action="draft.edited")
    assert [e.actor for e in edits] == ["U1"]


def test_save_stores_a_workflow_and_closes_the_card_once(served: Served) -> None:
    card = _preview(served)
    served.click(card, actions.PLAN_SAVE)
    served.click(card, actions.PLAN_SAVE)
    served.click(card, actions.PLAN_RUN)  # too late: the card is closed
    served.stub.wait_for(
        "chat.update", where=lambda p: "Saved as" in str(p.get("blocks")), timeout=30
    )
    time.sleep(0.3)
    (workflow,) = served.read(list_workflows)
    assert len(served.read(history, workflow.name)) == 1
    assert served.runs() == []
    closed = served.stub.message("C1", str(card["ts"]))
    assert closed is not None
    assert actions.PLAN_RUN not in str(closed["blocks"])


def test_a_saved_plan_answers_the_next_same_request_without_a_restart(served: Served) -> None:
    served.command(REQUEST)
    first = message_with(served.stub, "C1", action_id=actions.PLAN_RUN)
    served.click(first, actions.PLAN_SAVE)
    served.stub.wait_for(
        "chat.update", where=lambda p: "Saved as" in str(p.get("blocks")), timeout=30
    )
    (exemplar,) = served.read(list_exemplars)
    served.command(REQUEST)
    served.posted(2)
    planned = served.read(query_audit, action="plan.made")[::-1]  # oldest first
    assert [p.detail["path"] for p in planned] == ["offline", "exemplar"]
    assert planned[-1].detail["exemplar_ids"] == [exemplar.id]


def test_cancel_closes_the_card_and_nothing_runs(served: Served) -> None:
    card = _preview(served)
    served.click(card, actions.PLAN_CANCEL, user="U2")
    served.stub.wait_for(
        "chat.update", where=lambda p: "Cancelled by <@U2>" in str(p.get("blocks")), timeout=30
    )
    served.click(card, actions.PLAN_RUN)
    time.sleep(0.3)
    assert served.runs() == []


def test_a_mention_plans_in_its_thread(served: Served) -> None:
    served.event(app_mention_event(f"<@UBOT> {REQUEST}", ts="1700000005.000100"))
    (posted,) = served.posted()
    assert posted.params["thread_ts"] == "1700000005.000100"
    assert "file.append" in str(posted.params["blocks"])


def test_a_thread_reply_replans_as_a_new_draft_of_the_same_workflow(served: Served) -> None:
    card = _preview(served)
    served.click(card, actions.PLAN_RUN)
    served.wait_for_runs(1)
    reply = message_event(
        "use 'second line' instead of 'hello world'",
        ts="1700000009.000100",
        thread_ts=card["ts"],
    )
    served.event(reply)
    replan = served.posted(1, thread_ts=card["ts"])[0]
    assert "second line" in str(replan.params["blocks"])
    served.stub.wait_for("reactions.add", timeout=10)  # the reply is marked as seen
    new_card = message_with(
        served.stub, "C1", action_id=actions.PLAN_RUN, thread_ts=str(card["ts"])
    )
    served.click(new_card, actions.PLAN_RUN)
    runs = served.wait_for_runs(2)
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert (Path(served.settings.workspace_dir) / "notes.txt").read_text() == (
        "hello worldsecond line"
    )
    assert {r.workflow for r in runs} == {runs[0].workflow}  # one workflow…
    assert sorted(r.version for r in runs) == [1, 2]  # …two versions
    drafts = served.read(recent_drafts, channel="C1")
    assert drafts[0].parent_id == drafts[1].id


def test_replies_outside_kaizen_threads_and_bot_messages_are_ignored(served: Served) -> None:
    served.event(message_event("just chatting", ts="1700000010.000100"))
    served.event(message_event("in a random thread", thread_ts="1600000000.000100"))
    time.sleep(0.5)
    assert served.stub.calls_to("chat.postMessage") == []


def test_retried_commands_and_events_act_once(served: Served) -> None:
    body = slash_command_body(text=REQUEST)
    assert served.send(body).status_code == 200
    assert served.send(body, headers=retry_headers(1)).status_code == 200
    assert served.send(body, headers=retry_headers(2, "http_error")).status_code == 200
    mention = app_mention_event(f"<@UBOT> {REQUEST}", ts="1700000020.000100")
    served.event(mention, event_id="EvSAME")
    served.event(mention, event_id="EvSAME", **retry_headers(1))
    served.posted(2)
    time.sleep(0.5)
    assert len(served.stub.calls_to("chat.postMessage")) == 2
    assert len(served.read(recent_drafts)) == 2


def test_bad_subcommands_get_a_private_explanation(served: Served) -> None:
    served.command("rollback deploy")
    text = served.wait_ephemeral("usage")
    assert text.params["user"] == "U1"
    served.command("history nope")
    served.wait_ephemeral("nope")
    assert served.stub.calls_to("chat.postMessage") == []
