"""The tool registry: every tool a blueprint may name, looked up by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine.errors import ToolDefinitionError, UnknownToolError
from engine.problems import closest
from engine.tools.base import Tool, ToolSpec
from engine.tools.function import FunctionTool


class ToolRegistry:
    """Tools by name. Registering a name twice is an error unless ``replace=True``."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def register(self, item: Tool | Callable[..., Any], *, replace: bool = False) -> Tool:
        """Add a tool (or a typed function, wrapped with defaults); returns the tool."""
        registered = item if isinstance(item, Tool) else FunctionTool(item)
        if registered.name in self._tools and not replace:
            raise ToolDefinitionError(f"a tool named '{registered.name}' is already registered")
        self._tools[registered.name] = registered
        return registered

    def unregister(self, name: str) -> None:
        """Remove a tool; unknown names raise :class:`UnknownToolError`."""
        self.get(name)
        del self._tools[name]

    def get(self, name: str) -> Tool:
        """The tool called ``name``; raises :class:`UnknownToolError` with suggestions."""
        try:
            return self._tools[name]
        except KeyError:
            suggestions = self.suggest(name)
            hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
            raise UnknownToolError(f"unknown tool '{name}'{hint}") from None

    def find(self, name: str) -> Tool | None:
        """The tool called ``name``, or ``None``."""
        return self._tools.get(name)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Registered names closest to ``name``."""
        return closest(name, self._tools, n=n)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [self._tools[name].spec for name in self.names()]

    def merged(self, other: ToolRegistry) -> ToolRegistry:
        """A new registry with this one's tools and ``other``'s (``other`` wins on clashes)."""
        result = ToolRegistry(self._tools.values())
        for item in other:
            result.register(item, replace=True)
        return result

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)
