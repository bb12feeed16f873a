"""Values a request states: quoted strings, dates, times, numbers, amounts, phone numbers,
emails, URLs, channels, mentions, file names and named entities.

Each :class:`Mention` has a kind, the text as written, a normalised value (dates become ISO
``YYYY-MM-DD``) and its position, so the planner can fill a step's params from the clause that
asked for the step.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from knowledge.search.clauses import TELLING, reminder_of
from knowledge.search.lexical import QUOTED

MentionKind = Literal[
    "quoted",
    "email",
    "url",
    "phone",
    "date",
    "time",
    "amount",
    "year",
    "number",
    "channel",
    "mention",
    "file",
    "address",
    "entity",
]


class Mention(BaseModel):
    """A value found in the text."""

    model_config = ConfigDict(frozen=True)

    kind: MentionKind
    text: str
    value: str
    start: int
    end: int


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = r"(?:" + "|".join(_WEEKDAYS) + r")"
#: Counts written as words ("in two weeks").
_COUNTS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "ten": 10,
}  # fmt: skip
_YEAR = r"(?P<year>(?:19|20)\d\d)"

#: A reported message of this many words or more is a value ("text Bob that I'm running
#: late"); a quoted one needs :data:`MESSAGE_WORDS` (a short quote is rather a title).
REPORTED_WORDS = 3
#: A message reported in a request ("send Dana a message that the build is green"), to the
#: end of its clause: a sentence end, a comma or "then" that starts the next step, or where
#: it goes ("… at +1 415 555 0100", "… to #ops").
REPORTED_MESSAGE = re.compile(
    TELLING + r"(?P<said>(?:(?![.;!?](?:\s|$)|,?\s+(?:and\s+)?then\b|,\s*(?:and|also|after|"
    r"afterwards|finally|next|meanwhile|lastly)\b|\s+(?:at|to|via|on|in)\s+(?:[+(#@]|"
    r"\d[\d\s().-]{6,}|[\w.+-]+@)).)+)",
    re.IGNORECASE,
)
#: A sentence of a request: what a reminder is of ends with its sentence.
_SENTENCE = re.compile(r"(?:\b[ap]\.m\.|[^.!?]|[.!?](?!\s|$))+", re.IGNORECASE)
_PATTERNS: list[tuple[MentionKind, re.Pattern[str]]] = [
    (
        "quoted",
        QUOTED,
    ),
    ("quoted", REPORTED_MESSAGE),  # one value, like a quoted message
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"')]+[^\s<>\"').,;:!?]")),
    (
        "date",
        re.compile(
            r"\b(?P<iso>(?:19|20)\d\d-[01]\d-[0-3]\d)\b"
            rf"|\b(?P<md>{_MONTH})\s+{_DAY}(?:,?\s+{_YEAR})?\b"
            rf"|\b(?:the\s+)?(?P<dm_day>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm>{_MONTH})(?:,?\s+(?P<dm_year>(?:19|20)\d\d))?\b"
            r"|\b(?P<us>[01]?\d)/(?P<us_day>[0-3]?\d)/(?P<us_year>(?:19|20)\d\d)\b"
            r"|\b(?P<rel2>the day after tomorrow|the day before yesterday)\b"
            r"|\b(?P<rel>today|tomorrow|yesterday)\b"
            # a weekday, not one starting a name ("Saturday Night Fever")
            rf"|\b(?:(?P<wd_which>this|next|coming)\s+)?(?P<wd>{_WEEKDAY})\b(?!\s+(?-i:[A-Z][a-z]))"
            r"|\bin\s+(?P<in_n>\d{1,3}|an?|one|two|three|four|five|six|seven|ten)\s+"
            r"(?P<in_unit>days?|weeks?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "time",
        re.compile(
            r"\b(?:[01]?\d|2[0-3])(?::[0-5]\d)?\s?(?:[AaPp]\.?[Mm]\.?)(?![\w])|\b(?:[01]?\d|2[0-3]):[0-5]\d\b"
        ),
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w-])(?:\+\d{1,3}[\s-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w-])"
            r"|(?<![\w-])\+?\d{10,13}(?![\w-])"
            # international, in groups after the country code: "+1 555 0100", "+44 20 7946 0958"
            r"|(?<![\w+-])\+\d{1,3}(?:[\s.-]\d{2,4}){2,4}(?![\w-])"
        ),
    ),
    (
        "amount",
        re.compile(
            r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|dollars|euros|pounds)\b)"
        ),
    ),
    ("number", re.compile(r"(?<![\w-])\d{4}(?:[ -]\d{4}){3}(?![\w-])")),  # a card's number
    ("channel", re.compile(r"(?<![\w&])#[a-z0-9][a-z0-9_\-]{0,79}\b")),
    ("mention", re.compile(r"(?<![\w])@[A-Za-z0-9][\w.\-]{0,79}\b|<@[A-Z0-9]+>")),
    (
        "file",
        re.compile(
            # a path ("/tmp/a.txt", "~/notes", "./out/report.csv") or a file name with a
            # known extension, possibly under a folder ("logs/app.log")
            r"(?<![\w/.~:\-])(?:(?:~|\.{1,2})?(?:/[\w\-]+(?:\.[\w\-]+)*)+"
            r"|(?:[\w\-]+/)*[\w\-]+\.(?:txt|pdf|docx?|xlsx?|csv|pptx?|jpe?g|png|gif|mp3|mp4|"
            r"wav|zip|json|ya?ml|md|log|html?|xml|py|sh|toml|ini|conf|cfg|gz|tgz|tar)\b)",
            re.IGNORECASE,
        ),
    ),
    (
        "address",
        re.compile(
            r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|"
            r"Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq)\b"
        ),
    ),
    ("year", re.compile(r"\b(?:19|20)\d\d\b")),
    ("number", re.compile(r"(?<![\w.$€£-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")),
]

#: Capitalised words that start sentences or are pronouns, not names.
_NOT_NAMES = frozenset(
    [
        "i",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "can",
        "could",
        "would",
        "will",
        "please",
        "also",
        "and",
        "then",
        "after",
        "once",
        "finally",
        "lastly",
        "first",
        "firstly",
        "secondly",
        "next",
        "meanwhile",
        "additionally",
        "moreover",
        "furthermore",
        "however",
        "so",
        "but",
        "or",
        "if",
        "when",
        "while",
        "let",
        "let's",
        "hey",
        "hi",
        "hello",
        "thanks",
        "thank",
        "it",
        "it's",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "how",
        "is",
        "are",
        "was",
        "be",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "need",
        "want",
        "afterwards",
        "besides",
        "oh",
        "okay",
        "ok",
        "yes",
        "no",
        "sure",
        "great",
    ]
)
#: A title before a name: its full stop does not end the name ("Dr. Smith").
_TITLES = ("Dr.", "Mr.", "Mrs.", "Ms.", "Mx.", "Prof.")
_NAME_WORD = (
    r"(?:(?:" + "|".join(re.escape(t) for t in _TITLES) + r")(?=\s+[A-Z])"
    r"|[A-Z]\.(?:[A-Z]\.?)+(?![\w])"  # initials: "U.S.", "U.K"
    r"|[A-Z][\w'&\-]*|[A-Z]{2,}|[a-z][A-Z][\w'&\-]*)"  # and brands: "iPhone", "eBay"
)
#: US state and common country codes, which follow a place name (", CA", ", UK", ", USA").
_REGION_CODES = frozenset(
    """AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ
    NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC US USA UK UAE""".split()  # noqa: SIM905
)
_REGION_AFTER = re.compile(
    r",\s?(?:" + "|".join(sorted(_REGION_CODES, key=len, reverse=True)) + r")\b(?![\w'])"
)
#: Words that may join two names ("Bank of America") but do not end one.
_JOINING = frozenset(["of", "the", "de", "and"])
#: Capitalised words in a row ("Bank of America", "Dr. Jane Smith").
_ENTITY = re.compile(
    _NAME_WORD + r"(?:\s+(?:of\s+|the\s+|de\s+|and\s+)?(?:" + _NAME_WORD + r"|\d+))*"
)

#: A lower-case name given as one ("an event called standup", "a channel named ops-alerts").
_CALLED = re.compile(
    r"\b(?:called|named|titled)\s+(?P<name>(?!(?:a|an|the|it|that|this|after|for|by)\b)"
    r"[a-z][\w-]*(?:\.[\w-]+)*)"
)


def find_mentions(text: str, *, today: date | None = None) -> list[Mention]:
    """Every value in ``text``, in order; overlapping matches keep the first kind listed
    (a date inside quotes is a quoted string, a phone number is not also a number)."""
    taken: list[tuple[int, int]] = []
    found: list[Mention] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for sentence in _SENTENCE.finditer(text):  # "remind me at 9am to check the deploy"
        span = reminder_of(sentence.group(0))
        if span is not None:
            start, end = sentence.start() + span[0], sentence.start() + span[1]
            said = text[start:end]
            taken.append((start, end))
            found.append(Mention(kind="quoted", text=said, value=said, start=start, end=end))
    for kind, pattern in _PATTERNS:
        reported = pattern is REPORTED_MESSAGE
        for match in pattern.finditer(text):
            start, end = match.span("said") if reported else match.span()
            if not free(start, end):
                continue
            raw = match.group(0)
            value = _normalise(kind, match, today or date.today())
            if value is None:
                continue
            if kind == "quoted":
                group = next(i for i, g in enumerate(match.groups(), start=1) if g is not None)
                start, end = match.span(group)
                raw = value = match.group(group)
                if reported and len(value.split()) < REPORTED_WORDS:
                    continue  # "tell Dana that it shipped": too short to be sure it is one
                taken.append((start, end) if reported else match.span())
            else:
                taken.append((start, end))
            found.append(Mention(kind=kind, text=raw, value=value, start=start, end=end))
    for match in _ENTITY.finditer(text):
        start, end = match.span()
        raw = match.group(0).rstrip("'")
        if raw.endswith("'s"):
            raw = raw[:-2]
        words = raw.split()
        at_sentence_start = not text[:start].rstrip() or text[:start].rstrip()[-1] in ".!?\n"
        while words and (
            words[0].lower() in _NOT_NAMES
            or (at_sentence_start and words[0].lower() in COMMON_VERBS)
        ):
            words.pop(0)
        while words and (
            (words[-1] != "A" and words[-1].lower() in _NOT_NAMES) or words[-1] in _JOINING
        ):
            words.pop()  # "Australia and I'd …": the name ends before "and I'd"
        if (
            at_sentence_start
            and len(words) > 1
            and words[0] not in _TITLES
            and (words[1][:1].isupper() or words[1].lower() in ("the", "a", "an"))
            and _sentence_start_only(text, start, words[0])
        ):
            words.pop(0)  # "Page Carol": capitalised only because it starts the sentence
            while words and words[0][:1].islower():
                words.pop(0)
        if not words:
            continue
        start = text.find(" ".join(words), start)
        span_end = start + len(" ".join(words))
        inside = [m for m in found if start <= m.start and m.end <= span_end]
        if inside and all(m.kind == "number" for m in inside):
            for number in inside:  # "iPhone 13", "Data Science 101": the number is the name's
                found.remove(number)
                taken.remove((number.start, number.end))
        while len(words) > 1 and not free(start, start + len(" ".join(words))):
            words.pop()  # "Bank of America 2023": the year is a value of its own
            while len(words) > 1 and words[-1] in _JOINING:
                words.pop()
        raw = " ".join(words)
        end = start + len(raw)
        region = _REGION_AFTER.match(text, end)
        if region is not None and free(end, region.end()):
            end = region.end()  # "Stanford, CA", "London, UK": the place with its region
            raw = text[start:end]
        if not free(start, end) or _sentence_start_only(text, start, raw):
            continue
        taken.append((start, end))
        found.append(Mention(kind="entity", text=raw, value=raw, start=start, end=end))
    for match in _CALLED.finditer(text):
        start, end = match.span("name")
        if free(start, end):
            taken.append((start, end))
            name = match.group("name")
            found.append(Mention(kind="entity", text=name, value=name, start=start, end=end))
    found = [
        m.model_copy(update={"kind": "number"})
        if m.kind == "phone" and _NUMBER_OF_AN_ACCOUNT.search(text[max(0, m.start - 40) : m.start])
        else m
        for m in found
    ]
    return sorted(found, key=lambda m: m.start)


#: Words just before a long number that make it a card's or an account's, not a phone's.
_NUMBER_OF_AN_ACCOUNT = re.compile(
    r"\b(?:card|account|iban|policy|order|invoice|ticket)"
    r"(?:\s+(?:number|no\.?|#|ending\s+(?:in|with)|with(?:\s+the)?(?:\s+number)?))*\s*[:#]?\s*$",
    re.IGNORECASE,
)


def _sentence_start_only(text: str, start: int, raw: str) -> bool:
    """A single capitalised word that starts a sentence ("Could", "Go") and is capitalised
    nowhere else: capitalisation says nothing about it being a name."""
    if " " in raw or raw.isupper():
        return False
    before = text[:start].rstrip()
    if before and before[-1] not in ".!?\n":
        return False
    if (
        _SUBJECT_OF_A_STATE.match(text, start + len(raw))
        and raw.lower() not in _NOT_NAMES
        and raw.lower() not in _NO_SUBJECT_NAMES
    ):
        return False  # "Billing is throwing 500s": what is in that state is a name

    mid_sentence = re.search(rf"[^.!?\s]\s+{re.escape(raw)}\b", text)
    return mid_sentence is None


#: Words that start a sentence in a state and are no names ("Everything is down").
_NO_SUBJECT_NAMES = frozenset(
    """everything nothing something anything everyone everybody someone somebody nobody all
    each both time life work weather traffic money health""".split()  # noqa: SIM905
)
#: What follows a sentence's first word when that word names what is in some state.
_SUBJECT_OF_A_STATE = re.compile(r"\s+(?:is|are|was|were|has been|have been|keeps|seems|looks)\s")

COMMON_VERBS = frozenset(
    [
        "book",
        "send",
        "play",
        "make",
        "order",
        "buy",
        "sell",
        "pay",
        "set",
        "take",
        "print",
        "search",
        "share",
        "get",
        "see",
        "find",
        "open",
        "deploy",
        "run",
        "check",
        "post",
        "tell",
        "notify",
        "schedule",
        "create",
        "add",
        "remove",
        "delete",
        "update",
        "install",
        "start",
        "stop",
        "restart",
        "look",
        "help",
        "arrange",
        "organize",
        "organise",
        "attend",
        "apply",
        "enroll",
        "borrow",
        "deliver",
        "record",
        "call",
        "email",
        "text",
        "remind",
    ]
)


def _normalise(kind: MentionKind, match: re.Match[str], today: date) -> str | None:
    raw = match.group(0)
    if kind == "quoted":
        return next(g for g in match.groups() if g is not None).strip() or None
    if kind == "date":
        return _iso_date(match, today)
    if kind == "time":
        written = raw.strip()  # "2 pm." at a sentence end: the full stop is not the time's
        return written[:-1] if re.search(r"\d\s?[AaPp][Mm]\.$", written) else written
    if kind == "amount":
        return re.sub(r"[^\d.]", "", raw) or None
    if kind == "url":
        return raw
    return raw.strip()


def _weekday(name: str, which: str, today: date) -> str:
    """The date a weekday names: the next one after today ("Friday", "next Friday", "coming
    Friday"); "this Friday" on a Friday is today."""
    ahead = (_WEEKDAYS.index(name) - today.weekday()) % 7
    if ahead == 0 and which != "this":
        ahead = 7
    return (today + timedelta(days=ahead)).isoformat()


def _iso_date(match: re.Match[str], today: date) -> str | None:
    groups = match.groupdict()
    try:
        if groups.get("iso"):
            return date.fromisoformat(groups["iso"]).isoformat()
        if groups.get("md"):
            month = _MONTHS[groups["md"].rstrip(".").lower()]
            year = int(groups["year"]) if groups.get("year") else today.year
            return date(year, month, int(groups["day"])).isoformat()
        if groups.get("dm"):
            month = _MONTHS[groups["dm"].rstrip(".").lower()]
            year = int(groups["dm_year"]) if groups.get("dm_year") else today.year
            return date(year, month, int(groups["dm_day"])).isoformat()
        if groups.get("us"):
            return date(
                int(groups["us_year"]), int(groups["us"]), int(groups["us_day"])
            ).isoformat()
        if groups.get("rel"):
            offset = {"today": 0, "tomorrow": 1, "yesterday": -1}[groups["rel"].lower()]
            return (today + timedelta(days=offset)).isoformat()
        if groups.get("rel2"):
            offset = 2 if "after" in groups["rel2"].lower() else -2
            return (today + timedelta(days=offset)).isoformat()
        if groups.get("wd"):
            return _weekday(groups["wd"].lower(), (groups.get("wd_which") or "").lower(), today)
        if groups.get("in_n"):
            count = groups["in_n"].lower()
            n = int(count) if count.isdigit() else _COUNTS[count]
            days = n * 7 if groups["in_unit"].lower().startswith("week") else n
            return (today + timedelta(days=days)).isoformat()
    except ValueError:
        return None  # "February 30": not a date
    return None
