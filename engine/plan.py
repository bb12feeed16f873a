"""The execution plan: a validated blueprint with its templates compiled and its dependency
graph (explicit ``depends_on`` plus references in templates) resolved. Built once per
blueprint and reused by every run of it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine.analysis import referenced_steps, site_references, template_sites
from engine.blueprint import Blueprint, Step
from engine.templating import Compiled, TemplateEngine, default_engine
from engine.tools.base import Tool
from engine.tools.registry import ToolRegistry
from engine.validation import ensure_valid


@dataclass(slots=True)
class PlannedCall:
    """A fallback or compensation call, ready to render."""

    tool: Tool
    params: Compiled
    timeout_s: float | None


@dataclass(slots=True)
class PlannedStep:
    step: Step
    index: int
    tool: Tool
    params: Compiled
    when: Compiled | None
    items: Compiled | None
    approval_message: Compiled | None
    fallback: PlannedCall | None
    compensate: PlannedCall | None
    needs: frozenset[str]
    dependents: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.step.id


@dataclass(slots=True)
class ExecutionPlan:
    blueprint: Blueprint
    steps: dict[str, PlannedStep]
    order: list[str]
    """A topological order (dependencies first), stable with respect to the blueprint."""
    roots: list[str]
    outputs: dict[str, Compiled]


def build_plan(
    blueprint: Blueprint, registry: ToolRegistry, engine: TemplateEngine | None = None
) -> ExecutionPlan:
    """Validate ``blueprint`` against ``registry`` and compile it.

    Raises :class:`~engine.errors.BlueprintInvalidError` listing every problem.
    """
    engine = engine or default_engine()
    ensure_valid(blueprint, registry)
    steps: dict[str, PlannedStep] = {}
    for index, step in enumerate(blueprint.steps):
        tool = registry.get(step.tool)
        fallback = _call(engine, registry, step, "fallback")
        compensate = _call(engine, registry, step, "compensate")
        raw_fallback = fallback.tool.spec.template_params if fallback else frozenset()
        needs = set(step.depends_on)
        for site in template_sites(step, tool.spec.template_params, raw_fallback):
            needs |= referenced_steps(site_references(engine, site))
        needs.discard(step.id)
        steps[step.id] = PlannedStep(
            step=step,
            index=index,
            tool=tool,
            params=engine.compile_params(step.params, tool.spec.template_params),
            when=engine.compile_condition(step.when) if step.when is not None else None,
            items=(
                engine.compile_condition(step.for_each.items)
                if step.for_each is not None and isinstance(step.for_each.items, str)
                else engine.compile(step.for_each.items)
                if step.for_each is not None
                else None
            ),
            approval_message=(
                engine.compile(step.approval.message)
                if step.approval is not None and step.approval.message
                else None
            ),
            fallback=fallback,
            compensate=compensate,
            needs=frozenset(needs),
        )
    for planned in steps.values():
        for need in planned.needs:
            steps[need].dependents.append(planned.id)
    order = _topological(steps)
    roots = [sid for sid in order if not steps[sid].needs]
    outputs = {key: engine.compile(value) for key, value in blueprint.outputs.items()}
    return ExecutionPlan(
        blueprint=blueprint, steps=steps, order=order, roots=roots, outputs=outputs
    )


def _call(
    engine: TemplateEngine, registry: ToolRegistry, step: Step, which: str
) -> PlannedCall | None:
    call = getattr(step, which)
    if call is None:
        return None
    tool = registry.get(call.tool)
    return PlannedCall(
        tool=tool,
        params=engine.compile_params(call.params, tool.spec.template_params),
        timeout_s=call.timeout_s if call.timeout_s is not None else step.timeout_s,
    )


def _topological(steps: dict[str, PlannedStep]) -> list[str]:
    remaining = {sid: len(p.needs) for sid, p in steps.items()}
    ready = deque(sid for sid, count in remaining.items() if count == 0)
    order: list[str] = []
    while ready:
        current = ready.popleft()
        order.append(current)
        for dependent in steps[current].dependents:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                ready.append(dependent)
    return order
