"""The ``@tool`` decorator and FunctionTool: schemas, docstrings, calling, checking, errors."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from engine.errors import ToolDefinitionError, ToolInputError, error_category
from engine.records import RunStatus, StepStatus
from engine.tools.base import CostModel, ParamIssue, RiskLevel, SideEffect, ToolContext
from engine.tools.function import FunctionTool, parse_docstring, tool
from tests.engine.tools.conftest import call, make_ctx, run_blueprint

# ------------------------------------------------------------------------------ fixtures


@tool("github.list_pull_requests", side_effect="none")
async def list_pull_requests(
    repo: str,
    state: Literal["open", "merged", "closed"] = "open",
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    labels: list[str] | None = None,
) -> list[dict[str, Any]]:
    """List pull requests of a repository.

    Only the first page is fetched. This second paragraph is not part of the summary.

    Args:
        repo: Repository as owner/name.
        state: Which pull requests to list; "merged" ones are closed too, so
            this continuation line belongs to the description of state.
        limit: At most this many.

    Returns:
        A list of pull requests.
    """
    return [{"repo": repo, "state": state, "limit": limit, "labels": labels or []}]


class PullRequest(BaseModel):
    number: int
    title: str


class Counted(TypedDict):
    count: int
    names: list[str]


def props(t: FunctionTool) -> dict[str, Any]:
    return t.spec.params_schema["properties"]


# ------------------------------------------------------------------------------ the spec


def test_spec_takes_name_side_effect_and_description_from_decorator_and_docstring():
    spec = list_pull_requests.spec
    assert spec.name == "github.list_pull_requests"
    assert spec.side_effect is SideEffect.NONE
    assert spec.risk is RiskLevel.LOW
    assert spec.description == "List pull requests of a repository."


def test_params_schema_follows_type_hints():
    schema = list_pull_requests.spec.params_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["repo"]
    p = schema["properties"]
    assert p["repo"]["type"] == "string"
    assert p["state"]["enum"] == ["open", "merged", "closed"]
    assert p["limit"]["type"] == "integer"
    assert p["labels"]["anyOf"] == [
        {"items": {"type": "string"}, "type": "array"},
        {"type": "null"},
    ]


def test_params_schema_has_defaults():
    p = props(list_pull_requests)
    assert "default" not in p["repo"]
    assert p["state"]["default"] == "open"
    assert p["limit"]["default"] == 20
    assert p["labels"]["default"] is None


def test_param_descriptions_come_from_the_args_section():
    p = props(list_pull_requests)
    assert p["repo"]["description"] == "Repository as owner/name."
    assert p["state"]["description"] == (
        'Which pull requests to list; "merged" ones are closed too, so this continuation line '
        "belongs to the description of state."
    )
    assert p["limit"]["description"] == "At most this many."
    assert "description" not in p["labels"]  # undocumented


def test_annotated_field_constraints_appear_in_schema_and_are_enforced():
    p = props(list_pull_requests)
    assert p["limit"]["minimum"] == 1
    assert p["limit"]["maximum"] == 100
    with pytest.raises(ToolInputError, match=r"limit: Input should be less than or equal to 100"):
        list_pull_requests.parse_params({"repo": "a/b", "limit": 101})
    with pytest.raises(ToolInputError, match=r"limit: Input should be greater than or equal to 1"):
        list_pull_requests.parse_params({"repo": "a/b", "limit": 0})


def test_annotated_field_description_is_kept_when_docstring_is_silent():
    @tool
    def f(
        a: Annotated[int, Field(description="from the annotation", ge=0)],
        b: Annotated[int, Field(description="annotation wins")] = 1,
    ) -> int:
        """Add.

        Args:
            b: docstring loses.
        """
        return a + b

    assert props(f)["a"]["description"] == "from the annotation"
    assert props(f)["a"]["minimum"] == 0
    assert props(f)["b"]["description"] == "annotation wins"
    assert props(f)["b"]["default"] == 1


def test_field_default_with_constraints_and_docstring_description():
    @tool
    def f(
        count: int = Field(5, ge=1, le=10), note: str = Field("x", description="explicit")
    ) -> str:
        """Repeat.

        Args:
            count: How many times.
            note: Docstring text is ignored when the Field has one.
        """
        return note * count

    p = props(f)
    assert p["count"] == {
        "default": 5,
        "description": "How many times.",
        "maximum": 10,
        "minimum": 1,
        "title": "Count",
        "type": "integer",
    }
    assert p["note"]["description"] == "explicit"
    assert f.parse_params({}) == {"count": 5, "note": "x"}
    with pytest.raises(ToolInputError, match="count"):
        f.parse_params({"count": 11})


def test_parse_docstring_handles_typed_args_other_sections_and_no_docstring():
    description, params = parse_docstring(
        """Summary line
        wrapped here.

        Args:
            name (str): The name.
            *items: Ignored stars.

        Raises:
            ValueError: not a param.
        """
    )
    assert description == "Summary line wrapped here."
    assert params == {"name": "The name.", "items": "Ignored stars."}
    assert parse_docstring(None) == ("", {})


def test_explicit_description_overrides_docstring():
    @tool("x.y", description="Explicit.")
    def f() -> None:
        """From the docstring."""

    assert f.spec.description == "Explicit."


def test_decorator_options_reach_the_spec():
    @tool(
        "deploy.service",
        side_effect="mutating",
        risk="high",
        max_concurrency=2,
        cost_model=CostModel(usd_per_call=0.5),
    )
    async def deploy(service: str) -> None:
        """Deploy."""

    spec = deploy.spec
    assert spec.side_effect is SideEffect.MUTATING
    assert spec.risk is RiskLevel.HIGH
    assert spec.max_concurrency == 2
    assert spec.cost_model == CostModel(usd_per_call=0.5)
    assert spec.template_params == frozenset()


def test_bare_decorator_and_empty_call_use_the_function_name():
    @tool
    def first(x: int) -> int:
        return x

    @tool()
    def second(x: int) -> int:
        return x

    assert isinstance(first, FunctionTool)
    assert first.name == "first"
    assert second.name == "second"
    assert first.spec.params_schema["title"] == "FirstParams"


def test_tool_stays_callable_as_a_plain_function():
    @tool
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1) == 3
    assert add(1, b=5) == 6


# ------------------------------------------------------------------------------ definition errors


def test_missing_type_hint_is_a_definition_error():
    def f(repo, limit: int = 1) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"tool 'f': parameter 'repo' has no type hint"):
        tool(f)


def test_var_args_are_a_definition_error():
    def f(*args: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"\*args/\*\*kwargs \('args'\)") as info:
        tool(f)
    assert "declare each parameter" in str(info.value)


def test_var_kwargs_are_a_definition_error():
    def f(a: int, **options: Any) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"\('options'\) cannot be described"):
        tool(f)


def test_positional_only_param_is_a_definition_error():
    def f(a: int, /, b: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="parameter 'a' is positional-only"):
        tool(f)


@pytest.mark.parametrize("name", ["1abc", "has space", "a..b", "trailing.", ".lead", "a/b", "-x"])
def test_invalid_tool_name_is_a_definition_error(name: str):
    def f() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="is invalid: use letters, digits"):
        FunctionTool(f, name=name)


@pytest.mark.parametrize("name", ["a", "github.list_prs", "k8s.get-pods", "A1.b_2.c-3"])
def test_valid_tool_names_are_accepted(name: str):
    def f() -> None:
        pass

    assert FunctionTool(f, name=name).name == name


def test_template_params_must_name_parameters():
    with pytest.raises(
        ToolDefinitionError, match=r"tool 'render': template_params \['body', 'nope'\] are not"
    ):

        @tool("render", template_params=("nope", "text", "body"))
        def render(text: str) -> str:
            return text


def test_template_params_naming_the_context_param_is_an_error():
    with pytest.raises(ToolDefinitionError, match=r"\['ctx'\] are not parameters"):

        @tool("t", template_params=("ctx",))
        def t(ctx: ToolContext) -> None:
            pass


def test_unresolvable_type_hint_is_a_definition_error():
    def f(a: NoSuchType) -> None:  # noqa: F821
        pass

    with pytest.raises(ToolDefinitionError, match="cannot read type hints"):
        tool(f)


def test_invalid_side_effect_or_risk_is_a_definition_error():
    def f() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="side_effect 'sometimes' is invalid"):
        FunctionTool(f, side_effect="sometimes")
    with pytest.raises(ToolDefinitionError, match=r"risk 'extreme' is invalid.*low, medium, high"):
        FunctionTool(f, risk="extreme")


# ------------------------------------------------------------------------------ check_params


def test_check_params_accepts_valid_params():
    assert list_pull_requests.check_params({"repo": "a/b", "state": "merged"}, frozenset()) == []


def test_check_params_unknown_param_gets_did_you_mean_hint():
    issues = list_pull_requests.check_params({"repo": "a/b", "stat": "open"}, frozenset())
    assert issues == [
        ParamIssue(
            "stat",
            "unknown_param",
            "'github.list_pull_requests' has no parameter 'stat'",
            "did you mean 'state'?",
        )
    ]


def test_check_params_unknown_param_without_close_match_lists_the_params():
    (issue,) = list_pull_requests.check_params({"repo": "a/b", "zzzzzz": 1}, frozenset())
    assert issue.code == "unknown_param"
    assert issue.hint == "its parameters are: repo, state, limit, labels"


def test_check_params_unknown_param_for_tool_without_params():
    @tool
    def ping() -> str:
        return "pong"

    (issue,) = ping.check_params({"host": "x"}, frozenset())
    assert issue.hint == "it takes no parameters"


def test_check_params_reports_missing_required_param():
    assert list_pull_requests.check_params({"state": "open"}, frozenset()) == [
        ParamIssue("repo", "missing_param", "required parameter 'repo' is missing")
    ]


def test_check_params_reports_invalid_literal_value():
    (issue,) = list_pull_requests.check_params({"repo": "a/b", "state": "draft"}, frozenset())
    assert issue.param == "state"
    assert issue.code == "invalid_param"
    assert "'open', 'merged' or 'closed'" in issue.message


def test_check_params_locates_nested_errors():
    (issue,) = list_pull_requests.check_params({"repo": "a/b", "labels": ["ok", 3]}, frozenset())
    assert issue.param == "labels.1"
    assert issue.code == "invalid_param"


def test_check_params_skips_templated_params():
    templated = frozenset({"state", "limit"})
    params = {"repo": "a/b", "state": "{{ inputs.state }}", "limit": "{{ inputs.n }}"}
    assert list_pull_requests.check_params(params, templated) == []


def test_check_params_counts_templated_required_param_as_present():
    assert list_pull_requests.check_params({"repo": "{{ x }}"}, frozenset({"repo"})) == []


def test_check_params_still_reports_literal_errors_next_to_templated_params():
    issues = list_pull_requests.check_params(
        {"repo": "{{ x }}", "state": "draft", "stat": 1}, frozenset({"repo"})
    )
    assert sorted((i.param, i.code) for i in issues) == [
        ("stat", "unknown_param"),
        ("state", "invalid_param"),
    ]


# ------------------------------------------------------------------------------ parse_params


def test_parse_params_fills_defaults_and_coerces():
    assert list_pull_requests.parse_params({"repo": "a/b", "limit": "7"}) == {
        "repo": "a/b",
        "state": "open",
        "limit": 7,
        "labels": None,
    }


def test_parse_params_error_names_the_field():
    with pytest.raises(ToolInputError) as info:
        list_pull_requests.parse_params({"repo": "a/b", "state": "draft"})
    message = str(info.value)
    assert message.startswith("invalid params for 'github.list_pull_requests': state: ")
    assert "'open', 'merged' or 'closed'" in message
    assert error_category(info.value) == "invalid_params"


def test_parse_params_error_lists_every_problem():
    with pytest.raises(ToolInputError) as info:
        list_pull_requests.parse_params({"limit": "many", "extra": 1})
    message = str(info.value)
    assert "repo: Field required" in message
    assert "limit: Input should be a valid integer" in message
    assert "extra: Extra inputs are not permitted" in message


# ------------------------------------------------------------------------------ invoking


async def test_async_function_is_awaited_on_the_event_loop():
    loop_thread = threading.get_ident()

    @tool
    async def where(x: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"x": x, "thread": threading.get_ident()}

    result = await call(where, {"x": 3})
    assert result == {"x": 3, "thread": loop_thread}


async def test_sync_function_runs_in_a_thread_without_blocking_the_event_loop():
    release = threading.Event()
    seen: dict[str, Any] = {}

    @tool
    def blocking(x: int) -> int:
        seen["thread"] = threading.get_ident()
        # If this ran on the event loop thread, nobody could set the event: it would time out.
        seen["released"] = release.wait(timeout=1.5)
        return x * 2

    task = asyncio.create_task(call(blocking, {"x": 21}))
    await asyncio.sleep(0.05)  # the loop keeps turning while the tool blocks in its thread
    assert not task.done()
    release.set()
    assert await task == 42
    assert seen["released"] is True
    assert seen["thread"] != threading.get_ident()


async def test_sync_function_uses_the_context_thread_pool():
    @tool
    def name_of_thread() -> str:
        return threading.current_thread().name

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kaizen-test-pool") as pool:
        result = await call(name_of_thread, {}, make_ctx(thread_pool=pool))
    assert result.startswith("kaizen-test-pool")


async def test_context_param_is_excluded_from_schema_and_receives_the_context():
    @tool("ctx.echo")
    async def echo(message: str, context: ToolContext) -> dict[str, Any]:
        return {
            "message": message,
            "run": context.run_id,
            "step": context.step_id,
            "attempt": context.attempt,
            "item": context.item_index,
        }

    assert echo.context_param == "context"
    assert list(props(echo)) == ["message"]
    assert echo.spec.params_schema["required"] == ["message"]
    assert echo.parse_params({"message": "hi"}) == {"message": "hi"}
    ctx = ToolContext(run_id="run-9", step_id="step-3", attempt=2, item_index=4)
    assert await call(echo, {"message": "hi"}, ctx) == {
        "message": "hi",
        "run": "run-9",
        "step": "step-3",
        "attempt": 2,
        "item": 4,
    }


async def test_context_is_passed_to_sync_functions_too():
    @tool
    def step_of(ctx: ToolContext) -> str:
        return ctx.step_id

    assert await call(step_of, {}, make_ctx()) == "s"


def test_context_cannot_be_given_as_a_param():
    @tool
    def step_of(ctx: ToolContext) -> str:
        return ctx.step_id

    (issue,) = step_of.check_params({"ctx": "x"}, frozenset())
    assert issue.code == "unknown_param"
    with pytest.raises(ToolInputError, match="ctx: Extra inputs are not permitted"):
        step_of.parse_params({"ctx": "x"})


async def test_exceptions_from_the_function_propagate():
    @tool
    async def boom() -> None:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        await call(boom, {})


# ------------------------------------------------------------------------------ outputs


def test_output_schema_from_return_annotation():
    @tool
    def numbers() -> list[int]:
        return [1]

    assert numbers.spec.output_schema == {"type": "array", "items": {"type": "integer"}}
    assert numbers.check_output([1, 2]) is None


def test_check_output_reports_mismatch_with_location():
    @tool
    def numbers() -> list[int]:
        return [1]

    message = numbers.check_output([1, "two"])
    assert message is not None
    assert message.startswith("output does not match the declared type (1: ")
    assert "valid integer" in message


def test_check_output_of_typed_dict_names_the_missing_key():
    @tool
    def counted() -> Counted:
        return {"count": 1, "names": ["a"]}

    assert counted.spec.output_schema is not None
    assert counted.spec.output_schema["required"] == ["count", "names"]
    assert counted.check_output({"count": 1, "names": []}) is None
    message = counted.check_output({"count": 1})
    assert message is not None
    assert "names: Field required" in message


@pytest.mark.parametrize("annotation", [Any, None])
def test_no_output_schema_for_any_or_none(annotation: Any):
    def f() -> None:
        return None

    f.__annotations__["return"] = annotation
    t = tool(f)
    assert t.spec.output_schema is None
    assert t.output_adapter is None
    assert t.check_output({"anything": 1}) is None


def test_no_output_schema_without_return_annotation():
    def f(x: int):
        return x

    t = tool(f)
    assert t.spec.output_schema is None
    assert t.check_output("whatever") is None


async def test_pydantic_model_output():
    @tool("github.get_pr")
    async def get_pr(number: int) -> PullRequest:
        return PullRequest(number=number, title=f"PR {number}")

    schema = get_pr.spec.output_schema
    assert schema is not None
    assert schema["properties"]["number"]["type"] == "integer"
    assert schema["required"] == ["number", "title"]
    result = await call(get_pr, {"number": 7})
    assert result == PullRequest(number=7, title="PR 7")
    assert get_pr.check_output(result) is None
    assert get_pr.check_output({"number": 7, "title": "x"}) is None
    message = get_pr.check_output({"number": "seven", "title": "x"})
    assert message is not None
    assert "(number: " in message


# -------------------------------------------------------------------------- through the executor


async def test_function_tool_through_the_executor():
    @tool("github.get_pr")
    async def get_pr(number: int, ctx: ToolContext) -> PullRequest:
        return PullRequest(number=number, title=f"{ctx.step_id}:{number}")

    run = await run_blueprint(
        [get_pr],
        [{"id": "pr", "tool": "github.get_pr", "params": {"number": "{{ inputs.n }}"}}],
        declared_inputs={"n": {"type": "integer"}},
        inputs={"n": 12},
        outputs={"pr": "{{ steps.pr.output }}", "title": "{{ steps.pr.output.title }}"},
    )
    assert run.status is RunStatus.SUCCEEDED
    assert run.outputs == {"pr": {"number": 12, "title": "pr:12"}, "title": "pr:12"}
    (record,) = run.records
    assert record.status is StepStatus.SUCCEEDED
    assert record.tool == "github.get_pr"
    assert record.issues == []
    assert record.confidence == 1.0


async def test_output_mismatch_through_the_executor_is_an_issue_not_a_failure():
    @tool
    def numbers() -> list[int]:
        return ["not", "ints"]

    run = await run_blueprint([numbers], [{"id": "n", "tool": "numbers"}])
    assert run.status is RunStatus.SUCCEEDED
    (record,) = run.records
    assert any(i.startswith("output does not match the declared type") for i in record.issues)
    assert record.confidence == 0.5


async def test_invalid_rendered_params_fail_the_step_as_invalid_params():
    run = await run_blueprint(
        [list_pull_requests],
        [
            {
                "id": "prs",
                "tool": "github.list_pull_requests",
                "params": {"repo": "a/b", "limit": "{{ inputs.limit }}"},
            }
        ],
        declared_inputs={"limit": {"type": "integer"}},
        inputs={"limit": 1000},
    )
    assert run.status is RunStatus.FAILED
    (record,) = run.records
    assert record.status is StepStatus.FAILED
    assert record.error_class == "ToolInputError"
    assert record.error_category == "invalid_params"
    assert record.error_message is not None
    assert "limit: Input should be less than or equal to 100" in record.error_message
