"""Blueprint validation that reports every problem at once, each with its location.

Blueprints are often written by an LLM, so they are assumed to be wrong in many ways at once:
structure (field types, unknown fields), tools (unknown names, params that do not fit), the
graph (missing or duplicate steps, cycles) and templates (syntax, unknown inputs and steps,
unsafe attribute access). The messages are plain enough to feed back to the LLM for repair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.analysis import (
    TemplateSite,
    find_cycles,
    format_cycle,
    output_sites,
    referenced_steps,
    site_references,
    template_sites,
    topological_order,
)
from engine.blueprint import TEMPLATE_ROOTS, Blueprint, InputSpec, Step
from engine.errors import BlueprintInvalidError, TemplateError
from engine.inputs import input_type_problem
from engine.problems import Problem, did_you_mean, join_loc
from engine.templating import (
    STEP_VIEW_FIELDS,
    Reference,
    TemplateEngine,
    default_engine,
    is_template,
)
from engine.tools.base import Tool
from engine.tools.registry import ToolRegistry

RUN_FIELDS = frozenset({"id", "name"})


class ValidationReport(BaseModel):
    """The outcome of validating a blueprint: the model (when it parsed) and every problem."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    blueprint: Blueprint | None = None
    problems: list[Problem] = []
    dependencies: dict[str, set[str]] = {}
    """For each step, the steps it depends on: ``depends_on`` plus template references."""
    order: list[str] = []
    """The steps in an order that respects their dependencies (when there is no cycle)."""

    @property
    def ok(self) -> bool:
        return self.blueprint is not None and not self.problems

    def raise_for_problems(self) -> Blueprint:
        """The blueprint, or :class:`BlueprintInvalidError` listing every problem."""
        if not self.ok or self.blueprint is None:
            raise BlueprintInvalidError(self.problems)
        return self.blueprint

    def summary(self) -> str:
        if self.ok:
            return "blueprint is valid"
        return "\n".join(str(p) for p in self.problems)


def validate_blueprint(
    data: Mapping[str, Any] | Blueprint,
    registry: ToolRegistry | None = None,
    *,
    engine: TemplateEngine | None = None,
) -> ValidationReport:
    """Check ``data`` (a parsed YAML/JSON mapping or a model) against ``registry``.

    Without a registry, tool names and params are not checked.
    """
    return _Validator(registry, engine or default_engine()).run(data)


def ensure_valid(
    data: Mapping[str, Any] | Blueprint,
    registry: ToolRegistry | None = None,
    *,
    engine: TemplateEngine | None = None,
) -> Blueprint:
    """The validated blueprint, or :class:`BlueprintInvalidError` with every problem."""
    return validate_blueprint(data, registry, engine=engine).raise_for_problems()


# ------------------------------------------------------------------------------------------


def pydantic_problems(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[Problem]:
    """Turn pydantic's errors into located problems with typo hints for unknown fields."""
    problems = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        parts = [p for p in loc if not (isinstance(p, str) and p in ("str", "list[any]"))]
        message = err["msg"].removeprefix("Value error, ")
        hint = None
        code = err["type"]
        if code == "extra_forbidden" and parts:
            field = str(parts[-1])
            parent = _model_at(parts[:-1])
            hint = did_you_mean(field, _aliases(parent)) if parent else None
            message = f"unknown field '{field}'"
        elif code == "missing" and parts:
            message = f"required field '{parts[-1]}' is missing"
        problems.append(Problem(loc=join_loc(*parts), code=code, message=message, hint=hint))
    return problems


def _aliases(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_at(parts: list[str | int]) -> type[BaseModel] | None:
    """The model class found at a location like ``steps[2].retry``."""
    from engine.blueprint import Approval, ForEach, RetryPolicy, ToolCall

    by_field: dict[str, type[BaseModel]] = {
        "retry": RetryPolicy,
        "fallback": ToolCall,
        "compensate": ToolCall,
        "for_each": ForEach,
        "approval": Approval,
    }
    names = [p for p in parts if isinstance(p, str)]
    if not names:
        return Blueprint
    if names == ["steps"]:
        return Step
    if names[0] == "inputs":
        return InputSpec
    return by_field.get(names[-1])


class _Validator:
    def __init__(self, registry: ToolRegistry | None, engine: TemplateEngine) -> None:
        self.registry = registry
        self.engine = engine
        self.problems: list[Problem] = []
        self.order: list[str] = []

    def add(self, loc: str, code: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(loc=loc, code=code, message=message, hint=hint))

    # ------------------------------------------------------------------ structure

    def run(self, data: Mapping[str, Any] | Blueprint) -> ValidationReport:
        if isinstance(data, Blueprint):
            blueprint: Blueprint | None = data
            steps = list(enumerate(data.steps))
            inputs = data.inputs
            outputs = data.outputs
            all_ids = [s.id for s in data.steps]
        else:
            if not isinstance(data, Mapping):
                self.add(
                    "", "not_a_mapping", f"a blueprint must be a mapping, not {type(data).__name__}"
                )
                return ValidationReport(problems=self.problems)
            blueprint, steps, inputs, outputs, all_ids = self._parse(data)
        dependencies = self._check_semantics(steps, inputs, outputs, all_ids)
        # Built from values made here; re-validating 200 dependency sets would only copy them.
        return ValidationReport.model_construct(
            blueprint=blueprint if not self.problems else None,
            problems=self.problems,
            dependencies=dependencies,
            order=self.order,
        )

    def _parse(
        self, data: Mapping[str, Any]
    ) -> tuple[
        Blueprint | None, list[tuple[int, Step]], dict[str, InputSpec], dict[str, Any], list[str]
    ]:
        try:
            blueprint = Blueprint.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(pydantic_problems(exc))
        else:
            return (
                blueprint,
                list(enumerate(blueprint.steps)),
                blueprint.inputs,
                blueprint.outputs,
                [s.id for s in blueprint.steps],
            )
        # Keep checking what did parse, so one broken step does not hide the others' problems.
        raw_steps = data.get("steps")
        steps: list[tuple[int, Step]] = []
        all_ids: list[str] = []
        if isinstance(raw_steps, list):
            for index, raw in enumerate(raw_steps):
                if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
                    all_ids.append(raw["id"])
                salvaged = _salvage_step(raw)
                if salvaged is not None:
                    steps.append((index, salvaged))
        inputs: dict[str, InputSpec] = {}
        raw_inputs = data.get("inputs")
        if isinstance(raw_inputs, Mapping):
            for name, raw in raw_inputs.items():
                try:
                    inputs[str(name)] = InputSpec.model_validate(raw if raw is not None else {})
                except ValidationError:
                    inputs[str(name)] = InputSpec(type="any")
        raw_outputs = data.get("outputs")
        outputs = dict(raw_outputs) if isinstance(raw_outputs, Mapping) else {}
        return None, steps, inputs, outputs, all_ids

    # ------------------------------------------------------------------ semantics

    def _check_semantics(
        self,
        steps: list[tuple[int, Step]],
        inputs: Mapping[str, InputSpec],
        outputs: Mapping[str, Any],
        all_ids: list[str],
    ) -> dict[str, set[str]]:
        for name, spec in inputs.items():
            self._check_input(name, spec)
        first_index: dict[str, int] = {}
        for index, step in steps:
            if step.id in first_index:
                self.add(
                    join_loc("steps", index, "id"),
                    "duplicate_step",
                    f"duplicate step id '{step.id}' "
                    f"(already used by steps[{first_index[step.id]}])",
                )
            else:
                first_index[step.id] = index
        known_ids = set(all_ids)
        deps: dict[str, set[str]] = {step_id: set() for step_id in first_index}
        for index, step in steps:
            implied = self._check_step(index, step, inputs, known_ids)
            if step.id in first_index and first_index[step.id] == index:
                deps[step.id] |= implied
                for dep_index, dep in enumerate(step.depends_on):
                    if dep in known_ids and dep != step.id:
                        deps[step.id].add(dep)
                        continue
                    loc = join_loc("steps", index, "depends_on", dep_index)
                    if dep == step.id:
                        self.add(loc, "self_dependency", f"step '{step.id}' depends on itself")
                    else:
                        self.add(
                            loc,
                            "unknown_step",
                            f"depends_on names step '{dep}', which does not exist",
                            did_you_mean(dep, known_ids),
                        )
        # Cycles are printed in the order steps would run: a → b means b needs a.
        flow: dict[str, list[str]] = {step_id: [] for step_id in deps}
        for step_id, needs in deps.items():
            if not needs <= flow.keys():  # steps that did not parse are not in the graph
                needs &= flow.keys()
            for need in needs:
                flow[need].append(step_id)
        self.order = topological_order(deps, flow)
        if len(self.order) == len(deps):
            cycles: list[list[str]] = []
        else:  # only the steps Kahn's algorithm could not order can be on a cycle
            ordered = set(self.order)
            rest = {s: {d for d in flow[s] if d not in ordered} for s in deps if s not in ordered}
            cycles = find_cycles(rest)
        for cycle in cycles:
            self.add(
                join_loc("steps", first_index[cycle[0]]),
                "cycle",
                f"dependency cycle: {format_cycle(cycle)}",
                "a step cannot (directly or through templates) need its own result",
            )
        for site in output_sites(outputs):
            self._check_template(f"outputs.{site.loc}", site, None, inputs, known_ids, None)
        return deps

    def _check_input(self, name: str, spec: InputSpec) -> None:
        loc = join_loc("inputs", name)
        if "default" in spec.model_fields_set and spec.default is not None:
            problem = input_type_problem(spec, spec.default)
            if problem:
                self.add(f"{loc}.default", "invalid_default", problem)

    def _tool(self, loc: str, name: str) -> Tool | None:
        if self.registry is None:
            return None
        found = self.registry.find(name)
        if found is None:
            hint = did_you_mean(name, self.registry.names())
            self.add(loc, "unknown_tool", f"unknown tool '{name}'", hint)
        return found

    def _check_params(self, loc: str, tool: Tool, params: Mapping[str, Any]) -> None:
        raw = tool.spec.template_params
        templated = (
            frozenset(
                [k for k, value in params.items() if k not in raw and _contains_template(value)]
            )
            if params
            else frozenset()
        )
        for issue in tool.check_params(params, templated):
            self.add(
                f"{loc}.{issue.param}" if issue.param else loc,
                issue.code,
                issue.message,
                issue.hint,
            )

    def _check_step(
        self, index: int, step: Step, inputs: Mapping[str, InputSpec], known_ids: set[str]
    ) -> set[str]:
        base = join_loc("steps", index)
        tool = self._tool(f"{base}.tool", step.tool)
        if tool is not None:
            self._check_params(f"{base}.params", tool, step.params)
        raw_params = tool.spec.template_params if tool else frozenset()
        raw_fallback: frozenset[str] = frozenset()
        for field in ("fallback", "compensate"):
            call = getattr(step, field)
            if call is None:
                continue
            other = self._tool(f"{base}.{field}.tool", call.tool)
            if other is not None:
                self._check_params(f"{base}.{field}.params", other, call.params)
                if field == "fallback":
                    raw_fallback = other.spec.template_params
        items = step.for_each.items if step.for_each is not None else None
        if isinstance(items, str) and not is_template(items):
            self.add(
                f"{base}.for_each.items",
                "invalid_items",
                f"for_each.items must be a list or a template giving one, not the text {items!r}",
                'e.g. items: "{{ steps.list.output }}" or items: [a, b]',
            )
        implied: set[str] = set()
        for site in template_sites(step, raw_params, raw_fallback):
            implied |= self._check_template(
                f"{base}.{site.loc}", site, step, inputs, known_ids, step.id
            )
        implied.discard(step.id)
        return implied

    def _check_template(
        self,
        loc: str,
        site: TemplateSite,
        step: Step | None,
        inputs: Mapping[str, InputSpec],
        known_ids: set[str],
        self_id: str | None,
    ) -> set[str]:
        try:
            references = site_references(self.engine, site)
        except Exception as exc:  # TemplateSyntaxError and friends
            message = getattr(exc, "message", None) or str(exc)
            self.add(loc, "template_syntax", f"template syntax error: {message}")
            return set()
        if not site.condition:
            try:
                self.engine.compile(site.source)
            except TemplateError as exc:
                self.add(loc, "template_syntax", str(exc))
                return set()
        if (
            site.expression_only
            and is_template(site.source)
            and not self.engine.is_expression(site.source)
        ):
            what = "a condition" if site.condition else "for_each.items"
            self.add(
                loc,
                "not_an_expression",
                f"{what} must be one expression, not text: {site.source!r} renders to a string",
                "write it as '{{ steps.a.output.count > 3 }}' or 'steps.a.output.count > 3'"
                if site.condition
                else "write it as '{{ steps.list.output }}'",
            )
            return set()
        unsafe = self.engine.unsafe_accesses(site.source, condition=site.condition)
        if unsafe:
            self.add(
                loc,
                "template_unsafe",
                f"template refers to '{unsafe[0]}': names starting with '_' are not allowed",
                "templates can only read inputs, steps and run data",
            )
            return set()
        loop_names: set[str] = set()
        if step is not None and step.for_each is not None:
            loop_names = {step.for_each.as_, "index"}
        for ref in references:
            self._check_reference(loc, ref, site, inputs, known_ids, self_id, loop_names)
        return referenced_steps(references) & known_ids if site.schedules else set()

    def _check_reference(
        self,
        loc: str,
        ref: Reference,
        site: TemplateSite,
        inputs: Mapping[str, InputSpec],
        known_ids: set[str],
        self_id: str | None,
        loop_names: set[str],
    ) -> None:
        if ref.root == "inputs":
            if ref.path and isinstance(ref.path[0], str) and ref.path[0] not in inputs:
                self.add(
                    loc,
                    "unknown_input",
                    f"template refers to input '{ref.path[0]}', which is not declared in inputs",
                    did_you_mean(ref.path[0], inputs) or _declared(inputs),
                )
        elif ref.root == "steps":
            self._check_step_reference(loc, ref, site, known_ids, self_id)
        elif ref.root == "run":
            if ref.path and ref.path[0] not in RUN_FIELDS:
                self.add(
                    loc,
                    "unknown_name",
                    f"run has no field '{ref.path[0]}'",
                    f"available: {', '.join(sorted(RUN_FIELDS))}",
                )
        elif ref.root == "output" and site.output_allowed:
            return
        elif ref.root in loop_names:
            if not site.item_allowed:
                where = "for_each.items" if site.loc == "for_each.items" else site.loc
                self.add(
                    loc,
                    "item_outside_loop",
                    f"'{ref.root}' is not available in {where}",
                    "the for_each variable exists only in params, fallback and compensate params",
                )
        else:
            hint = None
            if ref.root in inputs:
                hint = f"did you mean 'inputs.{ref.root}'?"
            elif ref.root in known_ids:
                hint = f"did you mean 'steps.{ref.root}.output'?"
            elif site.item_allowed is False and ref.root in ("item", "index"):
                hint = "the for_each variable exists only in steps with for_each"
            else:
                hint = did_you_mean(ref.root, sorted(TEMPLATE_ROOTS | loop_names))
            self.add(loc, "unknown_name", f"template refers to unknown name '{ref.root}'", hint)

    def _check_step_reference(
        self,
        loc: str,
        ref: Reference,
        site: TemplateSite,
        known_ids: set[str],
        self_id: str | None,
    ) -> None:
        if not ref.path:
            if ref.dynamic:
                self.add(
                    loc,
                    "dynamic_step_reference",
                    "steps must be named directly, not computed (steps[...]): Kaizen needs to "
                    "know which steps a step waits for before the run starts",
                    "write steps.<id>.output for each step you need",
                )
            else:
                self.add(
                    loc,
                    "step_reference",
                    "refer to a step by its id: 'steps.<id>.output'",
                )
            return
        target = ref.path[0]
        if not isinstance(target, str) or target not in known_ids:
            self.add(
                loc,
                "unknown_step",
                f"template refers to step '{target}', which does not exist",
                did_you_mean(str(target), known_ids),
            )
            return
        if target == self_id and not site.self_allowed:
            self.add(
                loc,
                "self_reference",
                f"step '{target}' refers to its own result",
                "a step's result is only available to later steps and its compensation",
            )
            return
        if len(ref.path) > 1 and ref.path[1] not in STEP_VIEW_FIELDS:
            self.add(
                loc,
                "unknown_field",
                f"steps.{target} has no field '{ref.path[1]}'",
                did_you_mean(str(ref.path[1]), sorted(STEP_VIEW_FIELDS))
                or f"available: {', '.join(sorted(STEP_VIEW_FIELDS))}",
            )


def _salvage_step(raw: Any) -> Step | None:
    """The step with its malformed fields left out, so that the semantic checks still see the
    rest of it (its tool, params, dependencies). ``None`` if even that does not parse."""
    if not isinstance(raw, Mapping):
        return None
    try:
        return Step.model_validate(raw)
    except ValidationError as exc:
        bad = {err["loc"][0] for err in exc.errors() if err["loc"]}
        if any(not err["loc"] for err in exc.errors()):  # a rule across fields: on_error/fallback
            bad |= {"on_error", "fallback"}
    try:
        return Step.model_validate({k: v for k, v in raw.items() if k not in bad})
    except ValidationError:
        return None


def _contains_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_template(v) for v in value)
    return False


def _declared(inputs: Mapping[str, InputSpec]) -> str:
    return (
        f"declared inputs: {', '.join(inputs)}" if inputs else "this blueprint declares no inputs"
    )
