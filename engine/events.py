"""Events the executor emits while a run progresses, and the sinks that receive them.

The executor awaits each ``emit`` before it goes on, so a sink that commits events to a
database makes every transition durable before anything that depends on it happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from engine.approvals import ApprovalDecision, ApprovalRequest
from engine.records import RecordKind, RunRecord, StepRecord


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    at: datetime


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    blueprint: str
    inputs: dict[str, Any]
    resumed: bool = False
    """True when this run continues an interrupted execution (see :mod:`engine.resume`)."""


class StepStarted(_Event):
    """One attempt of a step (or of its fallback or compensation) began."""

    type: Literal["step_started"] = "step_started"
    step_id: str
    tool: str
    kind: RecordKind = RecordKind.ACTION
    attempt: int
    item_index: int | None = None
    input_hash: str | None = None


class StepRetried(_Event):
    """An attempt failed and another will follow after ``delay_s``."""

    type: Literal["step_retried"] = "step_retried"
    record: StepRecord
    delay_s: float


class StepFinished(_Event):
    """An attempt ended for good (succeeded, or failed with no retry left).

    ``final`` is true for the record that settles the step's status and output: the last
    attempt, the fallback, or the collected result of a ``for_each`` step.
    """

    type: Literal["step_finished"] = "step_finished"
    record: StepRecord
    output: Any = None
    final: bool = True


class StepSkipped(_Event):
    type: Literal["step_skipped"] = "step_skipped"
    record: StepRecord
    reason: str


class ApprovalRequested(_Event):
    type: Literal["approval_requested"] = "approval_requested"
    request: ApprovalRequest


class ApprovalDecided(_Event):
    type: Literal["approval_decided"] = "approval_decided"
    step_id: str
    decision: ApprovalDecision


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    run: RunRecord


RunEvent = (
    RunStarted
    | StepStarted
    | StepRetried
    | StepFinished
    | StepSkipped
    | ApprovalRequested
    | ApprovalDecided
    | RunFinished
)


@runtime_checkable
class EventSink(Protocol):
    """Receives every event of every run. ``emit`` raising fails the run (nothing is lost
    silently)."""

    async def emit(self, event: RunEvent) -> None: ...


class NullSink:
    """Drops events."""

    async def emit(self, event: RunEvent) -> None:
        return None


class MemorySink:
    """Keeps events in a list (tests, the CLI)."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    async def emit(self, event: RunEvent) -> None:
        self.events.append(event)

    def of_type(self, kind: type[_Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def records(self) -> list[StepRecord]:
        """Every step record carried by the events, in order."""
        found: list[StepRecord] = []
        for event in self.events:
            record = getattr(event, "record", None)
            if record is not None:
                found.append(record)
        return found


class FanoutSink:
    """Sends each event to several sinks, in order."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = list(sinks)

    async def emit(self, event: RunEvent) -> None:
        for sink in self.sinks:
            await sink.emit(event)
