"""Templates in step params, conditions and outputs, rendered in Jinja2's sandbox.

Rules:

* A string that is exactly one expression, ``"{{ steps.a.output.count }}"``, evaluates to the
  expression's value with its type (an int stays an int, a list stays a list).
* Any other string containing ``{{``/``{%`` renders to a string.
* Everything else (numbers, strings without template syntax, …) passes through unchanged; dicts
  and lists are rendered element by element.
* A reference to something that does not exist raises :class:`TemplateUndefinedError` naming the
  missing key and where it was looked up — never an empty string.
* Templates cannot reach Python internals: attribute names starting with ``_`` are refused, the
  default Jinja globals (``lipsum``, ``cycler``, ``joiner``, ``namespace``) are removed, and
  ``*``/``**`` cannot build gigantic values.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NoReturn

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from engine.errors import (
    TemplateError,
    TemplateUndefinedError,
    UnsafeTemplateError,
    UpstreamOutputMissingError,
)
from engine.problems import did_you_mean

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
MAX_SEQUENCE_PRODUCT = 1_000_000
#: Items all ``range()`` calls of one render may produce together (nested loops multiply).
MAX_RANGE_ITEMS = 100_000
#: Largest padding or field width (``ljust``, ``center``, ``'%9s'``, ``'{:9}'``).
MAX_WIDTH = 10_000
#: Largest text one render may produce (and largest string built along the way).
MAX_OUTPUT_CHARS = 10_000_000
#: Loop iterations (``{% for %}``, all loops together) one render may run.
MAX_LOOP_ITERATIONS = 1_000_000
#: Largest integer a template may compute, in bits.
MAX_INT_BITS = 4096
_PERCENT_WIDTH = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
MAX_POWER_BITS = 4096
_FALSY_STRINGS = frozenset({"", "false", "0", "no", "none", "null", "off"})


def is_template(value: object) -> bool:
    """Whether ``value`` is a string containing template syntax."""
    return isinstance(value, str) and any(marker in value for marker in _TEMPLATE_MARKERS)


# --------------------------------------------------------------------------------------------
# Undefined values that explain themselves
# --------------------------------------------------------------------------------------------


class _Undefined(Undefined):
    """Like ``StrictUndefined``: any use raises, with a message naming what is missing."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is SecurityError:
            raise UnsafeTemplateError(f"template refused: {self._undefined_message}")
        raise TemplateUndefinedError(self._undefined_message)


class NotProduced(_Undefined):
    """The output of a step that did not succeed. Using it raises UpstreamOutputMissingError;
    ``| default(...)`` and ``is defined`` work, which is how merges after optional branches
    are written. Like ``ChainableUndefined``, ``.key`` and ``[key]`` on it stay undefined, so
    ``steps.b.output.value | default('none')`` works too."""

    __slots__ = ("_status", "_step_id")

    def __init__(self, step_id: str, status: str) -> None:
        super().__init__(hint=f"step '{step_id}' produced no output ({status})")
        self._step_id = step_id
        self._status = status

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise UpstreamOutputMissingError(self._step_id, self._status)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


# Undefined's operators (``__add__``, ``__iter__``, …) are bound to the base class's failure
# function; rebind them so every use of our undefined values raises *our* errors.
_STRICT_OPERATORS: tuple[str, ...] = ("__iter__", "__str__", "__len__", "__eq__", "__ne__")
_STRICT_OPERATORS += ("__bool__", "__hash__", "__contains__", "__repr__", "__round__", "__int__")
_STRICT_OPERATORS += ("__float__", "__complex__", "__index__", "__trunc__", "__floor__", "__ceil__")
_STRICT_OPERATORS += ("__abs__", "__neg__", "__pos__", "__invert__", "__format__", "__reversed__")
for _cls in (_Undefined, NotProduced):
    _own = set(vars(_cls))  # methods the class defines itself (NotProduced.__getitem__) stay
    _failing = {
        name
        for name, value in vars(Undefined).items()
        if value is vars(Undefined)["_fail_with_undefined_error"] and name.startswith("__")
    }
    for _name in (_failing | set(_STRICT_OPERATORS)) - _own:
        setattr(_cls, _name, _cls._fail_with_undefined_error)


# --------------------------------------------------------------------------------------------
# Views of run state that templates can read
# --------------------------------------------------------------------------------------------


class StepView:
    """What a template sees as ``steps.<id>``: ``output``, ``status``, ``error``, ``attempts``."""

    __slots__ = ("_output", "attempts", "duration_ms", "error", "id", "status")

    def __init__(
        self,
        step_id: str,
        status: str,
        output: Any = None,
        error: str | None = None,
        attempts: int = 0,
        duration_ms: float = 0.0,
    ) -> None:
        self.id = step_id
        self.status = status
        self._output = output
        self.error = error
        self.attempts = attempts
        self.duration_ms = duration_ms

    def settle(self, status: str, *, output: Any = None, error: str | None = None) -> None:
        """Record how the step ended (the executor calls this)."""
        self.status = status
        self._output = output
        self.error = error

    @property
    def output(self) -> Any:
        if self.status == "succeeded":
            return self._output
        return NotProduced(self.id, self.status)

    def __repr__(self) -> str:
        return f"<step {self.id}: {self.status}>"


STEP_VIEW_FIELDS = frozenset({"output", "status", "error", "attempts", "duration_ms", "id"})


class StepsView(Mapping[str, StepView]):
    """What a template sees as ``steps``: a read-only mapping of step id to :class:`StepView`."""

    __slots__ = ("_ids", "_lookup")

    def __init__(self, lookup: Callable[[str], StepView | None], ids: Sequence[str]) -> None:
        self._lookup = lookup
        self._ids = ids

    def __getitem__(self, key: str) -> StepView:
        view = self._lookup(key)
        if view is None:
            raise KeyError(key)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


# --------------------------------------------------------------------------------------------
# The sandboxed environment
# --------------------------------------------------------------------------------------------

#: For the error message of a missing key: where each container in the current render came from.
_origins: ContextVar[dict[int, tuple[int, object]] | None] = ContextVar("_origins", default=None)
_range_budget: ContextVar[list[int] | None] = ContextVar("_range_budget", default=None)
_loop_budget: ContextVar[list[int] | None] = ContextVar("_loop_budget", default=None)
_root_names: ContextVar[dict[int, str] | None] = ContextVar("_root_names", default=None)


def _describe(obj: object) -> str:
    names = _root_names.get()
    origins = _origins.get()
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


def _check_widths(text: str, pattern: re.Pattern[str]) -> None:
    for match in pattern.finditer(text):
        for group in match.groups():
            if group and group.isdigit() and int(group) > MAX_WIDTH:
                raise UnsafeTemplateError(f"refusing a field width of {group} (limit {MAX_WIDTH})")


def _capped_join(parts: Iterable[str]) -> str:
    kept: list[str] = []
    total = 0
    for part in parts:
        total += len(part)
        if total > MAX_OUTPUT_CHARS:
            raise UnsafeTemplateError(f"template output exceeds {MAX_OUTPUT_CHARS} characters")
        kept.append(part)
    return "".join(kept)


def _refuse_wide(*groups: Iterable[Any]) -> None:
    for group in groups:
        for value in group:
            if isinstance(value, str) and value.isdigit() and len(value) < 20:
                value = int(value)
            if isinstance(value, int) and value > MAX_WIDTH:
                raise UnsafeTemplateError(f"refusing a width of {value} (limit {MAX_WIDTH})")


def _replaced_length(text: Any, old: Any, new: Any) -> int:
    text, old, new = str(text), str(old), str(new)
    count = text.count(old) if old else len(text) + 1
    return len(text) + count * max(0, len(new) - len(old))


def _capped_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's ``join``/``indent``/``replace``/``batch``/``slice`` with size limits checked
    before the work is done."""

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        value, rest = args[0], args[1:]
        if name == "join":
            parts = list(value)
            sep = str(rest[0]) if rest else str(kwargs.get("d", ""))
            if not (rest[1:] or "attribute" in kwargs):
                _refuse_long(sum(len(str(p)) for p in parts) + len(sep) * len(parts), "joined text")
            return (parts, *rest)
        if name == "indent":
            width = rest[0] if rest else kwargs.get("width", 4)
            size = len(width) if isinstance(width, str) else int(width)
            _refuse_wide([size])
            _refuse_long(len(str(value)) * 2 + str(value).count("\n") * size, "indented text")
        elif name == "replace" and len(rest) >= 2:
            _refuse_long(_replaced_length(value, rest[0], rest[1]), "replaced text")
        elif name in ("batch", "slice"):
            count = rest[0] if rest else kwargs.get("linecount", kwargs.get("slices", 1))
            if isinstance(count, int) and count > MAX_SEQUENCE_PRODUCT:
                raise UnsafeTemplateError(f"refusing {name}({count}): too large")
        return args

    if getattr(original, "jinja_pass_arg", None) is not None:  # takes the eval context first

        def capped_with_context(ctx: Any, *args: Any, **kwargs: Any) -> Any:
            return original(ctx, *check(args, kwargs), **kwargs)

        capped_with_context.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
        return capped_with_context

    def capped(*args: Any, **kwargs: Any) -> Any:
        return original(*check(args, kwargs), **kwargs)

    return capped


def _mapping_values(args: tuple[Any, ...]) -> list[Iterable[Any]]:
    return [arg.values() for arg in args if isinstance(arg, Mapping)]


def _check_percent(text: str, values: Any) -> None:
    """``'%9s' % x`` and ``'%*s' % (9, x)``: refuse widths over :data:`MAX_WIDTH`."""
    _check_widths(text, _PERCENT_WIDTH)
    if "*" in text:
        _refuse_wide(values if isinstance(values, tuple) else (values,))


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    text = str(value)
    _check_percent(text, tuple(args))
    return text % (kwargs or args)


def _center_filter(value: Any, width: int = 80) -> str:
    if width > MAX_WIDTH:
        raise UnsafeTemplateError(f"refusing to center to width {width} (limit {MAX_WIDTH})")
    return str(value).center(width)


def _tojson(value: Any, indent: int | None = None) -> str:
    if indent is not None and indent > MAX_WIDTH:
        raise UnsafeTemplateError(f"refusing an indent of {indent} (limit {MAX_WIDTH})")
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _refuse_long(length: int, what: str) -> None:
    if length > MAX_OUTPUT_CHARS:
        raise UnsafeTemplateError(
            f"refusing to build {what} of {length} characters (limit {MAX_OUTPUT_CHARS})"
        )


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: all loops of a render share one budget."""
    budget = _loop_budget.get()
    for item in iterable:
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise UnsafeTemplateError(
                    f"template loops ran more than {MAX_LOOP_ITERATIONS} times in one render"
                )
        yield item


def _concat_guard(parts: list[Any]) -> str:
    """``a ~ b``: the joined length is checked before the string is built."""
    texts = [str(part) for part in parts]
    _refuse_long(sum(len(text) for text in texts), "a string with '~'")
    return "".join(texts)


def _strict_guard(container: Any) -> Any:
    """List, tuple and dict literals may not hold undefined values."""
    values = container.items() if isinstance(container, dict) else container
    for value in values:
        for part in value if isinstance(container, dict) else (value,):
            if isinstance(part, Undefined):
                part._fail_with_undefined_error()
    return container


def _finalize(value: Any) -> Any:
    """Applied to every ``{{ … }}`` of a text template before it becomes text."""
    if isinstance(value, StepView | StepsView) or (
        callable(value) and not isinstance(value, Undefined)
    ):
        raise TemplateError(_not_a_value(value))
    return value


def _not_a_value(value: Any) -> str:
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


class _Guards(NodeTransformer):
    """Rewrites a parsed template before it is compiled: loops draw from the render's
    iteration budget, ``~`` checks its length, and literals check for undefined parts."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.For)
        visited.iter = nodes.Filter(
            visited.iter, "_kaizen_loop", [], [], None, None, lineno=visited.lineno
        )
        return visited

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.Concat)
        parts = nodes.List(visited.nodes, lineno=visited.lineno)
        return nodes.Filter(parts, "_kaizen_concat", [], [], None, None, lineno=visited.lineno)

    def _strict(self, node: nodes.Expr) -> nodes.Node:
        visited = self.generic_visit(node)
        if getattr(visited, "ctx", "load") != "load":
            return visited
        return nodes.Filter(visited, "_kaizen_strict", [], [], None, None, lineno=node.lineno)

    visit_List = visit_Dict = visit_Tuple = _strict


def _fromjson(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"fromjson: not valid JSON ({exc})") from exc


class KaizenSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with strict undefined values, explanatory errors and size caps."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(
            undefined=_Undefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize
        )
        self.globals.clear()

        def range(*args: int) -> Iterable[int]:
            return self._safe_range(*args)

        self.globals["range"] = range
        self.filters["tojson"] = _tojson
        self.filters["fromjson"] = _fromjson
        self.filters["format"] = _format_filter
        self.filters["center"] = _center_filter
        self.filters["_kaizen_loop"] = _loop_guard
        self.filters["_kaizen_concat"] = _concat_guard
        self.filters["_kaizen_strict"] = _strict_guard
        for name in ("join", "indent", "replace", "batch", "slice"):
            self.filters[name] = _capped_filter(name, self.filters[name])
        self.concat = _capped_join  # type: ignore[method-assign]

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        return str(super()._generate(_Guards().visit(source), name, filename, defer_init))

    def _safe_range(self, *args: int) -> range:
        rng = range(*args)
        budget = _range_budget.get()
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
            if name in _PADDING_METHODS:
                _refuse_wide(args, kwargs.values())
                if name == "expandtabs":
                    size = next(iter((*args, *kwargs.values())), 8)
                    if isinstance(size, int):
                        _refuse_long(len(owner) + owner.count("\t") * size, "expanded text")
            elif name == "replace" and len(args) >= 2:
                _refuse_long(_replaced_length(owner, *args[:2]), "replaced text")
            elif name == "join" and args:
                parts = list(args[0])
                _refuse_long(
                    sum(len(p) for p in parts if isinstance(p, str)) + len(owner) * len(parts),
                    "joined text",
                )
                args = (parts, *args[1:])
            elif name in ("format", "format_map"):
                _check_widths(owner, _BRACE_WIDTH)
                if _NESTED_SPEC.search(owner):  # '{:{}}': widths come from the arguments
                    _refuse_wide(args, kwargs.values(), *_mapping_values(args))
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
            _check_percent(left, right)
        if (
            operator == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
        ):
            _refuse_long(len(left) + len(right), "a value with '+'")
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
            origins = _origins.get()
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
            names = _root_names.get()
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


# --------------------------------------------------------------------------------------------
# Compiled values
# --------------------------------------------------------------------------------------------


class Compiled(ABC):
    """A value with its templates compiled once, rendered many times."""

    __slots__ = ()
    has_templates: bool = True

    @abstractmethod
    def render(self, context: Mapping[str, Any]) -> Any:
        """The value with every template evaluated against ``context``."""


class _Const(Compiled):
    __slots__ = ("value",)
    has_templates = False

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, context: Mapping[str, Any]) -> Any:
        return self.value


#: Expression nodes that build a new value (which must then be checked for undefined parts).
_BUILDING_NODES: tuple[type[nodes.Expr], ...] = (
    nodes.List, nodes.Dict, nodes.Tuple, nodes.Filter, nodes.Call, nodes.CondExpr, nodes.Test,
    nodes.BinExpr,
)  # fmt: skip


class _Expression(Compiled):
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
        self._builds = any(tree.find(node_type) is not None for node_type in _BUILDING_NODES)

    def render(self, context: Mapping[str, Any]) -> Any:
        result = _guarded(self._fn, context, self.source)
        if self._builds or isinstance(result, Undefined | StepView | StepsView) or callable(result):
            _check_native(result, self.source)
        if isinstance(result, str):
            _refuse_long(len(result), "a value")
        return result


class _Text(Compiled):
    __slots__ = ("_template", "source")

    def __init__(self, env: KaizenSandbox, source: str) -> None:
        self.source = source
        try:
            self._template = env.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error in {source!r}: {exc.message}") from exc

    def render(self, context: Mapping[str, Any]) -> Any:
        return _guarded(self._template.render, context, self.source)


class _Dict(Compiled):
    __slots__ = ("items",)

    def __init__(self, items: dict[str, Compiled]) -> None:
        self.items = items

    def render(self, context: Mapping[str, Any]) -> Any:
        return {key: value.render(context) for key, value in self.items.items()}


class _List(Compiled):
    __slots__ = ("items",)

    def __init__(self, items: list[Compiled]) -> None:
        self.items = items

    def render(self, context: Mapping[str, Any]) -> Any:
        return [value.render(context) for value in self.items]


def _guarded(fn: Callable[..., Any], context: Mapping[str, Any], source: str) -> Any:
    roots = {id(value): name for name, value in context.items()}
    origins_token = _origins.set({})
    roots_token = _root_names.set(roots)
    budget_token = _range_budget.set([MAX_RANGE_ITEMS])
    loops_token = _loop_budget.set([MAX_LOOP_ITERATIONS])
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
        _origins.reset(origins_token)
        _root_names.reset(roots_token)
        _range_budget.reset(budget_token)
        _loop_budget.reset(loops_token)


def _check_native(value: Any, source: str, depth: int = 0) -> None:
    """Values built by an expression (lists, dicts, filter results) must hold real data: no
    undefined values hidden inside, no step objects passed where values are expected."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, StepView | StepsView) or callable(value):
        raise TemplateError(f"{source!r}: {_not_a_value(value)}")
    if depth > 32:
        return
    if isinstance(value, dict):
        for item in value.values():
            _check_native(item, source, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_native(item, source, depth + 1)


class TemplateEngine:
    """Compiles values and conditions once; renders them against a context many times."""

    def __init__(self) -> None:
        self.env = KaizenSandbox()
        self._compile_string = lru_cache(maxsize=4096)(self._compile_string_uncached)
        self._analyze = lru_cache(maxsize=4096)(self._analyze_uncached)

    def _compile_string_uncached(self, source: str) -> Compiled:
        if not is_template(source):
            return _Const(source)
        match = _SINGLE_EXPRESSION.match(source)
        if match and "{{" not in match["expr"] and "}}" not in match["expr"]:
            return _Expression(self.env, source, match["expr"])
        return _Text(self.env, source)

    def compile(self, value: Any) -> Compiled:
        """Compile ``value`` (any JSON-like structure); raises :class:`TemplateError` on syntax."""
        if isinstance(value, str):
            return self._compile_string(value)
        if isinstance(value, dict):
            items = {str(k): self.compile(v) for k, v in value.items()}
            if not any(v.has_templates for v in items.values()):
                return _Const(value)
            return _Dict(items)
        if isinstance(value, list | tuple):
            elements = [self.compile(v) for v in value]
            if not any(v.has_templates for v in elements):
                return _Const(value)
            return _List(elements)
        return _Const(value)

    def is_expression(self, source: str) -> bool:
        """Whether ``source`` is exactly one ``{{ expression }}`` (so it keeps its type)."""
        return isinstance(self._compile_string(source), _Expression)

    def compile_params(self, params: dict[str, Any], raw: frozenset[str] = frozenset()) -> Compiled:
        """Compile a params mapping, leaving the ``raw`` keys unrendered."""
        items = {k: _Const(v) if k in raw else self.compile(v) for k, v in params.items()}
        if not any(v.has_templates for v in items.values()):
            return _Const(params)
        return _Dict(items)

    def compile_condition(self, source: str) -> Compiled:
        """Compile a ``when`` condition: ``"{{ expr }}"`` or a bare expression ``"expr"``."""
        if is_template(source):
            return self._compile_string(source)
        return _Expression(self.env, source, source)

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Compile (cached) and render ``value`` against ``context``."""
        return self.compile(value).render(context)

    @staticmethod
    def truthy(value: Any) -> bool:
        """How a condition's result is read: strings like ``'false'``/``'0'``/``''`` are false."""
        if isinstance(value, str):
            return value.strip().lower() not in _FALSY_STRINGS
        return bool(value)

    # ---------------------------------------------------------------- static analysis

    def references(self, value: Any) -> list[Reference]:
        """Every variable path referred to by the templates in ``value``."""
        found: list[Reference] = []
        for source in iter_template_strings(value):
            found.extend(self.references_in(source))
        return found

    def parse(self, source: str, *, condition: bool = False) -> nodes.Template:
        """The Jinja AST of a template string (or of a bare condition expression)."""
        text = source if (is_template(source) or not condition) else "{{ " + source + " }}"
        return self.env.parse(text)

    def _analyze_uncached(
        self, source: str, condition: bool
    ) -> tuple[tuple[Reference, ...], tuple[str, ...]]:
        tree = self.parse(source, condition=condition)
        local_names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        local_names.add("loop")
        found: list[Reference] = []
        _collect(tree, local_names, found)
        return tuple(found), tuple(unsafe_accesses(tree))

    def unsafe_accesses(self, source: str, *, condition: bool = False) -> list[str]:
        """Names starting with ``_`` that the template tries to read."""
        return list(self._analyze(source, condition)[1])

    def references_in(self, source: str, *, condition: bool = False) -> list[Reference]:
        """Variable paths referred to by one template string (or bare condition expression).
        Raises ``jinja2.TemplateSyntaxError`` on bad syntax."""
        return list(self._analyze(source, condition)[0])


def unsafe_accesses(tree: nodes.Node) -> list[str]:
    """Attribute or key names starting with ``_`` read anywhere in a parsed template
    (``''.__class__``, ``x['__dict__']``, ``x | attr('_y')``)."""
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            name: object = node.attr
        elif isinstance(node, nodes.Getitem):
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        else:
            name = node.args[0].value if _is_attr_filter(node) else None  # type: ignore[attr-defined]
        if isinstance(name, str) and name.startswith("_"):
            found.append(name)
    return found


def iter_template_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value that contains template syntax."""
    if isinstance(value, str):
        if is_template(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_template_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_template_strings(item)


@dataclass(frozen=True, slots=True)
class Reference:
    """A variable path read by a template: ``steps.prs.output[0]`` → root ``steps``,
    path ``('prs', 'output', 0)``. ``dynamic`` is true when the path continues with a
    computed key the analysis cannot see."""

    root: str
    path: tuple[str | int, ...]
    dynamic: bool = False

    def __str__(self) -> str:
        out = self.root
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


def _chain(node: nodes.Node) -> tuple[nodes.Node, list[str | int], list[nodes.Node], bool]:
    """Unwind ``a.b['c'][x]`` into its root node, constant keys, computed key nodes, dynamic."""
    keys: list[str | int] = []
    computed: list[nodes.Node] = []
    dynamic = False
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                keys.append(node.arg.value)
            else:
                keys.clear()
                computed.append(node.arg)
                dynamic = True
            node = node.node
        elif _is_attr_filter(node):
            assert isinstance(node, nodes.Filter)
            assert node.node is not None
            keys.append(str(node.args[0].value))  # type: ignore[attr-defined]
            node = node.node
        else:
            break
    keys.reverse()
    return node, keys, computed, dynamic


def _is_attr_filter(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Filter)
        and node.name == "attr"
        and node.node is not None
        and len(node.args) == 1
        and isinstance(node.args[0], nodes.Const)
    )


def _collect(node: nodes.Node, local_names: set[str], out: list[Reference]) -> None:
    if isinstance(node, nodes.Getattr | nodes.Getitem) or _is_attr_filter(node):
        root, keys, computed, dynamic = _chain(node)
        if isinstance(root, nodes.Name):
            if root.ctx == "load" and root.name not in local_names:
                out.append(Reference(root.name, tuple(keys), dynamic))
        else:
            _collect(root, local_names, out)
        for extra in computed:
            _collect(extra, local_names, out)
        return
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in local_names:
            out.append(Reference(node.name, ()))
        return
    for child in node.iter_child_nodes():
        _collect(child, local_names, out)


_default_engine: TemplateEngine | None = None


def default_engine() -> TemplateEngine:
    """A process-wide :class:`TemplateEngine` (its compile cache is shared)."""
    global _default_engine
    if _default_engine is None:
        _default_engine = TemplateEngine()
    return _default_engine
