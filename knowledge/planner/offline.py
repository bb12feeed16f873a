"""The offline planner: a blueprint from the request's own words, with no LLM.

1. Read the request as clauses ("… then …", "meanwhile …"), noting which ones ask for
   something.
2. Choose the tool each asking clause wants and order the steps as the request asks for them
   (see :mod:`knowledge.planner.tool_choice`); each step waits for the one before unless its
   clause says it can run alongside ("meanwhile", "at the same time").
3. Fill params from the clause, then from the scene-setting clause before it and the other
   clauses that asked for the same step (see :mod:`knowledge.planner.params`); a free-text
   param of a step whose clause refers back ("send it", "post the results") takes the
   previous step's output. Required values the request does not give become blueprint
   inputs, and the plan comes with a question asking for them.
4. When a past request is nearly the same, adapt its accepted blueprint instead (its literal
   values replaced by this request's).

Every plan is checked by the engine's validation before it is returned.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.tools.registry import ToolRegistry
from engine.validation import validate_blueprint
from knowledge.planner.extract import Mention, find_mentions
from knowledge.planner.params import (
    SAID_WHEN,
    Passage,
    fill_params,
    is_free_text,
    is_identifier,
    names_a_thing,
    news_about,
)
from knowledge.planner.phrases import ToolPhrases
from knowledge.planner.result import PlanPath, PlanResult, Retrieval, elapsed_ms
from knowledge.planner.tool_choice import ChoiceSettings, Pick, ToolChoice, ToolChooser
from knowledge.search.catalog import identifier_words
from knowledge.search.clauses import MESSAGE_WORDS, Clause, read_clauses, without_message
from knowledge.search.exemplars import ExemplarHit
from knowledge.search.index import ToolIndex
from knowledge.search.lexical import words


@dataclass(frozen=True)
class OfflineSettings(ChoiceSettings):
    """The offline planner's thresholds: choosing tools (:class:`ChoiceSettings`), adapting
    a past plan, and asking a question."""

    adapt_similarity: float = 0.93
    """Least similarity of a past request for its blueprint to be adapted."""
    question_below: float = 0.35
    """Below this confidence the plan comes with a clarifying question."""


#: A clause that only says whom to tell ("then tell #dev", "let #ops know", "ping me on
#: #dev"): it tells what the step before did.
_ONLY_TELLS = re.compile(
    r"^(?:(?:and|then|also|please|and then)\s+)*(?:(?:tell|inform|notify|ping|e-?mail|text|"
    r"message|dm|(?:post|send|write)\s+(?:to|in|on|into))\s+\S+"
    r"(?:\s+(?:on|in|at|via|by)(?:\s+\S+){1,2})?|let\s+\S+(?:\s+\S+){0,3}?\s+know)"
    + SAID_WHEN
    + r"\W*$",
    re.IGNORECASE,
)
#: A pronoun that names what the step before acted on ("scale checkout, then check its
#: status").
_PRONOUN = re.compile(r"\b(?:its|it|their|them|they)\b", re.IGNORECASE)
_REFERENCE = (
    r"(?:it|them|that|this|those|these|the (?:result|results|output|outcome|summary|report|"
    r"list|details|data|findings|answer|response|confirmation|status|link|url)|a confirmation|"
    r"what(?:ever)? (?:you|it|they|we) (?:find|found|get|got|see|saw|learn|learned))"
)
_REFERS_BACK = re.compile(rf"\b{_REFERENCE}\b", re.IGNORECASE)
#: A text that only refers back ("the results", "whatever you find"): it says nothing itself.
_ONLY_A_REFERENCE = re.compile(rf"^{_REFERENCE}$", re.IGNORECASE)


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
        self.chooser = ToolChooser(index, registry, phrases=phrases, settings=self.settings)

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
        choice = self.chooser.choose(clauses, mentions)
        if not choice.picks:
            closest = considered[:3] or [hit.name for hit in self.index.search(request, 3)]
            best = ", ".join(closest) or "none"
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

    # ------------------------------------------------------------------------ building

    def _build(
        self,
        request: str,
        clauses: Sequence[Clause],
        choice: ToolChoice,
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
        params_of: dict[int, dict[str, Any]] = {}  # id(pick) → its step's params
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
                verbs=identifier_words(pick.tool).split(),
                tool_words=self.index.text_words(pick.tool),
            )
            used.update(filled.used)
            params = dict(filled.params)
            previous = ids[-1] if ids else None
            said = without_message(pick.clause.text)
            quoted = {  # a message the clause quotes is what to say, whatever it refers to
                m.value
                for m in mentions
                if m.kind == "quoted"
                and pick.clause.start <= m.start < pick.clause.end
                and len(m.value.split()) >= MESSAGE_WORDS  # a message, not a title or a file
            }
            fed = (
                previous is not None
                and bool(_REFERS_BACK.search(said) or _ONLY_TELLS.match(said))
                and _feed_from(previous, params, schema, keep=quoted)
            )
            if previous is not None and _ONLY_TELLS.match(said):  # "then email ops@x.io"
                _name_after(steps[-1], pick.clause.text, params, schema, filled.missing)
            elif fed:  # "then email the results to ops@x.io": the subject is the tests too
                _name_after(steps[-1], "", params, schema, filled.missing)
            shared = params_of.get(id(pick.again_of), {})
            acted_on_before = self._acted_on(steps[-1]) if steps else None
            referred = acted_on_before if _PRONOUN.search(said) else None
            carried = acted_on_before if is_identifier(acted_on_before) else None
            before = _clause_before(pick, clauses)
            condition = before.condition if before is not None else ""
            properties = schema.get("properties") or {}
            if pick.instead is not None:  # "deploy billing and auth": this one for auth
                acted_on, other = pick.instead
                params[acted_on] = other
            for name in filled.missing:
                if name in params:  # fed from the step before, or the other name
                    continue
                if name in shared:  # "… in Berlin and in Paris": the date said once
                    params[name] = shared[name]
                    continue
                if referred is not None and names_a_thing(name, properties.get(name) or {}):
                    params[name] = referred  # "scale checkout, then check its status"
                    continue
                if (
                    carried is not None
                    and steps[-1]["params"].get(name) == carried
                    and names_a_thing(name, properties.get(name) or {})
                ):  # "roll back billing and page the on-call": the page is for billing
                    params[name] = carried
                    continue
                if condition and is_free_text(name, properties.get(name) or {}):
                    params[name] = condition  # "if billing is down, page the on-call"
                    continue
                _ask_for(name, step_id, pick.tool, schema, params, inputs)
                missing_for.append(f"{name} (for {pick.tool})")
            params = {
                name: params[name] for name in schema.get("properties") or {} if name in params
            }
            params_of[id(pick)] = params
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

    def _acted_on(self, step: dict[str, Any]) -> str | None:
        """The name ``step`` acts on, as the request said it: its first param that names a
        thing and holds one word (an identifier such as "checkout", not "123 Main Street" nor
        "Dr. Smith": "it" may mean anything said before), not an input to ask for or another
        step's output. A step that only tells (a channel and a message) acts on what its
        message is about: "tell #ops that billing is rolling back, then roll it back"."""
        properties = self.registry.get(step["tool"]).spec.params_schema.get("properties") or {}
        for name, value in step["params"].items():
            if (
                isinstance(value, str)
                and value.strip()
                and not any(c.isspace() or c in "{}" for c in value)
                and names_a_thing(name, properties.get(name) or {})
            ):
                return value
        for name, value in step["params"].items():
            if isinstance(value, str) and is_free_text(name, properties.get(name) or {}):
                about = news_about(value)
                if about is not None and not self._names_a_tool(about):
                    return about  # not "deploy is done": a task, no name
        return None

    def _names_a_tool(self, word: str) -> bool:
        """Whether ``word`` is a word of some tool's name ("deploy", "tests")."""
        terms = set(words(word))
        return any(terms & self.index.name_words(name) for name in self.index.names)

    def _depends_on(
        self, position: int, pick: Pick, picks: Sequence[Pick], ids: Sequence[str]
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


def _context_of(pick: Pick, clauses: Sequence[Clause]) -> list[Passage]:
    """Where a step's values may be said besides its clause: the clause before, when that
    one only set the scene ("I'm staying at the Ritz on May 1. Can you book it?") or this one
    says too little alone; then the later clauses that asked for the same step."""
    context: list[Passage] = []
    before = _clause_before(pick, clauses)
    if before is not None and (pick.clause.lead_in or (pick.clause.asks and not before.asks)):
        context.append(Passage(before.text, before.start))
    context.extend(Passage(c.text, c.start) for c in clauses if c.start in pick.also)
    return context


def _clause_before(pick: Pick, clauses: Sequence[Clause]) -> Clause | None:
    """The clause right before the one that asked for ``pick``'s step, if any."""
    index = next(i for i, c in enumerate(clauses) if c.start == pick.clause.start)
    return clauses[index - 1] if index > 0 else None


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


def _feed_from(
    previous: str, params: dict[str, Any], schema: dict[str, Any], *, keep: set[str]
) -> bool:
    """Point the first free-text param at the previous step's output, unless it holds one of
    the values to ``keep``; whether it did."""
    properties = schema.get("properties") or {}
    for name in properties:
        if name.lower() in ("text", "message", "content", "body", "summary", "data", "input"):
            if params.get(name) in keep:
                return False
            params[name] = "{{ steps." + previous + ".output }}"
            return True
    return False


def _name_after(
    step: dict[str, Any],
    clause: str,
    params: dict[str, Any],
    schema: dict[str, Any],
    missing: Sequence[str],
) -> None:
    """A free-text param other than the one fed the step's output (an email's subject) that
    is missing, only refers back ("the results") or holds only the words of a ``clause``
    saying whom to tell ("then email ops@x.io", "notify ops via email ops@x.io") says what
    the step before did ("run the tests for repo kaizen")."""
    properties = schema.get("properties") or {}
    for name in properties:
        value = params.get(name)
        unsaid = name in missing and name not in params
        own_words = (
            isinstance(value, str)
            and "{{" not in value
            and (
                bool(_ONLY_A_REFERENCE.match(value.strip()))
                or (clause and value.lower() in clause.lower())
            )
        )
        if (unsaid or own_words) and is_free_text(name, properties.get(name) or {}):
            params[name] = step.get("description") or step["tool"]


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


def _blueprint_name(picks: Sequence[Pick]) -> str:
    tools = [p.tool.split(".")[-1] for p in picks[:3]]
    return re.sub(r"[^A-Za-z0-9_]", "_", "_then_".join(tools))[:80] or "plan"


def _confidence(picks: Sequence[Pick], clauses: Sequence[Clause], missing: int) -> float:
    """Mean fit of the chosen tools (0.3 → 0, 0.7 → 1), less for clauses that asked for
    something and got no step, and for missing values."""
    if not picks:
        return 0.0
    fit = sum(min(1.0, max(0.0, (p.score - 0.3) / 0.4)) for p in picks) / len(picks)
    covered = {start for p in picks for start in (p.clause.start, *p.also)}
    unanswered = sum(1 for c in clauses if c.asks and c.start not in covered)
    value = fit * (0.9**unanswered) * (0.85**missing)
    return round(max(0.0, min(1.0, 0.2 + 0.8 * value)), 3)
