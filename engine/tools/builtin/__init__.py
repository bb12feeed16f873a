"""Built-in tools that need nothing beyond the machine: HTTP, shell, JMESPath, templates,
sleep, and workspace files."""

from __future__ import annotations

from engine.templating import TemplateEngine, default_engine
from engine.tools.base import Tool
from engine.tools.builtin.config import DEFAULT_SHELL_ALLOW, BuiltinToolsConfig
from engine.tools.builtin.data import make_data_tools
from engine.tools.builtin.files import make_file_tools
from engine.tools.builtin.http import make_http_tools
from engine.tools.builtin.shell import make_shell_tools
from engine.tools.builtin.text import make_text_tools
from engine.tools.builtin.timing import make_time_tools
from engine.tools.registry import ToolRegistry


def builtin_tools(
    config: BuiltinToolsConfig | None = None, engine: TemplateEngine | None = None
) -> list[Tool]:
    """Fresh instances of every built-in tool, configured by ``config``."""
    config = config or BuiltinToolsConfig()
    return [
        *make_http_tools(config),
        *make_shell_tools(config),
        *make_data_tools(),
        *make_text_tools(engine or default_engine()),
        *make_time_tools(),
        *make_file_tools(config),
    ]


def builtin_registry(config: BuiltinToolsConfig | None = None) -> ToolRegistry:
    """A registry holding the built-in tools."""
    return ToolRegistry(builtin_tools(config))


__all__ = ["DEFAULT_SHELL_ALLOW", "BuiltinToolsConfig", "builtin_registry", "builtin_tools"]
