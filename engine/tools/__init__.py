"""Tools: the contract, the ``@tool`` decorator, the registry, and the built-ins."""

from engine.tools.base import (
    Cost,
    CostModel,
    ParamIssue,
    RiskLevel,
    SideEffect,
    Tool,
    ToolContext,
    ToolResult,
    ToolSpec,
)
from engine.tools.function import FunctionTool, tool
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool, ToolCallable

__all__ = [
    "Cost",
    "CostModel",
    "FunctionTool",
    "ParamIssue",
    "RiskLevel",
    "SchemaTool",
    "SideEffect",
    "Tool",
    "ToolCallable",
    "ToolContext",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "tool",
]
