"""The sandboxed Jinja2 environment: keys before methods, errors that explain, no internals."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import TemplateError, UnsafeTemplateError
from engine.problems import did_you_mean
from engine.templating.limits import (
    BRACE_WIDTH,
    MAX_INT_BITS,
    MAX_POWER_BITS,
    MAX_RANGE_ITEMS,
    MAX_SEQUENCE_PRODUCT,
    NESTED_SPEC,
    PADDING_METHODS,
    SafetyRewriter,
    capped_filter,
    capped_join,
    center_filter,
    check_percent,
    check_widths,
    concat_guard,
    format_filter,
    loop_guard,
    mapping_values,
    range_budget,
    refuse_long,
    refuse_wide,
    replaced_length,
    strict_guard,
    tojson_filter,
)
from engine.templating.undefined import KaizenUndefined, NotProduced
from engine.templating.views import STEP_VIEW_FIELDS, StepsView, StepView

#: For the error message of a missing key: where each container in the current render came from.
origins_var: ContextVar[dict[int, tuple[int, object]] | None] = ContextVar("origins", default=None)
root_names_var: ContextVar[dict[int, str] | None] = ContextVar("root_names", default=None)


def _describe(obj: object) -> str:
    names = root_names_var.get()
    origins = origins_var.get()
    parts: list[str] = []
    current = id(obj)
    for _ in range(64):
        if names and current in names:
            parts.append(names[current])
            break
        if not origins or current not in origins:
            return f"the {type(obj).__name__} value" if not parts else "".join(reversed(parts))
        parent, key = origins[current]
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
        current = parent
    return "".join(reversed(parts))


def finalize(value: Any) -> Any:
    """Applied to every ``{{ … }}`` of a text template before it becomes text."""
    if isinstance(value, StepView | StepsView) or (
        callable(value) and not isinstance(value, Undefined)
    ):
        raise TemplateError(not_a_value(value))
    return value


def not_a_value(value: Any) -> str:
    if isinstance(value, StepView):
        return (
            f"the step '{value.id}' itself is not a value: use steps.{value.id}.output "
            "(or .status, .error)"
        )
    if isinstance(value, StepsView):
        return "all steps together are not a value: use steps.<id>.output"
    name = getattr(value, "__name__", type(value).__name__)
    return (
        f"'{name}' is a function, not a value (a missing key named '{name}'? "
        "keys win over methods only when they exist)"
    )


def fromjson_filter(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"fromjson: not valid JSON ({exc})") from exc


class KaizenSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with strict undefined values, explanatory errors and size caps."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(
            undefined=KaizenUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=finalize,
        )
        self.globals.clear()

        def range(*args: int) -> Iterable[int]:
            return self._safe_range(*args)

        self.globals["range"] = range
        self.filters["tojson"] = tojson_filter
        self.filters["fromjson"] = fromjson_filter
        self.filters["format"] = format_filter
        self.filters["center"] = center_filter
        self.filters["_kaizen_loop"] = loop_guard
        self.filters["_kaizen_concat"] = concat_guard
        self.filters["_kaizen_strict"] = strict_guard
        for name in ("join", "indent", "replace", "batch", "slice"):
            self.filters[name] = capped_filter(name, self.filters[name])
        self.concat = capped_join  # type: ignore[method-assign]

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        return str(super()._generate(SafetyRewriter().visit(source), name, filename, defer_init))

    def _safe_range(self, *args: int) -> range:
        rng = range(*args)
        budget = range_budget.get()
        left = (budget[0] if budget else MAX_RANGE_ITEMS) - len(rng)
        if left < 0:
            raise UnsafeTemplateError(
                f"range() would produce more than {MAX_RANGE_ITEMS} items in one template"
            )
        if budget:
            budget[0] = left
        return rng

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Jinja wraps str.format; the original bound method is its __wrapped__.
        target = getattr(obj, "__wrapped__", obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            name = getattr(target, "__name__", "")
            if name in PADDING_METHODS:
                refuse_wide(args, kwargs.values())
                if name == "expandtabs":
                    size = next(iter((*args, *kwargs.values())), 8)
                    if isinstance(size, int):
                        refuse_long(len(owner) + owner.count("\t") * size, "expanded text")
            elif name == "replace" and len(args) >= 2:
                refuse_long(replaced_length(owner, *args[:2]), "replaced text")
            elif name == "join" and args:
                parts = list(args[0])
                refuse_long(
                    sum(len(p) for p in parts if isinstance(p, str)) + len(owner) * len(parts),
                    "joined text",
                )
                args = (parts, *args[1:])
            elif name in ("format", "format_map"):
                check_widths(owner, BRACE_WIDTH)
                if NESTED_SPEC.search(owner):  # '{:{}}': widths come from the arguments
                    refuse_wide(args, kwargs.values(), *mapping_values(args))
        return super().call(context, obj, *args, **kwargs)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_SEQUENCE_PRODUCT
                ):
                    raise UnsafeTemplateError(
                        f"refusing to build a sequence of {len(seq) * count} items with '*'"
                    )
        if operator == "%" and isinstance(left, str):
            check_percent(left, right)
        if (
            operator == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
        ):
            refuse_long(len(left) + len(right), "a value with '+'")
        if (
            operator == "*"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS
        ):
            raise UnsafeTemplateError(
                f"refusing to multiply numbers larger than {MAX_INT_BITS} bits"
            )
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right > 0
            and abs(left).bit_length() * right > MAX_POWER_BITS
        ):
            raise UnsafeTemplateError(f"refusing to compute {left} ** {right}: result too large")
        return super().call_binop(context, operator, left, right)

    def _remember(self, parent: object, key: object, value: Any) -> Any:
        if isinstance(value, dict | list):
            origins = origins_var.get()
            if origins is not None:
                origins[id(value)] = (id(parent), key)
        return value

    def _missing(self, obj: Any, key: object, kind: str) -> Undefined:
        where = _describe(obj)
        if isinstance(obj, StepsView):
            hint = f"there is no step '{key}'"
            suggestion = did_you_mean(str(key), list(obj))
        elif isinstance(obj, StepView):
            hint = f"steps.{obj.id} has no field '{key}'"
            suggestion = did_you_mean(str(key), sorted(STEP_VIEW_FIELDS))
        elif isinstance(obj, Mapping):
            hint = f"{where} has no key {key!r}"
            keys = [str(k) for k in obj]
            suggestion = did_you_mean(str(key), keys)
            if suggestion is None and keys:
                shown = ", ".join(keys[:10]) + (", …" if len(keys) > 10 else "")
                suggestion = f"its keys are: {shown}"
            elif not keys:
                suggestion = "it is empty"
        elif isinstance(obj, list | tuple) and isinstance(key, int):
            hint = f"{where} has no index {key} (it has {len(obj)} item(s))"
            suggestion = None
        else:
            hint = f"{where} ({type(obj).__name__}) has no {kind} {key!r}"
            suggestion = None
        return self.undefined(hint=f"{hint}; {suggestion}" if suggestion else hint)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):
            return super().getattr(obj, attribute)
        if attribute.startswith("_"):
            return self.unsafe_undefined(obj, attribute)
        if isinstance(obj, Mapping):
            try:
                value = obj[attribute]
            except (KeyError, TypeError):
                pass
            else:
                return self._remember(obj, attribute, value)
        if isinstance(obj, StepView):
            if attribute not in STEP_VIEW_FIELDS:
                return self._missing(obj, attribute, "attribute")
            value = getattr(obj, attribute)
            names = root_names_var.get()
            if names is not None and isinstance(value, dict | list):
                names[id(value)] = f"steps.{obj.id}.{attribute}"
            return value
        value = super().getattr(obj, attribute)
        if isinstance(value, Undefined) and not isinstance(value, NotProduced):
            if value._undefined_exception is SecurityError:
                return value
            return self._missing(obj, attribute, "attribute")
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return super().getitem(obj, argument)
        if isinstance(argument, str) and argument.startswith("_"):
            return self.unsafe_undefined(obj, argument)
        if isinstance(obj, Mapping | list | tuple):
            try:
                value = obj[argument]
            except (KeyError, IndexError, TypeError):
                return self._missing(obj, argument, "item")
            return self._remember(obj, argument, value)
        value = super().getitem(obj, argument)
        if isinstance(value, Undefined) and value._undefined_exception is not SecurityError:
            return self._missing(obj, argument, "item")
        return value
