"""Kaizen's engine: blueprints, validation, templating, the async executor, tools and traces.

Pure core: it imports nothing from ``knowledge`` or ``bot`` and no Slack, SQL or LLM code.

    registry = builtin_registry()
    blueprint = load_blueprint("release_notes.yaml", registry)
    record = await Executor(registry).run(blueprint, {"repo": "acme/api"})
"""

from engine.approvals import ApprovalDecision, ApprovalRequest
from engine.blueprint import (
    Approval,
    Blueprint,
    ForEach,
    InputSpec,
    OnError,
    RetryPolicy,
    Step,
    ToolCall,
)
from engine.clock import Clock, SystemClock, VirtualClock
from engine.errors import (
    ApprovalError,
    BlueprintInvalidError,
    KaizenError,
    PermanentToolError,
    TemplateError,
    ToolError,
    ToolInputError,
    ToolTimeoutError,
    TransientToolError,
)
from engine.events import EventSink, FanoutSink, MemorySink, NullSink, RunEvent
from engine.executor import Executor, RunHandle
from engine.inputs import resolve_inputs
from engine.loading import (
    check_blueprint_file,
    dump_blueprint_yaml,
    load_blueprint,
    loads_blueprint,
    parse_blueprint_text,
)
from engine.plan import ExecutionPlan, build_plan
from engine.problems import Problem
from engine.records import RecordKind, RunRecord, RunStatus, StepRecord, StepStatus
from engine.tools import (
    Cost,
    CostModel,
    FunctionTool,
    RiskLevel,
    SideEffect,
    Tool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    ToolSpec,
    tool,
)
from engine.tools.builtin import BuiltinToolsConfig, builtin_registry, builtin_tools
from engine.validation import ValidationReport, validate_blueprint

__all__ = [
    "Approval",
    "ApprovalDecision",
    "ApprovalError",
    "ApprovalRequest",
    "Blueprint",
    "BlueprintInvalidError",
    "BuiltinToolsConfig",
    "Clock",
    "Cost",
    "CostModel",
    "EventSink",
    "ExecutionPlan",
    "Executor",
    "FanoutSink",
    "ForEach",
    "FunctionTool",
    "InputSpec",
    "KaizenError",
    "MemorySink",
    "NullSink",
    "OnError",
    "PermanentToolError",
    "Problem",
    "RecordKind",
    "RetryPolicy",
    "RiskLevel",
    "RunEvent",
    "RunHandle",
    "RunRecord",
    "RunStatus",
    "SideEffect",
    "Step",
    "StepRecord",
    "StepStatus",
    "SystemClock",
    "TemplateError",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolInputError",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "ToolTimeoutError",
    "TransientToolError",
    "ValidationReport",
    "VirtualClock",
    "build_plan",
    "builtin_registry",
    "builtin_tools",
    "check_blueprint_file",
    "dump_blueprint_yaml",
    "load_blueprint",
    "loads_blueprint",
    "parse_blueprint_text",
    "resolve_inputs",
    "tool",
    "validate_blueprint",
]
