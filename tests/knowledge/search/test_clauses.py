"""Splitting requests into clauses."""

from __future__ import annotations

from knowledge.search.clauses import split_clauses


def test_connectives_and_punctuation_split_a_request_into_its_asks():
    text = "Deploy api-gateway to staging, then page the on-call engineer and tell #ops about it."
    assert split_clauses(text) == [
        "Deploy api-gateway to staging",
        "page the on-call engineer",
        "tell #ops about it.",
    ]


def test_short_fragments_are_dropped_and_a_single_ask_stays_whole():
    assert split_clauses("Please, roll back the payments service") == [
        "roll back the payments service"
    ]
    assert split_clauses("thanks") == []
