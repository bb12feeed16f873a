"""What one step (or attempt) of a run ends with, and the run's internal signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import PermanentToolError
from engine.records import StepRecord


@dataclass(slots=True)
class Outcome:
    """How an attempt (or a whole step) ended: its record, and its output or error."""

    record: StepRecord
    output: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StepFailed(Exception):
    """A step failed before or outside its attempts (template error, denial)."""

    def __init__(self, error: BaseException, record: StepRecord) -> None:
        self.error = error
        self.record = record


class Stopped(Exception):
    """The run is failing or cancelled, and this step was stopped at a safe point."""


class ToolCancelledItselfError(PermanentToolError):
    """A tool raised ``CancelledError`` although nobody cancelled it."""
