"""The App Home view."""

from __future__ import annotations

from bot.slack.cards.home import home_view, workflow_line
from knowledge.store.models import ProposalState, RunState
from tests.bot.slack.cards.support import (
    all_text,
    buttons,
    check_view,
    proposal,
    run_info,
    workflow,
)


def test_the_empty_home_says_what_to_do():
    view = home_view([], [], [], None)
    blocks = check_view(view)
    assert view["type"] == "home"
    text = all_text(blocks)
    assert "No workflows yet — try `/kaizen deploy api to staging`" in text
    assert "No runs yet." in text
    assert "No proposals waiting for review." in text


def test_the_home_lists_workflows_runs_proposals_and_the_budget():
    failed = run_info(1, status=RunState.FAILED, cost_usd=0.0)
    view = home_view(
        [workflow(0), workflow(1, success_rate=None, last_run_at=None, runs=0)],
        [run_info(0), failed],
        [proposal(ProposalState.CANDIDATE)],
        "global daily usd budget: $2.50 of $10.00 used",
    )
    text = all_text(check_view(view))
    assert "💰 global daily usd budget: $2.50 of $10.00 used" in text
    assert "*workflow_0* v2 · 92% success · 14 runs · last run <!date^" in text
    assert "*workflow_1* v2 · 0 runs · never run" in text
    assert "✅ `00000000` deploy_api v3 · succeeded · 1.2 s · $0.01 · by <@U123ABC>" in text
    assert "❌ `00000001` deploy_api v3 · failed · 1.2 s · by <@U123ABC>" in text
    assert "💡 *#12* deploy_api v3 — Deploys time out under load" in text
    assert not buttons(view["blocks"])


def test_a_crowded_home_stays_within_100_blocks():
    view = home_view(
        [workflow(i, name=f"workflow_{i}_" + "n" * 200) for i in range(2000)],
        [run_info(i) for i in range(2000)],
        [proposal(id=i, rationale="r " * 1000) for i in range(500)],
        "b" * 10_000,
    )
    blocks = check_view(view)
    text = all_text(blocks)
    assert "more workflows — `/kaizen workflows`" in text
    assert "more runs — `kaizen runs list`" in text
    assert "more proposals" in text
    assert len(blocks) <= 100


def test_workflow_lines_tolerate_missing_keys():
    assert workflow_line({}) == "*?* · never run"
    assert (
        workflow_line({"name": "a<b", "success_rate": 1}) == "*a&lt;b* · 100% success · never run"
    )
