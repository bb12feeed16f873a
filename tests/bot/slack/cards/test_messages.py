"""Help, workflow list, version history and notices."""

from __future__ import annotations

from bot.slack.cards.messages import help_message, history_message, notice, workflows_message
from knowledge.store.models import VersionOrigin
from tests.bot.slack.cards.support import all_text, check_message, version_info, workflow


def test_help_lists_every_command_and_the_reactions():
    text = all_text(check_message(help_message()))
    for command in (
        "/kaizen &lt;request&gt;",
        "/kaizen run &lt;workflow&gt; [key=value …]",
        "/kaizen workflows",
        "/kaizen history &lt;workflow&gt;",
        "/kaizen rollback &lt;workflow&gt; &lt;version&gt;",
        "/kaizen help",
        "/improve &lt;text&gt;",
    ):
        assert f"`{command}`" in text
    assert ":+1:" in text


def test_workflows_message():
    assert "No workflows yet" in all_text(check_message(workflows_message([])))
    payload = workflows_message([workflow(i) for i in range(3)])
    text = all_text(check_message(payload))
    assert "*workflow_2* v2 · 92% success · 14 runs" in text
    assert payload["text"] == "3 workflows"
    many = all_text(check_message(workflows_message([workflow(i) for i in range(5000)])))
    assert "more workflows not shown — `kaizen workflows list`" in many


def test_history_message_shows_who_what_when_and_the_diff():
    versions = [
        version_info(3, is_production=True, note="faster <deploys>", restores_number=1),
        version_info(2),
        version_info(1),
    ]
    diffs = {3: "--- v2\n+++ v3\n-  a: 1\n+  a: 2\n", 2: ""}
    text = all_text(check_message(history_message("deploy_api", versions, diffs)))
    assert "*v3* (production) · by <@U123ABC> · optimizer · <!date^" in text
    assert "restores v1" in text
    assert "> faster &lt;deploys&gt;" in text
    assert "```\n--- v2\n+++ v3\n-  a: 1\n+  a: 2\n```" in text
    assert "_1 change from v1._" in text
    assert "_First version._" in text
    assert "· user ·" in text


def test_history_message_with_many_large_versions_stays_within_limits():
    versions = [version_info(n, origin=VersionOrigin.FEEDBACK) for n in range(300, 0, -1)]
    diffs = dict.fromkeys(range(1, 301), "+ line\n" * 5000)
    text = all_text(check_message(history_message("deploy_api", versions, diffs)))
    assert "more versions — `kaizen workflows history deploy_api`" in text
    assert "*v300*" in text
    empty = all_text(check_message(history_message("x", [], {})))
    assert "x has no versions." in empty


def test_notice_is_one_section():
    payload = notice("Saved *deploy_api* v3 <@U1ABC>")
    blocks = check_message(payload)
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Saved *deploy_api* v3 <@U1ABC>"}}
    ]
    assert payload["text"] == "Saved *deploy_api* v3 <@U1ABC>"
    plain = notice("expected <int> & got str", plain=True)
    assert plain["blocks"][0]["text"]["text"] == "expected &lt;int&gt; &amp; got str"
    check_message(notice("x" * 100_000))
