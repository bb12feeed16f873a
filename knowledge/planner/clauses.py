"""A request as the planner reads it: clauses in order, each with the word that joined it to
the previous one ("then", "meanwhile", …) and whether it asks for something."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

#: Sentence ends, commas and the connectives that chain actions (the word is captured).
_BOUNDARY = re.compile(
    r"(?:(?<=[.;!?])\s+|,?\s+(?P<word>and then|then|after that|afterwards|after which|finally|"
    r"lastly|and also|also|and|once|before|after|as well as|meanwhile|while|but)\s+|"
    r",(?!\s*(?:19|20)\d\d\b)\s+)",
    re.IGNORECASE,
)
#: Words at the start of a clause that say how it relates to the one before.
_LEADING = re.compile(
    r"^(?P<word>first(?:ly)?|second(?:ly)?|third(?:ly)?|next|then|after that|afterwards|"
    r"finally|lastly|last|once (?:that|this|it|you|we|I|everything)[^,]*|meanwhile|"
    r"at the same time|in parallel|simultaneously|alongside|additionally|also|besides|"
    r"in addition|moreover|furthermore|and)\b[,\s]*",
    re.IGNORECASE,
)
#: Connectives after which a step may run alongside the previous one.
PARALLEL_WORDS = frozenset(
    {"meanwhile", "while", "at the same time", "in parallel", "simultaneously", "alongside"}
)
#: A clause that asks for something (not one that only sets the scene).
_ASKS = re.compile(
    r"\b(?:can|could|would|will) (?:you|we|u)\b|\bplease\b|\bhelp (?:me|us)?\b|\bassist\b|"
    r"\bi(?:'d| would) (?:like|love|want|appreciate)\b|\bi (?:need|want|wish|must|have to)\b|"
    r"\blet'?s\b|\bmake sure\b|\bremind\b|\bdon'?t forget\b|\bi'?m (?:looking|trying|hoping)\b|"
    r"\bwe (?:need|should|must)\b",
    re.IGNORECASE,
)
MIN_WORDS = 2


class Clause(BaseModel):
    """One clause of a request."""

    model_config = ConfigDict(frozen=True)

    text: str
    start: int
    end: int
    connective: str = ""
    """The word joining it to the clause before ("then", "meanwhile", "after", …), lower case."""
    asks: bool = True
    """Whether it asks for something (a question, a request, an imperative)."""

    @property
    def parallel(self) -> bool:
        return self.connective in PARALLEL_WORDS


def read_clauses(text: str) -> list[Clause]:
    """The clauses of ``text`` in order, with their positions in it."""
    pieces: list[tuple[int, int, str]] = []
    position = 0
    connective = ""
    for match in _BOUNDARY.finditer(text):
        pieces.append((position, match.start(), connective))
        connective = (match.group("word") or "").lower()
        position = match.end()
    pieces.append((position, len(text), connective))
    clauses: list[Clause] = []
    carried = ""
    for start, end, word in pieces:
        raw = text[start:end]
        stripped = raw.strip(" ,.;!?\n\t")
        if not stripped:
            continue
        start += raw.index(stripped)
        end = start + len(stripped)
        word = word or carried
        leading = _LEADING.match(stripped)
        if leading:
            word = word or leading.group("word").lower().split()[0]
            if leading.group("word").lower() in PARALLEL_WORDS:
                word = leading.group("word").lower()
        only_connective = leading is not None and leading.end() >= len(stripped)
        if len(stripped.split()) < MIN_WORDS or only_connective:
            carried = word  # "Also," on its own: its word belongs to the next clause
            continue
        asks = _asks(stripped) or raw.rstrip().endswith("?")
        carried = "" if asks else word  # "Once that's done, …": the word orders what follows
        clauses.append(Clause(text=stripped, start=start, end=end, connective=word, asks=asks))
    return clauses


def _asks(clause: str) -> bool:
    if clause.endswith("?") or _ASKS.search(clause):
        return True
    first = clause.split()[0].lower()
    return first not in _SCENE_STARTS


#: First words of clauses that describe rather than ask ("I have …", "It's …", "My …").
_SCENE_STARTS = frozenset(
    [
        "i",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "im",
        "ive",
        "my",
        "it",
        "it's",
        "its",
        "this",
        "that",
        "there",
        "there's",
        "we",
        "we're",
        "we've",
        "our",
        "the",
        "a",
        "an",
        "as",
        "since",
        "because",
        "so",
        "though",
        "although",
        "when",
        "if",
        "today",
        "tomorrow",
        "yesterday",
        "recently",
        "lately",
        "once",
        "after",
        "before",
        "while",
        "whenever",
        "until",
    ]
)
