"""Compiled values: templates compiled once, rendered many times, results checked."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaError

from engine.errors import TemplateError, TemplateUndefinedError, UnsafeTemplateError
from engine.templating.limits import (
    MAX_LOOP_ITERATIONS,
    MAX_RANGE_ITEMS,
    loop_budget,
    range_budget,
    refuse_long,
)
from engine.templating.sandbox import KaizenSandbox, not_a_value, origins_var, root_names_var
from engine.templating.views import StepsView, StepView


class Compiled(ABC):
    """A value with its templates compiled once, rendered many times."""

    __slots__ = ()
    has_templates: bool = True

    @abstractmethod
    def render(self, context: Mapping[str, Any]) -> Any:
        """The value with every template evaluated against ``context``."""


class Constant(Compiled):
    __slots__ = ("value",)
    has_templates = False

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, context: Mapping[str, Any]) -> Any:
        return self.value


#: Expression nodes that build a new value (which must then be checked for undefined parts).
BUILDING_NODES: tuple[type[nodes.Expr], ...] = (
    nodes.List, nodes.Dict, nodes.Tuple, nodes.Filter, nodes.Call, nodes.CondExpr, nodes.Test,
    nodes.BinExpr,
)  # fmt: skip


class Expression(Compiled):
    __slots__ = ("_builds", "_fn", "source")

    def __init__(self, env: KaizenSandbox, source: str, expression: str) -> None:
        self.source = source
        try:
            self._fn = env.compile_expression(expression, undefined_to_none=False)
            tree = env.parse("{{ " + expression + " }}")
        except TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error in {source!r}: {exc.message}") from exc
        # Plain lookups (``steps.a.output``) return existing data; anything that builds a value
        # (literals, filters, calls) is checked for undefined parts and step objects.
        self._builds = any(tree.find(node_type) is not None for node_type in BUILDING_NODES)

    def render(self, context: Mapping[str, Any]) -> Any:
        result = guarded_call(self._fn, context, self.source)
        if self._builds or isinstance(result, Undefined | StepView | StepsView) or callable(result):
            check_value(result, self.source)
        if isinstance(result, str):
            refuse_long(len(result), "a value")
        return result


class TextTemplate(Compiled):
    __slots__ = ("_template", "source")

    def __init__(self, env: KaizenSandbox, source: str) -> None:
        self.source = source
        try:
            self._template = env.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error in {source!r}: {exc.message}") from exc

    def render(self, context: Mapping[str, Any]) -> Any:
        return guarded_call(self._template.render, context, self.source)


class MappingValue(Compiled):
    __slots__ = ("items",)

    def __init__(self, items: dict[str, Compiled]) -> None:
        self.items = items

    def render(self, context: Mapping[str, Any]) -> Any:
        return {key: value.render(context) for key, value in self.items.items()}


class SequenceValue(Compiled):
    __slots__ = ("items",)

    def __init__(self, items: list[Compiled]) -> None:
        self.items = items

    def render(self, context: Mapping[str, Any]) -> Any:
        return [value.render(context) for value in self.items]


def guarded_call(fn: Callable[..., Any], context: Mapping[str, Any], source: str) -> Any:
    roots = {id(value): name for name, value in context.items()}
    origins_token = origins_var.set({})
    roots_token = root_names_var.set(roots)
    budget_token = range_budget.set([MAX_RANGE_ITEMS])
    loops_token = loop_budget.set([MAX_LOOP_ITERATIONS])
    try:
        return fn(**context)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise UnsafeTemplateError(f"template refused: {exc}") from exc
    except UndefinedError as exc:
        raise TemplateUndefinedError(str(exc)) from exc
    except JinjaError as exc:  # e.g. "no filter named …", "no test named …"
        raise TemplateError(f"error evaluating {source!r}: {exc}") from exc
    except Exception as exc:  # whatever a filter or method raises is the template's error
        raise TemplateError(f"error evaluating {source!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        origins_var.reset(origins_token)
        root_names_var.reset(roots_token)
        range_budget.reset(budget_token)
        loop_budget.reset(loops_token)


def check_value(value: Any, source: str, depth: int = 0) -> None:
    """Values built by an expression (lists, dicts, filter results) must hold real data: no
    undefined values hidden inside, no step objects passed where values are expected."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, StepView | StepsView) or callable(value):
        raise TemplateError(f"{source!r}: {not_a_value(value)}")
    if depth > 32:
        return
    if isinstance(value, dict):
        for item in value.values():
            check_value(item, source, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_value(item, source, depth + 1)
