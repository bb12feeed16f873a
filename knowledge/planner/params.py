"""Filling a step's params from what the request says.

Each parameter gets the kinds of value that suit it, judged from its name, type and
description ("phone_number" wants a phone number, "date" a date, "channel" a #channel, a free
text param the words of the clause). A value the param's schema lists as an example ("eg.
Uber, Didi etc.", JSON Schema ``examples``) that the clause names is that param's, whatever
its kind. Values from the step's own clause are preferred, then unused values from the rest
of the request, nearest first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from knowledge.planner.extract import Mention, MentionKind
from knowledge.search.catalog import identifier_words, param_examples, without_examples
from knowledge.search.clauses import (
    ADDRESS,
    IN_A_STATE,
    MESSAGE_WORDS,
    STATE,
    SUCCEEDING,
    said_after_colon,
)
from knowledge.search.lexical import TITLE_WORDS, literally, words

#: (pattern over "name description", kinds wanted, best first). First matching rule wins.
_RULES: list[tuple[re.Pattern[str], tuple[MentionKind, ...]]] = [
    (re.compile(r"phone|mobile|sms|cell"), ("phone", "number")),
    (re.compile(r"e-?mail"), ("email",)),
    (re.compile(r"\burl\b|link|endpoint|webhook|uri\b"), ("url",)),
    (re.compile(r"channel"), ("channel", "quoted")),
    (
        re.compile(r"\b(?:user|assignee|reviewer|owner|recipient|mention)s?\b"),
        ("mention", "entity", "quoted"),
    ),
    (re.compile(r"\btime\b|\bhour|\bat what|clock|alarm"), ("time",)),
    (re.compile(r"\bdate\b|\bday\b|\bwhen\b|deadline|\bdue\b"), ("date",)),
    (re.compile(r"\byear\b"), ("year", "number")),
    (re.compile(r"amount|price|cost|sum\b|money|budget|fee"), ("amount", "number")),
    (re.compile(r"\bcount\b|quantity|\bnumber of\b|\blimit\b|\bsize\b|\btimes\b"), ("number",)),
    (
        re.compile(r"file|document|path|attachment|image|photo|picture|audio|video"),
        ("file", "quoted", "entity"),
    ),
    (
        re.compile(r"address|location|destination|city|place|where|origin|venue"),
        ("address", "entity", "quoted"),
    ),
    (re.compile(r"title|name|song|movie|book|film|track|album"), ("quoted", "file", "entity")),
    (
        re.compile(r"repo|project|service|app|environment|env\b|branch|host|server|cluster"),
        ("quoted", "entity"),
    ),
]
#: :data:`_RULES`, and words that say what a param wants only as its name: "from" and "to" are
#: places as names, while nearly every description has a "to" ("The food to order").
_NAME_RULES = [*_RULES, (re.compile(r"^(?:from|to)\b"), ("address", "entity", "quoted"))]
#: Params whose value is free text: when nothing specific is said, the clause itself.
_FREE_TEXT = re.compile(
    r"^(?:text|message|content|note|instruction|instructions|query|question|prompt|"
    r"topic|description|summary|comment|reason|issue|subject|request|task|details?|body)$"
)
_NUMERIC_TYPES = frozenset({"integer", "number"})
#: Free-text params that hold what a message says, before a subject, topic or query.
_SAID_IN = frozenset({"message", "text", "body", "content", "note"})


class FilledParams(BaseModel):
    """A step's params as far as the request fills them."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    """Required params the request says nothing about."""
    used: list[int] = Field(default_factory=list)
    """Positions (``Mention.start``) of the mentions consumed."""


def wanted_kinds(name: str, schema: dict[str, Any]) -> tuple[MentionKind, ...]:
    """The kinds of mention that suit a parameter, best first."""
    description = schema.get("description", "")
    form = schema.get("format")
    return _wanted_kinds(
        name,
        declared_type(schema),
        description if isinstance(description, str) else "",
        form if isinstance(form, str) else None,
    )


def declared_type(schema: dict[str, Any]) -> str | None:
    """A param's JSON Schema type; of a list of types (``["integer", "null"]``, an optional
    integer), the first that is not ``"null"``."""
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if isinstance(t, str) and t != "null"), None)
    return declared if isinstance(declared, str) else None


@functools.lru_cache(maxsize=4096)
def _wanted_kinds(
    name: str, declared: str | None, description: str, form: str | None
) -> tuple[MentionKind, ...]:
    """:func:`wanted_kinds` of a param's name, type, description and format (planning asks
    for the same params again and again: a catalog's are read once)."""
    text = f"{identifier_words(name)} {without_examples(description)}".lower()
    if form in ("date", "date-time") or declared == "date":
        return ("date",)
    if form == "email":
        return ("email",)
    if form == "uri":
        return ("url",)
    for pattern, kinds in _NAME_RULES:
        if pattern.search(identifier_words(name).lower()):
            return _for_type(kinds, declared)
    if _FREE_TEXT.match(name.lower()) and declared in (None, "string"):
        return ("quoted", "entity")  # "body: the email's text" wants text, not an address
    for pattern, kinds in _RULES:
        if pattern.search(text):
            return _for_type(kinds, declared)
    if declared in _NUMERIC_TYPES:
        return ("number", "amount", "year")
    if declared == "boolean":
        return ()
    return ("quoted", "entity")


#: Kinds of value specific enough that naming one points at the tools wanting it (a phone
#: number → the call and SMS tools); names, quotes and numbers are everywhere.
TELLING_KINDS: frozenset[str] = frozenset(
    {"phone", "email", "url", "channel", "mention", "time", "year", "amount", "file"}
)


def telling_kinds(schema: dict[str, Any]) -> set[str]:
    """The :data:`TELLING_KINDS` a tool's params want first (``"phone"`` for a
    ``phone_number`` param)."""
    properties = schema.get("properties") or {}
    found: set[str] = set()
    for name, prop in properties.items():
        kinds = wanted_kinds(name, prop if isinstance(prop, dict) else {})
        if kinds and kinds[0] in TELLING_KINDS:
            found.add(kinds[0])
    return found


#: Addresses a tool cannot do without when its params require them: there is no "current"
#: phone number or email address the way there is a current channel.
_NEEDED_ADDRESSES = frozenset({"phone", "email"})


def needed_addresses(schema: dict[str, Any]) -> set[str]:
    """The kinds of address (``"phone"``, ``"email"``) a tool's required params want first,
    without a default: ``{"email"}`` for a required ``email_address``."""
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    found: set[str] = set()
    for name in required:
        prop = properties.get(name)
        if not isinstance(prop, dict) or "default" in prop:
            continue
        kinds = wanted_kinds(name, prop)
        if kinds and kinds[0] in _NEEDED_ADDRESSES:
            found.add(kinds[0])
    return found


def names_a_thing(name: str, schema: dict[str, Any]) -> bool:
    """Whether param ``name`` wants the name of a thing (a service, a repo, a deployment):
    not an option, a text, a place or another address, a file, a number or a time."""
    kinds = wanted_kinds(name, schema)
    return (
        "entity" in kinds
        and kinds[0] in ("entity", "quoted")
        and "enum" not in schema
        and not _FREE_TEXT.match(name.lower())
    )


def takes_a_message(schema: dict[str, Any]) -> bool:
    """Whether a tool with params ``schema`` has a free-text param for what to say ("text",
    "message", "content", …): a tool that can tell someone something."""
    properties = schema.get("properties") or {}
    return any(
        _FREE_TEXT.match(name.lower()) and isinstance(prop, dict) and _takes_text(prop)
        for name, prop in properties.items()
    )


def _for_type(kinds: tuple[MentionKind, ...], declared: Any) -> tuple[MentionKind, ...]:
    if declared in _NUMERIC_TYPES:
        numeric = tuple(k for k in kinds if k in ("number", "amount", "year", "phone"))
        return numeric or ("number", "amount")
    return kinds


@dataclass(frozen=True)
class Passage:
    """A stretch of the request: its text and where it starts."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def holds(self, mention: Mention) -> bool:
        return self.start <= mention.start < self.end


def fill_params(
    schema: dict[str, Any],
    clause_text: str,
    clause_span: tuple[int, int],
    mentions: Sequence[Mention],
    used: set[int],
    *,
    context: Sequence[Passage] = (),
    verbs: Sequence[str] = (),
    tool_words: frozenset[str] = frozenset(),
) -> FilledParams:
    """Params for a tool with parameter schema ``schema``, from the clause that asked for the
    step (at ``clause_span`` in the request) and the request's ``mentions``. Values the
    clause does not give are looked for in ``context`` (what set the scene for the clause, or
    asked for the same step: "I'm staying at the Ritz on May 1. Can you book it?"), then, when
    specific enough, anywhere in the request. Mentions whose start is in ``used`` are taken
    by earlier steps and only reused when nothing else fits. ``verbs`` are the words of the
    tool's name: a lower-case name right after one of them is its object ("deploy billing to
    production", "roll back auth"). ``tool_words`` are the index words of the tool's own
    text (name, description, params): a clause saying nothing else ("page the on-call",
    "open a jira ticket") gives no free text, which is then missing."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    initials = _initials(verbs)  # "PR" in "open a PR" is the tool's own thing, not a value
    tool_name = {w.lower() for w in verbs}  # so is "SMS" in "send an SMS to …" (sms.send)
    mentions = [
        m
        for m in mentions
        if not (m.kind == "entity" and (m.value in initials or m.value.lower() in tool_name))
    ]
    params: dict[str, Any] = {}
    missing: list[str] = []
    taken: set[int] = set()
    clause = Passage(clause_text, clause_span[0])
    passages = [clause, *context]
    # the most specific params first: a phone number should not be taken by a "content"; those
    # with a default last: "hello" is the content to write, not the encoding
    order = sorted(
        properties,
        key=lambda n: (
            isinstance(properties[n], dict) and "default" in properties[n],
            _specificity(n, properties[n]),
        ),
    )
    props = {n: properties[n] if isinstance(properties[n], dict) else {} for n in order}
    options = frozenset(  # "staging" in "deploy in staging" is an environment, not the service
        word
        for prop in props.values()
        for option in prop.get("enum") or ()
        for word in words(str(option))
    )
    examples = {n: tuple(param_examples(props[n])) for n in order if "enum" not in props[n]}
    for passage in passages:  # a value the param's schema lists as an example is surely its
        for name, listed in examples.items():
            if name in params or not listed:
                continue
            named = _example_in(listed, passage.text)
            if named is not None:
                value, left, right = named
                params[name] = _typed(value, props[name])
                for mention in mentions:  # spent: "Uber" is the platform, not the destination
                    if mention.start < passage.start + right and passage.start + left < mention.end:
                        taken.add(mention.start)
    said = said_after_colon(clause_text)  # "create a ticket: checkout is slow" says what to write
    free = [n for n in properties if _FREE_TEXT.match(n.lower()) and _takes_text(props[n])]
    if said and free and free[0] not in params:
        params[free[0]] = said
        begins, ends = clause.start + clause_text.index(said), clause.end
        taken.update(m.start for m in mentions if begins <= m.start < ends)
    for name in order:  # a value the clause labels with the param's name ("titled 'X'")
        if name in params or "enum" in props[name]:
            continue
        labelled = _labelled(name, props[name], clause, mentions, used | taken)
        if labelled is None and "entity" in wanted_kinds(name, props[name]):
            labelled = _bare_name(name, clause, used | taken, after_label=True)  # "repo kaizen"
        if labelled is not None:
            params[name] = _typed(labelled.value, props[name])
            taken.add(labelled.start)
    quoted = next(  # a quoted message is what to say: "page the on-call, telling them '…'"
        (
            m
            for m in mentions
            if m.kind == "quoted"
            and clause.holds(m)
            and m.start not in used | taken
            and len(m.value.split()) >= MESSAGE_WORDS
        ),
        None,
    )
    saying = [n for n in free if n.lower() in _SAID_IN]
    if quoted is not None and saying and saying[0] not in params:
        params[saying[0]] = quoted.value
        taken.add(quoted.start)
        for name in free:  # an email's subject says it too
            if name.lower() == "subject" and name not in params:
                params[name] = quoted.value
    for passage in passages:  # a name whose head word is the param's ("Example University")
        for name in order:
            if name in params or "enum" in props[name]:
                continue
            titled = _titled(name, props[name], passage, mentions, used | taken)
            if titled is not None:
                params[name] = titled.value
                taken.add(titled.start)
    for name in order:  # a value of the kind a param wants first is its before another's
        # that would only make do with it: "ship 'photo.jpg'" names the package, no destination
        prop = props[name]
        if name in params or "enum" in prop or "default" in prop or _FREE_TEXT.match(name.lower()):
            continue
        kinds = wanted_kinds(name, prop)
        choice = _pick(kinds[:1], mentions, [clause], used | taken, name, outside=False)
        if choice is not None:
            taken.add(choice.start)
            params[name] = _typed(choice.value, prop)
    for name in order:
        if name in params:
            continue
        prop = props[name]
        if isinstance(prop.get("enum"), list):
            option = _option_in(prop["enum"], passages, mentions, taken)
            if option is not None:
                params[name] = option
                continue
        kinds = wanted_kinds(name, prop)
        # a param with a default is filled only by what its own clause says: a value said
        # for another step ("write to /tmp/a then read /tmp/a") is not its encoding
        optional = "default" in prop
        near = [clause] if optional else passages
        choice = _pick(kinds, mentions, near, used | taken, name, outside=not optional)
        if choice is None and kinds and not optional:
            choice = _pick(kinds, mentions, near, taken, name)  # reuse
        if (
            choice is None
            and "entity" in kinds
            and "enum" not in prop
            and not _FREE_TEXT.match(name.lower())
        ):
            choice = next(
                (
                    found
                    for passage in near
                    if (found := _bare_name(name, passage, used | taken)) is not None
                ),
                None,
            )
        if (
            choice is None
            and "entity" in kinds
            and "enum" not in prop  # an option is named, not an object
            and "address" not in kinds  # a place is no verb's object
            and not _FREE_TEXT.match(name.lower())
        ):
            choice = next(
                (
                    found
                    for excluded in (used | taken, taken)  # another step's too, as a last resort
                    for passage in near
                    if (
                        found := _object_of(
                            name, verbs, initials, passage, excluded, tool_words | options
                        )
                    )
                    is not None
                ),
                None,
            )
        if choice is not None:
            taken.add(choice.start)
            params[name] = _typed(choice.value, prop)
        elif (
            _FREE_TEXT.match(name.lower())
            and _takes_text(prop)
            and _says_more(clause_text, known := tool_words | _words_of(params, free))
        ):
            params[name] = _clause_as_text(clause_text, name, known)
        elif "default" in prop:
            continue
        elif name in required:
            missing.append(name)
    ordered = {name: params[name] for name in properties if name in params}
    return FilledParams(
        params=ordered, missing=[n for n in properties if n in missing], used=sorted(taken)
    )


def _option_in(
    options: list[Any], passages: Sequence[Passage], mentions: Sequence[Mention], taken: set[int]
) -> Any:
    """The enum option the first passage naming one names; its mention is spent
    ("Production" is then not also a name)."""
    for passage in passages:
        option = _enum_in(options, passage.text)
        if option is not None:
            for mention in mentions:
                if passage.holds(mention) and mention.value.lower() == str(option).lower():
                    taken.add(mention.start)
            return option
    return None


def _titled(
    name: str,
    prop: dict[str, Any],
    passage: Passage,
    mentions: Sequence[Mention],
    exclude: set[int],
) -> Mention | None:
    """A name in ``passage`` whose head word is one of the param's words ("Example
    University" for ``university``), when the param wants names."""
    if "entity" not in wanted_kinds(name, prop):
        return None
    own = set(identifier_words(name).lower().split())
    return next(
        (
            m
            for m in mentions
            if m.kind in ("entity", "quoted")
            and passage.holds(m)
            and m.start not in exclude
            and _head_word(m.value) in own
        ),
        None,
    )


def _labelled(
    name: str,
    prop: dict[str, Any],
    clause: Passage,
    mentions: Sequence[Mention],
    exclude: set[int],
) -> Mention | None:
    """A value of a kind the param wants that ``clause`` labels with the param's own word,
    right after it: "titled 'Faster search'" (a title), "repo 'kaizen'", "title: Q3 plan";
    for what a thing is called, also "called" or "named" ("a PR called 'Bump deps'")."""
    kinds = wanted_kinds(name, prop)
    label = _label(name)
    if not kinds or label is None:
        return None
    called = r"|\b(?:called|named|titled)\s*" if _CALLED_PARAMS.match(name.lower()) else ""
    labelled = re.compile(
        rf"(?:\b{label}\w*\s*(?:(?:is|as|called|named|of)\s+|:\s*)?{called})$", re.I
    )
    return next(
        (
            mention
            for mention in mentions
            if mention.kind in kinds
            and mention.start not in exclude
            and clause.holds(mention)
            and _could_be(kinds[0], mention)
            and labelled.search(clause.text[: mention.start - clause.start].rstrip("'\"‘“"))
        ),
        None,
    )


#: Params for what a thing is called: "called", "named" and "titled" label their value.
_CALLED_PARAMS = re.compile(r"^(?:title|name|subject|display_name|label)$")
#: Words that are no name before a param's word ("the new service", "the other repo").
_NOT_A_NAME = frozenset(
    """a all an another any each every existing first last main my new next old other our
    previous same some that the their these this those whole your""".split()  # noqa: SIM905
)
#: A bare name: lower-case letters and digits, maybe with inner dashes, dots or underscores.
_BARE_NAME = r"[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*"
_IDENTIFIER = re.compile(_BARE_NAME)


#: Endings of nouns for activities and qualities: after a param's word they make a compound
#: ("software engineering", "package delivery"), not a name.
_ACTIVITY = re.compile(r"(?:ing|ion|ment|ery|ance|ence|ity|ness)$")


def _bare_name(
    name: str, clause: Passage, exclude: set[int], *, after_label: bool = False
) -> Mention | None:
    """A lower-case name ``clause`` gives with the param's own word, as chat-ops names are
    written: "the auth service", "our checkout deployment", "repo kaizen" at the end of the
    clause or before a preposition. Only for a param nothing else fills: in plain English
    most such words are no names ("the travel insurance"). With ``after_label``, only a name
    right after the param's word after a preposition counts ("for repo kaizen"): that one is
    labelled; "a job interview" is a compound."""
    label = _label(name, phrase=True)
    if label is None:
        return None
    own = set(identifier_words(name).lower().split())
    patterns = (
        rf"\b(?i:the|our|my|your)\s+(?P<name>{_BARE_NAME})\s+{label}\b",
        rf"\b(?:the|a|on|in|for|of|to|from)\s+{label}\s+(?P<name>{_BARE_NAME})"
        r"(?=\s*$|\s*[,;.?!]|\s+(?:to|on|in|for|from|at|with|and|titled|named|called|is|are|"
        r"pass(?:es)?|succeeds?|fails?)\b)",
    )
    found = sorted(
        (match.start("name"), match.group("name"), follows)
        for follows, pattern in enumerate(patterns)
        if follows or not after_label
        for match in re.finditer(pattern, clause.text)
        if not after_label or match.group(0).split()[0].lower() not in ("the", "a")
    )
    for offset, value, follows in found:
        start = clause.start + offset
        if (
            value not in _NOT_A_NAME
            and value not in own
            and not value.endswith("ed")  # "my preferred bank": a word that says which one
            and not (follows and _ACTIVITY.search(value))  # "in software engineering"
            and start not in exclude
        ):
            return Mention(
                kind="entity", text=value, value=value, start=start, end=start + len(value)
            )
    return None


def _initials(words: Sequence[str]) -> set[str]:
    """The initials of each run of two or more of ``words`` ("pull request" → "PR")."""
    letters = [w[0].upper() for w in words if w]
    return {
        "".join(letters[i:j]) for i in range(len(letters)) for j in range(i + 2, len(letters) + 1)
    }


#: When, said after the name a clause ends with: "roll back billing soon".
_WHEN_WORD = r"(?i:soon|now|today|tonight|tomorrow|asap|again|please)"
#: A verb (with its particle: "roll back", "spin up") and the lower-case name right after it,
#: then a preposition or the end of the clause: "deploy billing to production".
_OBJECT_AFTER_VERB = (
    r"(?P<verb>(?i:[a-z]+))(?:\s+(?P<particle>back|up|down|out|over|off|of|for|on|in))?\s+"
    rf"(?P<name>{_BARE_NAME})"
    r"(?=\s+(?:to|in|on|from|at|for|with|by|and|then|titled|named|called|if|when|once|unless|"
    r"before|after|while|because|since)\b|['\u2019]s\s"
    rf"|\s+{_WHEN_WORD}\W*$|\s*[,;.?!]|\s*$))"
)
_VERB_OBJECT = re.compile(  # in a lookahead: matches may overlap ("run tests for kaizen")
    r"(?=(?:(?i:\b(?:(?:the|a|an)\s+(?:[a-z]+\s+)?|[a-z]+\s+)(?=\w+\s+(?:of|for|on|in)\b))"
    r"|^|(?i:\b(?:please|pls|plz|then|and|also|now|just|to|you)\s+))" + _OBJECT_AFTER_VERB
)
#: The same, the verb first: "deploy billing in staging", where the above reads "billing in
#: staging" as "the status of auth".
_VERB_FIRST_OBJECT = re.compile(
    r"(?=(?:^|(?i:\b(?:please|pls|plz|then|and|also|now|just|to|you)\s+))" + _OBJECT_AFTER_VERB
)
#: A lower-case name after "for", "on" or "in" that ends the clause ("page the on-call for
#: billing", "open a PR titled 'Bump deps' on kaizen"), or that what it is about follows
#: ("page the on-call for billing about the failed deploy"), or that only succeeding follows
#: ("once the tests on kaizen pass").
_NAME_ENDING_CLAUSE = re.compile(
    rf"\b(?:for|on|in)\s+(?P<name>{_BARE_NAME})"
    r"(?:\W*$|\s+(?=(?:about|regarding|over|because|since)\b)|\s+(?=" + SUCCEEDING + r"\W*$))"
)
#: What a condition says is in some state: the name a step acts on ("if billing is down,
#: page the on-call").
_CONDITION_SUBJECT = re.compile(
    rf"^(?i:if|when|once|whenever)\s+(?P<the>the\s+)?(?P<name>{_BARE_NAME})\s*" + IN_A_STATE
)
#: What a yes/no question asks the state of: the name a step acts on ("is billing down?",
#: "are the auth pods healthy").
_ASKED_ABOUT = re.compile(
    rf"^(?i:is|are|was|were)\s+(?:the\s+)?(?P<name>{_BARE_NAME})\s+" + r"(?i:" + STATE + ")"
)
#: Being finished, said of a task: "once the build is green", "when the migration is done"
#: wait for a task ("the build"), not for a service named so.
_FINISHED = re.compile(
    r"(?:green|done|ready|finished|complete|completed|deployed|merged)\W*$", re.IGNORECASE
)
#: Words right after a verb that are no name ("deploy it to staging").
_NO_OBJECT = frozenset(
    """it them this that these those everything something anything all both again now
    me us him her you here there back up down out over off home work dinner lunch breakfast
    today tonight tomorrow later sale free""".split()  # noqa: SIM905
)


def _object_of(
    name: str,
    verbs: Sequence[str],
    initials: set[str],
    clause: Passage,
    exclude: set[int],
    tool_words: frozenset[str] = frozenset(),
) -> Mention | None:
    """The lower-case name right after one of the tool's ``verbs`` (the words of its name
    that are not the param's), as chat-ops commands are written: "deploy billing to
    production", "roll back auth", "scale checkout to 12", "the status of auth"; ``initials``
    (of the tool's name words) stand for them too ("a PR on kaizen"). A word of the tool's
    own text or one of its params' options (``tool_words``) is no name: "on-call" in "page
    on-call for auth" ("Page the on-call engineer …"), "staging" in "deploy in staging"."""
    own = set(identifier_words(name).lower().split())
    verb_words = {v.lower() for v in verbs}
    actions = (verb_words | {i.lower() for i in initials}) - own  # "open a PR on kaizen"
    if not actions:
        return None
    text = clause.text  # up to what a colon says: "page the on-call for billing: db is down"
    message = said_after_colon(text)
    if message:
        text = text[: text.rindex(message)].rstrip(" :")
    said = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    last = _NAME_ENDING_CLAUSE.search(text)
    matches = [*_VERB_OBJECT.finditer(text), *_VERB_FIRST_OBJECT.finditer(text)]
    if last is not None and actions & said:  # "page the on-call for billing"
        matches.append(last)
    condition = _CONDITION_SUBJECT.match(text)
    if condition is not None and condition.group("the") and _FINISHED.search(condition.group(0)):
        condition = None  # "once the build is green": a task, no name
    if condition is not None:  # "if billing is down"
        matches.append(condition)
    asked_about = _ASKED_ABOUT.match(text)
    if asked_about is not None:  # "is billing down?"
        matches.append(asked_about)
    for match in matches:
        verb = (match.groupdict().get("verb") or "").lower()
        value = match.group("name")
        start = clause.start + match.start("name")
        particle = match.groupdict().get("particle") or ""
        if (
            (
                match in (last, condition, asked_about)
                or verb in actions
                or verb + particle in actions
            )
            and value not in _NOT_A_NAME
            and value not in _NO_OBJECT
            and value not in own | verb_words
            and not (tool_words and set(words(value)) <= tool_words)
            and start not in exclude
        ):
            return Mention(
                kind="entity", text=value, value=value, start=start, end=start + len(value)
            )
    return None


def _label(name: str, *, phrase: bool = False) -> str | None:
    """A pattern for the param's own words of three letters or more: any of them, or (with
    ``phrase``) all of them in order ("credit card" for ``credit_card``); None if it has none."""
    own = [re.escape(w) for w in identifier_words(name).lower().split() if len(w) > 2]
    if not own:
        return None
    joined = r"[\s_-]+".join(own) if phrase else "|".join(own)
    return f"(?:{joined})"


@functools.lru_cache(maxsize=4096)
def _example_pattern(example: str) -> re.Pattern[str]:
    """An example value as written, or with a word ending ("install" → "installing",
    "installation")."""
    return re.compile(
        rf"(?<![\w-]){re.escape(example)}(?:s|es|ed|d|ing|ation|ations)?(?![\w-])", re.IGNORECASE
    )


def _example_in(examples: tuple[str, ...], text: str) -> tuple[str, int, int] | None:
    """The listed example ``text`` names first (the longest at one place: "Uber Eats" over
    "Uber"), with where it is in ``text``."""
    found = [
        (match.start(), -len(match.group()), example, match.end())
        for example in examples
        if (match := _example_pattern(example).search(text)) is not None
    ]
    if not found:
        return None
    left, _, example, right = min(found)
    return example, left, right


#: Titles that say what a person is ("Dr. Smith" is a doctor).
_TITLE_ROLES = {**TITLE_WORDS, "professor": "professor"}


def _head_word(name: str) -> str:
    """The word that says what a name is: its last ("Example University",
    "GreatInsuranceCompany"), the one before "of" ("Bank of America"), or what its title
    says ("Dr. Smith": doctor)."""
    found = identifier_words(name).lower().split()
    if len(found) > 1 and found[0] in _TITLE_ROLES:
        return _TITLE_ROLES[found[0]]
    if "of" in found[1:]:
        return found[found.index("of") - 1]
    return found[-1] if found else ""


def _takes_text(schema: dict[str, Any]) -> bool:
    """Whether a plain string fits the param (``string``, or a union with one)."""
    if declared_type(schema) == "string":
        return True
    if "type" not in schema and not any(k in schema for k in ("anyOf", "oneOf", "enum")):
        return True  # untyped: anything goes
    options = schema.get("anyOf") or schema.get("oneOf") or []
    return any(isinstance(o, dict) and o.get("type") == "string" for o in options)


def _specificity(name: str, schema: Any) -> int:
    if isinstance(schema, dict) and isinstance(schema.get("enum"), list):
        return -1  # an option named in the text is the surest value there is
    kinds = wanted_kinds(name, schema if isinstance(schema, dict) else {})
    if not kinds:
        return 9
    if _FREE_TEXT.match(name.lower()) and kinds[0] in ("quoted", "entity"):
        return 8  # the clause's own words do when no name is left for it
    return {
        "phone": 0,
        "email": 0,
        "url": 0,
        "channel": 0,
        "date": 1,
        "time": 1,
        "year": 1,
        "amount": 2,
        "file": 2,
        "address": 3,
        "number": 3,
        "mention": 3,
    }.get(kinds[0], 5)


def _pick(
    kinds: tuple[MentionKind, ...],
    mentions: Sequence[Mention],
    passages: Sequence[Passage],
    exclude: set[int],
    name: str,
    *,
    outside: bool = True,
) -> Mention | None:
    """The best mention of ``kinds``: in the first passage that has one (the one right after
    the parameter's own words — "repo 'kaizen'" — if there is one), then (when ``outside``)
    the nearest one anywhere, of a kind specific enough to be taken from another clause."""
    own_words = [w for w in identifier_words(name).lower().split() if len(w) > 2]
    for passage in passages:
        for kind in kinds:
            inside = [
                m
                for m in mentions
                if m.kind == kind
                and m.start not in exclude
                and passage.holds(m)
                and _could_be(kinds[0], m)
            ]
            if inside:
                for mention in inside:
                    offset = mention.start - passage.start
                    before = passage.text[max(0, offset - 25) : offset]
                    if any(word in before.lower() for word in own_words):
                        return mention
                return inside[0]
    if not outside or not passages:
        return None
    start, end = passages[0].start, passages[0].end
    for kind in kinds:
        if kind in ("entity", "quoted", "number"):
            continue  # too vague to take from another clause
        candidates = [m for m in mentions if m.kind == kind and m.start not in exclude]
        if candidates:
            return min(candidates, key=lambda m: min(abs(m.start - start), abs(m.start - end)))
    return None


def _could_be(wanted: MentionKind, mention: Mention) -> bool:
    """Whether a mention of a looser kind could be the value a param wants first: a plain
    number is a phone number only with enough digits ("5" is not; "5550100" may be); a message
    (quoted or reported, :data:`MESSAGE_WORDS` words or more) is where no message goes: no
    channel or user (a quoted address of as many words is still a place)."""
    if wanted == "phone" and mention.kind == "number":
        return sum(c.isdigit() for c in mention.value) >= 7
    if mention.kind == "quoted" and wanted in _ADDRESSED:
        return len(mention.value.split()) < MESSAGE_WORDS
    return True


#: Kinds of value that say where a message goes.
_ADDRESSED = frozenset({"channel", "mention", "email", "phone", "url"})


def _typed(value: str, schema: dict[str, Any]) -> Any:
    declared = declared_type(schema)
    try:
        if declared == "integer":
            return int(float(value.replace(",", "")))
        if declared == "number":
            return float(value.replace(",", ""))
    except ValueError:
        return value
    return value


def _enum_in(options: list[Any], text: str) -> Any:
    lowered = f"{text} {literally(text)}".lower()  # "prod" names "production" too
    for option in options:
        if isinstance(option, str) and re.search(rf"\b{re.escape(option.lower())}\b", lowered):
            return option
    return None


_POLITE = re.compile(
    r"^(?:(?:and|also|so|but|then|now|first(?:ly)?|next|finally|lastly|additionally|"
    r"afterwards?|after that|meanwhile)\b[,\s]*)*"
    r"(?:(?:can|could|would|will) (?:you|we)\s+)?(?:please\s+)?(?:kindly\s+)?"
    r"(?:(?:help|assist) (?:me|us)\s+(?:to\s+|with\s+|in\s+)?)?"
    r"(?:i(?:'d| would) like (?:you )?to\s+)?",
    re.IGNORECASE,
)


def _clause_as_text(clause: str, name: str = "", tool_words: frozenset[str] = frozenset()) -> str:
    """The clause without its politeness ("could you please …") and final punctuation; what
    follows a colon when something does ("open an issue: login returns 500"); what follows
    the words naming the tool (``tool_words``, with those of values other params took) and
    "about", "saying" or "for" ("page the on-call about the failed deploy" → "the failed deploy",
    "page the on-call for billing about the failed deploy" → the same, "create a ticket for
    the login bug" → "the login bug"); for a param naming what to look for (a query, a
    topic), what the clause is about ("search the docs for rate limits" → "rate limits",
    "news about AI in healthcare" → "AI in healthcare")."""
    text = _POLITE.sub("", clause).strip(" ,.?!")
    said = said_after_colon(text)
    if said:
        return said
    sent = _SENT_TO_ADDRESS.match(text)
    if sent is not None:  # "email ops@x.io the incident summary": what is sent
        return sent.group("what")
    sent = _SENT_THING.match(text)
    if sent is not None:  # "send a cleaning report to my friend, bo@x.io": what is sent
        return sent.group("what")
    # what it is about, even in a word ("… about the outage"); what it is for, in more than
    # one ("… for billing" names a thing, not a text)
    for named, least in ((_TOOL_THEN_ABOUT.match(text), 1), (_TOOL_THEN_WHAT.match(text), 2)):
        if (
            named is not None
            and len(words(named.group("tool"))) > 1  # "arrange for …" names no tool
            and _only_names_the_tool(named.group("tool"), tool_words)
            and len(words(named.group("what"))) >= least
        ):
            return named.group("what")
    if _SOUGHT.match(name.lower()):
        about = _ABOUT.search(text) or _LOOKED_FOR.search(text)
        if about is not None and about.group("what").strip():
            return about.group("what").strip()
    return text or clause.strip(" ,.?!")


#: A verb for sending and the address sent to ("email ops@x.io", "post to #dev", "post in
#: #dev", "notify #ops").
_SENDING_TO = (
    r"^(?:e-?mail|mail|send|text|sms|message|post|ping|dm|notify|tell|inform|alert)\s+"
    r"(?:(?:to|in|on|into)\s+)?" + ADDRESS
)
#: What is sent, after the verb and the address ("email ops@x.io the incident summary",
#: "text +1 555 0100 running late", "post to #dev the release notes").
_SENT_TO_ADDRESS = re.compile(
    _SENDING_TO + r"\s+(?:(?:that|saying|with|about|regarding)\s+)?(?P<what>\S.*)$",
    re.IGNORECASE,
)
#: A thing sent and to whom, after a verb for sending ("send a cleaning report to my
#: friend, bo@x.io", "forward the invoice to ops@x.io"); not "send it to …", which sends
#: what the step before made.
_SENT_THING = re.compile(
    r"^(?:send|forward|e-?mail|mail|text|post|dm)\s+(?P<what>(?!(?:it|them|this|that|these|those|to)\b)"
    r"[^,;:]+?)\s+to\s+(?:" + ADDRESS + r"|(?:(?:my|our|his|her|their|the)\s+)?[\w.-]+"
    r"(?:(?:,\s*|\s+(?:at|on|via)\s+)" + ADDRESS + r")?)$",
    re.IGNORECASE,
)
#: When to do it, said after it ("… when done", "… once it is finished"): no text to send.
SAID_WHEN = r"(?:\s+(?:when|once|as soon as|after)\b[^,;:'\"\u2018\u201c]*)?"
#: The verb and the address, and nothing else but when ("email ops@x.io", "post in #dev when
#: done", "notify #ops once it is finished").
_ONLY_SENDING = re.compile(_SENDING_TO + SAID_WHEN + r"\W*$", re.IGNORECASE)


def _says_more(clause: str, tool_words: frozenset[str] = frozenset()) -> bool:
    """Whether ``clause`` says more than where to send something and which tool to use:
    "email ops@x.io" gives no text to send (it is asked for), "email ops@x.io the incident
    summary" does; "page the on-call" or "open a jira ticket" only name the tool (whose own
    words are ``tool_words``; the first word is the verb asking for it), "page the on-call
    about the failed deploy" says what about."""
    text = _POLITE.sub("", clause).strip(" ,.?!")
    return _ONLY_SENDING.match(text) is None and not _only_names_the_tool(text, tool_words)


def _words_of(params: dict[str, Any], free: Sequence[str]) -> frozenset[str]:
    """The index words of the text values ``params`` other than the ``free`` text ones took:
    "page the on-call for billing" says nothing more once "billing" is the service."""
    return frozenset(
        w
        for name, value in params.items()
        if name not in free and isinstance(value, str)
        for w in words(value)
    )


def _only_names_the_tool(text: str, tool_words: frozenset[str]) -> bool:
    """Whether every index word of ``text`` after its first (the verb) is one of the tool's
    own ``tool_words``: "page the on-call", "open a jira ticket", and a verb alone
    ("organize it")."""
    said = words(text)
    return bool(tool_words) and bool(said) and set(said[1:]) <= tool_words


def is_identifier(value: object) -> bool:
    """Whether ``value`` is one lower-case word as chat-ops names a service or a repo
    ("billing", "checkout-api", "svc.billing"), not a name such as "Dr. Smith" or "Paris"."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


#: A message that opens with what it tells about, then how that is: "billing is rolling
#: back", "checkout's down", "the api keeps crashing".
_NEWS_ABOUT = re.compile(
    rf"^(?:the\s+)?(?P<name>{_BARE_NAME})(?:\s+(?:is|are|was|were|has been|have been|keeps|"
    r"looks|seems)\b|'s\s)"
)
#: Words that open a message as its subject but name nothing ("we are rolling back").
_NO_SUBJECT = frozenset(
    """i we you he she they it there here what who everyone everybody someone somebody
    nobody something nothing everything""".split()  # noqa: SIM905
)


def news_about(message: str) -> str | None:
    """The lower-case name a message opens with, before how it is: "billing is rolling back"
    → "billing"; ``None`` for "we are rolling back" or "Billing is down" (a sentence's
    capital says nothing of a name)."""
    match = _NEWS_ABOUT.match(message.strip())
    if match is None:
        return None
    name = match.group("name")
    return None if name in _NOT_A_NAME | _NO_OBJECT | _NO_SUBJECT else name


def is_free_text(name: str, schema: dict[str, Any]) -> bool:
    """Whether the param ``name`` (with ``schema``) takes free text to say or write: a
    message, a summary, a note, a query."""
    return bool(_FREE_TEXT.match(name.lower())) and _takes_text(schema)


#: A request naming a tool, then what it is for ("open a ticket for the login bug").
_TOOL_THEN_WHAT = re.compile(
    r"^(?P<tool>\S+(?:\s+\S+){0,6}?)\s+for\s+(?P<what>\S.*)$", re.IGNORECASE
)
#: A request naming a tool (and values other params took), then what it is about or says:
#: "page the on-call for billing about the failed deploy" → "the failed deploy", "send a
#: text to 415-555-0100 saying hi there" → "hi there".
_TOOL_THEN_ABOUT = re.compile(
    r"^(?P<tool>\S+(?:\s+\S+){0,6}?)\s+(?:about|regarding|concerning|saying|that)\s+"
    r"(?P<what>\S.*)$",
    re.IGNORECASE,
)
#: Params that name what to look for.
_SOUGHT = re.compile(r"^(?:query|question|topic|keywords?|search|terms?|search_terms?)$")
#: What a clause is about ("news about AI", "a meeting regarding the Q3 plan").
_ABOUT = re.compile(
    r"\b(?:about|regarding|concerning|on the (?:topic|subject) of|related to)\s+(?P<what>.+)$",
    re.IGNORECASE,
)
#: What a clause looks for ("search the docs for rate limits", "look up flights to Rome").
_LOOKED_FOR = re.compile(
    r"\b(?:search(?:ing)?|look(?:ing)?|find(?:ing)?|google|grep)\b.*?\b(?:for|up)\s+(?P<what>.+)$",
    re.IGNORECASE,
)
