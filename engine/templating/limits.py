"""Resource limits of templates, so that no template can exhaust memory or CPU.

Sizes are checked before work is done where possible (padding, widths, joins, replacements,
concatenation, integer sizes); every ``{% for %}`` draws from a per-render iteration budget,
``range()`` from a per-render item budget, and a render's text output is capped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.visitor import NodeTransformer

from engine.errors import UnsafeTemplateError

#: Largest sequence ``*`` may build, in items (or characters).
MAX_SEQUENCE_PRODUCT = 1_000_000
#: Items all ``range()`` calls of one render may produce together (nested loops multiply).
MAX_RANGE_ITEMS = 100_000
#: Largest padding or field width (``ljust``, ``center``, ``'%9s'``, ``'{:9}'``).
MAX_WIDTH = 10_000
#: Largest text one render may produce (and largest string built along the way).
MAX_OUTPUT_CHARS = 10_000_000
#: Loop iterations (``{% for %}``, all loops together) one render may run.
MAX_LOOP_ITERATIONS = 1_000_000
#: Largest integer a template may compute, in bits (``*`` and ``**``).
MAX_INT_BITS = 4096
MAX_POWER_BITS = MAX_INT_BITS
PERCENT_WIDTH = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")
PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")

range_budget: ContextVar[list[int] | None] = ContextVar("range_budget", default=None)
loop_budget: ContextVar[list[int] | None] = ContextVar("loop_budget", default=None)


def check_widths(text: str, pattern: re.Pattern[str]) -> None:
    for match in pattern.finditer(text):
        for group in match.groups():
            if group and group.isdigit() and int(group) > MAX_WIDTH:
                raise UnsafeTemplateError(f"refusing a field width of {group} (limit {MAX_WIDTH})")


def capped_join(parts: Iterable[str]) -> str:
    kept: list[str] = []
    total = 0
    for part in parts:
        total += len(part)
        if total > MAX_OUTPUT_CHARS:
            raise UnsafeTemplateError(f"template output exceeds {MAX_OUTPUT_CHARS} characters")
        kept.append(part)
    return "".join(kept)


def refuse_wide(*groups: Iterable[Any]) -> None:
    for group in groups:
        for value in group:
            if isinstance(value, str) and value.isdigit() and len(value) < 20:
                value = int(value)
            if isinstance(value, int) and value > MAX_WIDTH:
                raise UnsafeTemplateError(f"refusing a width of {value} (limit {MAX_WIDTH})")


def replaced_length(text: Any, old: Any, new: Any) -> int:
    text, old, new = str(text), str(old), str(new)
    count = text.count(old) if old else len(text) + 1
    return len(text) + count * max(0, len(new) - len(old))


def capped_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's ``join``/``indent``/``replace``/``batch``/``slice`` with size limits checked
    before the work is done."""

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        value, rest = args[0], args[1:]
        if name == "join":
            parts = list(value)
            sep = str(rest[0]) if rest else str(kwargs.get("d", ""))
            if not (rest[1:] or "attribute" in kwargs):
                refuse_long(sum(len(str(p)) for p in parts) + len(sep) * len(parts), "joined text")
            return (parts, *rest)
        if name == "indent":
            width = rest[0] if rest else kwargs.get("width", 4)
            size = len(width) if isinstance(width, str) else int(width)
            refuse_wide([size])
            refuse_long(len(str(value)) * 2 + str(value).count("\n") * size, "indented text")
        elif name == "replace" and len(rest) >= 2:
            refuse_long(replaced_length(value, rest[0], rest[1]), "replaced text")
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


def mapping_values(args: tuple[Any, ...]) -> list[Iterable[Any]]:
    return [arg.values() for arg in args if isinstance(arg, Mapping)]


def check_percent(text: str, values: Any) -> None:
    """``'%9s' % x`` and ``'%*s' % (9, x)``: refuse widths over :data:`MAX_WIDTH`."""
    check_widths(text, PERCENT_WIDTH)
    if "*" in text:
        refuse_wide(values if isinstance(values, tuple) else (values,))


def format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    text = str(value)
    check_percent(text, tuple(args))
    return text % (kwargs or args)


def center_filter(value: Any, width: int = 80) -> str:
    if width > MAX_WIDTH:
        raise UnsafeTemplateError(f"refusing to center to width {width} (limit {MAX_WIDTH})")
    return str(value).center(width)


def tojson_filter(value: Any, indent: int | None = None) -> str:
    if indent is not None and indent > MAX_WIDTH:
        raise UnsafeTemplateError(f"refusing an indent of {indent} (limit {MAX_WIDTH})")
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def refuse_long(length: int, what: str) -> None:
    if length > MAX_OUTPUT_CHARS:
        raise UnsafeTemplateError(
            f"refusing to build {what} of {length} characters (limit {MAX_OUTPUT_CHARS})"
        )


def loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: all loops of a render share one budget."""
    budget = loop_budget.get()
    for item in iterable:
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise UnsafeTemplateError(
                    f"template loops ran more than {MAX_LOOP_ITERATIONS} times in one render"
                )
        yield item


def concat_guard(parts: list[Any]) -> str:
    """``a ~ b``: the joined length is checked before the string is built."""
    texts = [str(part) for part in parts]
    refuse_long(sum(len(text) for text in texts), "a string with '~'")
    return "".join(texts)


def strict_guard(container: Any) -> Any:
    """List, tuple and dict literals may not hold undefined values."""
    values = container.items() if isinstance(container, dict) else container
    for value in values:
        for part in value if isinstance(container, dict) else (value,):
            if isinstance(part, Undefined):
                part._fail_with_undefined_error()
    return container


class SafetyRewriter(NodeTransformer):
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
