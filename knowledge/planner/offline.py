"""The offline planner: a blueprint from the request's own words, with no LLM.

1. Read the request as clauses ("… then …", "meanwhile …"), noting which ones ask for
   something.
2. Score every tool against every clause (meaning, plus the tool's name words; with exemplar
   memory, also how the most similar clauses of accepted requests were answered: by a tool,
   or by no step at all — memory settles close calls, it does not overrule a clear fit) and
   give each asking clause its best tool when the score is convincing. A clause that gives
   an address its tool has no param for (a phone number, an email address, a channel) also
   gets the tool that reaches it ("… send the flight details to my phone at +1 555 0100").
   A clause whose best tool is a step already chosen asks for it again, unless what is left
   without the words it shares with that step's clause (its topic) asks for another tool.
   A clause that refers back and asks for what the step before already does ("order a pizza
   … and have it delivered to 12 Elm St") only says more about that step.
3. Order the steps as the request asks for them (a tool first named while setting the scene
   runs where a later clause asks for it); each waits for the one before unless its
   clause says it can run alongside ("meanwhile", "at the same time").
4. Fill params from the clause, then from the scene-setting clause before it and the other
   clauses that asked for the same step (see :mod:`knowledge.planner.params`); a free-text
   param of a step whose clause refers back ("send it", "post the results") takes the
   previous step's output. Required values the request does not give become blueprint
   inputs, and the plan comes with a question asking for them.
5. When a past request is nearly the same, adapt its accepted blueprint instead (its literal
   values replaced by this request's).

Every plan is checked by the engine's validation before it is returned.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from engine.tools.registry import ToolRegistry
from engine.validation import validate_blueprint
from knowledge.planner.extract import Mention, find_mentions
from knowledge.planner.params import Passage, fill_params, telling_kinds
from knowledge.planner.phrases import Remembered, ToolPhrases
from knowledge.planner.result import PlanPath, PlanResult, Retrieval, elapsed_ms
from knowledge.search.clauses import Clause, read_clauses
from knowledge.search.exemplars import ExemplarHit
from knowledge.search.index import ToolIndex
from knowledge.search.lexical import words


@dataclass(frozen=True)
class OfflineSettings:
    """The offline planner's thresholds (scores are cosine similarity plus name-word bonus)."""

    accept: float = 0.30
    """Least score for a clause that asks for something to become a step."""
    accept_scene: float = 0.45
    """Least score for a clause that only sets the scene ("I have a trip on Monday")."""
    adapt_similarity: float = 0.93
    """Least similarity of a past request for its blueprint to be adapted."""
    question_below: float = 0.35
    """Below this confidence the plan comes with a clarifying question."""
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


@dataclass
class _Pick:
    clause: Clause
    tool: str
    score: float
    depends_on: list[str] = field(default_factory=list)
    also: list[int] = field(default_factory=list)
    """Starts of later clauses that asked for the same tool (one step serves them)."""
    asked_in: Clause | None = None
    """The clause that asked for it, when an earlier clause only set the scene with it ("I'm
    staying at the Ritz on Monday. … Can you book the hotel?"): the step runs where it is
    asked for."""
    remembered: Remembered | None = None
    """The accepted request's clause whose vote chose this tool, when the words alone would
    not have."""
    reaches: str = ""
    """The kind of address (phone, email, channel, mention) this step was added to reach,
    because the tool its clause asked for has no param for it."""

    @property
    def when(self) -> Clause:
        """The clause that places the step in the plan."""
        return self.asked_in or self.clause


@dataclass
class _Choice:
    """The tools chosen for a request's clauses."""

    picks: list[_Pick]
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


#: A clause that refers back to what the clause before it asked for.
_IT = re.compile(r"\b(?:it|them)\b", re.IGNORECASE)
_REFERS_BACK = re.compile(
    r"\b(?:it|them|that|this|those|these|the (?:result|results|output|outcome|summary|report|"
    r"list|details|data|findings|answer|response|confirmation|status))\b",
    re.IGNORECASE,
)


class OfflinePlanner:
    """Plans from the tool index (and exemplar memory when given), with no LLM."""

    def __init__(
        self,
        index: ToolIndex,
        registry: ToolRegistry,
        *,
        phrases: ToolPhrases | None = None,
        settings: OfflineSettings | None = None,
        today: date | None = None,
    ) -> None:
        self.index = index
        self.registry = registry
        self.phrases = phrases
        self.settings = settings or OfflineSettings()
        self.today = today

    # ------------------------------------------------------------------------------ public

    def plan(self, request: str, retrieval: Retrieval | None = None) -> PlanResult:
        """A validated blueprint for ``request`` (possibly with a question), or a question
        alone when no tool fits."""
        started = time.perf_counter()
        request = request.strip()
        retrieval = retrieval or Retrieval()
        considered = [hit.name for hit in retrieval.tools]
        close = _closest_exemplar(retrieval.exemplars, self.settings.adapt_similarity)
        if close is not None:
            adapted = self._adapt(request, close, considered, started)
            if adapted is not None:
                return adapted
        clauses = read_clauses(request) or [
            Clause(text=request, start=0, end=len(request), asks=True)
        ]
        mentions = find_mentions(request, today=self.today)
        choice = self._pick_tools(clauses, mentions)
        if not choice.picks:
            best = ", ".join(considered[:3]) or "none"
            return PlanResult(
                request=request,
                question=(
                    "I could not tell which tool this needs. Could you say what should be "
                    f"done, step by step? (closest tools: {best})"
                ),
                explanation="no clause of the request matched a tool convincingly",
                path=PlanPath.OFFLINE,
                confidence=0.0,
                tools_considered=considered,
                latency_ms=elapsed_ms(started),
            )
        return self._build(request, clauses, choice, mentions, considered, started)

    # ------------------------------------------------------------------------ choosing tools

    def _pick_tools(self, clauses: Sequence[Clause], mentions: Sequence[Mention]) -> _Choice:
        names = self.index.names
        if not names:
            return _Choice(picks=[])
        texts = [c.meaning for c in clauses]
        vectors = self.index.embed_texts(texts)
        words_alone = self.index.clause_scores(texts, vectors)
        words_alone += self.settings.value_weight * self._value_scores(clauses, mentions, names)
        scores = words_alone
        if self.phrases is not None:
            scores = self.phrases.apply(scores, vectors, names, convincing=self.settings.accept)
        choice = _Choice(picks=[])
        picks = choice.picks
        contacts: list[_Pick] = []
        for row, clause in enumerate(clauses):
            column = int(np.argmax(scores[row]))
            score = float(scores[row, column])
            floor = self.settings.accept if clause.asks else self.settings.accept_scene
            unaided = int(np.argmax(words_alone[row]))
            unaided_step = (
                float(words_alone[row, unaided]) >= floor and names[unaided] in self.registry
            )
            if score < floor or names[column] not in self.registry:
                if unaided_step and self.phrases is not None:
                    choice.skipped.append((clause, self.phrases.nearest(vectors[row], None)))
                continue
            remembered = None
            if self.phrases is not None and (column != unaided or not unaided_step):
                remembered = self.phrases.nearest(vectors[row], names[column])
            reach = self._contact_tool(clause, names[column], scores[row], mentions)
            if reach is not None:
                column_of, kind = reach
                fit = float(scores[row, column_of])
                contacts.append(
                    _Pick(clause=clause, tool=names[column_of], score=fit, reaches=kind)
                )
            if picks and self._elaborates(clause, names[column], picks[-1].tool):
                picks[-1].also.append(clause.start)  # its values are the step's too
                continue
            previous = next((p for p in picks if p.tool == names[column]), None)
            if previous is not None and not (
                _quotes_in(previous.clause, mentions) and _quotes_in(clause, mentions)
            ):
                other = self._beyond_topic(clause, previous.clause, scores[row], mentions)
                if other is not None and all(p.tool != names[other] for p in picks):
                    fit = float(scores[row, other])
                    picks.append(_Pick(clause=clause, tool=names[other], score=fit))
                    continue
                previous.score = max(previous.score, score)
                previous.also.append(clause.start)
                if clause.asks and previous.asked_in is None and not previous.clause.asks:
                    previous.asked_in = clause
                continue  # the same tool again, no new quoted value: one step
            picks.append(
                _Pick(clause=clause, tool=names[column], score=score, remembered=remembered)
            )
        taken = {p.tool for p in picks}
        for contact in contacts:
            if contact.tool not in taken:
                taken.add(contact.tool)
                picks.append(contact)
        picks.sort(key=lambda pick: pick.when.start)
        choice.picks = _in_order(picks)[: self.settings.max_steps]
        return choice

    def _contact_tool(
        self, clause: Clause, chosen: str, row: np.ndarray[Any, Any], mentions: Sequence[Mention]
    ) -> tuple[int, str] | None:
        """The column of a tool to contact an address the clause gives (a phone number, an
        email address, a channel), and the address's kind, when ``chosen`` has no param for
        it: "send the flight details to my phone at +1 555 0100" asks for a message besides
        the flight."""
        kinds = [
            m.kind
            for m in mentions
            if clause.start <= m.start < clause.end and m.kind in _CONTACT_KINDS
        ]
        if not kinds or set(kinds) & self._telling(chosen):
            return None
        names = self.index.names
        best: int | None = None
        for column, name in enumerate(names):
            if set(kinds) & self._telling(name) and (best is None or row[column] > row[best]):
                best = column
        if best is None or float(row[best]) < self.settings.contact_floor:
            return None
        kind = next(k for k in kinds if k in self._telling(names[best]))
        return best, _ADDRESS_WORDS.get(kind, kind)

    def _telling(self, tool: str) -> set[str]:
        if tool not in self.registry:
            return set()
        return telling_kinds(self.registry.get(tool).spec.params_schema)

    def _beyond_topic(
        self,
        clause: Clause,
        earlier: Clause,
        row: np.ndarray[Any, Any],
        mentions: Sequence[Mention],
    ) -> int | None:
        """The column of the tool an asking ``clause`` wants once the words it shares with
        ``earlier`` (the clause whose step it seemed to ask for again) are set aside as its
        topic: "borrow the book …; book me an Uber to pick up the book" asks for a taxi, not
        the book again. Only a convincing fit (:attr:`OfflineSettings.beyond_topic`) that
        was a close call to begin with (within :attr:`OfflineSettings.topic_gap` of the
        clause's best tool) counts."""
        if not clause.asks or _quotes_in(clause, mentions):
            return None
        shared = set(words(earlier.text))
        kept = [w for w in clause.text.split() if not set(words(w)) & shared]
        if not kept or len(kept) == len(clause.text.split()):
            return None
        rest = " ".join(kept)
        names = self.index.names
        scores = self.index.clause_scores([rest])
        scores += self.settings.value_weight * self._value_scores([clause], mentions, names)
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

    def _value_scores(
        self, clauses: Sequence[Clause], mentions: Sequence[Mention], names: Sequence[str]
    ) -> np.ndarray[Any, Any]:
        """For each clause and tool, how telling the values the clause names are for the tool:
        1 / (number of tools wanting that kind), the best kind named."""
        result = np.zeros((len(clauses), len(names)), dtype=np.float32)
        wanting: dict[str, list[int]] = {}
        for column, name in enumerate(names):
            if name in self.registry:
                schema = self.registry.get(name).spec.params_schema
                for kind in telling_kinds(schema):
                    wanting.setdefault(kind, []).append(column)
        for row, clause in enumerate(clauses):
            for mention in mentions:
                if clause.start <= mention.start < clause.end and mention.kind in wanting:
                    columns = wanting[mention.kind]
                    weight = 1.0 / len(columns)
                    for column in columns:
                        result[row, column] = max(result[row, column], weight)
        return result

    # ------------------------------------------------------------------------ building

    def _build(
        self,
        request: str,
        clauses: Sequence[Clause],
        choice: _Choice,
        mentions: Sequence[Mention],
        considered: list[str],
        started: float,
    ) -> PlanResult:
        picks = choice.picks
        used: set[int] = set()
        steps: list[dict[str, Any]] = []
        inputs: dict[str, dict[str, Any]] = {}
        missing_for: list[str] = []
        ids: list[str] = []
        for position, pick in enumerate(picks):
            step_id = _step_id(pick.tool, ids)
            tool = self.registry.get(pick.tool)
            schema = tool.spec.params_schema
            filled = fill_params(
                schema,
                pick.clause.text,
                (pick.clause.start, pick.clause.end),
                mentions,
                used,
                context=_context_of(pick, clauses),
            )
            used.update(filled.used)
            params = dict(filled.params)
            previous = ids[-1] if ids else None
            if previous is not None and _REFERS_BACK.search(pick.clause.text):
                _feed_from(previous, params, schema)
            for name in filled.missing:
                _ask_for(name, step_id, pick.tool, schema, params, inputs)
                missing_for.append(f"{name} (for {pick.tool})")
            step: dict[str, Any] = {"id": step_id, "tool": pick.tool, "params": params}
            if pick.clause.text:
                step["description"] = pick.clause.text[:200]
            depends = self._depends_on(position, pick, picks, ids)
            if depends:
                step["depends_on"] = depends
            steps.append(step)
            ids.append(step_id)
        blueprint = {
            "name": _blueprint_name(picks),
            "description": request[:500],
            "inputs": inputs,
            "steps": steps,
        }
        report = validate_blueprint(blueprint, self.registry)
        if not report.ok:  # a value read from the text that the tool refuses: ask for it
            rejected = _rejected_params(report.problems, steps)
            for step_index, name, why in rejected:
                step = steps[step_index]
                said = step["params"][name]
                tool_schema = self.registry.get(step["tool"]).spec.params_schema
                _ask_for(name, step["id"], step["tool"], tool_schema, step["params"], inputs)
                missing_for.append(f"{name} (for {step['tool']}; {said!r} was refused: {why})")
            if rejected:
                report = validate_blueprint(blueprint, self.registry)
        confidence = _confidence(picks, clauses, len(missing_for))
        tools_line = " → ".join(p.tool for p in picks)
        if not report.ok or report.blueprint is None:
            return PlanResult(
                request=request,
                question="I could not build a valid plan: " + report.summary(),
                explanation=f"tools chosen: {tools_line}; the engine rejected the plan",
                path=PlanPath.OFFLINE,
                confidence=0.0,
                tools_considered=considered,
                latency_ms=elapsed_ms(started),
            )
        question = None
        covered = {start for pick in picks for start in (pick.clause.start, *pick.also)}
        covered.update(clause.start for clause, _ in choice.skipped)
        unmatched = [c.text for c in clauses if c.asks and c.start not in covered]
        if unmatched:
            question = (
                "I found no tool for: "
                + "; ".join(f"'{text}'" for text in unmatched[:3])
                + ". Should I go ahead without it, or which tool should do it?"
            )
        elif missing_for:
            question = "Before I run this, I need: " + "; ".join(missing_for) + "."
        elif confidence < self.settings.question_below:
            question = f"I am not sure I understood. Did you mean: {tools_line}?"
        return PlanResult(
            request=request,
            blueprint=report.blueprint,
            question=question,
            explanation=(
                f"offline planner: {len(picks)} step(s) from {len(clauses)} clause(s): {tools_line}"
                + "".join(f"; {note}" for note in choice.address_notes())
                + "".join(f"; exemplar memory: {note}" for note in choice.memory_notes())
            ),
            path=PlanPath.OFFLINE,
            confidence=confidence,
            tools_considered=considered or [p.tool for p in picks],
            exemplar_ids=choice.exemplar_ids(),
            latency_ms=elapsed_ms(started),
        )

    def _depends_on(
        self, position: int, pick: _Pick, picks: Sequence[_Pick], ids: Sequence[str]
    ) -> list[str]:
        """The step before, unless this clause runs alongside it (then what that one waited
        for)."""
        if position == 0:
            return []
        if pick.when.parallel:
            earlier = picks[position - 1]
            return list(earlier.depends_on)
        pick.depends_on = [ids[position - 1]]
        return pick.depends_on

    # ------------------------------------------------------------------------ exemplars

    def _adapt(
        self, request: str, hit: ExemplarHit, considered: list[str], started: float
    ) -> PlanResult | None:
        """The exemplar's blueprint with its literal values swapped for this request's, or
        ``None`` when that does not validate."""
        old = find_mentions(hit.exemplar.request, today=self.today)
        new = find_mentions(request, today=self.today)
        replacements = _replacements(old, new)
        blueprint = _replace_values(hit.exemplar.blueprint, replacements)
        blueprint["description"] = request[:500]
        report = validate_blueprint(blueprint, self.registry)
        if not report.ok or report.blueprint is None:
            return None
        steps = report.blueprint.steps
        return PlanResult(
            request=request,
            blueprint=report.blueprint,
            explanation=(
                f"adapted the blueprint accepted for a similar request (exemplar "
                f"#{hit.exemplar.id}, similarity {hit.similarity:.2f}): "
                + " → ".join(s.tool for s in steps)
            ),
            path=PlanPath.EXEMPLAR,
            confidence=min(1.0, hit.similarity),
            tools_considered=considered,
            exemplar_ids=[hit.exemplar.id],
            latency_ms=elapsed_ms(started),
        )


# ---------------------------------------------------------------------------- helpers


def _in_order(picks: Sequence[_Pick]) -> list[_Pick]:
    """The picks in the order they should run: as mentioned, except a clause that says it
    comes first ("First, …") goes first and one that happens before the clause mentioned
    just before it ("Prior to that, …", "… once the books arrive") goes before that one."""
    ordered: list[_Pick] = []
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


def _context_of(pick: _Pick, clauses: Sequence[Clause]) -> list[Passage]:
    """Where a step's values may be said besides its clause: the clause before, when that
    one only set the scene ("I'm staying at the Ritz on May 1. Can you book it?") or this one
    says too little alone; then the later clauses that asked for the same step."""
    index = next(i for i, c in enumerate(clauses) if c.start == pick.clause.start)
    context: list[Passage] = []
    if index > 0:
        before = clauses[index - 1]
        if pick.clause.lead_in or (pick.clause.asks and not before.asks):
            context.append(Passage(before.text, before.start))
    context.extend(Passage(c.text, c.start) for c in clauses if c.start in pick.also)
    return context


def _closest_exemplar(hits: Sequence[ExemplarHit], least: float) -> ExemplarHit | None:
    best = max(hits, key=lambda h: h.similarity, default=None)
    return best if best is not None and best.similarity >= least else None


def _replacements(old: Sequence[Mention], new: Sequence[Mention]) -> dict[str, str]:
    """Old literal values → new ones, pairing mentions of the same kind in order."""
    result: dict[str, str] = {}
    by_kind: dict[str, list[Mention]] = {}
    for mention in new:
        by_kind.setdefault(mention.kind, []).append(mention)
    seen: dict[str, int] = {}
    for mention in old:
        index = seen.get(mention.kind, 0)
        seen[mention.kind] = index + 1
        candidates = by_kind.get(mention.kind, [])
        if index < len(candidates) and candidates[index].value != mention.value:
            result[mention.value] = candidates[index].value
    return result


def _replace_values(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_values(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_values(v, replacements) for v in value]
    if isinstance(value, str) and replacements:
        if value in replacements:
            return replacements[value]
        if "{{" not in value:
            for old, new in replacements.items():
                if len(old) > 2 and old in value:
                    value = value.replace(old, new)
    return value


_PARAM_PROBLEM = re.compile(r"^steps\[(\d+)\]\.params\.([A-Za-z0-9_\-]+)")


def _rejected_params(
    problems: Sequence[Any], steps: Sequence[dict[str, Any]]
) -> list[tuple[int, str, str]]:
    """(step index, param, the validation's reason) of every literal param value the
    validation refused."""
    found: dict[tuple[int, str], str] = {}
    for problem in problems:
        match = _PARAM_PROBLEM.match(problem.loc or "")
        if match is None:
            continue
        index, name = int(match.group(1)), match.group(2)
        if index < len(steps) and name in steps[index]["params"] and (index, name) not in found:
            found[(index, name)] = problem.message
    return [(index, name, why) for (index, name), why in found.items()]


def _feed_from(previous: str, params: dict[str, Any], schema: dict[str, Any]) -> None:
    """Point the first free-text param at the previous step's output."""
    properties = schema.get("properties") or {}
    for name in properties:
        if name.lower() in ("text", "message", "content", "body", "summary", "data", "input"):
            params[name] = "{{ steps." + previous + ".output }}"
            return


def _ask_for(
    name: str,
    step_id: str,
    tool: str,
    schema: dict[str, Any],
    params: dict[str, Any],
    inputs: dict[str, dict[str, Any]],
) -> None:
    """Make param ``name`` of a step a declared blueprint input (asked for before the run)."""
    input_name = f"{step_id}_{name}"
    prop = (schema.get("properties") or {}).get(name) or {}
    inputs[input_name] = {
        "type": _input_type(prop),
        "description": prop.get("description") or f"{name} for {tool}",
    }
    params[name] = "{{ inputs." + input_name + " }}"


def _input_type(prop: dict[str, Any]) -> str:
    declared = prop.get("type")
    return (
        declared
        if declared in ("string", "integer", "number", "boolean", "array", "object")
        else "string"
    )


def _step_id(tool: str, taken: Sequence[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", tool.split(".")[-1]).strip("_") or "step"
    if not re.match(r"[A-Za-z_]", base):
        base = f"s_{base}"
    base = base[:56]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _blueprint_name(picks: Sequence[_Pick]) -> str:
    tools = [p.tool.split(".")[-1] for p in picks[:3]]
    return re.sub(r"[^A-Za-z0-9_]", "_", "_then_".join(tools))[:80] or "plan"


def _confidence(picks: Sequence[_Pick], clauses: Sequence[Clause], missing: int) -> float:
    """Mean fit of the chosen tools (0.3 → 0, 0.7 → 1), less for clauses that asked for
    something and got no step, and for missing values."""
    if not picks:
        return 0.0
    fit = sum(min(1.0, max(0.0, (p.score - 0.3) / 0.4)) for p in picks) / len(picks)
    covered = {start for p in picks for start in (p.clause.start, *p.also)}
    unanswered = sum(1 for c in clauses if c.asks and c.start not in covered)
    value = fit * (0.9**unanswered) * (0.85**missing)
    return round(max(0.0, min(1.0, 0.2 + 0.8 * value)), 3)
