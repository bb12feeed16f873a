"""The saga: when a run fails (or is cancelled with ``compensate=True``), undo what succeeded.

Part of :class:`engine.run.Run`.
"""

from __future__ import annotations

from typing import Any

from engine.attempts import Attempts
from engine.errors import (
    EventSinkError,
    TemplateError,
)
from engine.outcomes import Stopped
from engine.plan import PlannedStep
from engine.records import (
    RecordKind,
    StepStatus,
)


class Saga(Attempts):
    """Compensation of completed work, latest first."""

    def fanned_item(self, planned: PlannedStep, index: int) -> Any:
        """Item ``index`` of a for_each step's list (rendered again for a step restored from
        an interrupted run, which did not render it in this process)."""
        items = self.fanned_items.get(planned.id)
        if items is None and planned.items is not None:
            try:
                items = self.fanned_items[planned.id] = list(planned.items.render(self.context))
            except (TemplateError, TypeError):
                items = None
        if items is None or index >= len(items):
            return None
        return items[index]

    async def compensate(self) -> None:
        """Undo what succeeded, latest first: each step's ``compensate`` call, and for a for_each
        step one call per item that succeeded (with the item as its variable). The call sees
        ``output``: the result it undoes. Failures are recorded and the rest still run."""
        for sid, index in reversed(self.completed):
            planned = self.plan.steps[sid]
            call = planned.compensate
            if call is None or (sid, index) in self.already_compensated:
                continue
            label = sid if index is None else f"{sid}[{index}]"
            context = {**self.context, "output": self.done_outputs[(sid, index)]}
            if index is not None and planned.step.for_each is not None:
                context[planned.step.for_each.as_] = self.fanned_item(planned, index)
                context["index"] = index
            try:
                params = call.params.render(context)
            except TemplateError as exc:
                record = self.bare_record(
                    planned,
                    StepStatus.FAILED,
                    f"compensate params: {exc}",
                    exc,
                    kind=RecordKind.COMPENSATION,
                    tool=call.tool,
                    item_index=index,
                )
                await self.emit_or_note(self.final_event(record, final=False))
                self.issues.append(f"compensation of '{label}' failed: {exc}")
                continue
            try:
                outcome = await self.attempt(
                    planned, call.tool, RecordKind.COMPENSATION, params, 1, index, call.timeout_s
                )
            except EventSinkError as exc:  # could not record its start: it did not run
                self.issues.append(f"compensation of '{label}' did not run: {exc}")
                continue
            except Stopped as exc:  # abandoned to another owner: it decides what to undo
                self.issues.append(f"compensation stopped at '{label}': {exc}")
                return
            await self.emit_or_note(
                self.final_event(
                    outcome.record,
                    output=outcome.output,
                    final=False,
                )
            )
            if outcome.ok:
                self.compensated.append(label)
            else:
                self.issues.append(
                    f"compensation of '{label}' failed: {outcome.record.error_message}"
                )
