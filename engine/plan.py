"""The execution plan: a validated blueprint with its templates compiled and its dependency
graph (explicit ``depends_on`` plus references in templates) resolved. Built once per
blueprint and reused by every run of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.blueprint import Blueprint, Step
from engine.records import digest
from engine.templating import Compiled, TemplateEngine, default_engine
from engine.tools.base import Tool
from engine.tools.registry import ToolRegistry
from engine.validation import validate_blueprint


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
    _params_hash: str | None = None

    def constant_params_hash(self) -> str | None:
        """The hash of the params if they contain no template (computed once, on first use)."""
        if self.params.has_templates or self.step.for_each is not None:
            return None
        if self._params_hash is None:
            self._params_hash = digest(self.step.params)
        return self._params_hash

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
    report = validate_blueprint(blueprint, registry, engine=engine)
    report.raise_for_problems()
    steps: dict[str, PlannedStep] = {}
    for index, step in enumerate(blueprint.steps):
        tool = registry.get(step.tool)
        steps[step.id] = PlannedStep(
            step=step,
            index=index,
            tool=tool,
            params=engine.compile_params(step.params, tool.spec.template_params),
            when=engine.compile_condition(step.when) if step.when is not None else None,
            items=engine.compile(step.for_each.items) if step.for_each is not None else None,
            approval_message=(
                engine.compile(step.approval.message)
                if step.approval is not None and step.approval.message
                else None
            ),
            fallback=_call(engine, registry, step, "fallback"),
            compensate=_call(engine, registry, step, "compensate"),
            needs=frozenset(report.dependencies[step.id]),
        )
    for planned in steps.values():
        for need in planned.needs:
            steps[need].dependents.append(planned.id)
    order = report.order
    roots = [sid for sid in order if not steps[sid].needs]
    outputs = {key: engine.compile(value) for key, value in blueprint.outputs.items()}
    return ExecutionPlan(
        blueprint=blueprint, steps=steps, order=order, roots=roots, outputs=outputs
    )


#: A compensation runs while the run is winding up and cannot be interrupted, so it always has
#: a time limit: its own, else its step's, else this.
DEFAULT_COMPENSATION_TIMEOUT_S = 300.0


def _call(
    engine: TemplateEngine, registry: ToolRegistry, step: Step, which: str
) -> PlannedCall | None:
    call = getattr(step, which)
    if call is None:
        return None
    tool = registry.get(call.tool)
    timeout_s = call.timeout_s if call.timeout_s is not None else step.timeout_s
    if timeout_s is None and which == "compensate":
        timeout_s = DEFAULT_COMPENSATION_TIMEOUT_S
    return PlannedCall(
        tool=tool,
        params=engine.compile_params(call.params, tool.spec.template_params),
        timeout_s=timeout_s,
    )
