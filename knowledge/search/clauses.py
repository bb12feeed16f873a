"""Splitting a request into clauses: "deploy api, then page on-call and tell #ops" → three.

Search scores each tool by its best clause (a request that asks for three things should find
three tools), and the planner turns clauses into steps.
"""

from __future__ import annotations

import re

#: Sentence ends, commas and the connectives that chain actions.
_BOUNDARY = re.compile(
    r"(?:[.;!?]\s+|,?\s+(?:and then|then|after that|afterwards|after which|finally|lastly|"
    r"and also|also|and|once|before|after|as well as)\s+|,\s+)",
    re.IGNORECASE,
)
#: Clauses shorter than this many words ("please", "thanks") say nothing on their own.
MIN_WORDS = 3


def split_clauses(text: str) -> list[str]:
    """The clauses of ``text``, in order (the whole text when it has only one)."""
    parts = [part.strip(" ,") for part in _BOUNDARY.split(text)]
    return [part for part in parts if len(part.split()) >= MIN_WORDS]
