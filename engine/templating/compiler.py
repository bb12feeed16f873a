"""The template engine: compile values and conditions once, render them many times."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import nodes

from engine.templating.compiled import (
    Compiled,
    Constant,
    Expression,
    MappingValue,
    SequenceValue,
    TextTemplate,
)
from engine.templating.references import (
    Reference,
    collect_references,
    is_template,
    iter_template_strings,
    unsafe_accesses,
)
from engine.templating.sandbox import KaizenSandbox

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
_FALSY_STRINGS = frozenset({"", "false", "0", "no", "none", "null", "off"})


class TemplateEngine:
    """Compiles values and conditions once; renders them against a context many times."""

    def __init__(self) -> None:
        self.env = KaizenSandbox()
        self._compile_string = lru_cache(maxsize=4096)(self._compile_string_uncached)
        self._analyze = lru_cache(maxsize=4096)(self._analyze_uncached)

    def _compile_string_uncached(self, source: str) -> Compiled:
        if not is_template(source):
            return Constant(source)
        match = _SINGLE_EXPRESSION.match(source)
        if match and "{{" not in match["expr"] and "}}" not in match["expr"]:
            return Expression(self.env, source, match["expr"])
        return TextTemplate(self.env, source)

    def compile(self, value: Any) -> Compiled:
        """Compile ``value`` (any JSON-like structure); raises :class:`TemplateError` on syntax."""
        if isinstance(value, str):
            return self._compile_string(value)
        if isinstance(value, dict):
            items = {str(k): self.compile(v) for k, v in value.items()}
            if not any(v.has_templates for v in items.values()):
                return Constant(value)
            return MappingValue(items)
        if isinstance(value, list | tuple):
            elements = [self.compile(v) for v in value]
            if not any(v.has_templates for v in elements):
                return Constant(value)
            return SequenceValue(elements)
        return Constant(value)

    def is_expression(self, source: str) -> bool:
        """Whether ``source`` is exactly one ``{{ expression }}`` (so it keeps its type)."""
        return isinstance(self._compile_string(source), Expression)

    def compile_params(self, params: dict[str, Any], raw: frozenset[str] = frozenset()) -> Compiled:
        """Compile a params mapping, leaving the ``raw`` keys unrendered."""
        items = {k: Constant(v) if k in raw else self.compile(v) for k, v in params.items()}
        if not any(v.has_templates for v in items.values()):
            return Constant(params)
        return MappingValue(items)

    def compile_condition(self, source: str) -> Compiled:
        """Compile a ``when`` condition: ``"{{ expr }}"`` or a bare expression ``"expr"``."""
        if is_template(source):
            return self._compile_string(source)
        return Expression(self.env, source, source)

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
        collect_references(tree, local_names, found)
        return tuple(found), tuple(unsafe_accesses(tree))

    def unsafe_accesses(self, source: str, *, condition: bool = False) -> list[str]:
        """Names starting with ``_`` that the template tries to read."""
        return list(self._analyze(source, condition)[1])

    def references_in(self, source: str, *, condition: bool = False) -> list[Reference]:
        """Variable paths referred to by one template string (or bare condition expression).
        Raises ``jinja2.TemplateSyntaxError`` on bad syntax."""
        return list(self._analyze(source, condition)[0])


_default_engine: TemplateEngine | None = None


def default_engine() -> TemplateEngine:
    """A process-wide :class:`TemplateEngine` (its compile cache is shared)."""
    global _default_engine
    if _default_engine is None:
        _default_engine = TemplateEngine()
    return _default_engine
