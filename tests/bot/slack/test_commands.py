"""Parsing /kaizen commands."""

from __future__ import annotations

import pytest

from bot.slack.commands import CommandError, parse_command


def test_anything_that_is_not_a_subcommand_is_a_request_to_plan():
    parsed = parse_command("  deploy api to staging, then tell #dev  ")
    assert parsed.kind == "plan"
    assert parsed.request == "deploy api to staging, then tell #dev"
    # a request that starts with a subcommand's word but is not one stays a request
    assert parse_command("workflows that failed today").kind == "plan"


@pytest.mark.parametrize("text", ["", "help", "HELP", "?", "--help"])
def test_help(text):
    assert parse_command(text).kind == "help"


def test_run_with_inputs_quoted_values_and_history_rollback():
    parsed = parse_command("run deploy_api env=staging 'note=two words'")
    assert (parsed.kind, parsed.workflow) == ("run", "deploy_api")
    assert parsed.inputs == {"env": "staging", "note": "two words"}
    assert parse_command("workflows").kind == "workflows"
    assert parse_command("history deploy_api").workflow == "deploy_api"
    rollback = parse_command("rollback deploy_api v3")
    assert (rollback.workflow, rollback.version) == ("deploy_api", 3)


@pytest.mark.parametrize(
    "text",
    ["run the tests on staging", "run Bob's weekly report", 'run ["echo", "hi"] in the shell'],
)
def test_sentences_starting_with_run_are_requests_to_plan(text):
    parsed = parse_command(text)
    assert (parsed.kind, parsed.request) == ("plan", text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("run", "name the workflow"),
        ("run deploy a=1 a=2", "given twice"),
        ("history", "name one workflow"),
        ("history a b", "name one workflow"),
        ("rollback deploy", "name a workflow and a version"),
        ("rollback deploy three", "'three' is not a version number"),
        ("rollback deploy 0", "versions start at 1"),
    ],
)
def test_wrong_subcommands_say_what_is_wrong_and_how_to_write_it(text, says):
    with pytest.raises(CommandError, match=says):
        parse_command(text)
