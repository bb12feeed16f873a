"""Which tool each clause of a request asks for, and the order the steps run in: the first
half of the offline planner (:mod:`knowledge.planner.offline` builds the blueprint).

Every tool is scored against every clause (meaning, plus the tool's name words; with exemplar
memory, also how the most similar clauses of accepted requests were answered: by a tool, or by
no step at all — memory settles close calls, it does not overrule a clear fit; a tool needing
an address the request gives none of is no clear fit), and each
asking clause gets its best tool when the score is convincing. A clause that only sets the
scene needs a better fit, and one that only states what the speaker has or is at ("I have a
meeting at 8", "I'm at a meeting downtown") a much better one, unless the next clause asks
about it. A clause that says not to do something ("Don't page the on-call") is no step.

- A clause that gives an address its tool has no param for (a phone number, an email address,
  a channel) also gets the tool that reaches it ("… send the flight details to my phone at
  +1 555 0100").
- A clause whose best tool is a step already chosen asks for it again, unless what is left
  without the words it shares with that step's clause (its topic) asks for another tool.
- A clause that refers back and asks for what the step before already does ("order a pizza …
  and have it delivered to 12 Elm St") only says more about that step.

Steps run in the order the request asks for them (a tool first named while setting the scene,
as a need ("I need to post the notes. Can you run the tests and then post them?") or in an
overview before the steps start with "First, …" runs where a later request asks for it),
except where a clause says it comes first or before the one mentioned just before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.tools.registry import ToolRegistry
from knowledge.planner.extract import COMMON_VERBS, Mention
from knowledge.planner.params import (
    fill_params,
    is_identifier,
    names_a_thing,
    needed_addresses,
    takes_a_message,
    telling_kinds,
)
from knowledge.planner.phrases import Remembered, ToolPhrases
from knowledge.search.catalog import identifier_words
from knowledge.search.clauses import Clause, same_again_for
from knowledge.search.index import ToolIndex
from knowledge.search.lexical import words


@dataclass(frozen=True)
class ChoiceSettings:
    """Thresholds for choosing tools (scores are cosine similarity plus name-word bonus)."""

    accept: float = 0.32
    """Least score for a clause that asks for something to become a step. On TaskBench 33 of
    the 43 picks scoring 0.30–0.32 were wrong; messages are matched without what they say
    (see :attr:`Clause.meaning`), so "send Dana a message that …" scores 0.42, not 0.315."""
    accept_question: float = 0.28
    """Least score for a direct question ("is payments down?") whose best tool leads the next
    by :attr:`question_lead`: MiniLM matches a question less closely than a request ("find
    out if payments is down" scores 0.30 against "Check the health status of a service"),
    and a question asks for something whatever its words."""
    question_lead: float = 0.1
    accept_unsure_question: float = 0.45
    """Least score for a direct question whose best tool leads by less than
    :attr:`question_lead`: "who is on call?" fits checking a service's status (0.34) about
    as well as paging the on-call (0.27), and answers to neither."""
    accept_scene: float = 0.45
    """Least score for a clause that only sets the scene ("I'm planning a trip to Paris")."""
    accept_scene_remembered: float = 0.5
    """:attr:`accept_scene` when exemplar memory takes part: its votes add up to a whole
    point to a tool's score, so a scene-setting clause ("I think I might need a video
    conferencing tool for the interview") needs a better fit to become a step. Over five
    train/test splits of TaskBench, +0.001 node F1 and +0.003 edge F1 (0.45: the words-alone
    floor; 0.6 does worse)."""
    accept_circumstance: float = 0.7
    """Least score for a clause that only states what the speaker has or is at ("I have a
    meeting at 8", "I'm at a meeting downtown") and is not asked about next ("… Can you book
    it?"): having a meeting asks for no meeting tool."""
    accept_supported: float = 0.24
    """Least score for an asking clause whose best tool also fits the scene the clause just
    before it set (best there, with at least :attr:`support`): "I've decided to stay at the
    Holiday Inn. Could you help me secure a room?" asks for the hotel twice, weakly each
    time. On TaskBench this adds three right steps and one wrong one."""
    support: float = 0.33
    max_steps: int = 30
    beyond_topic: float = 0.55
    """Least score of another tool for a clause that seemed to ask for a step again, once the
    words it shares with that step's clause are set aside."""
    topic_gap: float = 0.2
    """How far below the clause's best tool that other tool may have scored at first."""
    contact_floor: float = 0.2
    """Least score of the tool that reaches an address a clause gives (a phone number, an
    email address, a channel) when the clause's own tool has no param for it."""
    value_weight: float = 0.1
    """Added to a tool's score when its clause names a value of a kind the tool's params want
    (a phone number → the call tools), shared among the tools wanting that kind."""
    unreachable: float = 0.25
    """How far a tool needing an address the request gives none of (a required phone number
    or email address) may lead for exemplar memory to settle the call: "send him the photo
    'gift.jpg'" with no email address given is rather the parcel people accepted than an
    email. Without memory the words decide: "email John the notes" emails, asking for the
    address."""


@dataclass
class Pick:
    """A tool chosen for a clause: one step of the plan."""

    clause: Clause
    tool: str
    score: float
    depends_on: list[str] = field(default_factory=list)
    also: list[int] = field(default_factory=list)
    """Starts of later clauses that asked for the same tool (one step serves them)."""
    asked_in: Clause | None = None
    """The clause that asked for it, when an earlier clause only set the scene with it ("I'm
    staying at the Ritz on Monday. … Can you book the hotel?"), said it as a need ("I need to
    post the notes. Can you run the tests and then post them?") or named it in an overview
    before "First, …" ("I have two bills and a meeting. Can you help? First, … Lastly, the
    meeting"): the step runs where it is asked for."""
    remembered: Remembered | None = None
    """The accepted request's clause whose vote chose this tool, when the words alone would
    not have."""
    again_of: Pick | None = None
    """The step this one does again for something else ("check the weather in Berlin and in
    Paris"): it shares the values this clause does not give. It still runs after the step
    before it: "deploy billing to staging and to production" means in that order."""
    instead: tuple[str, str] | None = None
    """For a step done again for another name ("deploy billing and auth"): the param that
    names what the first one acts on, and the name this one acts on instead."""
    reaches: str = ""
    """What this step was added to reach ("a phone number", "an email address", …), because
    the tool its clause asked for has no param for it; empty for a step a clause asked for."""

    @property
    def when(self) -> Clause:
        """The clause that places the step in the plan."""
        return self.asked_in or self.clause


@dataclass
class ToolChoice:
    """The tools chosen for a request's clauses."""

    picks: list[Pick]
    skipped: list[tuple[Clause, Remembered | None]] = field(default_factory=list)
    """Clauses the words alone gave a step but exemplar memory did not (people accepted no
    step for clauses like them), with the nearest such remembered clause."""

    def memory_notes(self) -> list[str]:
        """How exemplar memory changed the plan, one line per clause."""
        notes = [
            f"'{_short(p.clause.text)}' → {p.tool}, as accepted request "
            f"#{p.remembered.exemplar_id} had it for '{_short(p.remembered.phrase)}'"
            for p in self.picks
            if p.remembered is not None
        ]
        notes.extend(
            f"no step for '{_short(clause.text)}'"
            + (
                f", as accepted request #{like.exemplar_id} had none for '{_short(like.phrase)}'"
                if like is not None
                else ""
            )
            for clause, like in self.skipped
        )
        return notes

    def address_notes(self) -> list[str]:
        """Why steps the clauses did not name were added, one line per step."""
        return [
            f"{p.tool} added: '{_short(p.clause.text)}' gives {p.reaches} that its own "
            "step has no param for"
            for p in self.picks
            if p.reaches
        ]

    def exemplar_ids(self) -> list[int]:
        ids = {p.remembered.exemplar_id for p in self.picks if p.remembered is not None}
        ids.update(like.exemplar_id for _, like in self.skipped if like is not None)
        return sorted(ids)


#: Values that say where a message goes.
_CONTACT_KINDS = frozenset({"phone", "email", "channel", "mention"})
_ADDRESS_WORDS = {
    "phone": "a phone number",
    "email": "an email address",
    "channel": "a channel",
    "mention": "a user mention",
}


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quotes_in(clause: Clause, mentions: Sequence[Mention]) -> bool:
    """Whether the clause gives a value in quotes: two clauses that each do ("append 'a' to
    x, then append 'b' to x") are two calls of their tool, not one said twice."""
    return any(m.kind == "quoted" and clause.start <= m.start < clause.end for m in mentions)


#: Words that ask to tell someone something ("tell #dev", "let the team know", "notify").
_TELLS = re.compile(
    r"\b(?:tell|inform|notify|ping|let\s+(?:\S+\s+){1,4}?know|send|forward)\b", re.IGNORECASE
)
#: Words for a message: a clause asking for one at an address asks for a tool that can say it
#: there ("a confirmation message on my phone +1 … would be helpful").
_MESSAGE = re.compile(r"\b(?:message|notification|sms|text)\b", re.IGNORECASE)
#: A clause that refers back to what the clause before it asked for.
_IT = re.compile(r"\b(?:it|them)\b", re.IGNORECASE)


class ToolChooser:
    """Chooses tools for a request's clauses from the tool index (and exemplar memory when
    given)."""

    def __init__(
        self,
        index: ToolIndex,
        registry: ToolRegistry,
        *,
        phrases: ToolPhrases | None = None,
        settings: ChoiceSettings | None = None,
    ) -> None:
        self.index = index
        self.registry = registry
        self.phrases = phrases
        self.settings = settings or ChoiceSettings()
        self._name_words: set[str] | None = None

    def choose(self, clauses: Sequence[Clause], mentions: Sequence[Mention]) -> ToolChoice:
        """The steps ``clauses`` ask for, in the order they run (``mentions`` are the values
        the whole request gives)."""
        names = self.index.names
        if not names:
            return ToolChoice(picks=[])
        texts = [c.meaning for c in clauses]
        vectors = self.index.embed_texts([c.asked for c in clauses])
        telling = {name: self._telling(name) for name in names}  # read once per request
        speaking = {  # the tools that can say something to an address
            name
            for name in names
            if telling[name] and takes_a_message(self.registry.get(name).spec.params_schema)
        }
        values = self.settings.value_weight * _value_scores(clauses, mentions, names, telling)
        words_alone = self.index.clause_scores(texts, vectors) + values
        scores = words_alone
        unreachable: np.ndarray[Any, Any] = np.zeros(len(names), dtype=np.float32)
        if self.phrases is not None:  # only memory settles a call an unreachable tool made
            unreachable = self.settings.unreachable * self._unreachable(names, mentions)
            # memory may settle a call that is close once unreachable tools count less
            scores = unreachable + self.phrases.apply(
                scores - unreachable, vectors, names, convincing=self.settings.accept
            )
        choice = ToolChoice(picks=[])
        picks = choice.picks
        contacts: list[Pick] = []
        for row, clause in enumerate(clauses):
            column = int(np.argmax(scores[row]))
            floor = self._floor(clauses, row, column, scores)
            reachable = int(np.argmax(scores[row] - unreachable))
            if (  # memory settles a call an unreachable tool made close: a parcel, not an email
                scores[row, reachable] > words_alone[row, reachable]
                and scores[row, reachable] >= floor
            ):
                column = reachable
            score = float(scores[row, column])
            unaided = int(np.argmax(words_alone[row]))
            unaided_step = (
                float(words_alone[row, unaided]) >= floor and names[unaided] in self.registry
            )
            given = _contacts_in(clause, mentions)
            told = (
                self._told(clause, scores[row], mentions, telling, speaking)
                if score < floor
                or (names[column] not in speaking and _MESSAGE.search(clause.text))
                # "send the notes to #dev" is no text message: the tool that reaches #dev
                or (names[column] in speaking and given and not set(given) & telling[names[column]])
                else None
            )
            if told is not None:  # "then tell #dev": the tool that can say it there
                column, score = told, float(scores[row, told])
            elif score < floor or names[column] not in self.registry:
                if unaided_step and self.phrases is not None:
                    choice.skipped.append((clause, self.phrases.nearest(vectors[row], None)))
                continue
            remembered = None
            if self.phrases is not None and (column != unaided or not unaided_step):
                remembered = self.phrases.nearest(vectors[row], names[column])
            reach = self._contact_tool(clause, names[column], scores[row], mentions, telling)
            if reach is not None:
                column_of, kind = reach
                fit = float(scores[row, column_of])
                contacts.append(Pick(clause=clause, tool=names[column_of], score=fit, reaches=kind))
            if picks and self._elaborates(clause, names[column], picks[-1].tool):
                picks[-1].also.append(clause.start)  # its values are the step's too
                continue
            previous = next((p for p in picks if p.tool == names[column]), None)
            instead = self._other_name(previous, clause, mentions) if previous is not None else None
            if previous is not None and instead is not None:  # "deploy billing and auth"
                previous.also.append(clause.start)  # "… to staging" is said for both
            elif (
                previous is not None
                and not (_quotes_in(previous.clause, mentions) and _quotes_in(clause, mentions))
                and not self._another_call(previous.clause, clause, names[column], mentions)
            ):
                other = self._beyond_topic(
                    clause, previous.clause, scores[row], values[row], mentions
                )
                if other is not None and all(p.tool != names[other] for p in picks):
                    fit = float(scores[row, other])
                    picks.append(Pick(clause=clause, tool=names[other], score=fit))
                    continue
                previous.score = max(previous.score, score)
                previous.also.append(clause.start)
                overview = any(  # the steps start at a "First, …" after the earlier clause
                    c.first and previous.clause.start < c.start <= clause.start for c in clauses
                )
                stated = previous.clause.stated and not clause.stated
                if clause.asks and (
                    overview or (previous.asked_in is None and (stated or not previous.clause.asks))
                ):
                    previous.asked_in = clause
                continue  # the same tool again, no new quoted value: one step
            again = (
                previous
                if previous and (instead or same_again_for(previous.clause.text, clause))
                else None
            )
            picks.append(
                Pick(
                    clause=clause,
                    tool=names[column],
                    score=score,
                    remembered=remembered,
                    again_of=again,
                    instead=instead,
                )
            )
        taken = {p.tool for p in picks}
        for contact in contacts:
            if contact.tool not in taken:
                taken.add(contact.tool)
                picks.append(contact)
        picks.sort(key=lambda pick: pick.when.start)
        choice.picks = _in_order(picks)[: self.settings.max_steps]
        return choice

    def _unreachable(
        self, names: Sequence[str], mentions: Sequence[Mention]
    ) -> np.ndarray[Any, Any]:
        """1 for each tool that needs an address the request gives none of (a required
        phone number or email address), else 0."""
        given = {m.kind for m in mentions}
        return np.array(
            [
                name in self.registry
                and bool(needed_addresses(self.registry.get(name).spec.params_schema) - given)
                for name in names
            ],
            dtype=np.float32,
        )

    def _floor(
        self,
        clauses: Sequence[Clause],
        row: int,
        column: int,
        scores: np.ndarray[Any, Any],
    ) -> float:
        """The least score for clause ``row``'s best tool (``column``) to become a step."""
        clause = clauses[row]
        if clause.refuses:
            return math.inf  # "Don't deploy on a Friday": the one step not to plan
        if clause.asks:
            scene = scores[row - 1] if row > 0 and not clauses[row - 1].asks else None
            if (
                scene is not None
                and int(np.argmax(scene)) == column
                and float(scene[column]) >= self.settings.support
            ):
                return min(self.settings.accept, self.settings.accept_supported)
            if clause.question:
                best, second = np.sort(scores[row])[::-1][:2]
                if best - second >= self.settings.question_lead:  # "is payments down?"
                    return self.settings.accept_question
                return max(self.settings.accept, self.settings.accept_unsure_question)
            return self.settings.accept
        if clause.gates:
            return self.settings.accept  # "If the tests pass, deploy": run them, then deploy
        if clause.only_conditions or clause.only_says_as_what:
            return math.inf  # "Once the meeting is over, …": waits for an event, runs none
        after = clauses[row + 1] if row + 1 < len(clauses) else None
        asked_next = (
            after is not None
            and after.asks
            and (int(np.argmax(scores[row + 1])) == column or bool(_IT.search(after.text)))
        )
        if clause.only_states and not asked_next:
            return self.settings.accept_circumstance
        if clause.describes and not (
            after is not None and after.asks and int(np.argmax(scores[row + 1])) == column
        ):  # "The checkout service is down": asks for no deploy, unless asked next
            return self.settings.accept_circumstance
        if self.phrases is not None:
            return self.settings.accept_scene_remembered
        return self.settings.accept_scene

    def _contact_tool(
        self,
        clause: Clause,
        chosen: str,
        row: np.ndarray[Any, Any],
        mentions: Sequence[Mention],
        telling: dict[str, set[str]],
    ) -> tuple[int, str] | None:
        """The column of a tool to contact an address the clause gives (a phone number, an
        email address, a channel), and the address's kind, when ``chosen`` has no param for
        it: "send the flight details to my phone at +1 555 0100" asks for a message besides
        the flight."""
        kinds = _contacts_in(clause, mentions)
        if not kinds or set(kinds) & telling[chosen]:
            return None
        names = self.index.names
        best: int | None = None
        for column, name in enumerate(names):
            if set(kinds) & telling[name] and (best is None or row[column] > row[best]):
                best = column
        if best is None or float(row[best]) < self.settings.contact_floor:
            return None
        kind = next(k for k in kinds if k in telling[names[best]])
        return best, _ADDRESS_WORDS.get(kind, kind)

    def _other_name(
        self, earlier: Pick, clause: Clause, mentions: Sequence[Mention]
    ) -> tuple[str, str] | None:
        """When ``clause`` only names, after "and", another thing for ``earlier``'s step to
        act on ("deploy billing and auth to staging", "check the status of billing and
        auth"): the param naming what ``earlier`` acts on, and that other name. The name is
        a lower-case word that is no verb ("… and deploy it") and no word of a tool's name;
        what follows it, if anything, is a preposition's phrase ("to staging")."""
        if clause.connective != "and" or earlier.tool not in self.registry:
            return None
        first, _, rest = clause.text.partition(" ")
        if (
            not is_identifier(first)
            or first in COMMON_VERBS
            or first in _MORE_VERBS
            or first.endswith(("ing", "ed"))
            or set(words(first)) & self._action_words()
            or (rest and not _PHRASE_AFTER_A_NAME.match(rest))
        ):
            return None
        schema = self.registry.get(earlier.tool).spec.params_schema
        properties = schema.get("properties") or {}
        start, end = earlier.clause.start, earlier.clause.end
        verbs = identifier_words(earlier.tool).split()
        filled = fill_params(
            schema, earlier.clause.text, (start, end), mentions, set(), verbs=verbs
        )
        said = set(earlier.clause.text.split())
        for name, value in filled.params.items():
            if (
                isinstance(value, str)
                and value in said
                and value != first
                and names_a_thing(name, properties.get(name) or {})
            ):
                return name, first
        return None

    def _action_words(self) -> set[str]:
        """The words of every tool's name (stemmed)."""
        if self._name_words is None:
            self._name_words = {w for n in self.index.names for w in self.index.name_words(n)}
        return self._name_words

    def _another_call(
        self, earlier: Clause, clause: Clause, tool: str, mentions: Sequence[Mention]
    ) -> bool:
        """Whether ``clause`` asks for ``tool`` again with another of a param's options than
        ``earlier`` gave it ("Deploy billing to staging. Then deploy billing to production."),
        or only names what the same words of ``earlier`` name ("check the weather in Berlin
        and in Paris"): a second call, not the same step said twice. Otherwise only options
        count, and two lower-case identifiers ("deploy billing … deploy auth"): two clauses
        name other values (a name, a text) for one step as often as for two (on TaskBench,
        counting them split 9 steps in two wrongly)."""
        if tool not in self.registry:
            return False
        schema = self.registry.get(tool).spec.params_schema
        verbs = identifier_words(tool).split()
        before = fill_params(
            schema, earlier.text, (earlier.start, earlier.end), mentions, set(), verbs=verbs
        )
        now = fill_params(
            schema, clause.text, (clause.start, clause.end), mentions, set(), verbs=verbs
        )
        properties = schema.get("properties") or {}
        again = same_again_for(earlier.text, clause)

        def counts(name: str, value: Any) -> bool:
            prop = properties.get(name)
            if again or (isinstance(prop, dict) and "enum" in prop):
                return True
            # two identifiers each right in its clause: "deploy billing and deploy auth"
            old = before.params[name]
            return names_a_thing(name, prop if isinstance(prop, dict) else {}) and all(
                is_identifier(v) and v in c.text.split()
                for v, c in ((old, earlier), (value, clause))
            )

        return any(
            name in before.params and before.params[name] != value and counts(name, value)
            for name, value in now.params.items()
        )

    def _told(
        self,
        clause: Clause,
        row: np.ndarray[Any, Any],
        mentions: Sequence[Mention],
        telling: dict[str, set[str]],
        speaking: set[str],
    ) -> int | None:
        """The column of the tool that can tell the address an asking clause gives what to
        say, when the clause asks to tell it ("then tell #dev", "inform my friend at +1 555
        0100 about it"): the best-scoring tool wanting that kind of address and having a
        param for a message. ``None`` when the clause tells no address."""
        if not clause.asks or not (_TELLS.search(clause.text) or _MESSAGE.search(clause.text)):
            return None
        kinds = set(_contacts_in(clause, mentions))
        names = self.index.names
        columns = [
            column
            for column, name in enumerate(names)
            if name in speaking and kinds & telling[name]
        ]
        return max(columns, key=lambda c: float(row[c]), default=None)

    def _telling(self, tool: str) -> set[str]:
        if tool not in self.registry:
            return set()
        return telling_kinds(self.registry.get(tool).spec.params_schema)

    def _beyond_topic(
        self,
        clause: Clause,
        earlier: Clause,
        row: np.ndarray[Any, Any],
        values: np.ndarray[Any, Any],
        mentions: Sequence[Mention],
    ) -> int | None:
        """The column of the tool an asking ``clause`` wants once the words it shares with
        ``earlier`` (the clause whose step it seemed to ask for again) are set aside as its
        topic: "borrow the book …; book me an Uber to pick up the book" asks for a taxi, not
        the book again. ``row`` is the clause's scores, ``values`` the part of them its
        values gave. Only a convincing fit (:attr:`ChoiceSettings.beyond_topic`) that was a
        close call to begin with (within :attr:`ChoiceSettings.topic_gap` of the clause's
        best tool) counts."""
        if not clause.asks or _quotes_in(clause, mentions):
            return None
        shared = set(words(earlier.text))
        kept = [w for w in clause.text.split() if not set(words(w)) & shared]
        if not kept or len(kept) == len(clause.text.split()):
            return None
        rest = " ".join(kept)
        names = self.index.names
        scores = self.index.clause_scores([rest]) + values
        if self.phrases is not None:
            vectors = self.index.embed_texts([rest])
            scores = self.phrases.apply(scores, vectors, names, convincing=self.settings.accept)
        column = int(np.argmax(scores[0]))
        if (
            float(scores[0, column]) < self.settings.beyond_topic
            or float(row[column]) < float(row.max()) - self.settings.topic_gap
            or names[column] not in self.registry
        ):
            return None
        return column

    def _elaborates(self, clause: Clause, tool: str, before: str) -> bool:
        """Whether ``clause``, which refers back ("it", "them") and fits ``tool`` best, only
        says more about the step of ``before``: the words that point it at ``tool`` are in
        what ``before`` does but not in its name ("order a pizza on Uber Eats and have it
        delivered to 123 Main St": ordering food is "to be delivered to a location")."""
        if tool == before or not _IT.search(clause.text):
            return False
        named = self.index.name_words(tool) & set(words(clause.text))
        if not named or named & self.index.name_words(before):
            return False
        return named <= set(words(self.index.entries[before].search_text))


def _contacts_in(clause: Clause, mentions: Sequence[Mention]) -> list[str]:
    """The kinds of address ``clause`` gives (a phone number, an email address, a channel),
    in the order it gives them."""
    found = (
        m.kind
        for m in mentions
        if clause.start <= m.start < clause.end and m.kind in _CONTACT_KINDS
    )
    return list(dict.fromkeys(found))


def _value_scores(
    clauses: Sequence[Clause],
    mentions: Sequence[Mention],
    names: Sequence[str],
    telling: dict[str, set[str]],
) -> np.ndarray[Any, Any]:
    """For each clause and tool, how telling the values the clause names are for the tool:
    1 / (number of tools wanting that kind), the best kind named."""
    result = np.zeros((len(clauses), len(names)), dtype=np.float32)
    wanting: dict[str, list[int]] = {}
    for column, name in enumerate(names):
        for kind in telling[name]:
            wanting.setdefault(kind, []).append(column)
    for row, clause in enumerate(clauses):
        for mention in mentions:
            if clause.start <= mention.start < clause.end and mention.kind in wanting:
                columns = wanting[mention.kind]
                weight = 1.0 / len(columns)
                for column in columns:
                    result[row, column] = max(result[row, column], weight)
    return result


def _in_order(picks: Sequence[Pick]) -> list[Pick]:
    """The picks in the order they should run: as mentioned, except a clause that says it
    comes first ("First, …") goes first and one that happens before the clause mentioned
    just before it ("Prior to that, …", "… once the books arrive") goes before that one."""
    ordered: list[Pick] = []
    placed = -1  # where the pick before went: a second step of its clause goes right after
    for pick in picks:
        if ordered and pick.when.start == ordered[placed].when.start:
            placed += 1
        elif pick.when.first and ordered:
            placed = 0
        elif pick.when.earlier and ordered:
            placed = len(ordered) - 1
        else:
            placed = len(ordered)
        ordered.insert(placed, pick)
    return ordered


#: Verbs that start a clause after "and" besides those of :data:`COMMON_VERBS`.
_MORE_VERBS = frozenset(
    """need want wish plan decide try like love hope go keep let have be do give put tell
    ask also scale roll page ping list query restart rerun retry""".split()  # noqa: SIM905
)
#: What may follow another name for the same step: a preposition's phrase ("to staging").
_PHRASE_AFTER_A_NAME = re.compile(
    r"^(?:to|in|on|at|for|from|with|too|as well|also)\b", re.IGNORECASE
)
