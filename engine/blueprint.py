"""The blueprint model: a named, typed DAG of tool calls.

These pydantic models are the contract between whoever writes a blueprint (a person, the
planner's LLM) and the executor. Structural rules live here (field types, ranges, identifier
syntax); rules that need the tool registry or the whole graph live in :mod:`engine.validation`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.errors import DEFAULT_RETRY_ON, ERROR_CATEGORIES, KNOWN_EXCEPTION_NAMES
from engine.problems import did_you_mean

IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: Names a template may start from, besides ``for_each`` variables.
TEMPLATE_ROOTS: frozenset[str] = frozenset({"inputs", "steps", "run"})

InputType = Literal["string", "integer", "number", "boolean", "array", "object", "any"]


class OnError(StrEnum):
    """What happens when a step has failed all its attempts."""

    FAIL = "fail"
    CONTINUE = "continue"
    FALLBACK = "fallback"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetryPolicy(_Model):
    """How often and how patiently a failed attempt is retried."""

    attempts: int = Field(1, ge=1, le=50, description="Total attempts, including the first.")
    backoff_s: float = Field(1.0, ge=0, le=3600, description="Delay before the first retry.")
    multiplier: float = Field(2.0, ge=1, le=10, description="Delay growth factor per retry.")
    max_backoff_s: float = Field(60.0, ge=0, le=86400, description="Cap on any single delay.")
    jitter: float = Field(
        0.1, ge=0, le=1, description="Random spread of each delay, as a fraction (0.1 = ±10%)."
    )
    errors: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_ON),
        description=(
            "Error categories (transient, timeout, error, invalid_params) or exception class "
            "names that are retried. Default: transient errors and timeouts."
        ),
    )

    @field_validator("errors")
    @classmethod
    def _known_errors(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry in ERROR_CATEGORIES or entry in KNOWN_EXCEPTION_NAMES:
                continue
            if entry.endswith(("Error", "Exception")) and entry.isidentifier():
                continue  # a tool's own exception class
            known = ", ".join(sorted(ERROR_CATEGORIES))
            hint = did_you_mean(entry, [*ERROR_CATEGORIES, *KNOWN_EXCEPTION_NAMES])
            raise ValueError(
                f"'{entry}' is neither an error category ({known}) nor an exception class name"
                + (f"; {hint}" if hint else "")
            )
        return value

    def delay(self, retry_number: int, unit_random: float) -> float:
        """The wait before retry ``retry_number`` (1-based), given a uniform random in [0, 1)."""
        base = min(self.max_backoff_s, self.backoff_s * self.multiplier ** (retry_number - 1))
        spread = base * self.jitter * (2.0 * unit_random - 1.0)
        return max(0.0, min(self.max_backoff_s, base + spread))


class ToolCall(_Model):
    """A tool invocation outside the main step: a fallback or a compensation."""

    tool: str = Field(min_length=1, description="Registered tool name, e.g. 'http.request'.")
    params: dict[str, Any] = Field(default_factory=dict, description="Params; may be templates.")
    timeout_s: float | None = Field(None, gt=0, le=86400)


class ForEach(_Model):
    """Fan a step out over a list; outputs are collected in the list's order."""

    items: str | list[Any] = Field(description="A list, or a template that evaluates to one.")
    as_: str = Field(
        "item",
        alias="as",
        pattern=IDENTIFIER_PATTERN,
        description="Variable name of the current item in the step's templates.",
    )
    concurrency: int = Field(10, ge=1, le=1000, description="Items running at the same time.")

    @field_validator("as_")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in TEMPLATE_ROOTS or value == "index":
            raise ValueError(f"'{value}' is reserved; choose another variable name")
        return value


class Approval(_Model):
    """A human gate: the step waits for an approve/deny decision before it runs."""

    approvers: list[str] = Field(
        default_factory=list,
        description="Who may decide (user ids or group names). Empty: anyone allowed to run it.",
    )
    message: str | None = Field(None, description="What approvers see; may be a template.")
    timeout_s: float | None = Field(
        None, gt=0, description="Deny automatically when nobody decides within this time."
    )


class InputSpec(_Model):
    """A declared blueprint input."""

    type: InputType = "string"
    description: str = ""
    default: Any = None
    required: bool | None = Field(
        None, description="Defaults to true when no default is given, false otherwise."
    )
    enum: list[Any] | None = None

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return self.default is None and "default" not in self.model_fields_set


class Step(_Model):
    """One node of the DAG: a tool call with its control-flow settings."""

    id: str = Field(pattern=IDENTIFIER_PATTERN, max_length=64, description="Unique step id.")
    tool: str = Field(min_length=1, description="Registered tool name, e.g. 'slack.post_message'.")
    description: str = ""
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Tool params. Strings may be templates: '{{ steps.prs.output.count }}'.",
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Steps that must finish first (ordering only; template references add data "
        "dependencies on their own).",
    )
    when: str | None = Field(
        None, description="Condition template; the step is skipped when it is falsy."
    )
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(None, gt=0, le=86400, description="Limit per attempt.")
    on_error: OnError = OnError.FAIL
    fallback: ToolCall | None = Field(None, description="Run instead when every attempt failed.")
    compensate: ToolCall | None = Field(
        None, description="Undo action, run in reverse completion order if the run fails."
    )
    for_each: ForEach | None = None
    approval: Approval | None = None

    @model_validator(mode="after")
    def _fallback_matches_on_error(self) -> Step:
        if self.on_error is OnError.FALLBACK and self.fallback is None:
            raise ValueError("on_error is 'fallback' but no fallback is given")
        if self.fallback is not None and self.on_error is not OnError.FALLBACK:
            raise ValueError("a fallback is given but on_error is not 'fallback'")
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.retry or _NO_RETRY


_NO_RETRY = RetryPolicy(attempts=1)


class Blueprint(_Model):
    """A plan: declared inputs, steps forming a DAG, and outputs computed from step results."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        title="Kaizen blueprint",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
    description: str = ""
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="Named results; values may be templates."
    )

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        import re

        for key in value:
            if not re.match(IDENTIFIER_PATTERN, key):
                raise ValueError(f"input name '{key}' must be an identifier (letters, digits, _)")
        return value

    def step(self, step_id: str) -> Step:
        """The step with id ``step_id`` (``KeyError`` if none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
