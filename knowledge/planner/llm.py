"""The planner's LLM path: an OpenAI-compatible model writes the blueprint, the engine checks it.

One :meth:`LLMPlanner.plan` call renders the planner prompt, asks the model for a blueprint
(structured outputs when the server supports them, JSON mode otherwise) and validates the
answer with the engine. An answer that is not JSON or that the engine rejects is sent back
with the exact problems, up to ``max_repairs`` times. Everything is bounded by one overall
deadline (``timeout_s``) and the client never retries on its own, so a dead or slow endpoint
costs at most ``timeout_s``. Any failure raises :class:`LLMPlanningError`, which says why; the
caller then falls back to the offline planner.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Literal, cast

import openai
from jinja2 import TemplateError

from engine.blueprint import Blueprint
from engine.schema import blueprint_json_schema
from engine.tools.registry import ToolRegistry
from engine.validation import validate_blueprint
from knowledge.planner.prompt import DEFAULT_PLANNER_PROMPT, render_planner_messages
from knowledge.planner.result import PlanPath, PlanResult, Retrieval

ResponseFormatMode = Literal["auto", "json_schema", "json_object"]

#: Confidence of a blueprint accepted at the first answer, and what each repair round costs.
BASE_CONFIDENCE = 0.9
REPAIR_PENALTY = 0.15
MIN_CONFIDENCE = 0.1
#: Problems quoted back to the model (and in the final error) at most.
MAX_PROBLEMS_SHOWN = 20
#: A call is not started with less time than this left.
MIN_CALL_S = 0.05
#: Keys an LLM may wrap the blueprint in: {"blueprint": {...}}.
WRAPPER_KEYS = ("blueprint", "plan", "workflow", "result")
#: Keys that may sit beside the blueprint and explain it.
EXPLANATION_KEYS = ("explanation", "reasoning", "rationale")
#: A 4xx answer to a structured-outputs request that mentions one of these is a rejection of
#: the response format (as is any 400 or 422, which servers without it often send bare).
_FORMAT_WORDS = re.compile(r"response_format|json_schema|structured|schema|grammar", re.I)
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.S)


class LLMPlanningError(Exception):
    """The LLM path gave no valid blueprint. ``reason`` says why in one readable sentence;
    the counters say what the attempt cost (tokens and latency are still worth recording)."""

    def __init__(
        self,
        reason: str,
        tokens_in: int = 0,
        tokens_out: int = 0,
        latency_ms: float = 0.0,
        *,
        kind: str = "error",
        repair_rounds: int = 0,
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        self.latency_ms = latency_ms
        self.kind = kind
        """``unreachable``, ``timeout``, ``http_error``, ``bad_response``, ``invalid``
        (still invalid after the repairs) or ``prompt`` (the prompt template is broken)."""
        self.repair_rounds = repair_rounds
        self.problems = problems or []
        """The last answer's problems, when ``kind`` is ``invalid``."""

    def __str__(self) -> str:
        return self.reason


def make_openai_client(
    api_key: str | None, base_url: str | None, timeout_s: float
) -> openai.OpenAI:
    """An OpenAI client for ``base_url`` (``None``: api.openai.com) that never retries on its
    own. Local servers (Ollama, llama.cpp, vLLM) need no key: a placeholder is sent."""
    return openai.OpenAI(
        api_key=api_key or "not-needed",
        base_url=base_url or None,
        timeout=timeout_s,
        max_retries=0,
    )


@functools.cache
def structured_output_schema() -> dict[str, Any]:
    """The blueprint JSON Schema as sent for structured outputs (without ``$schema``, which
    some servers' grammar compilers refuse)."""
    schema = dict(blueprint_json_schema())
    schema.pop("$schema", None)
    return schema


class _Budget:
    """Tokens and time spent so far by one :meth:`LLMPlanner.plan` call."""

    def __init__(self, timeout_s: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout_s
        self.timeout_s = timeout_s
        self.tokens_in = 0
        self.tokens_out = 0
        self.repairs = 0

    @property
    def latency_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000.0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def add_usage(self, usage: Any) -> None:
        if usage is None:
            return
        self.tokens_in += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.tokens_out += int(getattr(usage, "completion_tokens", 0) or 0)

    def error(self, reason: str, kind: str, problems: list[str] | None = None) -> LLMPlanningError:
        return LLMPlanningError(
            reason,
            self.tokens_in,
            self.tokens_out,
            self.latency_ms,
            kind=kind,
            repair_rounds=self.repairs,
            problems=problems,
        )


class LLMPlanner:
    """Plans with an OpenAI-compatible chat model, repairing its answers with the engine's
    validation problems. One instance serves many requests (it is safe to share between
    threads; the only state is which response format the server accepts)."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        registry: ToolRegistry,
        *,
        prompt_text: str = DEFAULT_PLANNER_PROMPT,
        prompt_id: int | None = None,
        max_repairs: int = 2,
        timeout_s: float = 20.0,
        response_format: ResponseFormatMode = "auto",
        temperature: float | None = None,
    ) -> None:
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be at least 0, not {max_repairs}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self.client = client.with_options(max_retries=0)
        self.model = model
        self.registry = registry
        self.prompt_text = prompt_text
        self.prompt_id = prompt_id
        self.max_repairs = max_repairs
        self.timeout_s = timeout_s
        self.response_format: ResponseFormatMode = response_format
        """The format requests use; ``auto`` becomes ``json_object`` once the server has
        rejected structured outputs."""
        self.temperature = temperature

    # ------------------------------------------------------------------ planning

    def plan(self, request: str, retrieval: Retrieval) -> PlanResult:
        """A validated blueprint for ``request``, or :class:`LLMPlanningError`."""
        budget = _Budget(self.timeout_s)
        try:
            messages: list[dict[str, str]] = render_planner_messages(
                self.prompt_text, request, retrieval
            )
        except TemplateError as exc:
            raise budget.error(f"the planner prompt does not render: {exc}", "prompt") from exc
        tool_names = [hit.name for hit in retrieval.tools]
        while True:
            content = self._complete(messages, budget)
            data, explanation, problems = self._parse(content)
            note = ""
            blueprint: Blueprint | None = None
            if data is not None:
                report = validate_blueprint(data, self.registry)
                if report.ok and report.blueprint is not None:
                    blueprint = report.blueprint
                else:
                    problems = [str(p) for p in report.problems] or ["the blueprint is invalid"]
                    if any(p.code == "unknown_tool" for p in report.problems) and tool_names:
                        note = "Use only these tools: " + ", ".join(tool_names) + "."
            if blueprint is not None:
                return self._result(request, retrieval, blueprint, explanation, budget)
            if budget.repairs >= self.max_repairs:
                shown = _bullets(problems)
                rounds = budget.repairs
                raise budget.error(
                    f"the LLM's blueprint was still invalid after {rounds} repair "
                    f"round{'s' if rounds != 1 else ''}:\n{shown}",
                    "invalid",
                    problems,
                )
            budget.repairs += 1
            messages = [
                *messages,
                {"role": "assistant", "content": content},
                {"role": "user", "content": repair_message(problems, note)},
            ]

    def _result(
        self,
        request: str,
        retrieval: Retrieval,
        blueprint: Blueprint,
        explanation: str | None,
        budget: _Budget,
    ) -> PlanResult:
        repairs = budget.repairs
        what = f"{self.model} planned {len(blueprint.steps)} step"
        what += "s" if len(blueprint.steps) != 1 else ""
        what += f" from {len(retrieval.tools)} retrieved tools"
        if retrieval.exemplars:
            what += f" and {len(retrieval.exemplars)} similar past requests"
        if repairs:
            what += f", after {repairs} repair round{'s' if repairs != 1 else ''}"
        detail = explanation or blueprint.description
        return PlanResult(
            request=request,
            blueprint=blueprint,
            explanation=f"{what}: {detail}" if detail else what,
            path=PlanPath.LLM,
            confidence=max(MIN_CONFIDENCE, BASE_CONFIDENCE - REPAIR_PENALTY * repairs),
            tools_considered=[hit.name for hit in retrieval.tools],
            exemplar_ids=[hit.exemplar.id for hit in retrieval.exemplars],
            repair_rounds=repairs,
            tokens_in=budget.tokens_in,
            tokens_out=budget.tokens_out,
            latency_ms=budget.latency_ms,
            prompt_id=self.prompt_id,
        )

    # ------------------------------------------------------------------ the model

    def _complete(self, messages: list[dict[str, str]], budget: _Budget) -> str:
        """One answer from the model (``""`` when it gave no text), within the budget."""
        mode = self.response_format
        try:
            if mode != "auto":
                return self._call(messages, mode, budget)
            try:
                return self._call(messages, "json_schema", budget)
            except openai.APIStatusError as exc:
                if not _rejects_response_format(exc):
                    raise
            content = self._call(messages, "json_object", budget)
            self.response_format = "json_object"  # the server has JSON mode; remember it
            return content
        except openai.APITimeoutError as exc:  # before APIConnectionError: it is one
            raise budget.error(
                f"the LLM endpoint timed out (limit {budget.timeout_s:g} s)", "timeout"
            ) from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise budget.error(
                f"the LLM endpoint {self.client.base_url} is unreachable: {cause}",
                "unreachable",
            ) from exc
        except openai.APIStatusError as exc:
            raise budget.error(_status_reason(exc, self.model), "http_error") from exc
        except openai.OpenAIError as exc:
            raise budget.error(
                f"the LLM endpoint gave an unusable answer: {exc}", "bad_response"
            ) from exc

    def _call(
        self,
        messages: list[dict[str, str]],
        mode: Literal["json_schema", "json_object"],
        budget: _Budget,
    ) -> str:
        remaining = budget.remaining()
        if remaining < MIN_CALL_S:
            rounds = f" and {budget.repairs} repair round(s)" if budget.repairs else ""
            raise budget.error(
                f"the LLM planner ran out of time (limit {budget.timeout_s:g} s{rounds})",
                "timeout",
            )
        if mode == "json_schema":
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "blueprint",
                    "schema": structured_output_schema(),
                    "strict": False,
                },
            }
        else:
            response_format = {"type": "json_object"}
        extra: dict[str, Any] = {}
        if self.temperature is not None:
            extra["temperature"] = self.temperature
        response = self.client.chat.completions.create(
            model=self.model,
            messages=cast("Any", messages),
            response_format=cast("Any", response_format),
            timeout=remaining,
            **extra,
        )
        budget.add_usage(getattr(response, "usage", None))
        choices = getattr(response, "choices", None) or []
        if not choices:
            return ""
        message = choices[0].message
        return (message.content or "") if message is not None else ""

    # ------------------------------------------------------------------ answers

    def _parse(self, content: str) -> tuple[dict[str, Any] | None, str | None, list[str]]:
        """The blueprint mapping in an answer and any explanation beside it, or the problems
        that make it unusable."""
        text = content.strip()
        if not text:
            return None, None, ["the answer was empty; answer with one blueprint JSON object"]
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1).strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            value = _embedded_object(text)
            if value is None:
                return None, None, [_json_problem(exc)]
        if not isinstance(value, dict):
            kind = type(value).__name__ if value is not None else "null"
            return None, None, [f"the answer is a JSON {kind}, not an object (the blueprint)"]
        return _unwrap(value)


def _unwrap(value: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    explanation: str | None = None
    for key in EXPLANATION_KEYS:
        found = value.get(key)
        if isinstance(found, str) and found.strip():
            explanation = found.strip()
            break
    if "steps" not in value:
        inner = [
            value[key]
            for key in WRAPPER_KEYS
            if isinstance(value.get(key), Mapping) and "steps" in value[key]
        ]
        if not inner:
            inner = [v for v in value.values() if isinstance(v, Mapping) and "steps" in v]
        if len(inner) == 1:
            return dict(inner[0]), explanation, []
        return value, explanation, []  # the engine says what is missing
    if explanation is not None:  # beside the blueprint's own fields: not part of it
        value = {k: v for k, v in value.items() if k not in EXPLANATION_KEYS}
    return value, explanation, []


def _embedded_object(text: str) -> Any:
    """The JSON object in an answer that says something around it, or ``None``."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _json_problem(exc: json.JSONDecodeError) -> str:
    line = exc.doc.splitlines()[exc.lineno - 1] if exc.doc.splitlines() else ""
    near = line[max(0, exc.colno - 30) : exc.colno + 10] if line else ""
    where = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
    return f"invalid JSON: {exc.msg} at {where}" + (f", near {near!r}" if near else "")


def _bullets(problems: list[str]) -> str:
    shown = [f"- {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        shown.append(f"- ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
    return "\n".join(shown)


def repair_message(problems: list[str], note: str = "") -> str:
    """What the model is told after an answer that is unusable."""
    return (
        "Your answer is not a valid blueprint. Problems:\n"
        f"{_bullets(problems)}\n"
        + (f"{note}\n" if note else "")
        + "Fix every problem and answer with the complete corrected blueprint as ONE JSON "
        "object, nothing else."
    )


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    """Whether a 4xx answer to a structured-outputs request refuses that format."""
    status = exc.status_code
    if not 400 <= status < 500 or status in (401, 403, 404, 408, 429):
        return False
    if status in (400, 422):
        return True
    return bool(_FORMAT_WORDS.search(f"{exc.message} {exc.body}"))


def _status_reason(exc: openai.APIStatusError, model: str) -> str:
    status = exc.status_code
    message = _short(str(exc.message))
    if status in (401, 403):
        return f"the LLM endpoint refused the credentials (HTTP {status}): {message}"
    if status == 404:
        return f"the LLM endpoint does not know model '{model}' or the path (HTTP 404): {message}"
    if status == 429:
        return f"the LLM endpoint is rate limiting (HTTP 429): {message}"
    return f"the LLM endpoint answered HTTP {status}: {message}"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
