"""The Slack app end to end over real HTTP: a request becomes a preview card, Run starts one
run however often it is clicked, the card follows it live; forged or stale requests do
nothing."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack.cards import actions
from knowledge.history.audit import query_audit
from tests.bot.slack.served_app import SECRET, Served, message_with, serve
from tests.bot.slack.slack_requests import slash_command_body


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with serve(tmp_path, monkeypatch) as app:
        yield app


def test_request_preview_run_live_updates_and_summary(served: Served) -> None:
    served.command("append 'hello world' to notes.txt")
    (posted,) = served.posted()
    assert posted.params["channel"] == "C1"
    assert "file.append" in str(posted.params["blocks"])
    card = message_with(served.stub, "C1", action_id=actions.PLAN_RUN)

    served.click(card, actions.PLAN_RUN)
    served.click(card, actions.PLAN_RUN)  # a double click
    updates = served.stub.wait_for(
        "chat.update", where=lambda p: "succeeded" in str(p.get("blocks")).lower(), timeout=30
    )
    assert updates[-1].params["ts"] == card["ts"]
    final = served.stub.message("C1", card["ts"])
    assert final is not None
    assert "file.append" in str(final["blocks"])
    assert actions.PLAN_RUN not in str(final["blocks"])  # the run card has no plan buttons
    workspace = Path(served.settings.workspace_dir)
    assert (workspace / "notes.txt").read_text() == "hello world"
    time.sleep(0.3)  # let a second run, if one were wrongly started, show up
    assert len(served.runs()) == 1


def test_forged_and_stale_requests_are_refused_and_nothing_happens(served: Served) -> None:
    body = slash_command_body(text="append 'x' to notes.txt")
    assert served.send(body, secret="not-the-secret").status_code == 401
    assert served.send(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    time.sleep(0.5)
    assert served.stub.calls_to("chat.postMessage") == []
    assert served.runs() == []


def test_tokens_and_secrets_appear_in_no_log_card_or_stored_row(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served.command("append 'hello world' to notes.txt")
    card = message_with(served.stub, "C1", action_id=actions.PLAN_RUN)
    served.click(card, actions.PLAN_RUN)
    served.wait_for_runs(1)
    served.command("this is not a plan at all", command="/improve")
    served.wait_ephemeral("Thanks")
    secrets = ("xoxb-test-token", SECRET)
    sent = json.dumps([c.params for c in served.stub.calls], default=str)
    stored = json.dumps(
        [r.model_dump(mode="json") for r in served.runs()]
        + [a.model_dump(mode="json") for a in served.read(query_audit, limit=1000)],
        default=str,
    )
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in sent
        assert secret not in stored
    assert "slack_sdk" in caplog.text  # the Web API calls were logged, redacted
