"""SchemaTool: params checked against a JSON Schema; described-only tools fail clearly."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import PermanentToolError, ToolDefinitionError, ToolInputError
from engine.tools import SchemaTool, ToolContext, ToolRegistry, ToolSpec
from engine.validation import validate_blueprint

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "minimum": 1},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def make(call: Any = None, schema: dict[str, Any] | None = None) -> SchemaTool:
    return SchemaTool(ToolSpec(name="weather.get", params_schema=schema or SCHEMA), call)


def codes(tool: SchemaTool, params: dict[str, Any], templated: frozenset[str] = frozenset()):
    return sorted((i.param, i.code) for i in tool.check_params(params, templated))


def test_good_params_have_no_issues() -> None:
    assert codes(make(), {"city": "Oslo", "days": 3}) == []


def test_missing_unknown_and_wrong_type_are_each_named() -> None:
    assert codes(make(), {"cty": "Oslo", "days": "three"}) == [
        ("city", "missing_param"),
        ("cty", "unknown_param"),
        ("days", "invalid_param"),
    ]
    unknown = next(i for i in make().check_params({"cty": "x"}, frozenset()) if i.param == "cty")
    assert "city" in (unknown.hint or "")


def test_templated_params_count_as_present_and_are_not_type_checked() -> None:
    assert (
        codes(
            make(),
            {"city": "{{ inputs.c }}", "days": "{{ inputs.d }}"},
            frozenset({"city", "days"}),
        )
        == []
    )


def test_open_schema_accepts_extra_params() -> None:
    open_schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    assert codes(make(schema=open_schema), {"q": "x", "extra": 1}) == []


def test_bad_schema_is_a_definition_error() -> None:
    with pytest.raises(ToolDefinitionError, match="not valid JSON Schema"):
        make(schema={"type": "object", "properties": {"a": {"type": "no-such-type"}}})


def test_parse_params_raises_input_error_naming_the_param() -> None:
    with pytest.raises(ToolInputError, match="days"):
        make().parse_params({"city": "Oslo", "days": 0})


async def test_invoke_calls_the_connected_function() -> None:
    async def call(params: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        return {"echo": params, "step": ctx.step_id}

    tool = make(call)
    out = await tool.invoke(
        tool.parse_params({"city": "Oslo"}), ToolContext(run_id="r", step_id="s")
    )
    assert out == {"echo": {"city": "Oslo"}, "step": "s"}


async def test_described_only_tool_fails_permanently() -> None:
    with pytest.raises(PermanentToolError, match="described only"):
        await make().invoke({"city": "Oslo"}, ToolContext(run_id="r", step_id="s"))


def test_blueprint_validation_uses_the_schema() -> None:
    registry = ToolRegistry([make()])
    report = validate_blueprint(
        {"name": "w", "steps": [{"id": "a", "tool": "weather.get", "params": {"days": 2}}]},
        registry,
    )
    assert not report.ok
    assert any("city" in str(p) for p in report.problems)
