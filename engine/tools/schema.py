"""Tools described by a JSON Schema instead of a Python signature.

MCP servers and OpenAPI documents describe their tools' parameters as JSON Schema; a
:class:`SchemaTool` checks params against that schema (unknown and missing params, the types of
literal values) and hands the call to a function supplied by whoever knows how to reach the
tool. A tool with no such function is *described only*: it can be searched, planned and
validated, and calling it fails with a clear error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from engine.errors import PermanentToolError, ToolDefinitionError, ToolInputError
from engine.problems import did_you_mean
from engine.tools.base import ParamIssue, Tool, ToolContext, ToolSpec

#: ``await call(params, ctx)`` makes the call and returns the output.
ToolCallable = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


class SchemaTool(Tool):
    """A tool whose params are checked against ``spec.params_schema`` (JSON Schema)."""

    def __init__(self, spec: ToolSpec, call: ToolCallable | None = None) -> None:
        schema = spec.params_schema or {"type": "object"}
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except SchemaError as exc:
            raise ToolDefinitionError(
                f"tool '{spec.name}': its parameter schema is not valid JSON Schema ({exc.message})"
            ) from exc
        self.spec = spec
        self.call = call
        self._validator = validator_class(schema)
        properties = schema.get("properties")
        self.param_names: list[str] = list(properties) if isinstance(properties, dict) else []
        required = schema.get("required")
        self.required_params: list[str] = list(required) if isinstance(required, list) else []
        extra = schema.get("additionalProperties", True)
        self.open_params = extra is not False

    def check_params(
        self, params: Mapping[str, Any], templated: frozenset[str]
    ) -> list[ParamIssue]:
        issues: list[ParamIssue] = []
        if not self.open_params:
            for key in params:
                if key not in self.param_names:
                    hint = did_you_mean(key, self.param_names) or _list_params(self.param_names)
                    issues.append(
                        ParamIssue(
                            key, "unknown_param", f"'{self.name}' has no parameter '{key}'", hint
                        )
                    )
        for key in self.required_params:
            if key not in params:
                issues.append(
                    ParamIssue(key, "missing_param", f"required parameter '{key}' is missing")
                )
        literal = {k: v for k, v in params.items() if k not in templated}
        for error in self._validator.iter_errors(literal):
            path = [str(p) for p in error.absolute_path]
            if error.validator in ("required", "additionalProperties") and not path:
                continue  # reported above, with templated params counted as present
            issues.append(ParamIssue(".".join(path), "invalid_param", error.message))
        return issues

    def parse_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        issues = self.check_params(params, frozenset())
        if issues:
            detail = "; ".join(
                f"{issue.param}: {issue.message}" if issue.param else issue.message
                for issue in issues
            )
            raise ToolInputError(f"invalid params for '{self.name}': {detail}")
        return dict(params)

    async def invoke(self, params: dict[str, Any], ctx: ToolContext) -> Any:
        if self.call is None:
            raise PermanentToolError(
                f"tool '{self.name}' is described only (no implementation is connected)"
            )
        return await self.call(params, ctx)


def _list_params(names: list[str]) -> str:
    return f"its parameters are: {', '.join(names)}" if names else "it takes no parameters"
