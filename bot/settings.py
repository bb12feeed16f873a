"""Kaizen's configuration: environment variables with a ``KAIZEN_`` prefix (``.env`` works too).

Every setting has an embedded default, so Kaizen starts with none set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from engine.tools.builtin import DEFAULT_SHELL_ALLOW, BuiltinToolsConfig
from knowledge.sources.config import McpServerConfig, OpenAPIDocumentConfig, ToolSourcesConfig

#: The configuration file (TOML; every setting below by its field name), if it exists.
CONFIG_FILE_ENV = "KAIZEN_CONFIG"
DEFAULT_CONFIG_FILE = "kaizen.toml"


def config_file() -> Path:
    """``$KAIZEN_CONFIG``, else ``kaizen.toml`` in the working directory."""
    return Path(os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)


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
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database (default: SQLite file data_dir/kaizen.db); "
        "postgresql://user:pass@host/db for PostgreSQL.",
    )
    store_output_limit_bytes: int = Field(
        64 * 1024,
        ge=256,
        description="Step outputs larger than this are stored truncated, with hash and size.",
    )
    run_lease_s: float = Field(
        60.0,
        gt=1,
        description="A running run's owner renews its claim this often (x3); a run whose claim "
        "ran out is taken over and resumed by another Kaizen process.",
    )
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "KAIZEN_SLACK_BOT_TOKEN")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "KAIZEN_SLACK_APP_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "KAIZEN_SLACK_SIGNING_SECRET")
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=AliasChoices("SLACK_API_URL", "KAIZEN_SLACK_API_URL"),
        description="Slack Web API base URL (GovSlack: https://slack-gov.com/api/); ends in /.",
    )
    slack_approvers: list[str] = Field(
        default_factory=list,
        description="Who may approve proposals and high-risk steps: Slack user ids (U…) and "
        "user group ids (S…), JSON list. Empty: the person who started the run, and for "
        "proposals anyone in an allowed channel.",
    )
    slack_allowed_channels: list[str] = Field(
        default_factory=list,
        description="Channel ids (C…) Kaizen acts in (JSON list); empty allows every channel "
        "it is invited to.",
    )
    slack_feedback_reactions: list[str] = Field(
        default_factory=lambda: [
            "+1",
            "thumbsup",
            "white_check_mark",
            "heavy_check_mark",
            "tada",
            "rocket",
            "-1",
            "thumbsdown",
            "x",
            "warning",
            "rotating_light",
            "confused",
        ],
        description="Reactions on a run card that are recorded as feedback on that run.",
    )
    slack_update_interval_s: float = Field(
        1.0,
        ge=0.0,
        description="Least time between two updates of a live run card (Slack rate-limits "
        "chat.update to about one a second per message).",
    )
    slack_port: int = Field(3000, ge=1, le=65535, description="Port of `kaizen serve --http`.")
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "KAIZEN_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "KAIZEN_OPENAI_BASE_URL"),
        description="Any OpenAI-compatible endpoint (Azure, Ollama, vLLM); setting it (or "
        "OPENAI_API_KEY) turns the planner's LLM path on.",
    )
    openai_model: str = Field("gpt-4o-mini", description="Chat model the planner uses.")
    planner_timeout_s: float = Field(
        20.0, gt=0, description="Longest the LLM may take for a plan; then the offline planner."
    )
    planner_max_repairs: int = Field(
        2, ge=0, le=10, description="LLM answers sent back with validation errors, at most."
    )
    planner_tools_k: int = Field(8, ge=1, le=50, description="Tools shown to the LLM.")
    planner_exemplars_k: int = Field(3, ge=0, le=20, description="Past requests shown to it.")
    embedding_backend: Literal["minilm", "openai"] = Field(
        "minilm",
        description="Tool and exemplar embeddings: minilm (offline, bundled) or openai "
        "(the embeddings endpoint of openai_base_url).",
    )
    openai_embedding_model: str = Field("text-embedding-3-small")
    mcp_servers: list[McpServerConfig] = Field(
        default_factory=list, description="MCP servers whose tools Kaizen can use."
    )
    openapi_documents: list[OpenAPIDocumentConfig] = Field(
        default_factory=list, description="OpenAPI 3 documents whose operations become tools."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then ``.env``, then the TOML config file."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
            file_secret_settings,
        )

    @property
    def tool_sources(self) -> ToolSourcesConfig:
        """The MCP servers and OpenAPI documents (names checked for clashes)."""
        return ToolSourcesConfig(
            mcp_servers=self.mcp_servers, openapi_documents=self.openapi_documents
        )

    @property
    def slack_socket_mode(self) -> bool:
        """Whether Slack tokens for Socket Mode are set (bot token and app-level token)."""
        return self.slack_bot_token is not None and self.slack_app_token is not None

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or bool(self.openai_base_url)

    @property
    def database(self) -> str:
        """The database URL in use: ``database_url``, or SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kaizen.db').resolve()}"

    @property
    def workspace_dir(self) -> Path:
        return self.workspace or self.data_dir / "workspace"

    def secret_values(self) -> list[str]:
        """Values that must never be written anywhere: every secret setting, and the
        database password."""
        values = [
            secret.get_secret_value()
            for name in type(self).model_fields
            if isinstance(secret := getattr(self, name), SecretStr)
        ]
        if self.database_url:
            try:
                password = make_url(self.database_url).password
            except Exception:  # an invalid URL is reported when the database is opened
                password = None
            if password:
                values.append(str(password))
        for server in self.mcp_servers:  # tokens handed to tool servers
            values.extend([*server.env.values(), *server.headers.values()])
        for document in self.openapi_documents:
            values.extend(document.headers.values())
        return [v for v in values if v and len(v) >= 4]

    def builtin_tools_config(self) -> BuiltinToolsConfig:
        return BuiltinToolsConfig(
            workspace=self.workspace_dir,
            shell_allow=tuple(self.shell_allow),
            http_allowed_hosts=tuple(self.http_allowed_hosts) if self.http_allowed_hosts else None,
        )
