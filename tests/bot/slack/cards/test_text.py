"""Cards rendered as terminal text, with their buttons as numbered choices."""

from __future__ import annotations

from bot.slack.cards import actions as ids
from bot.slack.cards.home import home_view
from bot.slack.cards.plan_card import edit_modal, preview_card, reject_modal
from bot.slack.cards.run_card import approval_card
from bot.slack.cards.text import plain, render_text
from tests.bot.slack.cards.support import AT, workflow
from tests.bot.slack.cards.test_plan_card import plan


def test_a_preview_renders_with_numbered_buttons():
    text, buttons = render_text(preview_card(7, plan(), None, requested_by="U123ABC"))
    lines = text.split("\n")
    assert lines[0] == "📋 deploy_api"
    assert set(lines[1]) == {"═"}
    assert "*Request* from @U123ABC:" in text
    assert ">deploy <api> to staging & tell #dev" in text
    assert "1. `ci.run_tests` repo=org/{{ inputs.service }}" in text
    assert "  ┆ Planned by the offline planner" in text
    assert lines[-1] == "[1] ▶ Run  [2] ✎ Edit  [3] Save as workflow  [4] Cancel"
    assert buttons == [
        ("▶ Run", ids.PLAN_RUN, "7"),
        ("✎ Edit", ids.PLAN_EDIT, "7"),
        ("Save as workflow", ids.PLAN_SAVE, "7"),
        ("Cancel", ids.PLAN_CANCEL, "7"),
    ]


def test_buttons_are_numbered_across_blocks():
    card = approval_card("r1", "s1", "deploy.service", "ok?", [])
    card["blocks"].append(card["blocks"][-1])
    text, buttons = render_text(card)
    assert "[3] ✅ Approve  [4] Deny" in text
    assert [b[1] for b in buttons] == [ids.APPROVAL_APPROVE, ids.APPROVAL_DENY] * 2


def test_context_lines_can_be_dimmed():
    text, _ = render_text(approval_card("r1", "s1", "t", "", []), color=True)
    assert "\x1b[2m  ┆ Anyone allowed to run this workflow can decide.\x1b[0m" in text


def test_modals_render_their_inputs_and_submit():
    text, buttons = render_text(edit_modal(7, "name: x\nsteps: []", error="bad <yaml>"))
    assert text.startswith("Edit plan\n═════════")
    assert "⚠️ *That did not work:* bad <yaml>" in text
    assert "Blueprint (YAML):\n  name: x\n  steps: []" in text
    assert text.endswith("[1] Save & preview  [2] Cancel")
    assert buttons == [("Save & preview", ids.EDIT_MODAL, "7"), ("Cancel", "close", "7")]
    reject, _ = render_text(reject_modal(3))
    assert "Why reject it?:\n  (empty)" in reject


def test_home_views_render():
    text, buttons = render_text(home_view([workflow(0)], [], [], None))
    assert text.startswith("Kaizen\n═")
    assert "*workflow_0* v2 · 92% success · 14 runs · last run 2024-03-10 12:03 UTC" in text
    assert "─" * 60 in text
    assert buttons == []


def test_plain_resolves_slack_tokens():
    assert plain("<@U1> <#C1|dev> <!here> <!subteam^S1> <https://x.io|site> <https://y.io>") == (
        "@U1 #dev @here @S1 site (https://x.io) https://y.io"
    )
    assert plain("a &lt;b&gt; &amp;lt;") == "a <b> &lt;"
    assert plain(f"<!date^{int(AT.timestamp())}^{{time}}|12:03 UTC>") == "12:03 UTC"


def test_a_message_without_blocks_renders_its_text():
    assert render_text({"text": "hello <@U1>"}) == ("hello @U1", [])
    assert render_text({"blocks": [{"type": "video"}]}) == ("[video]", [])
