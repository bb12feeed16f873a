"""``data.transform`` (JMESPath), ``text.render`` (sandboxed Jinja2), ``time.sleep``."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.errors import (
    BlueprintInvalidError,
    PermanentToolError,
    TemplateError,
    TemplateUndefinedError,
    ToolInputError,
    error_category,
)
from engine.records import RunStatus, StepStatus
from engine.templating import TemplateEngine
from engine.tools.base import Tool
from engine.tools.builtin.data import make_data_tools
from engine.tools.builtin.text import make_text_tools
from engine.tools.builtin.timing import make_time_tools
from tests.engine.tools.conftest import call, make_ctx, run_blueprint

PULLS: dict[str, Any] = {
    "items": [
        {"number": 1, "title": "Fix login", "state": "open", "labels": ["bug"]},
        {"number": 2, "title": "Add docs", "state": "merged", "labels": []},
        {"number": 3, "title": "Speed up CI", "state": "open", "labels": ["ci", "perf"]},
    ],
    "total": 3,
}


@pytest.fixture
def transform() -> Tool:
    (item,) = make_data_tools()
    return item


@pytest.fixture
def render() -> Tool:
    (item,) = make_text_tools(TemplateEngine())
    return item


@pytest.fixture
def sleep() -> Tool:
    (item,) = make_time_tools()
    return item


# ------------------------------------------------------------------------------ data.transform


async def test_transform_selects_a_field(transform: Tool):
    assert await call(transform, {"data": PULLS, "expression": "total"}) == 3
    assert await call(transform, {"data": PULLS, "expression": "items[0].title"}) == "Fix login"


async def test_transform_filters(transform: Tool):
    result = await call(transform, {"data": PULLS, "expression": "items[?state=='open'].number"})
    assert result == [1, 3]


async def test_transform_projects_into_new_shapes(transform: Tool):
    result = await call(
        transform,
        {"data": PULLS, "expression": "items[*].{id: number, tags: length(labels)}"},
    )
    assert result == [{"id": 1, "tags": 1}, {"id": 2, "tags": 0}, {"id": 3, "tags": 2}]


async def test_transform_functions_and_flattening(transform: Tool):
    assert await call(transform, {"data": PULLS, "expression": "items[].labels[]"}) == [
        "bug",
        "ci",
        "perf",
    ]
    assert await call(transform, {"data": PULLS, "expression": "max_by(items, &number).title"}) == (
        "Speed up CI"
    )


async def test_transform_missing_path_is_null(transform: Tool):
    assert await call(transform, {"data": PULLS, "expression": "nothing.here"}) is None


async def test_transform_type_error_at_evaluation_is_permanent(transform: Tool):
    with pytest.raises(PermanentToolError, match="JMESPath evaluation failed") as info:
        await call(transform, {"data": {"name": "text"}, "expression": "sum(name)"})
    assert error_category(info.value) == "error"


@pytest.mark.parametrize("expression", ["items[?state==", "items[", "]", "a.b.", "a[?b==`1]"])
def test_invalid_expression_is_refused_at_param_validation(transform: Tool, expression: str):
    with pytest.raises(ToolInputError, match="invalid JMESPath expression"):
        transform.parse_params({"data": {}, "expression": expression})
    (issue,) = transform.check_params({"data": {}, "expression": expression}, frozenset())
    assert issue.param == "expression"
    assert "invalid JMESPath expression" in issue.message


def test_unknown_function_is_refused_at_param_validation(transform: Tool):
    with pytest.raises(ToolInputError) as info:
        transform.parse_params({"data": [], "expression": "lenght(items)"})
    assert "invalid JMESPath expression 'lenght(items)': unknown function 'lenght()'" in str(
        info.value
    )
    assert "did you mean 'length'?" in str(info.value)


def test_templated_expression_is_not_checked_before_rendering(transform: Tool):
    params = {"data": "{{ steps.a.output }}", "expression": "{{ inputs.expr }}"}
    assert transform.check_params(params, frozenset(params)) == []


async def test_transform_through_the_executor(transform: Tool):
    run = await run_blueprint(
        [transform],
        [
            {
                "id": "open",
                "tool": "data.transform",
                "params": {"data": "{{ inputs.pulls }}", "expression": "items[?state=='open']"},
            },
            {
                "id": "titles",
                "tool": "data.transform",
                "params": {"data": "{{ steps.open.output }}", "expression": "[*].title"},
            },
        ],
        declared_inputs={"pulls": {"type": "object"}},
        inputs={"pulls": PULLS},
        outputs={"titles": "{{ steps.titles.output }}"},
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"titles": ["Fix login", "Speed up CI"]}


async def test_invalid_expression_fails_blueprint_validation(transform: Tool):
    with pytest.raises(BlueprintInvalidError, match="invalid JMESPath expression"):
        await run_blueprint(
            [transform],
            [{"id": "t", "tool": "data.transform", "params": {"data": {}, "expression": "a[?"}}],
        )


# ------------------------------------------------------------------------------ text.render


def test_template_is_passed_through_unrendered_by_the_engine(render: Tool):
    assert render.spec.template_params == frozenset({"template"})


async def test_render_uses_variables(render: Tool):
    result = await call(
        render,
        {
            "template": "Deployed {{ service }} to {{ env | upper }} ({{ replicas }} replicas)",
            "variables": {"service": "api", "env": "prod", "replicas": 3},
        },
    )
    assert result == "Deployed api to PROD (3 replicas)"


async def test_render_loops_and_conditions(render: Tool):
    template = (
        "{% for pr in prs if pr.state == 'open' %}#{{ pr.number }} {{ pr.title }}\n{% endfor %}"
    )
    result = await call(render, {"template": template, "variables": {"prs": PULLS["items"]}})
    assert result == "#1 Fix login\n#3 Speed up CI\n"


async def test_render_single_expression_returns_a_string(render: Tool):
    assert await call(render, {"template": "{{ n * 2 }}", "variables": {"n": 21}}) == "42"


async def test_render_plain_text_without_variables(render: Tool):
    assert await call(render, {"template": "no templates here"}) == "no templates here"


async def test_undefined_variable_raises_an_error_naming_it(render: Tool):
    with pytest.raises(TemplateUndefinedError, match="'servce' is undefined") as info:
        await call(render, {"template": "Hello {{ servce }}", "variables": {"service": "api"}})
    assert error_category(info.value) == "template"


async def test_missing_key_raises_an_error_naming_it(render: Tool):
    with pytest.raises(TemplateUndefinedError, match="has no key 'nmae'"):
        await call(render, {"template": "{{ user.nmae }}", "variables": {"user": {"name": "x"}}})


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ x.__class__ }}",
        "{{ x['__globals__'] }}",
        "{{ x | attr('__class__') }}",
        "{{ (x or y)._private }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_unsafe_templates_are_refused_at_param_validation(render: Tool, template: str):
    with pytest.raises(ToolInputError, match="names starting with '_' are not allowed"):
        render.parse_params({"template": template})
    (issue,) = render.check_params({"template": template}, frozenset())
    assert issue.param == "template"
    assert "names starting with '_' are not allowed" in issue.message


def test_template_syntax_error_is_refused_at_param_validation(render: Tool):
    with pytest.raises(ToolInputError, match="template syntax error"):
        render.parse_params({"template": "{{ unclosed "})


async def test_unsafe_access_is_still_refused_at_render_time(render: Tool):
    """Defence in depth: a template that slipped past validation is stopped by the sandbox."""
    parsed = {"template": "{{ ''.__class__ }}", "variables": None}
    with pytest.raises(TemplateError, match="unsafe"):
        await render.invoke(parsed, make_ctx())


async def test_render_through_the_executor_renders_variables_but_not_the_template(render: Tool):
    run = await run_blueprint(
        [render],
        [
            {
                "id": "msg",
                "tool": "text.render",
                "params": {
                    # `who` is not an engine variable: only the tool can render this template
                    "template": "Hello {{ who }}, run {{ 'done' if ok else 'failed' }}",
                    "variables": {"who": "{{ inputs.name }}", "ok": True},
                },
            }
        ],
        declared_inputs={"name": {"type": "string"}},
        inputs={"name": "team"},
        outputs={"message": "{{ steps.msg.output }}"},
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"message": "Hello team, run done"}


async def test_undefined_variable_fails_the_step_in_the_executor(render: Tool):
    run = await run_blueprint(
        [render],
        [{"id": "msg", "tool": "text.render", "params": {"template": "Hi {{ nobody }}"}}],
    )
    assert run.status is RunStatus.FAILED
    (record,) = run.records
    assert record.status is StepStatus.FAILED
    assert record.error_category == "template"
    assert record.error_message is not None
    assert "'nobody' is undefined" in record.error_message


async def test_unsafe_template_fails_blueprint_validation(render: Tool):
    with pytest.raises(BlueprintInvalidError, match="names starting with '_' are not allowed"):
        await run_blueprint(
            [render],
            [{"id": "x", "tool": "text.render", "params": {"template": "{{ ''.__class__ }}"}}],
        )


# ------------------------------------------------------------------------------ time.sleep


async def test_sleep_on_a_virtual_clock_returns_at_once_and_records_it(sleep: Tool):
    clock = VirtualClock()
    started = time.monotonic()
    result = await call(sleep, {"seconds": 1800}, make_ctx(clock=clock))
    assert time.monotonic() - started < 0.5
    assert result == {"slept_s": 1800.0}
    assert clock.sleeps == [1800.0]
    assert clock.monotonic() == 1800.0


async def test_sleep_on_the_real_clock_waits(sleep: Tool):
    started = time.monotonic()
    assert await call(sleep, {"seconds": 0.05}) == {"slept_s": 0.05}
    assert time.monotonic() - started >= 0.04


def test_seconds_is_the_only_param(sleep: Tool):
    assert list(sleep.spec.params_schema["properties"]) == ["seconds"]


@pytest.mark.parametrize("seconds", [-1, -0.001, 3601])
def test_out_of_range_seconds_are_refused(sleep: Tool, seconds: float):
    with pytest.raises(ToolInputError, match="seconds"):
        sleep.parse_params({"seconds": seconds})
    (issue,) = sleep.check_params({"seconds": seconds}, frozenset())
    assert issue.param == "seconds"


async def test_sleep_through_the_executor_uses_its_clock(sleep: Tool):
    clock = VirtualClock()
    run = await run_blueprint(
        [sleep],
        [
            {"id": "wait", "tool": "time.sleep", "params": {"seconds": "{{ inputs.s }}"}},
            {"id": "again", "tool": "time.sleep", "params": {"seconds": 5}, "depends_on": ["wait"]},
        ],
        declared_inputs={"s": {"type": "number"}},
        inputs={"s": 600},
        outputs={"slept": "{{ steps.wait.output.slept_s }}"},
        clock=clock,
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"slept": 600.0}
    assert clock.sleeps == [600.0, 5.0]
    wait, again = run.records
    assert wait.duration_ms == pytest.approx(600_000)
    assert again.duration_ms == pytest.approx(5_000)
