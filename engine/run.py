"""One run of an execution plan: scheduling, attempts, stopping, the saga, and its trace.

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
import concurrent.futures
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.approvals import ApprovalBook, ApprovalDecision, ApprovalRequest
from engine.blueprint import OnError
from engine.errors import (
    ApprovalDeniedError,
    EventSinkError,
    PermanentToolError,
    StepTimeoutError,
    TemplateError,
    UpstreamOutputMissingError,
    error_category,
    is_retryable,
)
from engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetried,
    StepSkipped,
    StepStarted,
)
from engine.plan import ExecutionPlan, PlannedStep
from engine.records import (
    RecordKind,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    digest,
    fingerprint,
    summarize,
)
from engine.templating import StepsView, StepView
from engine.tools.base import ZERO_COST, Cost, Tool, ToolContext, ToolResult
from engine.tools.function import to_jsonable

if TYPE_CHECKING:
    from engine.executor import Executor

T = TypeVar("T")

#: A task running a chain of steps yields to the event loop at least every this many steps.
INLINE_PAUSE_EVERY = 32


@dataclass(slots=True)
class _Outcome:
    record: StepRecord
    output: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _StepFailed(Exception):
    """A step failed before or outside its attempts (template error, denial)."""

    def __init__(self, error: BaseException, record: StepRecord) -> None:
        self.error = error
        self.record = record


class _Stopped(Exception):
    """The run is failing or cancelled, and this step was stopped at a safe point."""


class ToolCancelledItselfError(PermanentToolError):
    """A tool raised ``CancelledError`` although nobody cancelled it."""


class Run:
    """The state of one run; lives as long as the run."""

    def __init__(
        self, executor: Executor, plan: ExecutionPlan, inputs: dict[str, Any], run_id: str
    ) -> None:
        self.ex = executor
        self.plan = plan
        self.run_id = run_id
        self.inputs = inputs
        self.clock = executor.clock
        self.views: dict[str, StepView] = {
            sid: StepView(sid, StepStatus.PENDING) for sid in plan.steps
        }
        self.context: dict[str, Any] = {
            "inputs": inputs,
            "steps": StepsView(self.views.get, list(plan.steps)),
            "run": {"id": run_id, "name": plan.blueprint.name},
        }
        self.remaining = {sid: len(p.needs) for sid, p in plan.steps.items()}
        self.records: list[StepRecord] = []
        self.completed: list[tuple[str, int | None]] = []
        """What succeeded, in completion order: ``(step, None)`` or ``(step, item)`` for a
        for_each item. The saga undoes them in reverse."""
        self.done_outputs: dict[tuple[str, int | None], Any] = {}
        self.fanned_items: dict[str, list[Any]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.unstarted: dict[asyncio.Task[None], str] = {}
        self.waiting: set[asyncio.Task[Any]] = set()
        """Tasks waiting for a slot, an approval or a backoff: stopped on failure or cancel."""
        self.calling: set[asyncio.Task[Any]] = set()
        """Tasks inside a tool call: stopped on cancel only."""
        self.in_flight = 0
        self.finished = 0
        self.failure: tuple[str, str] | None = None
        self.cancel_reason: str | None = None
        self.compensate_on_cancel = False
        self.compensated: list[str] = []
        self.issues: list[str] = []
        self.approvals = ApprovalBook(executor.approver_check)
        self.done: asyncio.Future[None] | None = None
        self.settled: set[str] = set()
        """Steps whose final record has been emitted."""

    # ------------------------------------------------------------------ stopping

    @property
    def stopping(self) -> bool:
        return self.failure is not None or self.cancel_reason is not None

    @property
    def stop_reason(self) -> str:
        if self.cancel_reason is not None:
            return self.cancel_reason
        if self.failure is not None:
            return f"the run failed at step '{self.failure[0]}'"
        return "not started"

    def request_cancel(self, reason: str, *, compensate: bool = False) -> None:
        """Stop the run: waiting steps and tool calls are interrupted, nothing new starts."""
        if self.cancel_reason is not None or (self.done is not None and self.done.done()):
            return
        self.cancel_reason = reason
        self.compensate_on_cancel = compensate
        self.approvals.withdraw_all(f"the run stopped: {reason}")
        for task in (*self.waiting, *self.calling):
            task.cancel()
        self.check_done()

    def fail(self, step_id: str, message: str) -> None:
        """Record the run's failure (the first one wins) and stop steps that are waiting."""
        if self.failure is not None:
            return
        self.failure = (step_id, message)
        self.approvals.withdraw_all(f"the run stopped: {self.stop_reason}")
        for task in self.waiting:
            task.cancel()

    async def _interruptible(
        self, pool: set[asyncio.Task[Any]], start: Callable[[], Awaitable[T]]
    ) -> T:
        """Await ``start()`` in a state where the run may interrupt this task (``pool``).
        Raises :class:`_Stopped` if the run stops before or while waiting."""
        if self.stopping:
            raise _Stopped(self.stop_reason)
        task = asyncio.current_task()
        assert task is not None
        pool.add(task)
        try:
            return await start()
        except asyncio.CancelledError:
            if task.cancelling() == 0:  # raised by the awaited code itself, not a cancellation
                raise ToolCancelledItselfError(
                    "raised CancelledError without being cancelled"
                ) from None
            pool.discard(task)  # so that cancelling the run does not cancel this task again
            if not self.stopping:  # cancelled from outside the run: that cancels the run
                self.request_cancel("a step's task was cancelled")
            task.uncancel()
            raise _Stopped(self.stop_reason) from None
        finally:
            pool.discard(task)

    async def wait(self, start: Callable[[], Awaitable[T]]) -> T:
        """A wait the run stops on failure or cancellation (slot, approval, backoff)."""
        return await self._interruptible(self.waiting, start)

    async def call(self, start: Callable[[], Awaitable[T]]) -> T:
        """A tool call: the run stops it on cancellation only."""
        return await self._interruptible(self.calling, start)

    # ------------------------------------------------------------------ lifecycle

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
            )
        )
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

    def check_done(self) -> None:
        if self.done is None or self.done.done() or self.in_flight:
            return
        if self.finished < len(self.plan.steps) and not self.stopping:  # pragma: no cover
            # impossible for a validated DAG; never hang if it happens
            self.failure = ("", "internal error: steps left that can never become ready")
        self.done.set_result(None)

    async def run_step(self, sid: str, *, pause: bool = False) -> str | None:
        """Run one step and account for it; returns a dependent to run next in this task."""
        planned = self.plan.steps[sid]
        view = self.views[sid]
        if self.stopping:  # launched, but the run stopped before it began: it never starts
            self.in_flight -= 1
            self.check_done()
            return None
        status = StepStatus.FAILED
        follow: str | None = None
        try:
            try:
                if pause:  # let other tasks in now and then during long chains
                    await self.wait(lambda: asyncio.sleep(0))
                status = await self.execute_step(planned)
            except _Stopped as stopped:
                status = StepStatus.CANCELLED
                view.settle(status, error=str(stopped))
                if sid not in self.settled:
                    record = self.bare_record(planned, status, f"stopped: {stopped}")
                    await self.emit(
                        StepFinished(run_id=self.run_id, at=record.ended_at, record=record)
                    )
        except EventSinkError as exc:  # from the step, or from recording that it stopped
            view.settle(status, error=str(exc))
            self.fail(sid, str(exc))
            if sid not in self.settled:  # still try to record how the step ended
                record = self.bare_record(planned, status, str(exc), exc)
                with contextlib.suppress(EventSinkError):
                    await self.emit(
                        StepFinished(run_id=self.run_id, at=record.ended_at, record=record)
                    )
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

    async def emit(self, event: RunEvent) -> None:
        if isinstance(event, StepFinished | StepSkipped | StepRetried):
            record = event.record
            self.records.append(record)
            final = not isinstance(event, StepRetried) and (
                not isinstance(event, StepFinished) or event.final
            )
            if final and record.kind is not RecordKind.COMPENSATION:
                self.settled.add(record.step_id)
                if (
                    record.status == StepStatus.FAILED
                    and self.plan.steps[record.step_id].step.on_error is not OnError.CONTINUE
                ):
                    # the run fails now, before the sink has the record: from this moment on
                    # nothing new may start, however long the sink takes
                    self.fail(record.step_id, record.error_message or "failed")
        try:
            await self.ex.sink.emit(event)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() == 0:
                raise EventSinkError(
                    f"could not record {event.type}: the sink raised CancelledError"
                ) from None
            raise
        except Exception as exc:
            raise EventSinkError(f"could not record {event.type}: {exc}") from exc

    async def finish(self, started_at: datetime, t0: float) -> RunRecord:
        if self.failure is not None or (self.cancel_reason and self.compensate_on_cancel):
            await self.compensate()
        for sid, view in self.views.items():
            if view.status == StepStatus.PENDING:
                view.status = StepStatus.CANCELLED
                record = self.bare_record(
                    self.plan.steps[sid], StepStatus.CANCELLED, f"not started: {self.stop_reason}"
                )
                await self.emit_or_note(
                    StepFinished(run_id=self.run_id, at=record.ended_at, record=record)
                )
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

    async def emit_or_note(self, event: RunEvent) -> bool:
        """Emit; if the sink refuses, note it in the run's issues and go on (used while the run
        winds up, when every remaining record and compensation must still be attempted)."""
        try:
            await self.emit(event)
        except EventSinkError as exc:
            self.issues.append(str(exc))
            return False
        return True

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

    # ------------------------------------------------------------------ one step

    async def execute_step(self, planned: PlannedStep) -> StepStatus:
        view = self.views[planned.id]
        view.status = StepStatus.RUNNING
        t0 = self.clock.monotonic()
        try:
            outcome = await self.perform(planned)
        except _StepFailed as failed:
            await self.emit(
                StepFinished(run_id=self.run_id, at=failed.record.ended_at, record=failed.record)
            )
            outcome = _Outcome(failed.record, None, failed.error)
        if outcome is None:
            return StepStatus.SKIPPED
        view.attempts = outcome.record.attempt
        view.duration_ms = (self.clock.monotonic() - t0) * 1000
        if outcome.ok:
            view.settle(StepStatus.SUCCEEDED, output=outcome.output)
            return StepStatus.SUCCEEDED
        view.settle(StepStatus.FAILED, error=outcome.record.error_message or "failed")
        return StepStatus.FAILED

    async def perform(self, planned: PlannedStep) -> _Outcome | None:
        """Condition, rendering, approval, then the call(s). ``None`` means skipped."""
        step = planned.step
        if planned.when is not None:
            try:
                go = self.ex.templates.truthy(planned.when.render(self.context))
            except UpstreamOutputMissingError as exc:
                await self.skip(planned, f"condition {exc}")
                return None
            except TemplateError as exc:
                raise self.early_failure(planned, f"when: {exc}", exc) from exc
            if not go:
                await self.skip(planned, f"condition is false: {step.when}")
                return None
        items: list[Any] | None = None
        params: Any = None
        where = "for_each.items" if planned.items is not None else "params"
        try:
            if planned.items is not None:
                items = self.as_list(planned.items.render(self.context))
            else:
                params = planned.params.render(self.context)
        except UpstreamOutputMissingError as exc:
            await self.skip(planned, str(exc))
            return None
        except TemplateError as exc:
            raise self.early_failure(planned, f"{where}: {exc}", exc) from exc
        if step.approval is not None:
            await self.await_approval(planned, items if items is not None else params)
        if items is not None:
            return await self.run_items(planned, items)
        return await self.run_call(planned, params, self.context, None, final=True)

    def mark_done(self, step_id: str, item_index: int | None, output: Any) -> None:
        """A tool call's side effect happened: remember it for the saga (before its record is
        sent, so a sink that refuses the record cannot make the saga forget it)."""
        self.completed.append((step_id, item_index))
        self.done_outputs[(step_id, item_index)] = output

    def as_list(self, value: Any) -> list[Any]:
        if isinstance(value, list | tuple):
            return list(value)
        raise TemplateError(
            f"for_each.items must evaluate to a list, got {type(value).__name__}: "
            f"{summarize(value, 80)}"
        )

    async def skip(self, planned: PlannedStep, reason: str) -> None:
        self.views[planned.id].status = StepStatus.SKIPPED
        record = self.bare_record(planned, StepStatus.SKIPPED, reason)
        await self.emit(
            StepSkipped(run_id=self.run_id, at=record.ended_at, record=record, reason=reason)
        )

    def early_failure(
        self, planned: PlannedStep, message: str, error: BaseException
    ) -> _StepFailed:
        return _StepFailed(error, self.bare_record(planned, StepStatus.FAILED, message, error))

    async def await_approval(self, planned: PlannedStep, preview: Any) -> None:
        step = planned.step
        approval = step.approval
        assert approval is not None
        try:
            if planned.approval_message is not None:
                message = str(planned.approval_message.render(self.context))
            else:
                message = (
                    f"Run step '{step.id}' ({planned.tool.name}) with {summarize(preview, 300)}?"
                )
        except TemplateError as exc:
            raise self.early_failure(planned, f"approval.message: {exc}", exc) from exc
        request = ApprovalRequest(
            run_id=self.run_id,
            step_id=step.id,
            tool=planned.tool.name,
            approvers=approval.approvers,
            message=message,
            requested_at=self.clock.now(),
            timeout_s=approval.timeout_s,
        )
        pending = self.approvals.open(request)
        self.views[step.id].status = StepStatus.WAITING_APPROVAL

        async def decision() -> ApprovalDecision:
            try:
                async with asyncio.timeout(approval.timeout_s):
                    return await pending.future
            except TimeoutError:
                # A decision may have landed in the same loop turn as the timeout: it wins.
                return self.approvals.expire(
                    step.id,
                    ApprovalDecision(
                        approved=False,
                        by="timeout",
                        comment=f"nobody decided within {approval.timeout_s:g}s",
                        decided_at=self.clock.now(),
                    ),
                )

        try:
            await self.emit(
                ApprovalRequested(run_id=self.run_id, at=request.requested_at, request=request)
            )
            decided = await self.wait(decision)
        except _Stopped as stopped:
            self.approvals.withdraw(step.id, f"the run stopped: {stopped}")
            raise
        finally:
            self.approvals.close(step.id)
        self.views[step.id].status = StepStatus.RUNNING
        await self.emit(
            ApprovalDecided(
                run_id=self.run_id, at=decided.decided_at, step_id=step.id, decision=decided
            )
        )
        if not decided.approved:
            reason = f"denied by {decided.by}" + (f": {decided.comment}" if decided.comment else "")
            raise self.early_failure(planned, reason, ApprovalDeniedError(reason))

    async def run_items(self, planned: PlannedStep, items: list[Any]) -> _Outcome:
        """A for_each step: one call per item (each with its retries and fallback), at most
        ``concurrency`` at a time, outputs in the items' order. After an item fails, no new
        item starts; every started item is awaited, so none outlives the step."""
        step = planned.step
        assert step.for_each is not None
        self.fanned_items[step.id] = items
        started_at = self.clock.now()
        t0 = self.clock.monotonic()
        limit = asyncio.Semaphore(step.for_each.concurrency)
        results: list[Any] = [None] * len(items)
        outcomes: list[_Outcome | None] = [None] * len(items)
        failed_at: list[int] = []
        stopped: list[_Stopped] = []

        async def one(index: int, item: Any) -> None:
            try:
                await self.wait(limit.acquire)
            except _Stopped as exc:
                stopped.append(exc)
                return
            try:
                if failed_at or stopped:
                    return
                context = {**self.context, step.for_each.as_: item, "index": index}  # type: ignore[union-attr]
                try:
                    params = planned.params.render(context)
                except TemplateError as exc:
                    record = self.bare_record(planned, StepStatus.FAILED, str(exc), exc)
                    record = record.model_copy(update={"item_index": index})
                    await self.emit(
                        StepFinished(
                            run_id=self.run_id, at=record.ended_at, record=record, final=False
                        )
                    )
                    outcomes[index] = _Outcome(record, None, exc)
                    failed_at.append(index)
                    return
                try:
                    outcome = await self.run_call(planned, params, context, index, final=False)
                except _Stopped as exc:
                    stopped.append(exc)
                    return
                outcomes[index] = outcome
                if outcome.ok:
                    results[index] = outcome.output
                else:
                    failed_at.append(index)
            finally:
                limit.release()

        runners = [asyncio.ensure_future(one(i, item)) for i, item in enumerate(items)]
        try:
            await asyncio.gather(*runners)
        except BaseException as exc:
            # e.g. the sink failed: the run fails, so items waiting to start are stopped and
            # items in a tool call finish (they are cancelled only if this task is); either way
            # no item outlives the step
            self.fail(step.id, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, asyncio.CancelledError):
                for runner in runners:
                    runner.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
            raise
        if stopped:
            raise stopped[0]
        done = [o for o in outcomes if o is not None]
        item_cost = ZERO_COST
        for record in self.records:
            if record.step_id == step.id and record.item_index is not None:
                item_cost = item_cost + record.cost
        error: BaseException | None = None
        issues: list[str] = []
        message: str | None = None
        if failed_at:
            first = min(failed_at)
            failed = outcomes[first]
            assert failed is not None
            error = failed.error
            message = f"item {first} of {len(items)} failed: {failed.record.error_message}"
            not_run = sum(1 for o in outcomes if o is None)
            if not_run:
                issues.append(f"{not_run} item(s) not run after the failure")
        confidence = sum(o.record.confidence for o in done) / len(done) if done else 1.0
        output_hash, output_summary = fingerprint(results) if error is None else (None, None)
        record = StepRecord(
            run_id=self.run_id,
            step_id=step.id,
            tool=planned.tool.name,
            attempt=1,
            status=StepStatus.SUCCEEDED if error is None else StepStatus.FAILED,
            started_at=started_at,
            ended_at=self.clock.now(),
            duration_ms=(self.clock.monotonic() - t0) * 1000,
            confidence=confidence if error is None else 0.0,
            issues=issues,
            cost=item_cost,
            input_hash=digest(items),
            output_hash=output_hash,
            output_summary=output_summary,
            error_class=type(error).__name__ if error is not None else None,
            error_category=error_category(error) if error is not None else None,
            error_message=message,
        )
        output = results if error is None else None
        await self.emit(
            StepFinished(run_id=self.run_id, at=record.ended_at, record=record, output=output)
        )
        return _Outcome(record, output, error)

    async def run_call(
        self,
        planned: PlannedStep,
        params: Any,
        context: Mapping[str, Any],
        item_index: int | None,
        *,
        final: bool,
    ) -> _Outcome:
        """The step's attempts (with retries), then its fallback if they all failed."""
        step = planned.step
        policy = step.retry_policy
        attempt = 0
        while True:
            attempt += 1
            outcome = await self.attempt(
                planned,
                planned.tool,
                RecordKind.ACTION,
                params,
                attempt,
                item_index,
                step.timeout_s,
            )
            if outcome.ok:
                self.mark_done(planned.id, item_index, outcome.output)
                await self.emit(
                    StepFinished(
                        run_id=self.run_id,
                        at=outcome.record.ended_at,
                        record=outcome.record,
                        output=outcome.output,
                        final=final,
                    )
                )
                return outcome
            assert outcome.error is not None
            if attempt < policy.attempts and is_retryable(outcome.error, policy.errors):
                delay = policy.delay(attempt, self.ex.rng.random())
                await self.emit(
                    StepRetried(
                        run_id=self.run_id,
                        at=outcome.record.ended_at,
                        record=outcome.record,
                        delay_s=delay,
                    )
                )
                await self.wait(functools.partial(self.clock.sleep, delay))
                continue
            break
        fallback = planned.fallback
        use_fallback = fallback is not None and step.on_error is OnError.FALLBACK
        await self.emit(
            StepFinished(
                run_id=self.run_id,
                at=outcome.record.ended_at,
                record=outcome.record,
                final=final and not use_fallback,
            )
        )
        if not use_fallback or fallback is None:
            return outcome
        try:
            fallback_params = fallback.params.render(context)
        except TemplateError as exc:
            record = self.bare_record(planned, StepStatus.FAILED, f"fallback params: {exc}", exc)
            record = record.model_copy(
                update={
                    "kind": RecordKind.FALLBACK,
                    "tool": fallback.tool.name,
                    "item_index": item_index,
                }
            )
            await self.emit(
                StepFinished(run_id=self.run_id, at=record.ended_at, record=record, final=final)
            )
            return _Outcome(record, None, exc)
        result = await self.attempt(
            planned,
            fallback.tool,
            RecordKind.FALLBACK,
            fallback_params,
            1,
            item_index,
            fallback.timeout_s,
            note=(
                f"'{step.tool}' failed ({outcome.record.error_message}); "
                f"fallback '{fallback.tool.name}' used"
            ),
        )
        if result.ok:
            self.mark_done(planned.id, item_index, result.output)
        await self.emit(
            StepFinished(
                run_id=self.run_id,
                at=result.record.ended_at,
                record=result.record,
                output=result.output,
                final=final,
            )
        )
        return result

    async def attempt(
        self,
        planned: PlannedStep,
        tool: Tool,
        kind: RecordKind,
        params: Any,
        attempt: int,
        item_index: int | None,
        timeout_s: float | None,
        note: str | None = None,
    ) -> _Outcome:
        """One call of ``tool``. Raises :class:`_Stopped` when the run stops this attempt (a
        cancelled record is emitted first if the tool had been called)."""
        constant_hash = planned.constant_params_hash() if kind is RecordKind.ACTION else None
        input_hash = constant_hash if constant_hash is not None else digest(params)
        started_at = self.clock.now()
        t0 = self.clock.monotonic()
        try:
            parsed = tool.parse_params(params)
        except Exception as exc:
            return self.failed_outcome(planned, tool, kind, attempt, item_index, started_at, t0,
                                       input_hash, exc)  # fmt: skip
        shared, own = self.ex.slots(tool)
        held: list[asyncio.Semaphore] = []
        context: ToolContext | None = None
        try:
            # a per-tool slot first, so waiting for it does not hold a global one
            for semaphore in (own, shared) if own is not None else (shared,):
                if kind is RecordKind.COMPENSATION:
                    await semaphore.acquire()
                else:
                    await self.wait(semaphore.acquire)
                held.append(semaphore)
            started_at = self.clock.now()
            t0 = self.clock.monotonic()
            await self.emit(
                StepStarted(
                    run_id=self.run_id,
                    at=started_at,
                    step_id=planned.id,
                    tool=tool.name,
                    kind=kind,
                    attempt=attempt,
                    item_index=item_index,
                    input_hash=input_hash,
                )
            )
            context = ToolContext(
                run_id=self.run_id,
                step_id=planned.id,
                attempt=attempt,
                item_index=item_index,
                clock=self.clock,
                thread_pool=self.ex.thread_pool,
            )
            try:
                if kind is RecordKind.COMPENSATION:  # runs while stopping; never interrupted
                    result = await _invoke_checked(tool, parsed, context, timeout_s)
                else:
                    result = await self.call(
                        lambda: _invoke_checked(tool, parsed, context, timeout_s)
                    )
                output, confidence, issues, cost = _unpack(result, note)
            except _Stopped as stopped:
                record = self.make_record(
                    planned, tool, kind, attempt, item_index, started_at, t0, input_hash,
                    status=StepStatus.CANCELLED, error=None, message=f"stopped: {stopped}",
                )  # fmt: skip
                final = item_index is None and kind is not RecordKind.COMPENSATION
                await self.emit(
                    StepFinished(run_id=self.run_id, at=record.ended_at, record=record, final=final)
                )
                raise
            except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
                raise  # (a bare CancelledError here can only reach a compensation: the run's
                # own task is being cancelled)
            except BaseException as exc:  # any failure of the tool, however odd, is its failure
                return self.failed_outcome(planned, tool, kind, attempt, item_index, started_at,
                                           t0, input_hash, exc)  # fmt: skip
        finally:
            _release_slots(held, context.threads if context is not None else [])
        mismatch = tool.check_output(output)
        if mismatch:
            issues.append(mismatch)
        if attempt > 1:
            issues.append(f"succeeded on attempt {attempt}")
        if confidence is None:
            confidence = max(0.1, 1.0 - 0.1 * (attempt - 1)) * (0.5 if mismatch else 1.0)
            if kind is RecordKind.FALLBACK:
                confidence *= 0.8
        duration_s = self.clock.monotonic() - t0
        output_hash, output_summary = fingerprint(output)
        if cost is None:
            model = tool.spec.cost_model
            cost = model.estimate(duration_s) if model is not None else ZERO_COST
        record = StepRecord(
            run_id=self.run_id,
            step_id=planned.id,
            tool=tool.name,
            kind=kind,
            item_index=item_index,
            attempt=attempt,
            status=StepStatus.SUCCEEDED,
            started_at=started_at,
            ended_at=self.clock.now(),
            duration_ms=duration_s * 1000,
            confidence=confidence,
            issues=issues,
            cost=cost,
            input_hash=input_hash,
            output_hash=output_hash,
            output_summary=output_summary,
        )
        return _Outcome(record, output, None)

    def failed_outcome(
        self,
        planned: PlannedStep,
        tool: Tool,
        kind: RecordKind,
        attempt: int,
        item_index: int | None,
        started_at: datetime,
        t0: float,
        input_hash: str,
        error: BaseException,
    ) -> _Outcome:
        text = str(error) or type(error).__name__
        record = self.make_record(
            planned, tool, kind, attempt, item_index, started_at, t0, input_hash,
            status=StepStatus.FAILED, error=error, message=text,
        )  # fmt: skip
        return _Outcome(record, None, error)

    def make_record(
        self,
        planned: PlannedStep,
        tool: Tool,
        kind: RecordKind,
        attempt: int,
        item_index: int | None,
        started_at: datetime,
        t0: float,
        input_hash: str,
        *,
        status: StepStatus,
        error: BaseException | None,
        message: str,
    ) -> StepRecord:
        return StepRecord(
            run_id=self.run_id,
            step_id=planned.id,
            tool=tool.name,
            kind=kind,
            item_index=item_index,
            attempt=attempt,
            status=status,
            started_at=started_at,
            ended_at=self.clock.now(),
            duration_ms=(self.clock.monotonic() - t0) * 1000,
            confidence=0.0,
            issues=[],
            input_hash=input_hash,
            error_class=type(error).__name__ if error is not None else "CancelledError",
            error_category=error_category(error) if error is not None else "cancelled",
            error_message=message,
        )

    def bare_record(
        self,
        planned: PlannedStep,
        status: StepStatus,
        message: str,
        error: BaseException | None = None,
    ) -> StepRecord:
        """A record for a step that never reached its tool (skipped, cancelled, failed early)."""
        now = self.clock.now()
        return StepRecord(
            run_id=self.run_id,
            step_id=planned.id,
            tool=planned.tool.name,
            attempt=0,
            status=status,
            started_at=now,
            ended_at=now,
            duration_ms=0.0,
            confidence=0.0,
            issues=[message] if error is None else [],
            error_class=type(error).__name__ if error is not None else None,
            error_category=error_category(error) if error is not None else None,
            error_message=message if error is not None else None,
        )

    # ------------------------------------------------------------------ saga

    async def compensate(self) -> None:
        """Undo what succeeded, latest first: each step's ``compensate`` call, and for a for_each
        step one call per item that succeeded (with the item as its variable). The call sees
        ``output``: the result it undoes. Failures are recorded and the rest still run."""
        for sid, index in reversed(self.completed):
            planned = self.plan.steps[sid]
            call = planned.compensate
            if call is None:
                continue
            label = sid if index is None else f"{sid}[{index}]"
            context = {**self.context, "output": self.done_outputs[(sid, index)]}
            if index is not None and planned.step.for_each is not None:
                context[planned.step.for_each.as_] = self.fanned_items[sid][index]
                context["index"] = index
            try:
                params = call.params.render(context)
            except TemplateError as exc:
                record = self.bare_record(
                    planned, StepStatus.FAILED, f"compensate params: {exc}", exc
                )
                record = record.model_copy(
                    update={
                        "kind": RecordKind.COMPENSATION,
                        "tool": call.tool.name,
                        "item_index": index,
                    }
                )
                await self.emit_or_note(
                    StepFinished(run_id=self.run_id, at=record.ended_at, record=record, final=False)
                )
                self.issues.append(f"compensation of '{label}' failed: {exc}")
                continue
            try:
                outcome = await self.attempt(
                    planned, call.tool, RecordKind.COMPENSATION, params, 1, index, call.timeout_s
                )
            except EventSinkError as exc:  # could not record its start: it did not run
                self.issues.append(f"compensation of '{label}' did not run: {exc}")
                continue
            await self.emit_or_note(
                StepFinished(
                    run_id=self.run_id,
                    at=outcome.record.ended_at,
                    record=outcome.record,
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


def _release_slots(
    held: list[asyncio.Semaphore], threads: list[concurrent.futures.Future[Any]]
) -> None:
    """Give the slots back — once every thread the call started has really ended (a timed-out
    sync tool keeps running, and must keep counting against the limits)."""
    running = [work for work in threads if not work.done()]
    if not running:
        for semaphore in reversed(held):
            semaphore.release()
        return
    loop = asyncio.get_running_loop()
    left = len(running)

    def one_ended() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            for semaphore in reversed(held):
                semaphore.release()

    for work in running:
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(one_ended))


async def _invoke_checked(
    tool: Tool, params: Any, context: ToolContext, timeout_s: float | None
) -> Any:
    """:func:`_invoke`, where a ``CancelledError`` nobody asked for is the tool's own failure."""
    try:
        return await _invoke(tool, params, context, timeout_s)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling() == 0:
            raise ToolCancelledItselfError(
                "raised CancelledError without being cancelled"
            ) from None
        raise


async def _invoke(tool: Tool, params: Any, context: ToolContext, timeout_s: float | None) -> Any:
    """Call the tool; a timeout of our own becomes :class:`StepTimeoutError` (a tool's own
    ``TimeoutError`` stays what it is)."""
    if timeout_s is None:
        return await tool.invoke(params, context)
    scope = asyncio.timeout(timeout_s)
    try:
        async with scope:
            return await tool.invoke(params, context)
    except TimeoutError as exc:
        if scope.expired():
            raise StepTimeoutError(f"'{tool.name}' did not finish within {timeout_s:g}s") from exc
        raise


def _unpack(result: Any, note: str | None) -> tuple[Any, float | None, list[str], Cost | None]:
    """A tool's return value as (output, confidence, issues, cost)."""
    issues = [note] if note else []
    if isinstance(result, ToolResult):
        issues.extend(result.issues)
        return to_jsonable(result.output), result.confidence, issues, result.cost
    return to_jsonable(result), None, issues, None
