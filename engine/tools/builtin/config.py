"""Settings of the built-in tools (the bot fills these from its configuration)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

#: Read-only commands that are safe to allow by default.
DEFAULT_SHELL_ALLOW = (
    "echo",
    "date",
    "uname",
    "hostname",
    "uptime",
    "df",
    "whoami",
    "true",
    "false",
)


class BuiltinToolsConfig(BaseModel):
    """Where file tools may write, which executables ``shell.run`` may start, HTTP limits."""

    model_config = ConfigDict(frozen=True)

    workspace: Path = Field(
        default_factory=lambda: Path(".kaizen") / "workspace",
        description="The only directory file.read/file.write may touch.",
    )
    shell_allow: tuple[str, ...] = Field(
        DEFAULT_SHELL_ALLOW, description="Executable names (or absolute paths) shell.run may start."
    )
    shell_max_output_bytes: int = Field(64 * 1024, ge=1024)
    http_allowed_hosts: tuple[str, ...] | None = Field(
        None, description="Hosts http.request may call; None allows any host."
    )
    http_max_response_bytes: int = Field(1024 * 1024, ge=1024)
    file_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
