"""The planner's prompt: the retrieved tools, similar accepted plans, the rules, the request.

The prompt text is a Jinja2 template rendered in a sandbox (prompts are data: they live in the
prompt registry and can be edited or evolved). Everything before a line reading
:data:`USER_MARKER` becomes the system message, everything after it the user message; a
template without the marker is all system message, and the request alone is the user message.

Template variables:

- ``tools``: the top-k tools, best first, each with ``name``, ``description``,
  ``side_effect``, ``parameters`` (the parameter JSON Schema as compact JSON text, titles
  removed) and ``schema`` (the same schema as a mapping);
- ``exemplars``: the most similar past requests, each with ``id``, ``request``,
  ``blueprint`` (the accepted blueprint as compact JSON text) and ``similarity``;
- ``request``: the request text.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from knowledge.history.errors import NotFoundError
from knowledge.history.prompts import active_prompt, add_prompt
from knowledge.history.views import PromptInfo
from knowledge.planner.result import Retrieval

PLANNER_PROMPT_NAME = "planner"
"""The planner's prompt in the prompt registry."""
PROMPT_AUTHOR = "kaizen"
USER_MARKER = "=== user ==="
"""A line of its own that separates the system message from the user message."""

DEFAULT_PLANNER_PROMPT = """\
You are Kaizen's planner. You turn a chat request into a blueprint: a JSON workflow whose \
steps call tools and form a DAG (a step runs after the steps it needs).

# Tools
Use ONLY these tools. Each line: name [side effect]: description, then the JSON Schema of \
its params.
{% for tool in tools %}
- {{ tool.name }} [{{ tool.side_effect }}]: {{ tool.description }}
  params: {{ tool.parameters }}
{% else %}
(no tools were found for this request)
{% endfor %}

{% raw %}# Blueprint format
{"name": "short_snake_case_name", "description": "one sentence: what the plan does",
 "inputs": {"<input>": {"type": "string", "description": "what it is"}},
 "steps": [{"id": "<step_id>", "tool": "<tool name>", "params": {"<param>": "<value>"},
            "depends_on": ["<step_id>"]}],
 "outputs": {"<name>": "{{ steps.<step_id>.output }}"}}
Optional step fields: "description", "when" (a condition such as \
"{{ steps.check.output.ok }}"), "for_each" ({"items": "{{ steps.list.output }}", \
"as": "item"}: runs the step once per item, with "{{ item }}" in its params), \
"on_error" ("fail" or "continue"), "timeout_s".

# Rules
1. Use only the tools listed above, with their exact names. Give every required param, and \
no param the tool's schema does not list.
2. Each step has a unique id made of letters, digits and underscores, e.g. "fetch_prs".
3. Data flows between steps through templates: "{{ steps.<id>.output }}" or \
"{{ steps.<id>.output.<field> }}". A template that reads another step already orders the two.
4. Use depends_on only to order steps that do not read each other's output. Never make a \
cycle.
5. A value the request does not give (a channel, a service, a date, an id...) becomes a \
declared input, used as "{{ inputs.<name> }}"; give it a default only when the request \
implies one. Never invent secrets, ids or names.
6. Keep the plan minimal: only the steps the request needs.
7. Answer with ONE JSON object, the blueprint, and nothing else: no prose, no Markdown.
{% endraw %}
{% if exemplars %}

# Accepted plans for similar past requests
{% for exemplar in exemplars %}
Request: {{ exemplar.request }}
Blueprint: {{ exemplar.blueprint }}
{% endfor %}
{% endif %}
=== user ===
Request: {{ request }}
"""
"""The planner prompt registered when the registry has none."""

_ENVIRONMENT = SandboxedEnvironment(
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


@functools.lru_cache(maxsize=16)
def _compile(template_text: str) -> Template:
    return _ENVIRONMENT.from_string(template_text)


def compact_json(value: Any) -> str:
    """``value`` as JSON text without needless whitespace (what the prompt shows)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def compact_schema(schema: Any, *, names: bool = False) -> Any:
    """A JSON Schema without its ``title`` keywords (noise to an LLM). ``names`` is true for
    mappings whose keys are property names, whose ``title`` key is a property, not a title."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if names:
                out[key] = compact_schema(value)
            elif key == "title" and isinstance(value, str):
                continue
            else:
                out[key] = compact_schema(
                    value,
                    names=key in ("properties", "$defs", "definitions", "patternProperties"),
                )
        return out
    if isinstance(schema, list):
        return [compact_schema(item) for item in schema]
    return schema


def prompt_variables(request: str, retrieval: Retrieval) -> dict[str, Any]:
    """What the planner prompt template is rendered with (see the module docstring)."""
    tools = []
    for hit in retrieval.tools:
        schema = compact_schema(hit.entry.parameters)
        tools.append(
            {
                "name": hit.name,
                "description": " ".join(hit.entry.description.split()),
                "side_effect": hit.entry.side_effect,
                "parameters": compact_json(schema),
                "schema": schema,
                "score": hit.score,
            }
        )
    exemplars = [
        {
            "id": hit.exemplar.id,
            "request": hit.exemplar.request,
            "blueprint": compact_json(hit.exemplar.blueprint),
            "similarity": hit.similarity,
        }
        for hit in retrieval.exemplars
    ]
    return {"tools": tools, "exemplars": exemplars, "request": request}


def render_planner_messages(
    template_text: str, request: str, retrieval: Retrieval
) -> list[dict[str, str]]:
    """The chat messages for ``request``: a system message (tools, exemplars, rules) and a
    user message (the request). Raises Jinja2's ``TemplateError`` for a broken template."""
    text = _compile(template_text).render(**prompt_variables(request, retrieval))
    system, marker, user = _split(text)
    if not marker:
        user = request
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user or request})
    return messages


def _split(text: str) -> tuple[str, bool, str]:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == USER_MARKER:
            system = "\n".join(lines[:index]).strip()
            user = "\n".join(lines[index + 1 :]).strip()
            return system, True, user
    return text.strip(), False, ""


def ensure_planner_prompt(session: Session) -> PromptInfo:
    """The active planner prompt; registers and activates :data:`DEFAULT_PLANNER_PROMPT`
    (author ``kaizen``) when the registry has no planner prompt yet."""
    try:
        return active_prompt(session, PLANNER_PROMPT_NAME)
    except NotFoundError:
        return add_prompt(
            session,
            PLANNER_PROMPT_NAME,
            DEFAULT_PLANNER_PROMPT,
            author=PROMPT_AUTHOR,
            note="default planner prompt",
            activate=True,
        )
