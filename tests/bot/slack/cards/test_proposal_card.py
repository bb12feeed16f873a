"""The proposal card: rationale, diff, evidence, and the buttons only while it awaits review."""

from __future__ import annotations

from bot.slack.cards import actions as ids
from bot.slack.cards.proposal_card import evidence_rows, evidence_table, proposal_card
from knowledge.store.models import ProposalState
from tests.bot.slack.cards.support import AT, all_text, buttons, check_message, proposal

DIFF = "--- v3\n+++ v4\n@@ -1,3 +1,3 @@\n-  timeout_s: 10\n+  timeout_s: 30\n"


def test_a_candidate_shows_everything_and_the_buttons():
    payload = proposal_card(proposal(), DIFF)
    blocks = check_message(payload)
    text = all_text(blocks)
    assert blocks[0]["text"]["text"] == "💡 Proposal #12: improve deploy_api v3"
    assert "Deploys time out under load" in text
    assert "*Change*\n```\n--- v3\n+++ v4\n" in text
    assert "+  timeout_s: 30" in text
    assert "success rate" in text
    assert [(b["action_id"], b["value"]) for b in buttons(blocks)] == [
        (ids.PROPOSAL_APPROVE, "12"),
        (ids.PROPOSAL_REJECT, "12"),
    ]
    assert payload["text"].startswith("Proposal #12 for deploy_api v3:")


def test_the_evidence_table_formats_known_metrics():
    rows = evidence_rows(proposal().evidence)
    assert rows == [
        ("success rate", "80.0%", "95.0%", "90.0%–99.0%"),
        ("latency p50", "1.2 s", "900 ms", ""),
        ("cost per run", "$0.02", "$0.015", ""),
    ]
    table = evidence_table(proposal().evidence).split("\n")
    assert table[0].split() == ["metric", "before", "after", "interval"]
    assert len({len(line) for line in table[:2]}) == 1  # aligned columns


def test_the_evidence_table_tolerates_anything():
    evidence = {
        "latency_p95_ms": {"after": 2000},
        "samples": 42,
        "flaky_rate": {"before": 0.1, "after": 0.02, "interval": [0.01, 0.05]},
        "notes": "looked at 3 weeks <of runs>",
        "weird": {"shape": [1, {"x": None}]},
        "nothing": None,
        "broken_interval": {"before": 1, "interval": ["a", "b", "c"]},
        "flag": True,
    }
    rows = {row[0]: row[1:] for row in evidence_rows(evidence)}
    assert rows["latency p95"] == ("", "2.0 s", "")
    assert rows["samples"] == ("", "42", "")
    assert rows["flaky rate"] == ("10.0%", "2.0%", "1.0%–5.0%")
    assert rows["notes"] == ("", "looked at 3 weeks <of r…", "")  # cells are clipped
    assert rows["weird"][1].startswith('{"shape": [1, {"x": null}]}'[:20])
    assert rows["nothing"] == ("", "", "")
    assert rows["broken interval"][0] == "1"
    assert rows["flag"] == ("", "true", "")
    text = all_text(check_message(proposal_card(proposal(evidence=evidence), DIFF)))
    assert "looked at 3 weeks &lt;of r…" in text
    assert "No evidence recorded" in all_text(
        check_message(proposal_card(proposal(evidence={}), DIFF))
    )


def test_decided_proposals_have_no_buttons():
    rejected = proposal(
        ProposalState.REJECTED, reviewer="U2ABC", review_comment="Too slow <still>", decided_at=AT
    )
    blocks = check_message(proposal_card(rejected, DIFF))
    assert not buttons(blocks)
    note = blocks[-1]["elements"][0]["text"]
    assert note.startswith("❌ Rejected by <@U2ABC> at <!date^")
    assert note.endswith(": Too slow &lt;still&gt;")
    for state, extra in (
        (ProposalState.APPROVED, " · became v4"),
        (ProposalState.PRODUCTION, " · became v4 · in production"),
        (ProposalState.ROLLED_BACK, " · became v4 · later rolled back"),
    ):
        decided = proposal(state, reviewer="U2ABC", decided_at=AT, result_version=4)
        blocks = check_message(proposal_card(decided, DIFF))
        assert not buttons(blocks)
        note = blocks[-1]["elements"][0]["text"]
        assert note.startswith("✅ Approved by <@U2ABC> at <!date^")
        assert note.endswith(extra)


def test_proposals_not_yet_evaluated_have_no_buttons():
    for state in (ProposalState.DRAFT, ProposalState.EVALUATED):
        blocks = check_message(proposal_card(proposal(state), DIFF))
        assert not buttons(blocks)
        assert "Not ready for review yet" in all_text(blocks)


def test_a_huge_proposal_stays_within_limits():
    diff = "".join(f"+  - id: step_{i}\n" for i in range(60_000))
    evidence = {f"metric_{i}": {"before": i, "after": i + 1} for i in range(500)}
    big = proposal(rationale="because " * 5000, evidence=evidence, patch=[{"op": "add"}] * 900)
    blocks = check_message(proposal_card(big, diff))
    text = all_text(blocks)
    assert "more diff lines not shown" in text
    assert "… 470 more metrics" in text
    assert len(buttons(blocks)) == 2
    assert "No textual change (1 patch op)" in all_text(
        check_message(proposal_card(proposal(), "  \n"))
    )
