"""ToolRegistry: registering, looking up, suggesting, replacing and merging tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ToolDefinitionError, UnknownToolError
from engine.tools.base import RiskLevel, SideEffect, Tool
from engine.tools.builtin import BuiltinToolsConfig, builtin_registry
from engine.tools.function import FunctionTool, tool
from engine.tools.registry import ToolRegistry


def make_tool(name: str, result: str = "") -> FunctionTool:
    def fn() -> str:
        return result or name

    return FunctionTool(fn, name=name)


@pytest.fixture
def tools() -> ToolRegistry:
    return ToolRegistry(
        [
            make_tool("github.list_prs"),
            make_tool("github.get_pr"),
            make_tool("slack.post_message"),
        ]
    )


def test_register_and_get_return_the_same_tool():
    registry = ToolRegistry()
    item = make_tool("a.b")
    assert registry.register(item) is item
    assert registry.get("a.b") is item
    assert registry.find("a.b") is item
    assert "a.b" in registry
    assert len(registry) == 1


def test_register_a_plain_function_wraps_it_with_defaults():
    registry = ToolRegistry()

    def ping(host: str) -> str:
        """Ping a host."""
        return host

    registered = registry.register(ping)
    assert isinstance(registered, FunctionTool)
    assert registry.get("ping") is registered
    assert registered.spec.description == "Ping a host."
    assert registered.spec.side_effect is SideEffect.NONE
    assert registered.spec.params_schema["required"] == ["host"]


def test_register_a_function_without_type_hints_fails():
    registry = ToolRegistry()

    def bad(x):
        return x

    with pytest.raises(ToolDefinitionError, match="has no type hint"):
        registry.register(bad)
    assert len(registry) == 0


def test_names_specs_and_iteration(tools: ToolRegistry):
    assert tools.names() == ["github.get_pr", "github.list_prs", "slack.post_message"]
    assert [spec.name for spec in tools.specs()] == tools.names()
    assert sorted(t.name for t in tools) == tools.names()
    assert len(tools) == 3


def test_find_returns_none_for_unknown_names(tools: ToolRegistry):
    assert tools.find("github.list_pr") is None
    assert "github.list_pr" not in tools
    assert 42 not in tools


def test_get_unknown_name_suggests_close_names(tools: ToolRegistry):
    with pytest.raises(UnknownToolError) as info:
        tools.get("github.list_pr")
    assert str(info.value).startswith("unknown tool 'github.list_pr' (did you mean github.list_prs")
    assert str(info.value).endswith("?)")


def test_get_unknown_name_lists_equally_close_suggestions():
    registry = ToolRegistry([make_tool("svc.restart_a"), make_tool("svc.restart_b")])
    with pytest.raises(UnknownToolError) as info:
        registry.get("svc.restart_c")
    assert str(info.value) == (
        "unknown tool 'svc.restart_c' (did you mean svc.restart_a, svc.restart_b?)"
    )


def test_get_unknown_name_without_close_match_has_no_hint(tools: ToolRegistry):
    with pytest.raises(UnknownToolError) as info:
        tools.get("zzz")
    assert str(info.value) == "unknown tool 'zzz'"


def test_suggest_returns_closest_names(tools: ToolRegistry):
    assert tools.suggest("slack.post_mesage") == ["slack.post_message"]
    assert tools.suggest("github.get_prs", n=1) == ["github.get_pr"]
    assert tools.suggest("zzz") == []


def test_suggest_falls_back_to_substring_matches(tools: ToolRegistry):
    assert tools.suggest("slack") == ["slack.post_message"]


def test_registering_a_name_twice_is_an_error(tools: ToolRegistry):
    original = tools.get("github.get_pr")
    with pytest.raises(ToolDefinitionError, match=r"a tool named 'github\.get_pr' is already"):
        tools.register(make_tool("github.get_pr"))
    assert tools.get("github.get_pr") is original


def test_constructor_refuses_duplicate_names():
    with pytest.raises(ToolDefinitionError, match="already registered"):
        ToolRegistry([make_tool("x"), make_tool("x")])


def test_replace_swaps_the_tool(tools: ToolRegistry):
    newer = make_tool("github.get_pr", "newer")
    assert tools.register(newer, replace=True) is newer
    assert tools.get("github.get_pr") is newer
    assert len(tools) == 3


def test_unregister_removes_the_tool(tools: ToolRegistry):
    tools.unregister("github.get_pr")
    assert "github.get_pr" not in tools
    assert len(tools) == 2
    with pytest.raises(UnknownToolError, match=r"unknown tool 'github\.get_pr'"):
        tools.get("github.get_pr")


def test_unregister_unknown_name_raises_with_suggestion(tools: ToolRegistry):
    with pytest.raises(UnknownToolError, match=r"did you mean slack\.post_message"):
        tools.unregister("slack.post_messages")
    assert len(tools) == 3


def test_merged_is_a_new_registry_where_the_other_wins(tools: ToolRegistry):
    override = make_tool("github.get_pr", "override")
    extra = make_tool("jira.create_issue")
    other = ToolRegistry([override, extra])

    merged = tools.merged(other)

    assert merged.names() == [
        "github.get_pr",
        "github.list_prs",
        "jira.create_issue",
        "slack.post_message",
    ]
    assert merged.get("github.get_pr") is override
    assert merged.get("jira.create_issue") is extra
    # neither input changed
    assert tools.get("github.get_pr") is not override
    assert "jira.create_issue" not in tools
    assert other.names() == ["github.get_pr", "jira.create_issue"]
    # the merged registry is independent of both
    merged.unregister("github.list_prs")
    assert "github.list_prs" in tools


def test_registry_holds_custom_tool_subclasses():
    @tool("custom.thing")
    def thing() -> int:
        return 1

    registry = ToolRegistry([thing])
    assert isinstance(registry.get("custom.thing"), Tool)


def test_builtin_registry_has_every_builtin_tool(tmp_path: Path):
    registry = builtin_registry(BuiltinToolsConfig(workspace=tmp_path))
    assert registry.names() == [
        "data.transform",
        "file.append",
        "file.read",
        "file.write",
        "http.request",
        "shell.run",
        "text.render",
        "time.sleep",
    ]
    effects = {spec.name: (spec.side_effect, spec.risk) for spec in registry.specs()}
    assert effects["file.read"] == (SideEffect.NONE, RiskLevel.LOW)
    assert effects["file.write"] == (SideEffect.IDEMPOTENT, RiskLevel.LOW)
    assert effects["file.append"] == (SideEffect.MUTATING, RiskLevel.LOW)
    assert effects["http.request"] == (SideEffect.MUTATING, RiskLevel.MEDIUM)
    assert effects["shell.run"] == (SideEffect.MUTATING, RiskLevel.HIGH)
    assert effects["data.transform"][0] is SideEffect.NONE
    # every built-in documents itself and all of its params
    for spec in registry.specs():
        assert spec.description, spec.name
        for name, schema in spec.params_schema.get("properties", {}).items():
            assert schema.get("description"), f"{spec.name}.{name} has no description"
