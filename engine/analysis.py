"""Static analysis of blueprints: where templates are, what they refer to, which steps a step
depends on, and dependency cycles. Shared by validation and by the execution plan."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from engine.blueprint import Step
from engine.problems import join_loc
from engine.templating import Reference, TemplateEngine, is_template, iter_template_strings


@dataclass(frozen=True, slots=True)
class TemplateSite:
    """A template string inside a step, with what it may refer to."""

    loc: str
    """Location relative to the step, e.g. ``params.repo`` or ``when``."""
    source: str
    condition: bool = False
    """True for ``when`` conditions, which may be written as bare expressions."""
    item_allowed: bool = False
    """The ``for_each`` variable (and ``index``) may be used here."""
    self_allowed: bool = False
    """The step may refer to its own result here (compensation)."""
    expression_only: bool = False
    """Must be one ``{{ expression }}`` (conditions and for_each lists), not text."""
    output_allowed: bool = False
    """``output`` (the result being undone) may be used here (compensation)."""
    schedules: bool = True
    """References here make the step wait for the referenced steps (not in compensations,
    which run after the run failed, whenever that is)."""


def _value_sites(value: object, loc: str, **flags: bool) -> Iterator[TemplateSite]:
    if isinstance(value, str):
        if is_template(value):
            yield TemplateSite(loc, value, **flags)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _value_sites(item, f"{loc}.{key}", **flags)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value_sites(item, f"{loc}[{index}]", **flags)


def template_sites(
    step: Step, raw_params: frozenset[str] = frozenset(), raw_fallback: frozenset[str] = frozenset()
) -> Iterator[TemplateSite]:
    """Every template in ``step``. ``raw_params`` are params the tool renders itself."""
    in_loop = step.for_each is not None
    for key, value in step.params.items():
        if key not in raw_params:
            yield from _value_sites(value, f"params.{key}", item_allowed=in_loop)
    if step.when is not None:
        yield TemplateSite("when", step.when, condition=True, expression_only=True)
    if step.for_each is not None:
        if isinstance(step.for_each.items, str):
            if is_template(step.for_each.items):
                yield TemplateSite("for_each.items", step.for_each.items, expression_only=True)
        else:
            yield from _value_sites(step.for_each.items, "for_each.items")
    if step.approval is not None and step.approval.message:
        yield from _value_sites(step.approval.message, "approval.message")
    if step.fallback is not None:
        for key, value in step.fallback.params.items():
            if key not in raw_fallback:
                yield from _value_sites(value, f"fallback.params.{key}", item_allowed=in_loop)
    if step.compensate is not None:
        yield from _value_sites(
            step.compensate.params,
            "compensate.params",
            self_allowed=True,
            schedules=False,
            item_allowed=in_loop,
            output_allowed=True,
        )


def output_sites(outputs: Mapping[str, object]) -> Iterator[TemplateSite]:
    """Every template in a blueprint's ``outputs``."""
    for key, value in outputs.items():
        yield from _value_sites(value, key)


def site_references(engine: TemplateEngine, site: TemplateSite) -> list[Reference]:
    """References in one site (raises :class:`~engine.errors.TemplateError` on bad syntax)."""
    return engine.references_in(site.source, condition=site.condition)


def referenced_steps(references: list[Reference] | tuple[Reference, ...]) -> set[str]:
    """Step ids named by ``steps.<id>`` references."""
    return {
        ref.path[0]
        for ref in references
        if ref.root == "steps" and ref.path and isinstance(ref.path[0], str)
    }


def topological_order(
    needs: Mapping[str, Collection[str]], dependents: Mapping[str, Collection[str]]
) -> list[str]:
    """Kahn's algorithm: nodes with their dependencies first, stable with respect to the input
    order. Nodes on (or behind) a cycle are left out, so a short result means a cycle."""
    remaining = {node: len(deps) for node, deps in needs.items()}
    ready = deque(node for node, count in remaining.items() if count == 0)
    order: list[str] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for dependent in dependents.get(node, ()):
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                ready.append(dependent)
    return order


def find_cycles(edges: Mapping[str, Collection[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, each as ``[a, b, c, a]``.

    ``edges[x]`` is the set of nodes ``x`` depends on. Iterative Tarjan, so deep graphs are fine.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    components.append(component)
    return [_cycle_in(component, edges) for component in components]


def _cycle_in(component: list[str], edges: Mapping[str, Collection[str]]) -> list[str]:
    """A simple cycle through the component's first (sorted) node, following dependency edges."""
    members = set(component)
    start = min(component)
    path = [start]
    seen = {start}
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for child in sorted(edges.get(node, ())):
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(parents[chain[-1]])
                    chain.reverse()
                    return [*chain, start]
                if child in members and child not in seen:
                    seen.add(child)
                    parents[child] = node
                    nxt.append(child)
        frontier = nxt
    return [*path, start]  # pragma: no cover - a component always has a cycle


def format_cycle(cycle: list[str]) -> str:
    """``a → b → c → a``."""
    return " → ".join(cycle)


def step_loc(index: int, *rest: str | int) -> str:
    """``steps[3].params.repo`` style location for step ``index``."""
    return join_loc("steps", index, *rest)


def all_template_strings(value: object) -> list[str]:
    """Every template string in a JSON-like value."""
    return list(iter_template_strings(value))
