"""The state of one run, and the rules for stopping it safely.

A run is only interrupted at safe points: while a step waits (for a concurrency slot, an
approval, a retry's backoff — on failure or cancellation) or inside a tool call (on
cancellation). Rendering, records and events are never interrupted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from engine.approvals import ApprovalBook
from engine.blueprint import OnError
from engine.errors import EventSinkError, RunAbandonedError
from engine.events import (
    RunEvent,
    StepFinished,
    StepRetried,
    StepSkipped,
)
from engine.outcomes import Stopped, ToolCancelledItselfError
from engine.plan import ExecutionPlan
from engine.records import (
    RecordKind,
    StepRecord,
    StepStatus,
)
from engine.resume import Resume
from engine.templating import StepsView, StepView

if TYPE_CHECKING:
    from engine.executor import Executor

T = TypeVar("T")


class RunState:
    """What a run knows while it runs, and the primitives every part of it uses: stopping,
    interruptible waits and calls, and sending events."""

    def __init__(
        self,
        executor: Executor,
        plan: ExecutionPlan,
        inputs: dict[str, Any],
        run_id: str,
        resume: Resume | None = None,
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
        self.abandoned: str | None = None
        """Set when the run was given up to another owner: it stops, compensating nothing."""
        self.resume = resume
        """What an interrupted execution of this run already did (see :mod:`engine.resume`)."""
        self.already_compensated: set[tuple[str, int | None]] = set()
        if resume is not None:
            self.records.extend(resume.records)
            self.already_compensated = set(resume.compensated)
            self.compensated.extend(
                sid if index is None else f"{sid}[{index}]" for sid, index in resume.compensated
            )
            for key in resume.successes():
                sid, index = key
                if index is None and plan.steps[sid].step.for_each is not None:
                    continue  # a for_each step's work is undone item by item
                prior = (
                    resume.steps.get(sid) if index is None else resume.items.get(sid, {}).get(index)
                )
                if prior is not None:
                    self.completed.append(key)
                    self.done_outputs[key] = prior.output
        self.done: asyncio.Future[None] | None = None
        self.settled: set[str] = set()
        """Steps whose final record has been emitted."""

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

    def abandon(self, reason: str) -> None:
        """Give the run up (another process owns it now): stop like a cancel, and undo
        nothing — the new owner decides what happens to the work done."""
        if self.abandoned is None:
            self.abandoned = reason
        self.request_cancel(reason)

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
        Raises :class:`Stopped` if the run stops before or while waiting."""
        if self.stopping:
            raise Stopped(self.stop_reason)
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
            raise Stopped(self.stop_reason) from None
        finally:
            pool.discard(task)

    async def wait(self, start: Callable[[], Awaitable[T]]) -> T:
        """A wait the run stops on failure or cancellation (slot, approval, backoff)."""
        return await self._interruptible(self.waiting, start)

    async def call(self, start: Callable[[], Awaitable[T]]) -> T:
        """A tool call: the run stops it on cancellation only."""
        return await self._interruptible(self.calling, start)

    def check_done(self) -> None:
        if self.done is None or self.done.done() or self.in_flight:
            return
        if self.finished < len(self.plan.steps) and not self.stopping:  # pragma: no cover
            # impossible for a validated DAG; never hang if it happens
            self.failure = ("", "internal error: steps left that can never become ready")
        self.done.set_result(None)

    def final_event(
        self, record: StepRecord, *, output: Any = None, final: bool = True
    ) -> StepFinished:
        """The StepFinished event that ends an attempt (``final``: it settles the step)."""
        return StepFinished(
            run_id=self.run_id, at=record.ended_at, record=record, output=output, final=final
        )

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
        except RunAbandonedError as exc:
            self.abandon(str(exc))
            raise Stopped(str(exc)) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() == 0:
                raise EventSinkError(
                    f"could not record {event.type}: the sink raised CancelledError"
                ) from None
            raise
        except Exception as exc:
            raise EventSinkError(f"could not record {event.type}: {exc}") from exc

    async def emit_or_note(self, event: RunEvent) -> bool:
        """Emit; if the sink refuses, note it in the run's issues and go on (used while the run
        winds up, when every remaining record and compensation must still be attempted)."""
        try:
            await self.emit(event)
        except EventSinkError as exc:
            self.issues.append(str(exc))
            return False
        return True
