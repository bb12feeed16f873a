"""Stored workflows from Slack over real HTTP: ``/kaizen run`` with inputs, approval gates
decided by an allowed user (a user or a user group's member) and refused to anyone else,
high-risk tools gated, ``/kaizen workflows|history|rollback``, and the App Home."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.cards import actions
from knowledge.history.audit import query_audit
from knowledge.history.workflows import add_version, create_workflow, get_version
from knowledge.store.models import VersionOrigin
from tests.bot.slack.served_app import Served, message_with, serve
from tests.bot.slack.slack_requests import app_home_opened_event

GATED = {
    "name": "gated_note",
    "inputs": {"text": {"type": "string"}},
    "steps": [
        {
            "id": "write",
            "tool": "file.append",
            "params": {"path": "gated.txt", "content": "{{ inputs.text }}"},
            "approval": {"approvers": ["UBOSS", "SOPS"], "message": "Write {{ inputs.text }}?"},
        }
    ],
}
RISKY = {
    "name": "risky_echo",
    "steps": [{"id": "echo", "tool": "shell.run", "params": {"argv": ["echo", "hi"]}}],
}


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    env = {"KAIZEN_SHELL_ALLOW": '["echo"]', "KAIZEN_SLACK_APPROVERS": '["UBOSS"]'}
    with serve(tmp_path, monkeypatch, **env) as app:
        app.stub.usergroups["SOPS"] = ["UOPS1", "UOPS2"]
        yield app


def _approval_card(served: Served) -> dict[str, Any]:
    return message_with(served.stub, "C1", action_id=actions.APPROVAL_APPROVE)


def test_run_with_inputs_waits_for_an_approver_and_refuses_others(served: Served) -> None:
    served.read(create_workflow, GATED, author="U1")
    served.command("run gated_note text=shipped")
    run_card = served.posted()[0]
    card = _approval_card(served)
    assert card.get("thread_ts") == served.stub.messages("C1")[0]["ts"]  # in the run's thread
    assert "Write shipped?" in str(card["blocks"])
    assert "<!subteam^SOPS>" in str(card["blocks"])
    assert run_card.params["channel"] == "C1"

    served.click(card, actions.APPROVAL_APPROVE, user="UNOBODY")
    served.wait_ephemeral("not an approver")
    denied = served.read(query_audit, action="slack.denied")
    assert [d.actor for d in denied] == ["UNOBODY"]
    time.sleep(0.3)
    assert served.runs()[0].status == "running"  # still waiting

    served.click(card, actions.APPROVAL_APPROVE, user="UOPS2")  # a member of the group
    served.click(card, actions.APPROVAL_DENY, user="UBOSS")  # too late: decided
    served.wait_ephemeral("no longer waiting", timeout=30)
    (run,) = served.wait_for_runs(1)
    assert run.status == "succeeded"
    assert (Path(served.settings.workspace_dir) / "gated.txt").read_text() == "shipped"
    decided = served.stub.message("C1", str(card["ts"]))
    assert decided is not None
    assert "Approved by <@UOPS2>" in str(decided["blocks"])
    assert actions.APPROVAL_APPROVE not in str(decided["blocks"])
    decisions = served.read(query_audit, action="approval.*")
    assert [
        d.actor
        for d in decisions
        if d.action.startswith("approval.") and d.action != "approval.requested"
    ] == ["UOPS2"]


def test_a_denied_step_stops_the_run(served: Served) -> None:
    served.read(create_workflow, GATED, author="U1")
    served.command("run gated_note text=nope")
    card = _approval_card(served)
    served.click(card, actions.APPROVAL_DENY, user="UBOSS")
    (run,) = served.wait_for_runs(1)
    assert run.status == "failed"
    assert not (Path(served.settings.workspace_dir) / "gated.txt").exists()


def test_run_inputs_are_checked_before_anything_runs(served: Served) -> None:
    served.read(create_workflow, GATED, author="U1")
    served.command("run gated_note")  # the required input is missing
    served.wait_ephemeral("text")
    served.command("run no_such_workflow env=prod")
    served.wait_ephemeral("no workflow named `no_such_workflow`")
    time.sleep(0.3)
    assert served.runs() == []
    assert served.stub.calls_to("chat.postMessage") == []


def test_high_risk_workflows_start_only_for_approvers(served: Served) -> None:
    served.read(create_workflow, RISKY, author="U1")
    served.command("run risky_echo", user_id="U1")
    served.wait_ephemeral("only an approver")
    assert served.runs() == []
    served.command("run risky_echo", user_id="UBOSS")
    (run,) = served.wait_for_runs(1)
    assert run.status == "succeeded"


def test_planned_high_risk_steps_get_an_approval_gate(served: Served) -> None:
    served.command('run the command ["echo", "hello"] in the shell')
    (posted,) = served.posted()
    blocks = str(posted.params["blocks"])
    assert "shell.run" in blocks
    assert "approval" in blocks


def test_run_of_an_unknown_name_without_inputs_is_a_request_to_plan(served: Served) -> None:
    served.command("run backups")
    (posted,) = served.posted()
    assert "run backups" in str(posted.params["blocks"])
    assert served.ephemerals() == []


def test_workflows_history_and_rollback(served: Served) -> None:
    served.read(create_workflow, GATED, author="U1", note="first")
    changed = json.loads(json.dumps(GATED))
    changed["steps"][0]["params"]["path"] = "other.txt"
    served.read(
        add_version,
        "gated_note",
        changed,
        author="U2",
        origin=VersionOrigin.USER,
        note="write elsewhere",
    )

    served.command("workflows")
    listing = served.posted()[0]
    assert "gated_note" in str(listing.params["blocks"])

    served.command("history gated_note")
    shown = served.posted(2)[1]
    text = str(shown.params["blocks"])
    assert "write elsewhere" in text
    assert "path: gated.txt" in text
    assert re.search(r"\+\s+path: other.txt", text)  # the readable diff from v1

    served.command("rollback gated_note 1", user_id="U1")
    served.wait_ephemeral("Only an approver")
    served.command("rollback gated_note 1", user_id="UBOSS")
    served.posted(3)
    production = served.read(get_version, "gated_note")
    assert production.number == 3
    assert production.blueprint_json["steps"][0]["params"]["path"] == "gated.txt"


def test_app_home_shows_workflows_runs_and_budget(served: Served) -> None:
    served.read(create_workflow, GATED, author="U1")
    served.event(app_home_opened_event(user="U7"))
    (published,) = served.stub.wait_for("views.publish", timeout=30)
    assert published.params["user_id"] == "U7"
    view = str(published.params["view"])
    assert "gated_note" in view
    assert "Today:" in view


def test_outside_the_allowed_channels_kaizen_says_no_privately_and_audits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(tmp_path, monkeypatch, KAIZEN_SLACK_ALLOWED_CHANNELS='["C1"]') as served:
        served.command("append 'x' to notes.txt", channel_id="C2", user_id="U3")
        refusal = served.wait_ephemeral("not enabled in this channel")
        assert (refusal.params["channel"], refusal.params["user"]) == ("C2", "U3")
        served.command("append 'x' to notes.txt", channel_id="C1")
        served.posted(1, channel="C1")
        time.sleep(0.3)
        assert [c.params["channel"] for c in served.stub.calls_to("chat.postMessage")] == ["C1"]
        denied = served.read(query_audit, action="slack.denied")
        assert [(d.actor, d.subject_id) for d in denied] == [("U3", "C2")]
