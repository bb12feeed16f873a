"""Approval gates for high-risk tools: a step calling a tool whose risk is ``high`` waits for
an approver before it runs.

Plans made in Slack get the gate added before they are previewed (so the card shows it and
the stored version keeps it); a stored workflow with an ungated high-risk step may be started
only by an approver.
"""

from __future__ import annotations

from engine.blueprint import Approval, Blueprint
from engine.tools.base import RiskLevel
from engine.tools.registry import ToolRegistry


def ungated_high_risk(blueprint: Blueprint, registry: ToolRegistry) -> list[str]:
    """Ids of the steps that call a high-risk tool and have no approval gate."""
    found: list[str] = []
    for step in blueprint.steps:
        tool = registry.find(step.tool)
        if tool is not None and tool.spec.risk is RiskLevel.HIGH and step.approval is None:
            found.append(step.id)
    return found


def gate_high_risk(blueprint: Blueprint, registry: ToolRegistry, approvers: list[str]) -> Blueprint:
    """``blueprint`` with an approval gate (decided by ``approvers``; empty: anyone allowed
    to run it) on every ungated high-risk step. Unchanged when there is none."""
    ungated = set(ungated_high_risk(blueprint, registry))
    if not ungated:
        return blueprint
    steps = [
        step.model_copy(update={"approval": Approval(approvers=list(approvers))})
        if step.id in ungated
        else step
        for step in blueprint.steps
    ]
    return Blueprint.model_validate(
        {
            **blueprint.model_dump(by_alias=True, exclude_defaults=True),
            "steps": [s.model_dump(by_alias=True, exclude_defaults=True) for s in steps],
        }
    )
