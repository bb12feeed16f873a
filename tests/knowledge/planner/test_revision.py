"""Revising a request with a follow-up from its thread."""

from __future__ import annotations

import pytest

from knowledge.planner.revision import revise_request


@pytest.mark.parametrize(
    "change",
    [
        "use staging instead of production",
        "Please use 'staging' instead of \"production\".",
        "staging instead of production",
        "instead of production, use staging",
        "replace production with staging",
        "swap Production for staging",
        "change production to staging",
        "production -> staging",
    ],
)
def test_substitutions_name_what_to_replace(change: str) -> None:
    assert revise_request("deploy api to production now", change) == "deploy api to staging now"


def test_only_whole_words_are_replaced_and_quotes_are_kept() -> None:
    revised = revise_request("append 'hello world' to notes.txt", "use 'bye' instead of 'hello'")
    assert revised == "append 'bye world' to notes.txt"
    assert revise_request("deploy prod-api", "use dev instead of api") == "deploy prod-dev"
    assert revise_request("check apiary", "use x instead of api") == (
        "check apiary. use x instead of api"
    )


def test_other_changes_follow_the_request_as_a_sentence() -> None:
    assert revise_request("deploy api", "  also tell\n #dev ") == "deploy api. also tell #dev"
    assert revise_request("deploy api.", "use staging instead") == (
        "deploy api. use staging instead"
    )
