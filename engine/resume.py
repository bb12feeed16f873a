"""Resuming a run: what an earlier, interrupted execution of it already did.

A store that persisted a run's events builds a :class:`Resume` from them and passes it to
:meth:`engine.executor.Executor.start` with the same run id. The engine then:

- does not run settled steps again: their status and output come from the resume, and
  templates see them as if they had just run (a settled failure fails the run again, and the
  saga undoes what succeeded, as it would have);
- does not run a for_each item again that succeeded;
- does not ask again for an approval that was granted;
- does not compensate again what was already compensated.

Everything else runs as in a fresh run. Which interrupted calls may simply run again (tools
with no side effect, or idempotent ones) and which need a person first (mutating ones) is the
store's decision, made before it resumes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.approvals import ApprovalDecision
from engine.records import RecordKind, StepRecord, StepStatus

#: A step, or one item of a for_each step: ``(step_id, item_index or None)``.
CallKey = tuple[str, int | None]


class PriorCall(BaseModel):
    """A call that ended before the interruption: its final record and its output."""

    model_config = ConfigDict(frozen=True)

    record: StepRecord
    output: Any = None


class Resume(BaseModel):
    """What a run had done when it was interrupted."""

    model_config = ConfigDict(frozen=True)

    steps: dict[str, PriorCall] = Field(
        default_factory=dict,
        description="Settled steps (succeeded, failed or skipped), by id.",
    )
    items: dict[str, dict[int, PriorCall]] = Field(
        default_factory=dict,
        description="Items of for_each steps that succeeded, by step and index.",
    )
    completed: list[CallKey] = Field(
        default_factory=list,
        description="Successful calls in the order they happened (the saga undoes them in "
        "reverse). Defaults to the order of ``steps`` and ``items``.",
    )
    compensated: list[CallKey] = Field(
        default_factory=list, description="Calls whose compensation already ran."
    )
    approvals: dict[str, ApprovalDecision] = Field(
        default_factory=dict, description="Approvals already granted, by step id."
    )
    records: list[StepRecord] = Field(
        default_factory=list,
        description="Every earlier record (attempts, fallbacks, compensations), for the run's "
        "totals and trace.",
    )

    def successes(self) -> list[CallKey]:
        """``completed``, or (when not given) every success in ``steps`` and ``items``."""
        if self.completed:
            return list(self.completed)
        found: list[CallKey] = []
        for sid, prior in self.steps.items():
            if prior.record.status == StepStatus.SUCCEEDED and sid not in self.items:
                found.append((sid, None))
        for sid, items in self.items.items():
            found.extend((sid, index) for index in sorted(items))
        return found

    def check(self, step_ids: set[str], for_each_steps: set[str] | None = None) -> None:
        """Refuse a resume that names steps the blueprint does not have, or whose records do
        not fit where they are filed."""
        unknown = (set(self.steps) | set(self.items) | set(self.approvals)) - step_ids
        unknown |= {sid for sid, _ in (*self.completed, *self.compensated)} - step_ids
        if unknown:
            raise ValueError(
                f"the resume names steps this blueprint does not have: {sorted(unknown)}"
            )
        for sid, prior in self.steps.items():
            if prior.record.status not in _SETTLED:
                raise ValueError(
                    f"step '{sid}': a settled step must have succeeded, failed or been "
                    f"skipped, not {prior.record.status}"
                )
            if prior.record.kind is RecordKind.COMPENSATION:
                raise ValueError(f"step '{sid}': a compensation record cannot settle a step")
            if prior.record.step_id != sid:
                raise ValueError(f"steps['{sid}'] holds a record of step '{prior.record.step_id}'")
        for sid, items in self.items.items():
            if for_each_steps is not None and sid not in for_each_steps:
                raise ValueError(f"items['{sid}']: '{sid}' is not a for_each step")
            for index, prior in items.items():
                record = prior.record
                where = f"items['{sid}'][{index}]"
                if record.step_id != sid or record.item_index != index:
                    raise ValueError(
                        f"{where} holds a record of {record.step_id}[{record.item_index}]"
                    )
                if record.status != StepStatus.SUCCEEDED:
                    raise ValueError(
                        f"{where}: only items that succeeded are kept, not {record.status}"
                    )
                if record.kind is RecordKind.COMPENSATION:
                    raise ValueError(f"{where}: a compensation record is not an item's result")


_SETTLED = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)
