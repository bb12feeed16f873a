"""Traces: the record of every step attempt, and the record of a whole run."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.tools.base import ZERO_COST, Cost

SUMMARY_CHARS = 200


class StepStatus(StrEnum):
    """Where a step (or one attempt of it) stands."""

    PENDING = "pending"
    WAITING_APPROVAL = "waiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RecordKind(StrEnum):
    """What a step record traces: the step's own tool, its fallback, or its compensation."""

    ACTION = "action"
    FALLBACK = "fallback"
    COMPENSATION = "compensation"


class StepRecord(BaseModel):
    """The trace of one step attempt ("Integrated Action Reflection" in the design notes)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    step_id: str
    tool: str
    kind: RecordKind = RecordKind.ACTION
    item_index: int | None = Field(None, description="Position in the for_each list, if any.")
    attempt: int = Field(ge=0, description="1-based; 0 for steps that never ran (skipped).")
    status: StepStatus
    started_at: datetime
    ended_at: datetime
    duration_ms: float = Field(ge=0)
    confidence: float = Field(ge=0, le=1, description="Tool-reported, or derived from the outcome.")
    issues: list[str] = Field(default_factory=list)
    cost: Cost = ZERO_COST
    input_hash: str | None = None
    output_hash: str | None = None
    output_summary: str | None = None
    error_class: str | None = Field(None, description="Exception class name.")
    error_category: str | None = Field(None, description="transient, timeout, error, …")
    error_message: str | None = None


class RunRecord(BaseModel):
    """A whole run: its status, totals, outputs, and the records of every step attempt."""

    run_id: str
    blueprint: str
    inputs: dict[str, Any]
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: float = 0.0
    cost: Cost = ZERO_COST
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    failed_step: str | None = None
    step_status: dict[str, StepStatus] = Field(default_factory=dict)
    compensated: list[str] = Field(
        default_factory=list, description="Steps whose compensation ran, in the order it ran."
    )
    issues: list[str] = Field(default_factory=list)
    records: list[StepRecord] = Field(default_factory=list)

    def records_for(self, step_id: str) -> list[StepRecord]:
        """Every record of ``step_id``, in the order they were made."""
        return [r for r in self.records if r.step_id == step_id]

    def count(self, status: StepStatus) -> int:
        """How many steps ended with ``status``."""
        return sum(1 for s in self.step_status.values() if s == status)


_CANONICAL = json.JSONEncoder(sort_keys=True, default=repr, ensure_ascii=False)
_READABLE = json.JSONEncoder(default=repr, ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys: equal values give equal text whatever their dict order."""
    try:
        return _CANONICAL.encode(value)
    except (TypeError, ValueError):
        return repr(value)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_EMPTY_DICT_DIGEST = _sha256("{}")


def digest(value: Any) -> str:
    """A stable SHA-256 of a JSON-like value (dict key order does not matter)."""
    if type(value) is dict and not value:
        return _EMPTY_DICT_DIGEST
    return _sha256(canonical_json(value))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(value: Any, limit: int = SUMMARY_CHARS) -> str:
    """A one-line preview of a value, at most ``limit`` characters, keys in their own order."""
    if isinstance(value, str):
        return _shorten(value, limit)
    try:
        text = _READABLE.encode(value)
    except (TypeError, ValueError):
        text = repr(value)
    return _shorten(text, limit)


_NONE_FINGERPRINT = (_sha256("null"), "null")


def fingerprint(value: Any, limit: int = SUMMARY_CHARS) -> tuple[str, str]:
    """``(digest(value), summarize(value))``."""
    if value is None:
        return _NONE_FINGERPRINT
    return digest(value), summarize(value, limit)
