"""One run of an execution plan: scheduling its steps and closing it out.

The parts of a run live in: :mod:`engine.run_state` (state, stopping safely, events),
:mod:`engine.attempts` (one tool call and its record), :mod:`engine.steps` (a step's path:
condition, approval, retries, fallback, for_each) and :mod:`engine.saga` (compensation).

**Scheduling.** A step starts when its last dependency ends — not level by level. When a step
ends, one dependent it made ready continues in the same task (no task creation, no loop turn);
the others get tasks of their own.

**Failure.** ``on_error: fail`` (default) fails the run: nothing new starts, tool calls already
running finish (no half-done mutation is abandoned), steps waiting for a concurrency slot, an
approval or a retry are stopped, then the ``compensate`` actions of the completed steps run in
reverse completion order. ``continue`` marks the step failed and goes on; steps that need its
output are skipped with a reason (``| default(...)`` opts out). ``fallback`` runs the fallback
tool once; both attempts are recorded. ``depends_on`` orders without data: a step runs after
its ``depends_on`` steps end, however they ended.

**Stopping safely.** A run is only ever interrupted at safe points: while a step waits (for a
slot, an approval, a retry's backoff — on failure or cancellation) or inside a tool call (on
cancellation). Rendering, records and events are never interrupted, so every step ends with
exactly one final record and nothing already done is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from engine.blueprint import OnError
from engine.errors import EventSinkError, TemplateError
from engine.events import RunFinished, RunStarted
from engine.outcomes import Stopped
from engine.plan import PlannedStep
from engine.records import RecordKind, RunRecord, RunStatus, StepStatus
from engine.saga import Saga
from engine.steps import StepFlow
from engine.tools.base import ZERO_COST, Cost
from engine.tools.function import to_jsonable

#: A task running a chain of steps yields to the event loop at least every this many steps.
INLINE_PAUSE_EVERY = 32


class Run(StepFlow, Saga):
    """One run of an execution plan: scheduling its steps and closing it out."""

    async def execute(self) -> RunRecord:
        self.done = asyncio.get_running_loop().create_future()
        started_at = self.clock.now()
        t0 = self.clock.monotonic()
        await self.emit(
            RunStarted(
                run_id=self.run_id,
                at=started_at,
                blueprint=self.plan.blueprint.name,
                inputs=self.inputs,
                resumed=self.resume is not None,
            )
        )
        self.restore_settled()
        for sid in self.plan.roots:
            self.launch(sid)
        cancelled = False
        try:
            await asyncio.shield(self.done)
        except asyncio.CancelledError:
            cancelled = True
            self.request_cancel("the run's task was cancelled")
        # Draining, compensating and the final records run in a task of their own that a
        # cancellation of this one cannot interrupt; a cancellation is honoured afterwards.
        closing = asyncio.ensure_future(self.close_out(started_at, t0))
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                cancelled = True
        record = closing.result()
        if cancelled:
            raise asyncio.CancelledError
        return record

    def restore_settled(self) -> None:
        """Resuming: steps settled before the interruption take their status and output from
        the resume (a settled failure fails the run again, as it did then)."""
        if self.resume is None:
            return
        for sid in self.plan.order:
            prior = self.resume.steps.get(sid)
            if prior is None:
                continue
            record = prior.record
            view = self.views[sid]
            view.attempts = record.attempt
            view.duration_ms = record.duration_ms
            if record.status == StepStatus.SUCCEEDED:
                view.settle(StepStatus.SUCCEEDED, output=prior.output)
            else:
                view.settle(record.status, error=record.error_message)
            self.settled.add(sid)
            if (
                record.status == StepStatus.FAILED
                and self.plan.steps[sid].step.on_error is not OnError.CONTINUE
            ):
                self.fail(sid, record.error_message or "failed")

    async def close_out(self, started_at: datetime, t0: float) -> RunRecord:
        await self.drain()
        return await self.finish(started_at, t0)

    async def drain(self) -> None:
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def launch(self, sid: str) -> None:
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(
            self.run_chain(sid), name=f"kaizen-step:{self.run_id}:{sid}"
        )
        self.tasks.add(task)
        self.unstarted[task] = sid
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self.unstarted.pop(task, None) is not None:  # cancelled from outside before it ran
            self.in_flight -= 1
            if not self.stopping:
                self.request_cancel("a step's task was cancelled")
            self.check_done()

    async def run_chain(self, sid: str) -> None:
        """Run ``sid``, then whichever dependent it hands on, in this same task."""
        task = asyncio.current_task()
        assert task is not None
        self.unstarted.pop(task, None)
        follow: str | None = sid
        count = 0
        while follow is not None:
            count += 1
            follow = await self.run_step(follow, pause=count % INLINE_PAUSE_EVERY == 0)

    async def run_step(self, sid: str, *, pause: bool = False) -> str | None:
        """Run one step and account for it; returns a dependent to run next in this task."""
        planned = self.plan.steps[sid]
        view = self.views[sid]
        if self.stopping:  # launched, but the run stopped before it began: it never starts
            self.in_flight -= 1
            self.check_done()
            return None
        prior = self.resume.steps.get(sid) if self.resume is not None else None
        if prior is not None:  # settled before an interruption: restored, not run again
            self.in_flight -= 1
            self.finished += 1
            return self.step_done(planned, prior.record.status)
        status = StepStatus.FAILED
        follow: str | None = None
        try:
            try:
                if pause:  # let other tasks in now and then during long chains
                    await self.wait(lambda: asyncio.sleep(0))
                status = await self.execute_step(planned)
            except Stopped as stopped:
                status = StepStatus.CANCELLED
                view.settle(status, error=str(stopped))
                if sid not in self.settled:
                    record = self.bare_record(planned, status, f"stopped: {stopped}")
                    await self.emit(self.final_event(record))
        except EventSinkError as exc:  # from the step, or from recording that it stopped
            view.settle(status, error=str(exc))
            self.fail(sid, str(exc))
            if sid not in self.settled:  # still try to record how the step ended
                record = self.bare_record(planned, status, str(exc), exc)
                with contextlib.suppress(EventSinkError):
                    await self.emit(self.final_event(record))
        except Exception as exc:  # a bug in the engine: record it, never hang
            message = f"internal error: {type(exc).__name__}: {exc}"
            view.settle(status, error=message)
            self.fail(sid, message)
        except BaseException:  # KeyboardInterrupt, SystemExit: record, account, go
            view.settle(status, error="interrupted")
            self.fail(sid, "interrupted")
            raise
        finally:
            self.in_flight -= 1
            self.finished += 1
            follow = self.step_done(planned, status)
        return follow

    def step_done(self, planned: PlannedStep, status: StepStatus) -> str | None:
        """Account for a finished step and start the dependents it made ready; one of them is
        returned (already counted in flight) for the caller to run in its own task."""
        if status == StepStatus.FAILED and planned.step.on_error is not OnError.CONTINUE:
            self.fail(planned.id, self.views[planned.id].error or "failed")
        follow: str | None = None
        if not self.stopping:
            for dependent in planned.dependents:
                self.remaining[dependent] -= 1
                if self.remaining[dependent] == 0:
                    if follow is None:
                        follow = dependent
                        self.in_flight += 1
                    else:
                        self.launch(dependent)
        self.check_done()
        return follow

    async def finish(self, started_at: datetime, t0: float) -> RunRecord:
        if self.abandoned is None and (
            self.failure is not None or (self.cancel_reason and self.compensate_on_cancel)
        ):
            await self.compensate()
        for sid, view in self.views.items():
            if view.status == StepStatus.PENDING:
                view.status = StepStatus.CANCELLED
                record = self.bare_record(
                    self.plan.steps[sid], StepStatus.CANCELLED, f"not started: {self.stop_reason}"
                )
                await self.emit_or_note(self.final_event(record))
        outputs = self.render_outputs()
        if self.cancel_reason is not None:
            status, error = RunStatus.CANCELLED, self.cancel_reason
            if self.failure is not None:
                self.issues.append(f"step '{self.failure[0]}' failed: {self.failure[1]}")
        elif self.failure is not None:
            status, error = RunStatus.FAILED, f"step '{self.failure[0]}' failed: {self.failure[1]}"
        else:
            status, error = RunStatus.SUCCEEDED, None
        ended_at = self.clock.now()
        run = RunRecord(
            run_id=self.run_id,
            blueprint=self.plan.blueprint.name,
            inputs=self.inputs,
            status=status,
            started_at=started_at,
            ended_at=ended_at,
            duration_ms=(self.clock.monotonic() - t0) * 1000,
            cost=self.total_cost(),
            outputs=outputs,
            error=error,
            failed_step=self.failure[0] if self.failure else None,
            step_status={sid: v.status for sid, v in self.views.items()},
            compensated=self.compensated,
            issues=self.issues,
            records=self.records,
        )
        await self.emit(RunFinished(run_id=self.run_id, at=ended_at, run=run))
        return run

    def total_cost(self) -> Cost:
        """Every attempt's cost, counted once (a for_each step's summary record repeats its
        items' costs, so it is left out)."""
        fanned_out = {sid for sid, p in self.plan.steps.items() if p.step.for_each is not None}
        cost = ZERO_COST
        for record in self.records:
            if record.cost is ZERO_COST or record.cost.is_zero:
                continue
            if (
                record.step_id in fanned_out
                and record.item_index is None
                and record.kind is RecordKind.ACTION
            ):
                continue
            cost = cost + record.cost
        return cost

    def render_outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for key, compiled in self.plan.outputs.items():
            try:
                outputs[key] = to_jsonable(compiled.render(self.context))
            except TemplateError as exc:
                outputs[key] = None
                self.issues.append(f"outputs.{key}: {exc}")
        return outputs
