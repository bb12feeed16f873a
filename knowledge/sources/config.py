"""How tool sources are configured (a ``kaizen.toml`` file or ``KAIZEN_*`` environment variables).

```toml
[[mcp_servers]]
name = "fleet"                      # tools become fleet.<tool>
command = "python"                  # stdio: a command to start …
args = ["-m", "fleet_server"]
# url = "http://127.0.0.1:8000/mcp" # … or a streamable HTTP endpoint

[[openapi_documents]]
name = "petstore"                   # operations become petstore.<operationId>
spec = "specs/petstore.yaml"        # a file (relative to kaizen.toml) or an http(s) URL
base_url = "http://127.0.0.1:8080"  # overrides the document's servers
```
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.tools.base import RiskLevel, SideEffect

SOURCE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class McpServerConfig(_Config):
    """An MCP server: started over stdio (``command``) or reached by streamable HTTP (``url``)."""

    name: str = Field(pattern=SOURCE_NAME_PATTERN, description="Prefix of its tools' names.")
    command: str | None = Field(None, description="stdio: the program to start.")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, str] = Field(
        default_factory=dict, description="stdio: extra environment variables for the server."
    )
    cwd: str | None = Field(None, description="stdio: working directory of the server.")
    url: str | None = Field(None, description="streamable HTTP: the server's MCP endpoint.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="streamable HTTP: headers sent with every request."
    )
    timeout_s: float = Field(30.0, gt=0, description="Longest wait for one tool call.")
    side_effect: SideEffect = Field(
        SideEffect.MUTATING,
        description="Side effect of tools that do not say (MCP readOnlyHint / idempotentHint "
        "annotations win).",
    )
    risk: RiskLevel = RiskLevel.MEDIUM
    enabled: bool = True

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                f"MCP server '{self.name}': give either 'command' (stdio) or 'url' "
                "(streamable HTTP), not both or neither"
            )
        return self


class OpenAPIDocumentConfig(_Config):
    """One OpenAPI 3 document: each operation becomes a tool."""

    name: str = Field(pattern=SOURCE_NAME_PATTERN, description="Prefix of its tools' names.")
    spec: str = Field(description="Path (relative to kaizen.toml) or http(s) URL of the document.")
    base_url: str | None = Field(None, description="Overrides the document's first server URL.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with every call (e.g. Authorization)."
    )
    timeout_s: float = Field(30.0, gt=0)
    risk: RiskLevel = RiskLevel.MEDIUM
    enabled: bool = True


class ToolSourcesConfig(_Config):
    """Every configured tool source."""

    mcp_servers: list[McpServerConfig] = Field(default_factory=list)
    openapi_documents: list[OpenAPIDocumentConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ToolSourcesConfig:
        seen: dict[str, str] = {}
        for kind, items in (
            ("MCP server", self.mcp_servers),
            ("OpenAPI document", self.openapi_documents),
        ):
            for item in items:
                if item.name in seen:
                    raise ValueError(
                        f"tool source name '{item.name}' is used twice ({seen[item.name]} and "
                        f"{kind}); names prefix tool names, so they must be unique"
                    )
                seen[item.name] = kind
        return self


def describe(config: ToolSourcesConfig) -> list[dict[str, Any]]:
    """A short listing of the configured sources (for ``kaizen tools sources``)."""
    rows: list[dict[str, Any]] = []
    for server in config.mcp_servers:
        transport = f"stdio: {server.command}" if server.command else f"http: {server.url}"
        rows.append(
            {"name": server.name, "kind": "mcp", "where": transport, "enabled": server.enabled}
        )
    for doc in config.openapi_documents:
        rows.append(
            {"name": doc.name, "kind": "openapi", "where": doc.spec, "enabled": doc.enabled}
        )
    return rows
