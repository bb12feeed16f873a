"""The planner's LLM path against a local OpenAI-compatible stub, with the real openai client."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.tools.base import SideEffect, ToolSpec
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool
from knowledge.history import active_prompt, add_prompt
from knowledge.history.views import ExemplarInfo
from knowledge.planner.llm import LLMPlanner, LLMPlanningError, make_openai_client
from knowledge.planner.prompt import (
    DEFAULT_PLANNER_PROMPT,
    PLANNER_PROMPT_NAME,
    compact_schema,
    ensure_planner_prompt,
    render_planner_messages,
)
from knowledge.planner.result import PlanPath, Retrieval
from knowledge.search.catalog import entry_from_spec
from knowledge.search.exemplars import ExemplarHit
from knowledge.search.index import SearchHit
from knowledge.store import open_database
from tests.knowledge.planner.openai_stub import OpenAIStub, Reply, serve_stub

REQUEST = "post the open PRs of acme/api to a channel"

SPECS = [
    ToolSpec(
        name="gh.list_prs",
        description="List the open pull requests of a repository.",
        params_schema={
            "type": "object",
            "title": "ListPrs",
            "properties": {
                "repo": {"type": "string", "title": "Repo", "description": "owner/name"},
                "state": {"type": "string", "enum": ["open", "closed"]},
            },
            "required": ["repo"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        name="slack.post_message",
        description="Post a message to a Slack channel.",
        params_schema={
            "type": "object",
            "properties": {"channel": {"type": "string"}, "text": {"type": "string"}},
            "required": ["channel", "text"],
            "additionalProperties": False,
        },
        side_effect=SideEffect.MUTATING,
    ),
    ToolSpec(
        name="svc.health",
        description="Check a service's health.",
        params_schema={
            "type": "object",
            "properties": {"service": {"type": "string"}},
            "required": ["service"],
        },
    ),
]

EXEMPLAR_BLUEPRINT: dict[str, Any] = {
    "name": "health_to_slack",
    "steps": [
        {"id": "check", "tool": "svc.health", "params": {"service": "web"}},
        {
            "id": "post",
            "tool": "slack.post_message",
            "params": {"channel": "#ops", "text": "{{ steps.check.output }}"},
        },
    ],
}


def blueprint(**changes: Any) -> dict[str, Any]:
    """A valid blueprint for REQUEST, with top-level fields replaced by ``changes``."""
    data: dict[str, Any] = {
        "name": "prs_to_slack",
        "description": "Post the open PRs of acme/api to a channel.",
        "inputs": {"channel": {"type": "string", "description": "Where to post"}},
        "steps": [
            {"id": "prs", "tool": "gh.list_prs", "params": {"repo": "acme/api"}},
            {
                "id": "post",
                "tool": "slack.post_message",
                "params": {"channel": "{{ inputs.channel }}", "text": "{{ steps.prs.output }}"},
            },
        ],
        "outputs": {"ts": "{{ steps.post.output.ts }}"},
    }
    data.update(changes)
    return data


def make_registry() -> ToolRegistry:
    return ToolRegistry(SchemaTool(spec) for spec in SPECS)


def make_retrieval() -> Retrieval:
    hits = [
        SearchHit(
            name=spec.name,
            score=1.0 / (rank + 1),
            dense_rank=rank,
            lexical_rank=rank,
            entry=entry_from_spec(spec),
        )
        for rank, spec in enumerate(SPECS)
    ]
    exemplar = ExemplarInfo(
        id=42,
        request="post the health of web to #ops",
        blueprint=EXEMPLAR_BLUEPRINT,
        workflow_id=1,
        version_id=1,
        accepted_how="ran",
        accepted_by="U1",
        created_at=datetime.now(UTC),
    )
    return Retrieval(
        tools=hits, exemplars=[ExemplarHit(exemplar=exemplar, similarity=0.7, score=0.03)]
    )


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with serve_stub() as server:
        yield server


def planner_for(stub_or_url: OpenAIStub | str, **options: Any) -> LLMPlanner:
    url = stub_or_url if isinstance(stub_or_url, str) else stub_or_url.base_url
    client = make_openai_client(None, url, 5.0)
    return LLMPlanner(client, "stub-model", make_registry(), **options)


def sent_messages(stub: OpenAIStub, index: int) -> list[dict[str, Any]]:
    return stub.requests[index]["messages"]


# ---------------------------------------------------------------------- the prompt


def test_the_prompt_carries_the_retrieved_tools_exemplars_and_request(stub):
    stub.add(blueprint())
    planner_for(stub).plan(REQUEST, make_retrieval())
    [body] = stub.requests
    system, user = body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    for spec in SPECS:
        assert spec.name in system["content"]
        assert spec.description in system["content"]
    # Compact schemas, titles dropped; side effects shown.
    assert '"required":["repo"]' in system["content"]
    assert '"enum":["open","closed"]' in system["content"]
    assert "Repo" not in system["content"]
    assert "slack.post_message [mutating]" in system["content"]
    # The exemplar: its request and its accepted blueprint as JSON.
    assert "post the health of web to #ops" in system["content"]
    assert json.dumps(EXEMPLAR_BLUEPRINT, separators=(",", ":")) in system["content"]
    # The rules, with template syntax left as text.
    assert "{{ steps.<id>.output }}" in system["content"]
    assert "depends_on" in system["content"]
    assert "{{ inputs.<name> }}" in system["content"]
    assert REQUEST in user["content"]
    assert REQUEST not in system["content"]
    # Structured outputs first, with the blueprint schema.
    assert body["model"] == "stub-model"
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]
    assert schema["name"] == "blueprint"
    assert schema["strict"] is False
    assert "steps" in schema["schema"]["properties"]


def test_a_template_without_marker_is_the_system_message_and_the_request_the_user_one():
    messages = render_planner_messages(
        "Tools: {{ tools | map(attribute='name') | join(', ') }}", REQUEST, make_retrieval()
    )
    assert messages == [
        {"role": "system", "content": "Tools: gh.list_prs, slack.post_message, svc.health"},
        {"role": "user", "content": REQUEST},
    ]


def test_the_prompt_without_exemplars_or_tools_still_renders():
    system, user = render_planner_messages(DEFAULT_PLANNER_PROMPT, REQUEST, Retrieval())
    assert "no tools were found" in system["content"]
    assert "similar past requests" not in system["content"]
    assert user["content"] == f"Request: {REQUEST}"


def test_compact_schema_drops_titles_but_keeps_a_property_named_title():
    schema = {
        "title": "Issue",
        "type": "object",
        "properties": {"title": {"type": "string", "title": "Title"}},
    }
    assert compact_schema(schema) == {
        "type": "object",
        "properties": {"title": {"type": "string"}},
    }


def test_the_sandbox_refuses_unsafe_templates():
    planner = planner_for(
        "http://127.0.0.1:9/v1", prompt_text="{{ request.__class__.__mro__ }}", timeout_s=1
    )
    with pytest.raises(LLMPlanningError) as caught:
        planner.plan(REQUEST, make_retrieval())
    assert caught.value.kind == "prompt"
    assert "does not render" in caught.value.reason


# ---------------------------------------------------------------------- answers


def test_a_valid_answer_gives_a_validated_blueprint(stub):
    stub.add(Reply(json.dumps(blueprint()), prompt_tokens=321, completion_tokens=54))
    result = planner_for(stub, prompt_id=7).plan(REQUEST, make_retrieval())
    assert result.ok
    assert result.path is PlanPath.LLM
    assert result.blueprint is not None
    assert [s.id for s in result.blueprint.steps] == ["prs", "post"]
    assert (result.tokens_in, result.tokens_out) == (321, 54)
    assert result.latency_ms > 0
    assert result.repair_rounds == 0
    assert result.confidence == pytest.approx(0.9)
    assert result.tools_considered == ["gh.list_prs", "slack.post_message", "svc.health"]
    assert result.exemplar_ids == [42]
    assert result.prompt_id == 7
    assert result.request == REQUEST
    assert "Post the open PRs" in result.explanation


def test_a_wrapped_blueprint_and_its_explanation_are_accepted(stub):
    stub.add({"explanation": "list, then post", "blueprint": blueprint()})
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert result.ok
    assert "list, then post" in result.explanation


def test_a_fenced_answer_and_an_explanation_beside_the_blueprint_are_accepted(stub):
    stub.add("```json\n" + json.dumps({**blueprint(), "explanation": "two steps"}) + "\n```")
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert result.ok
    assert result.repair_rounds == 0
    assert "two steps" in result.explanation


def test_a_missing_usage_counts_no_tokens(stub):
    stub.add(Reply(json.dumps(blueprint()), usage=False))
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert (result.tokens_in, result.tokens_out) == (0, 0)


# ---------------------------------------------------------------------- repairs


def test_invalid_json_is_repaired_in_one_round(stub):
    broken = '{"name": "prs_to_slack", "steps": ['
    stub.add(broken, Reply(json.dumps(blueprint()), prompt_tokens=150, completion_tokens=30))
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert result.ok
    assert result.repair_rounds == 1
    assert result.confidence == pytest.approx(0.75)
    assert (result.tokens_in, result.tokens_out) == (250, 50)
    messages = sent_messages(stub, 1)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == broken
    repair = messages[3]["content"]
    assert "invalid JSON" in repair
    assert "line 1 column" in repair
    assert "ONE JSON object" in repair
    assert "repair round" in result.explanation


def test_an_unknown_tool_is_named_with_a_suggestion(stub):
    wrong = blueprint()
    wrong["steps"][0]["tool"] = "gh.list_pr"
    stub.add(wrong, blueprint())
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert result.ok
    assert result.repair_rounds == 1
    repair = sent_messages(stub, 1)[3]["content"]
    assert "steps[0].tool: unknown tool 'gh.list_pr'" in repair
    assert "did you mean 'gh.list_prs'" in repair
    assert "Use only these tools: gh.list_prs, slack.post_message, svc.health." in repair


def test_a_cycle_is_repaired(stub):
    cyclic = blueprint(
        steps=[
            {"id": "a", "tool": "svc.health", "params": {"service": "web"}, "depends_on": ["b"]},
            {"id": "b", "tool": "svc.health", "params": {"service": "api"}, "depends_on": ["a"]},
        ],
        outputs={},
    )
    stub.add(cyclic, blueprint())
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert result.ok
    repair = sent_messages(stub, 1)[3]["content"]
    assert "dependency cycle" in repair


def test_missing_params_and_bad_template_references_are_quoted(stub):
    wrong = blueprint()
    wrong["steps"][1]["params"] = {"text": "{{ steps.nope.output }}"}
    stub.add(wrong, blueprint())
    planner_for(stub).plan(REQUEST, make_retrieval())
    repair = sent_messages(stub, 1)[3]["content"]
    assert "channel" in repair
    assert "nope" in repair


def test_still_invalid_after_the_repairs_raises_with_the_last_problems(stub):
    wrong = blueprint()
    wrong["steps"][0]["tool"] = "gh.nothing"
    stub.add(wrong, "not json at all", wrong)
    planner = planner_for(stub, max_repairs=2)
    with pytest.raises(LLMPlanningError) as caught:
        planner.plan(REQUEST, make_retrieval())
    error = caught.value
    assert error.kind == "invalid"
    assert "still invalid after 2 repair rounds" in error.reason
    assert "unknown tool 'gh.nothing'" in error.reason
    assert error.problems
    assert error.repair_rounds == 2
    assert (error.tokens_in, error.tokens_out) == (300, 60)
    assert error.latency_ms > 0
    assert len(stub.requests) == 3


def test_no_repairs_allowed_fails_at_the_first_bad_answer(stub):
    stub.add("[1, 2]")
    with pytest.raises(LLMPlanningError, match="not an object") as caught:
        planner_for(stub, max_repairs=0).plan(REQUEST, make_retrieval())
    assert caught.value.repair_rounds == 0
    assert len(stub.requests) == 1


def test_an_empty_answer_is_sent_back(stub):
    stub.add(Reply(None), blueprint())
    result = planner_for(stub).plan(REQUEST, make_retrieval())
    assert result.ok
    assert "empty" in sent_messages(stub, 1)[3]["content"]


# ---------------------------------------------------------------------- response formats


def test_rejected_structured_outputs_fall_back_to_json_mode_and_stay_there():
    with serve_stub(reject_json_schema=True) as stub:
        stub.add(blueprint(), blueprint())
        planner = planner_for(stub)
        assert planner.plan(REQUEST, make_retrieval()).ok
        assert [r["response_format"]["type"] for r in stub.requests] == [
            "json_schema",
            "json_object",
        ]
        assert planner.response_format == "json_object"
        assert planner.plan(REQUEST, make_retrieval()).ok
        assert stub.requests[2]["response_format"] == {"type": "json_object"}
        assert len(stub.requests) == 3


def test_json_schema_mode_does_not_fall_back():
    with serve_stub(reject_json_schema=True) as stub:
        with pytest.raises(LLMPlanningError, match="HTTP 400") as caught:
            planner_for(stub, response_format="json_schema").plan(REQUEST, make_retrieval())
        assert caught.value.kind == "http_error"
        assert len(stub.requests) == 1


def test_json_object_mode_never_asks_for_structured_outputs(stub):
    stub.add(blueprint())
    planner_for(stub, response_format="json_object").plan(REQUEST, make_retrieval())
    assert stub.requests[0]["response_format"] == {"type": "json_object"}


# ---------------------------------------------------------------------- endpoint failures


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_fails_fast():
    planner = planner_for(f"http://127.0.0.1:{closed_port()}/v1", timeout_s=5)
    started = time.monotonic()
    with pytest.raises(LLMPlanningError, match="unreachable") as caught:
        planner.plan(REQUEST, make_retrieval())
    assert time.monotonic() - started < 2
    assert caught.value.kind == "unreachable"


def test_a_slow_endpoint_times_out_within_the_budget(stub):
    stub.add(Reply(json.dumps(blueprint()), delay_s=5))
    planner = planner_for(stub, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(LLMPlanningError, match="timed out") as caught:
        planner.plan(REQUEST, make_retrieval())
    assert time.monotonic() - started < 2
    assert caught.value.kind == "timeout"


def test_the_budget_is_shared_by_the_repair_rounds(stub):
    stub.add(Reply("not json", delay_s=0.4), Reply(json.dumps(blueprint()), delay_s=5))
    planner = planner_for(stub, timeout_s=0.7)
    started = time.monotonic()
    with pytest.raises(LLMPlanningError) as caught:
        planner.plan(REQUEST, make_retrieval())
    assert time.monotonic() - started < 1.5
    assert caught.value.kind == "timeout"
    assert caught.value.tokens_in == 100  # the first answer's usage is still counted


@pytest.mark.parametrize(
    ("status", "words"),
    [(500, "HTTP 500"), (401, "credentials"), (404, "model 'stub-model'"), (429, "rate")],
)
def test_http_errors_say_what_the_status_means(stub, status, words):
    stub.add(Reply(status=status, error="boom"))
    with pytest.raises(LLMPlanningError, match=words) as caught:
        planner_for(stub, response_format="json_object").plan(REQUEST, make_retrieval())
    assert caught.value.kind == "http_error"
    assert "boom" in caught.value.reason
    assert len(stub.requests) == 1  # no retries


def test_the_planner_checks_its_options():
    client = make_openai_client(None, "http://127.0.0.1:9/v1", 1.0)
    with pytest.raises(ValueError, match="max_repairs"):
        LLMPlanner(client, "m", make_registry(), max_repairs=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        LLMPlanner(client, "m", make_registry(), timeout_s=0)


# ---------------------------------------------------------------------- the prompt registry


def test_ensure_planner_prompt_registers_the_default_once(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'kaizen.db'}")
    try:
        with db.session() as session:
            first = ensure_planner_prompt(session)
        with db.session() as session:
            again = ensure_planner_prompt(session)
            assert active_prompt(session, PLANNER_PROMPT_NAME).id == first.id
        assert again.id == first.id
        assert (first.name, first.version, first.active) == (PLANNER_PROMPT_NAME, 1, True)
        assert first.text == DEFAULT_PLANNER_PROMPT
        assert first.author == "kaizen"
        with db.session() as session:
            newer = add_prompt(session, PLANNER_PROMPT_NAME, "Plan: {{ request }}", author="U1")
            newer = add_prompt(
                session, PLANNER_PROMPT_NAME, "Plan well: {{ request }}", author="U1", activate=True
            )
        with db.session() as session:
            assert ensure_planner_prompt(session).id == newer.id
    finally:
        db.dispose()
