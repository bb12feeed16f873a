"""The run card, its overflow output, and the approval cards."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.slack.cards import actions as ids
from bot.slack.cards.run_card import (
    RunProgress,
    StepProgress,
    approval_card,
    decided_approval_card,
    overflow_output,
    run_card,
    step_line,
)
from tests.bot.slack.cards.support import AT, all_text, buttons, check_message

STEPS = [
    StepProgress(step_id="wait", tool="time.sleep", status="waiting"),
    StepProgress(step_id="go", tool="shell.run", status="running", attempt=1),
    StepProgress(
        step_id="ok",
        tool="http.request",
        status="succeeded",
        attempt=1,
        duration_ms=314.2,
        cost_usd=0.0042,
        output_preview='{"status": 200}',
    ),
    StepProgress(
        step_id="bad",
        tool="http.request",
        status="failed",
        attempt=3,
        duration_ms=2500,
        error="HTTP 500 <server error>\n" + "trace " * 500,
    ),
    StepProgress(step_id="again", tool="http.request", status="retrying", attempt=2),
    StepProgress(step_id="skip", tool="file.write", status="skipped"),
    StepProgress(step_id="stop", tool="file.write", status="cancelled"),
    StepProgress(step_id="gate", tool="deploy.service", status="awaiting_approval"),
]


def progress(**changes: Any) -> RunProgress:
    values: dict[str, Any] = {
        "run_id": "48d83287",
        "workflow": "deploy_api",
        "version": 3,
        "status": "running",
        "started_by": "U123ABC",
        "steps": STEPS,
    }
    values.update(changes)
    return RunProgress(**values)


def test_each_step_status_has_its_icon():
    lines = [step_line(step) for step in STEPS]
    assert lines[0] == "⏳ `wait` `time.sleep`"
    assert lines[1].startswith("🔄 `go` `shell.run`")
    assert lines[2] == '✅ `ok` `http.request` · 314 ms · $0.0042 · → `{"status": 200}`'
    assert lines[3].startswith("❌ `bad` `http.request` · after 3 attempts · 2.5 s · HTTP 500 &lt;")
    assert len(lines[3]) < 300  # the error is clipped
    assert lines[4] == "🔁 `again` `http.request` · (attempt 2)"
    assert lines[5].startswith("⏭ `skip`")
    assert lines[6].startswith("🚫 `stop`")
    assert lines[7] == "✋ `gate` `deploy.service` · awaiting approval"


def test_a_running_card_has_steps_but_no_summary():
    blocks = check_message(run_card(progress()))
    assert blocks[0]["text"]["text"] == "🔄 deploy_api v3 — running"
    text = all_text(blocks)
    assert "<@U123ABC>" in text
    assert "`48d83287`" in text
    for step in STEPS:
        assert f"`{step.step_id}`" in text
    assert "Summary" not in text
    assert not buttons(blocks)


def test_a_finished_card_has_the_summary_and_outputs():
    done = progress(status="failed", duration_ms=3200, cost_usd=0.0042, outputs='{"url": "x"}')
    blocks = check_message(run_card(done))
    text = all_text(blocks)
    assert blocks[0]["text"]["text"] == "❌ deploy_api v3 — failed"
    assert (
        "*Summary:* 1 waiting · 1 running · 1 succeeded · 1 failed · 1 retrying · 1 skipped · "
        "1 cancelled · 1 awaiting approval · 3.2 s · $0.0042"
    ) in text
    assert '*Outputs*\n```\n{"url": "x"}\n```' in text
    assert overflow_output(done) is None


def test_a_run_of_200_steps_stays_within_limits():
    steps = [
        StepProgress(
            step_id=f"step_{i}",
            tool="http.request",
            status="failed" if i % 7 == 0 else "succeeded",
            duration_ms=12.5 * i,
            cost_usd=0.001,
            error="boom " * 100 if i % 7 == 0 else None,
        )
        for i in range(200)
    ]
    done = progress(status="succeeded", steps=steps, outputs="ok")
    blocks = check_message(run_card(done))
    text = all_text(blocks)
    assert "`step_0`" in text
    shown = sum(1 for i in range(200) if f"`step_{i}`" in text)
    assert f"… {200 - shown} more steps not shown — see the thread or `kaizen runs show" in text
    assert "*Summary:* 171 succeeded · 29 failed" in text


def test_a_megabyte_of_output_is_clipped_and_handed_over_whole():
    outputs = "".join(f"line {i}: " + "x" * 90 + "\n" for i in range(10_000))
    assert len(outputs) > 1_000_000
    done = progress(status="succeeded", outputs=outputs)
    blocks = check_message(run_card(done))
    text = all_text(blocks)
    assert "*Outputs*\n```\nline 0: " in text
    assert f"they have {len(outputs):,} characters; the full text is in the thread" in text
    assert overflow_output(done) == outputs
    assert overflow_output(progress(outputs=outputs)) is None  # still running: no outputs yet


def test_progress_models_check_statuses():
    with pytest.raises(ValidationError):
        StepProgress(step_id="a", tool="t", status="exploded")
    with pytest.raises(ValidationError):
        progress(status="paused")


def test_approval_card_has_approve_and_deny():
    payload = approval_card("48d83287", "deploy", "deploy.service", "Ship <api>?", ["U1ABC", "ops"])
    blocks = check_message(payload)
    found = buttons(blocks)
    value = ids.approval_value("48d83287", "deploy")
    assert [(b["action_id"], b["value"], b.get("style")) for b in found] == [
        (ids.APPROVAL_APPROVE, value, "primary"),
        (ids.APPROVAL_DENY, value, "danger"),
    ]
    assert ids.parse_approval_value(found[0]["value"]) == ("48d83287", "deploy")
    text = all_text(blocks)
    assert ">Ship &lt;api&gt;?" in text
    assert "Who can decide: <@U1ABC>, ops" in text
    assert payload["text"] == "Approval needed: step deploy (deploy.service) in run 48d83287"


def test_decided_approval_card_has_no_buttons():
    for approved, verb in ((True, "Approved"), (False, "Denied")):
        payload = decided_approval_card(
            "48d83287", "deploy", "deploy.service", "Ship it?", approved=approved, by="U1ABC", at=AT
        )
        blocks = check_message(payload)
        assert not buttons(blocks)
        assert f"{verb} by <@U1ABC> at <!date^" in all_text(blocks)


def test_an_approval_with_a_huge_message_stays_within_limits():
    blocks = check_message(approval_card("r", "s", "t", "x" * 100_000, ["U1ABC"] * 500))
    assert "and 480 more" in all_text(blocks)
