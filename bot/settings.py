"""Kaizen's configuration: environment variables with a ``KAIZEN_`` prefix (``.env`` works too).

Every setting has an embedded default, so Kaizen starts with none set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.tools.builtin import DEFAULT_SHELL_ALLOW, BuiltinToolsConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KAIZEN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path(".kaizen"), description="Where Kaizen keeps its local state.")
    workspace: Path | None = Field(
        None,
        description="Directory the file and shell tools work in (default: data_dir/workspace).",
    )
    shell_allow: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SHELL_ALLOW),
        description="Executables shell.run may start (JSON list in the environment).",
    )
    http_allowed_hosts: list[str] | None = Field(
        None, description="Hosts http.request may call (JSON list); unset allows any."
    )
    max_concurrency: int = Field(64, ge=1, description="Steps running at once, across all runs.")
    max_threads: int = Field(16, ge=1, description="Threads for tools written as sync functions.")

    @property
    def workspace_dir(self) -> Path:
        return self.workspace or self.data_dir / "workspace"

    def builtin_tools_config(self) -> BuiltinToolsConfig:
        return BuiltinToolsConfig(
            workspace=self.workspace_dir,
            shell_allow=tuple(self.shell_allow),
            http_allowed_hosts=tuple(self.http_allowed_hosts) if self.http_allowed_hosts else None,
        )
