"""Helpers for the tool tests: a context, calling a tool the way the executor does, and running
a small blueprint through the real executor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from engine.blueprint import Blueprint
from engine.clock import Clock
from engine.executor import Executor
from engine.records import RunRecord
from engine.tools.base import Tool, ToolContext
from engine.tools.builtin import BuiltinToolsConfig, builtin_tools
from engine.tools.registry import ToolRegistry


def make_ctx(**overrides: Any) -> ToolContext:
    """A context as the executor would build it for run 'r', step 's'."""
    return ToolContext(run_id="r", step_id="s", **overrides)


async def call(tool: Tool, params: Mapping[str, Any], ctx: ToolContext | None = None) -> Any:
    """Validate ``params`` and invoke ``tool`` with them, like one executor attempt."""
    return await tool.invoke(tool.parse_params(params), ctx or make_ctx())


def tools_for(config: BuiltinToolsConfig) -> dict[str, Tool]:
    """Every built-in tool configured by ``config``, by name."""
    return {item.name: item for item in builtin_tools(config)}


async def run_blueprint(
    tools: Iterable[Tool],
    steps: list[dict[str, Any]],
    *,
    inputs: Mapping[str, Any] | None = None,
    declared_inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> RunRecord:
    """Run a blueprint made of ``steps`` on a fresh executor holding ``tools``."""
    blueprint = Blueprint.model_validate(
        {
            "name": "tool-test",
            "inputs": declared_inputs or {},
            "steps": steps,
            "outputs": outputs or {},
        }
    )
    executor = Executor(ToolRegistry(tools), clock=clock)
    try:
        return await executor.run(blueprint, inputs)
    finally:
        executor.close()


def tree(root: Path) -> list[str]:
    """Every path under ``root``, relative to it, sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The directory file and shell tools are confined to (an existing, resolved path)."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path.resolve()
