"""The planner facade: retrieval, the LLM path against a local OpenAI-compatible stub, and the
offline planner when the LLM is not wanted, not configured or fails."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.tools.base import SideEffect, ToolSpec
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool
from engine.validation import validate_blueprint
from knowledge.history.views import ExemplarInfo
from knowledge.planner.llm import LLMPlanner, make_openai_client
from knowledge.planner.offline import OfflinePlanner
from knowledge.planner.planner import Planner
from knowledge.planner.result import PlanPath
from knowledge.search.catalog import entry_from_spec
from knowledge.search.exemplars import ExemplarIndex
from knowledge.search.index import ToolIndex
from tests.knowledge.planner.openai_stub import OpenAIStub, Reply, serve_stub

REQUEST = "check the health of the web service and post it to #ops"


def _spec(name: str, description: str, params: dict[str, str], **options: Any) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=description,
        params_schema={
            "type": "object",
            "properties": {p: {"type": "string", "description": d} for p, d in params.items()},
            "required": list(params),
            "additionalProperties": False,
        },
        **options,
    )


SPECS = [
    _spec("svc.health", "Check the health status of a service.", {"service": "The service"}),
    _spec(
        "slack.post_message",
        "Post a message to a Slack channel.",
        {"channel": "The channel", "text": "The message"},
        side_effect=SideEffect.MUTATING,
    ),
    _spec("taxi.order", "Order a cab ride to an address.", {"address": "Where to go"}),
    _spec("docs.search", "Search the internal documentation wiki.", {"query": "Search terms"}),
    _spec("calendar.create_event", "Create a meeting in a calendar.", {"title": "Its title"}),
]

LLM_BLUEPRINT: dict[str, Any] = {
    "name": "health_to_ops",
    "description": "Check web's health and post it to #ops.",
    "steps": [
        {"id": "check", "tool": "svc.health", "params": {"service": "web"}},
        {
            "id": "post",
            "tool": "slack.post_message",
            "params": {"channel": "#ops", "text": "{{ steps.check.output }}"},
            "depends_on": ["check"],
        },
    ],
}

EXEMPLAR = ExemplarInfo(
    id=7,
    request="check the health of the api service and post it to #dev",
    blueprint={
        "name": "health_to_dev",
        "steps": [
            {"id": "check", "tool": "svc.health", "params": {"service": "api"}},
            {
                "id": "post",
                "tool": "slack.post_message",
                "params": {"channel": "#dev", "text": "{{ steps.check.output }}"},
            },
        ],
    },
    workflow_id=1,
    version_id=1,
    accepted_how="ran",
    accepted_by="U1",
    created_at=datetime.now(UTC),
)


def make_registry() -> ToolRegistry:
    return ToolRegistry(SchemaTool(spec) for spec in SPECS)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> ToolIndex:
    tool_index = ToolIndex(tmp_path_factory.mktemp("facade-index"))
    tool_index.sync([entry_from_spec(spec) for spec in SPECS])
    return tool_index


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with serve_stub() as server:
        yield server


def closed_port_url() -> str:
    """A base URL nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def make_planner(
    index: ToolIndex,
    url: str | None,
    *,
    max_repairs: int = 1,
    timeout_s: float = 5.0,
    **options: Any,
) -> Planner:
    registry = make_registry()
    llm = None
    if url is not None:
        client = make_openai_client(None, url, timeout_s)
        llm = LLMPlanner(
            client,
            "stub-model",
            registry,
            prompt_id=3,
            max_repairs=max_repairs,
            timeout_s=timeout_s,
        )
    return Planner(index, OfflinePlanner(index, registry), llm=llm, **options)


def system_prompt(stub: OpenAIStub, index: int = 0) -> str:
    messages = stub.requests[index]["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


def assert_offline_plan_is_valid(result: Any) -> None:
    """The offline answer to REQUEST: a valid blueprint checking health and posting."""
    assert result.path is PlanPath.OFFLINE
    assert result.blueprint is not None, result.question
    assert validate_blueprint(result.blueprint, make_registry()).ok
    assert [s.tool for s in result.blueprint.steps] == ["svc.health", "slack.post_message"]


# ---------------------------------------------------------------------- the LLM path


def test_the_llm_plans_from_the_retrieved_tools(index, stub):
    stub.add(LLM_BLUEPRINT)
    planner = make_planner(index, stub.base_url, tools_k=3)
    result = planner.plan(f"  {REQUEST}  ")
    assert result.path is PlanPath.LLM
    assert result.request == REQUEST
    assert result.blueprint is not None
    assert result.blueprint.name == "health_to_ops"
    assert result.fallback_reason is None
    assert (result.tokens_in, result.tokens_out) == (100, 20)
    assert result.prompt_id == 3
    assert result.latency_ms > 0
    # The prompt carried exactly the tools retrieval found for the request (tools_k of them).
    retrieved = [hit.name for hit in index.search(REQUEST, 3)]
    assert result.tools_considered == retrieved
    assert {"svc.health", "slack.post_message"} <= set(retrieved)
    [body] = stub.requests
    prompt = system_prompt(stub)
    for name in retrieved:
        assert name in prompt
    for spec in SPECS:
        if spec.name not in retrieved:
            assert spec.name not in prompt
    assert REQUEST in body["messages"][-1]["content"]


def test_the_closest_exemplars_reach_the_prompt(index, stub, tmp_path):
    exemplars = ExemplarIndex(tmp_path / "exemplars", embedding_function=index.embed)
    exemplars.sync([EXEMPLAR])
    stub.add(LLM_BLUEPRINT)
    planner = make_planner(index, stub.base_url, exemplars=exemplars, exemplars_k=1)
    result = planner.plan(REQUEST)
    assert result.path is PlanPath.LLM
    assert result.exemplar_ids == [EXEMPLAR.id]
    assert EXEMPLAR.request in system_prompt(stub)


# ---------------------------------------------------------------------- falling back


def test_an_llm_whose_answers_stay_invalid_falls_back_with_its_tokens(index, stub):
    stub.add("this is not a blueprint", Reply("still not JSON", prompt_tokens=150))
    planner = make_planner(index, stub.base_url, max_repairs=1)
    result = planner.plan(REQUEST)
    assert len(stub.requests) == 2  # the answer and one repair round
    assert_offline_plan_is_valid(result)
    assert result.fallback_reason is not None
    assert result.fallback_reason.startswith("LLM failed (invalid): ")
    assert "after 1 repair round" in result.fallback_reason
    assert (result.tokens_in, result.tokens_out) == (250, 40)  # what the attempt spent
    assert result.repair_rounds == 0  # the offline plan had none
    assert result.latency_ms > 0


def test_an_llm_error_status_falls_back(index, stub):
    stub.add(Reply(status=500, error="the model is on fire"))
    result = make_planner(index, stub.base_url).plan(REQUEST)
    assert_offline_plan_is_valid(result)
    assert result.fallback_reason is not None
    assert result.fallback_reason.startswith("LLM failed (http_error): ")
    assert "the model is on fire" in result.fallback_reason
    assert (result.tokens_in, result.tokens_out) == (0, 0)


def test_an_unreachable_llm_falls_back_at_once(index):
    result = make_planner(index, closed_port_url(), timeout_s=2.0).plan(REQUEST)
    assert_offline_plan_is_valid(result)
    assert result.fallback_reason is not None
    assert result.fallback_reason.startswith("LLM failed (unreachable): ")
    assert result.latency_ms < 2000


def test_a_slow_llm_times_out_and_falls_back(index, stub):
    stub.add(Reply(json.dumps(LLM_BLUEPRINT), delay_s=5))
    result = make_planner(index, stub.base_url, timeout_s=0.5).plan(REQUEST)
    assert_offline_plan_is_valid(result)
    assert result.fallback_reason is not None
    assert result.fallback_reason.startswith("LLM failed (timeout): ")
    assert result.latency_ms < 2500


# ---------------------------------------------------------------------- no LLM


def test_offline_only_never_asks_the_llm(index, stub):
    stub.add(LLM_BLUEPRINT)
    result = make_planner(index, stub.base_url).plan(REQUEST, offline_only=True)
    assert stub.requests == []
    assert_offline_plan_is_valid(result)
    assert result.fallback_reason == "offline requested"
    assert (result.tokens_in, result.tokens_out) == (0, 0)


def test_without_an_llm_the_offline_planner_answers(index):
    result = make_planner(index, None).plan(REQUEST)
    assert_offline_plan_is_valid(result)
    assert result.fallback_reason == "no LLM configured"


@pytest.mark.parametrize("request_text", ["", "   \n\t "])
def test_an_empty_request_is_refused(index, stub, request_text):
    planner = make_planner(index, stub.base_url)
    with pytest.raises(ValueError, match="empty"):
        planner.plan(request_text)
    assert stub.requests == []
