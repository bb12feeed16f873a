"""The plan preview, the question card, the closed preview and the modals."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.cards import actions as ids
from bot.slack.cards.plan_card import (
    closed_plan_card,
    edit_errors,
    edit_modal,
    preview_card,
    question_card,
    reject_modal,
    step_lines,
)
from engine.blueprint import Blueprint
from engine.tools.base import RiskLevel, SideEffect, ToolSpec
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool
from knowledge.planner.result import PlanPath, PlanResult
from tests.bot.slack.cards.support import all_text, buttons, check_message, check_view


def spec(name: str, **flags: Any) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=f"The {name} tool.",
        params_schema={"type": "object", "additionalProperties": True},
        **flags,
    )


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(
        [
            SchemaTool(spec("ci.run_tests")),
            SchemaTool(
                spec("deploy.service", side_effect=SideEffect.MUTATING, risk=RiskLevel.HIGH)
            ),
            SchemaTool(spec("slack.post_message", side_effect=SideEffect.MUTATING)),
        ]
    )


BLUEPRINT = Blueprint.model_validate(
    {
        "name": "deploy_api",
        "description": "Test, deploy, tell the channel",
        "inputs": {
            "service": {"type": "string", "description": "The service to deploy"},
            "channel": {"type": "string", "default": "#dev"},
        },
        "steps": [
            {"id": "tests", "tool": "ci.run_tests", "params": {"repo": "org/{{ inputs.service }}"}},
            {
                "id": "deploy",
                "tool": "deploy.service",
                "params": {
                    "service": "{{ inputs.service }}",
                    "environment": "staging",
                    "notes": "n" * 500,
                    "extra": 1,
                },
                "depends_on": ["tests"],
                "approval": {"approvers": ["U1"]},
            },
            {
                "id": "tell",
                "tool": "slack.post_message",
                "params": {"channel": "{{ inputs.channel }}", "text": "{{ steps.deploy.output }}"},
            },
            {"id": "mystery", "tool": "custom.unknown", "params": {"x": [1, 2]}},
        ],
    }
)


def plan(blueprint: Blueprint | None = BLUEPRINT, **changes: Any) -> PlanResult:
    values: dict[str, Any] = {
        "request": "deploy <api> to staging & tell #dev",
        "blueprint": blueprint,
        "path": PlanPath.OFFLINE,
        "confidence": 0.82,
        "latency_ms": 140.0,
        "fallback_reason": "no LLM configured",
        "explanation": "Built from 3 clauses.",
    }
    values.update(changes)
    return PlanResult(**values)


def big_blueprint(steps: int, value_size: int = 20) -> Blueprint:
    return Blueprint.model_validate(
        {
            "name": "big",
            "steps": [
                {
                    "id": f"s{i}",
                    "tool": "deploy.service" if i % 2 else "ci.run_tests",
                    "params": {"service": f"svc{i}-" + "v" * value_size, "env": "staging"},
                    "depends_on": [f"s{j}" for j in range(max(0, i - 3), i)],
                }
                for i in range(steps)
            ],
        }
    )


def test_preview_shows_the_steps_badges_and_dependencies(registry):
    blocks = check_message(preview_card(7, plan(), registry, requested_by="U123ABC"))
    text = all_text(blocks)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "📋 deploy_api", "emoji": True},
    }
    assert "<@U123ABC>" in text
    assert "deploy &lt;api&gt; to staging &amp; tell #dev" in text
    lines = step_lines(BLUEPRINT, registry)
    assert lines[0] == "1. `ci.run_tests` repo=org/{{ inputs.service }}"
    assert lines[1].startswith("2. `deploy.service` service={{ inputs.service }}, ")
    assert "environment=staging" in lines[1]
    assert "+1 more" in lines[1]
    assert "n" * 40 not in lines[1]  # values are clipped
    assert "🔴 high risk ✏️ mutating ✋ approval ← after 1" in lines[1]
    assert lines[2].endswith("✏️ mutating ← after 2")  # a template reference is a dependency
    assert lines[3] == "4. `custom.unknown` x=[1, 2]"  # not in the registry: no badge
    for line in lines:
        assert line in text


def test_preview_shows_inputs_and_how_it_was_planned(registry):
    result = plan(question="Which environment?", repair_rounds=2)
    text = all_text(check_message(preview_card(7, result, registry, requested_by="U1X")))
    assert "`service` (string) — The service to deploy" in text
    assert "+ 1 optional input with defaults" in text
    assert "Planned by the offline planner · confidence 82% · 140 ms · 2 repair rounds" in text
    assert "LLM not used: no LLM configured" in text
    assert "Built from 3 clauses." in text
    assert "❓ *Question:* Which environment?" in text


def test_preview_buttons_carry_the_draft_id(registry):
    blocks = check_message(preview_card(7, plan(), registry, requested_by="U1X"))
    found = buttons(blocks)
    assert [(b["action_id"], b["value"]) for b in found] == [
        (ids.PLAN_RUN, "7"),
        (ids.PLAN_EDIT, "7"),
        (ids.PLAN_SAVE, "7"),
        (ids.PLAN_CANCEL, "7"),
    ]
    assert found[0]["style"] == "primary"
    assert found[3]["style"] == "danger"
    assert found[3]["confirm"]["style"] == "danger"
    assert blocks[-1]["type"] == "actions"


def test_preview_without_registry_has_no_risk_badges():
    text = all_text(check_message(preview_card(1, plan(), None, requested_by="someone")))
    assert "high risk" not in text
    assert "mutating" not in text
    assert "✋ approval" in text


@pytest.mark.parametrize(("steps", "value_size"), [(200, 20), (2000, 40)])
def test_a_huge_blueprint_stays_within_limits(registry, steps, value_size):
    blueprint = big_blueprint(steps, value_size)
    payload = preview_card(3, plan(blueprint), registry, requested_by="U1X")
    blocks = check_message(payload)
    assert len(blocks) <= 50
    assert blocks[-1]["type"] == "actions"
    assert len(buttons(blocks)) == 4
    text = all_text(blocks)
    assert "1. `ci.run_tests`" in text
    assert "← after 1, 2, 3" in text
    shown = sum(1 for i in range(1, steps + 1) if f"\n{i}. `" in "\n" + text)
    if shown < steps:
        assert f"{steps - shown:,} more steps not shown" in text
    else:
        assert f"{steps}. `" in text


def test_question_card_asks_and_has_no_buttons():
    result = plan(None, question="Which service?", explanation="No service was named.")
    for payload in (question_card(result), preview_card(1, result, None, requested_by="U1X")):
        blocks = check_message(payload)
        assert not buttons(blocks)
        text = all_text(blocks)
        assert "Which service?" in text
        assert "No service was named." in text
        assert payload["text"] == "Which service?"


def test_closed_plan_card_replaces_the_buttons_with_the_note(registry):
    note = "Cancelled by <@U1> at 12:03"
    blocks = check_message(closed_plan_card(plan(), note, registry=registry))
    assert not buttons(blocks)
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}
    assert "🔴 high risk" in all_text(blocks)
    question = check_message(closed_plan_card(plan(None, question="?"), "Saved"))
    assert question[-1]["elements"][0]["text"] == "Saved"


def test_edit_modal_holds_the_yaml():
    view = edit_modal(7, "name: x\nsteps: []\n")
    blocks = check_view(view)
    assert view["type"] == "modal"
    assert view["callback_id"] == ids.EDIT_MODAL
    assert view["private_metadata"] == "7"
    assert view["submit"]["text"] == "Save & preview"
    assert view["close"]["text"] == "Cancel"
    assert blocks[-1]["block_id"] == ids.EDIT_BLOCK
    element = blocks[-1]["element"]
    assert element["action_id"] == ids.EDIT_INPUT
    assert element["multiline"] is True
    assert element["initial_value"] == "name: x\nsteps: []\n"


def test_edit_modal_with_long_yaml_and_an_error():
    yaml_text = "".join(f"  - id: step_{i}\n    tool: ci.run_tests\n" for i in range(500))
    view = edit_modal(7, yaml_text, error="steps[3].tool: unknown tool <x>")
    blocks = check_view(view)
    initial = blocks[-1]["element"]["initial_value"]
    assert len(initial) <= 3000
    assert yaml_text.startswith(initial)
    assert initial.endswith("ci.run_tests")  # cut at a line boundary
    text = all_text(blocks)
    assert "unknown tool &lt;x&gt;" in text
    assert f"{len(yaml_text):,} characters" in text


def test_edit_errors_points_at_the_input():
    assert edit_errors("bad yaml") == {
        "response_action": "errors",
        "errors": {ids.EDIT_BLOCK: "bad yaml"},
    }
    long = edit_errors("x" * 10_000)
    assert len(long["errors"][ids.EDIT_BLOCK]) <= 2000


def test_reject_modal_requires_a_reason():
    view = reject_modal(12)
    blocks = check_view(view)
    assert view["callback_id"] == ids.REJECT_MODAL
    assert view["private_metadata"] == "12"
    assert blocks[0]["block_id"] == ids.REASON_BLOCK
    assert blocks[0]["element"]["action_id"] == ids.REASON_INPUT
    assert blocks[0]["optional"] is False
