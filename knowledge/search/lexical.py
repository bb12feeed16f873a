"""Lexical ranking: Okapi BM25 over short documents (tool descriptions, past requests).

Local chroma has no sparse or keyword search, so Kaizen ranks words itself and fuses the two
rankings (see :mod:`knowledge.search.fusion`). Words are lower-cased, identifiers split at
``_``/``-``/``.``/camelCase, common English endings trimmed and stop words dropped, so "deploys",
"deploying" and ``deploy_service`` meet.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

_CAMEL = re.compile(r"(?<=[a-z0-9]{2})(?=[A-Z])")
"""Where an identifier splits: "sendEmail" → "send Email"; not "iPhone" or "eBay", whose
lowercase head is one letter."""
_WORD = re.compile(r"[a-z0-9]+")
#: A contraction's or possessive's ending ("what's", "email's", "we'll"): no word of its own,
#: so "what's the p99 latency" shares no "s" with "the email's text".
_CONTRACTED = re.compile(r"(?<=[a-z])['\u2019](?:s|re|ll|d|ve|m|t)\b")
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "for",
        "from",
        "get",
        "give",
        "go",
        "has",
        "have",
        "help",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "let",
        "me",
        "my",
        "need",
        "not",  # a negation asks for nothing (and names no note tool)
        "of",
        "on",
        "or",
        "our",
        "please",
        "some",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "to",
        "up",
        "us",
        "want",
        "we",
        "what",
        "when",
        "which",
        "will",
        "with",
        "would",
        "you",
        "your",
    }
)


#: Words that look inflected but are not ("news" is no plural of "new").
_INVARIANT = frozenset({"news", "series", "species", "always", "perhaps", "during"})
_VOWELS = "aeiou"


def _is_consonant(word: str, i: int) -> bool:
    if word[i] in _VOWELS:
        return False
    return word[i] != "y" or i == 0 or not _is_consonant(word, i - 1)


def _measure(word: str) -> int:
    """Porter's m: how many vowel-consonant sequences ``word`` has ("tree" 0, "trouble" 1,
    "private" 2)."""
    kinds = "".join("c" if _is_consonant(word, i) else "v" for i in range(len(word)))
    return len(re.findall(r"v+c+", kinds))


def _ends_cvc(word: str) -> bool:
    """Whether ``word`` ends consonant-vowel-consonant, the last not w, x or y ("hop", "car"):
    a short syllable whose silent e ("hope", "care") belongs to the word."""
    return (
        len(word) >= 3
        and _is_consonant(word, len(word) - 3)
        and not _is_consonant(word, len(word) - 2)
        and _is_consonant(word, len(word) - 1)
        and word[-1] not in "wxy"
    )


def _trim_suffix(word: str) -> str:
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "i"  # policies → polici, like policy
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= 3 and any(v in base for v in _VOWELS):
            if base.endswith(("at", "bl", "iz")):
                return base + "e"  # updating → update
            if (
                base[-1] == base[-2]
                and base[-1] not in "lsz"
                and _is_consonant(base, len(base) - 1)
            ):
                return base[:-1]  # running → run; installing → install
            if _measure(base) == 1 and _ends_cvc(base):
                return base + "e"  # driving → drive, caring → care
            return base
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]  # taxes → tax, dishes → dish
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]  # shares → share, notes → note
    return word


def stem(word: str) -> str:
    """A light English stemmer after Porter's first and last steps: plural, -ing and -ed forms
    of a word meet ("drives", "driving", "drive"; "updated", "update"), and a silent e stays
    where it tells words apart ("care" is not "car", "note" is not "not")."""
    if len(word) <= 3 or word.isdigit() or word in _INVARIANT:
        return word
    base = _trim_suffix(word)
    if base.endswith("y") and len(base) > 3 and _is_consonant(base, len(base) - 2):
        base = base[:-1] + "i"  # policy → polici, like policies
    if base.endswith("e") and len(base) > 3:
        rest = base[:-1]
        measure = _measure(rest)
        if measure > 1 or (measure == 1 and not _ends_cvc(rest)):
            return rest  # update → updat, course → cours; drive, care, note stay
    return base


#: A value in quotes ('…', "…", “…”, ‘…’), its text in group q1 … q4: a quoted title's
#: words name a value, not what the request asks for.
QUOTED = re.compile(
    r"(?<![\w])(?:'(?P<q1>[^'\n]{1,200}?)'(?![\w])|\"(?P<q2>[^\"\n]{1,200}?)\"|"
    r"“(?P<q3>[^”\n]{1,200}?)”|‘(?P<q4>[^’\n]{1,200}?)’)"
)
#: What a title before a name says the person is ("Dr. Smith" is a doctor).
TITLE_WORDS = {"dr": "doctor", "prof": "professor"}
_TITLE = re.compile(r"\b(Dr|Prof)\.?(?=\s+[A-Z])")
#: The start of a street address just before "Dr" ("12 Party Dr"): a drive, not a doctor.
_STREET_BEFORE = re.compile(r"\b\d+\s+(?:[A-Z][\w'-]*\s+){1,3}$")


def _titles_as_words(text: str) -> str:
    """``text`` with titles before names written as what they say ("Dr. Smith" → "doctor
    Smith")."""

    def word(match: re.Match[str]) -> str:
        if _STREET_BEFORE.search(text[: match.start()]):
            return match.group(0)
        return TITLE_WORDS[match.group(1).lower()]

    return _TITLE.sub(word, text) if "Dr" in text or "Prof" in text else text


#: Idioms whose words would point at the wrong tool, and what they mean ("feeling under the
#: weather" asks for no forecast).
IDIOMS = {
    "under the weather": "unwell",
    "attend to": "handle",
    "call it a day": "stop",
    "hit the road": "leave",
    "hit the books": "study",
    "touch base": "talk",
    "in the loop": "informed",
    "on the same page": "agreed",
    "ring a bell": "seem familiar",
    "break the bank": "cost too much",
    "piece of cake": "easy",
    "set the mood": "make it cosy",
    "set the tone": "make it fitting",
    "set the stage": "prepare",
}
_IDIOM = re.compile(r"\b(?:" + "|".join(re.escape(i) for i in IDIOMS) + r")\b", re.IGNORECASE)


#: Chat shorthand, written out: "open a PR" asks for a pull request. Capitals matter for
#: the acronyms ("pr" is no pull request); the rest are read in any case.
SHORTHAND = {"PR": "pull request", "PRs": "pull requests", "MR": "merge request"}
_SHORTHAND_ANY_CASE = {"prod": "production", "pls": "please", "plz": "please", "asap": "soon"}
_SHORTHAND = re.compile(
    r"\b(?:" + "|".join(map(re.escape, SHORTHAND)) + r")\b"
    r"|(?i:\b(?:" + "|".join(map(re.escape, _SHORTHAND_ANY_CASE)) + r")\b)"
)


def literally(text: str) -> str:
    """``text`` with idioms written as what they mean (:data:`IDIOMS`) and chat shorthand
    written out (:data:`SHORTHAND`: "open a PR" → "open a pull request")."""
    text = _IDIOM.sub(lambda m: IDIOMS[m.group(0).lower()], text)
    return _SHORTHAND.sub(
        lambda m: SHORTHAND.get(m.group(0)) or _SHORTHAND_ANY_CASE[m.group(0).lower()], text
    )


def words(text: str) -> list[str]:
    """The index terms of ``text``."""
    text = _titles_as_words(literally(text))
    spaced = _CONTRACTED.sub("", _CAMEL.sub(" ", text).lower())
    return [stem(w) for w in _WORD.findall(spaced) if w not in STOP_WORDS]


def joined_words(text: str) -> set[str]:
    """Each two words of ``text`` in a row written as one, as an index term: a phrasal verb as
    a tool name writes it ("roll back" → rollback, "log in" → login); "rolled back" says what
    happened and joins into no such word."""
    tokens = _WORD.findall(literally(text).lower())
    return {stem(a + b) for a, b in itertools.pairwise(tokens)}


#: Words after an -ing form that make it a verb, not an activity noun ("a note reminding me",
#: "a package arriving today", "an email confirming the order").
_OBJECT_WORDS = frozenset(
    """me you him her them us it the a an this that these those my your his their our its
    today tomorrow tonight soon now here there about for to at on in with from up out by
    into over""".split()  # noqa: SIM905
)

#: -ing words that work as prepositions ("news regarding electric cars").
_ING_PREPOSITIONS = frozenset(
    """regarding concerning including following during according considering involving
    featuring excluding pending using covering discussing describing showing""".split()  # noqa: SIM905
)


def modifiers(text: str) -> dict[str, set[str]]:
    """The index terms of ``text`` that only stand before an activity noun, each with the
    nouns' terms: "software" in "interested in software engineering" names a field of work,
    not software to install; "video" in "a video conferencing app" no video call."""
    text = _titles_as_words(literally(text))
    tokens = _WORD.findall(_CAMEL.sub(" ", text).lower())
    heads: dict[str, set[str]] = {}
    free: set[str] = set()
    for position, token in enumerate(tokens):
        if token in STOP_WORDS:
            continue
        after, then = [*tokens[position + 1 : position + 3], "", ""][:2]
        if (
            len(after) > 6
            and after.endswith("ing")
            and after not in _ING_PREPOSITIONS
            and then not in _OBJECT_WORDS
        ):
            heads.setdefault(stem(token), set()).add(stem(after))
        else:
            free.add(stem(token))
    return {term: nouns for term, nouns in heads.items() if term not in free}


class BM25:
    """Okapi BM25 (k1 = 1.2, b = 0.75) over a fixed list of documents."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.terms: list[Counter[str]] = [Counter(words(d)) for d in documents]
        self.lengths = [sum(t.values()) for t in self.terms]
        self.average = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        frequency: Counter[str] = Counter()
        for terms in self.terms:
            frequency.update(terms.keys())
        n = len(self.terms)
        self.idf = {
            term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in frequency.items()
        }

    def scores(self, query: str) -> list[float]:
        """One score per document (0 when no query word occurs in it)."""
        query_terms = [t for t in words(query) if t in self.idf]
        results: list[float] = []
        for terms, length in zip(self.terms, self.lengths, strict=True):
            score = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / (self.average or 1.0))
            for term in query_terms:
                tf = terms.get(term, 0)
                if tf:
                    score += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
            results.append(score)
        return results

    def rank(self, query: str, limit: int | None = None) -> list[tuple[int, float]]:
        """``(document index, score)`` of the documents that match, best first."""
        scored = [(i, s) for i, s in enumerate(self.scores(query)) if s > 0]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:limit] if limit is not None else scored


def vocabulary(documents: Iterable[str]) -> set[str]:
    """Every index term of ``documents``."""
    found: set[str] = set()
    for document in documents:
        found.update(words(document))
    return found
