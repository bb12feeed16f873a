"""The asyncio executor: runs an execution plan step by step as dependencies finish.

Scheduling is event-driven, not level by level: when a step finishes, each dependent whose last
dependency that was is started at once, so the wall time of a DAG follows its critical path.

Failure semantics:

* ``on_error: fail`` (default) — the run fails: no new step starts, steps already running
  finish (so no half-done mutation is abandoned), then the ``compensate`` actions of the
  completed steps run in reverse completion order.
* ``on_error: continue`` — the step is marked failed and the run goes on; steps that need its
  output are skipped with a reason (``| default(...)`` in a template opts out).
* ``on_error: fallback`` — the fallback tool runs once; both attempts are recorded.

``depends_on`` orders without data: a step runs after its ``depends_on`` steps end, however
they ended. Templates that read ``steps.x.output`` need ``x`` to have succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engine.approvals import (
    ApprovalBook,
    ApprovalDecision,
    ApprovalRequest,
    ApproverCheck,
    same_user,
)
from engine.blueprint import Blueprint, OnError
from engine.clock import Clock, SystemClock
from engine.errors import (
    ApprovalDeniedError,
    ApprovalError,
    EventSinkError,
    StepTimeoutError,
    TemplateError,
    UpstreamOutputMissingError,
    error_category,
    is_retryable,
)
from engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    EventSink,
    NullSink,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetried,
    StepSkipped,
    StepStarted,
)
from engine.inputs import resolve_inputs
from engine.plan import ExecutionPlan, PlannedStep, build_plan
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
from engine.templating import StepsView, StepView, TemplateEngine, default_engine
from engine.tools.base import ZERO_COST, Cost, Tool, ToolContext, ToolResult
from engine.tools.function import to_jsonable
from engine.tools.registry import ToolRegistry

DEFAULT_MAX_CONCURRENCY = 64
#: A task running a chain of steps yields to the event loop at least every this many steps.
INLINE_PAUSE_EVERY = 32


class Executor:
    """Runs blueprints against a tool registry, emitting events to a sink.

    One executor can run many runs at once; the global concurrency limit and the per-tool
    limits are shared by all of them.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        sink: EventSink | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        tool_concurrency: Mapping[str, int] | None = None,
        max_threads: int = 16,
        approver_check: ApproverCheck = same_user,
        templates: TemplateEngine | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.registry = registry
        self.sink: EventSink = sink or NullSink()
        self.clock: Clock = clock or SystemClock()
        self.rng = random.Random(seed)
        self._seeded = seed is not None
        self.max_concurrency = max_concurrency
        self.tool_concurrency = dict(tool_concurrency or {})
        for name, limit in self.tool_concurrency.items():
            if limit < 1:
                raise ValueError(f"tool_concurrency['{name}'] must be at least 1, got {limit}")
        self.approver_check = approver_check
        self.templates = templates or default_engine()
        self._max_threads = max_threads
        self._thread_pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._global: asyncio.Semaphore | None = None
        self._per_tool: dict[str, asyncio.Semaphore] = {}
        self._runs: dict[str, RunHandle] = {}

    # ------------------------------------------------------------------ public API

    def plan(self, blueprint: Blueprint) -> ExecutionPlan:
        """Validate and compile ``blueprint`` (raises ``BlueprintInvalidError``)."""
        return build_plan(blueprint, self.registry, self.templates)

    def start(
        self,
        blueprint: Blueprint | ExecutionPlan,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> RunHandle:
        """Start a run in the background and return its handle. Must be called in a running
        event loop. Invalid blueprints or inputs raise ``BlueprintInvalidError`` here."""
        plan = blueprint if isinstance(blueprint, ExecutionPlan) else self.plan(blueprint)
        resolved = resolve_inputs(plan.blueprint, inputs)
        run = _Run(self, plan, resolved, run_id or self._new_run_id())
        handle = RunHandle(run)
        self._runs[run.run_id] = handle
        handle._task = asyncio.get_running_loop().create_task(
            run.execute(), name=f"kaizen-run:{run.run_id}"
        )
        handle._task.add_done_callback(lambda _: self._runs.pop(run.run_id, None))
        return handle

    async def run(
        self,
        blueprint: Blueprint | ExecutionPlan,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> RunRecord:
        """Run to the end and return the run record (with every step record).

        Cancelling the task that awaits this cancels the run: running steps are stopped, and
        the run is recorded as cancelled before the cancellation propagates.
        """
        handle = self.start(blueprint, inputs, run_id=run_id)
        try:
            return await handle.result()
        except asyncio.CancelledError:
            handle.cancel("the caller stopped waiting for the run")
            with contextlib.suppress(asyncio.CancelledError):
                await handle.result()
            raise

    def handle(self, run_id: str) -> RunHandle:
        """The handle of an active run (``KeyError`` when it is not running here)."""
        return self._runs[run_id]

    def active_runs(self) -> list[str]:
        return list(self._runs)

    def pending_approvals(self) -> list[ApprovalRequest]:
        """Every open approval request of every active run."""
        return [request for h in self._runs.values() for request in h.pending_approvals()]

    def decide(
        self, run_id: str, step_id: str, *, approved: bool, by: str, comment: str | None = None
    ) -> ApprovalDecision:
        """Approve or deny a waiting step. Raises ``ApprovalError`` when the run is not active,
        the step is not waiting, it was already decided, or ``by`` may not decide."""
        handle = self._runs.get(run_id)
        if handle is None:
            raise ApprovalError(f"run '{run_id}' is not active")
        return handle.decide(step_id, approved=approved, by=by, comment=comment)

    def close(self) -> None:
        """Release the thread pool (tools still running in threads are not interrupted)."""
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)
            self._thread_pool = None

    # ------------------------------------------------------------------ internals

    def _new_run_id(self) -> str:
        if self._seeded:
            return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex
        return uuid.uuid4().hex

    @property
    def thread_pool(self) -> ThreadPoolExecutor:
        if self._thread_pool is None:
            self._thread_pool = ThreadPoolExecutor(
                max_workers=self._max_threads, thread_name_prefix="kaizen-tool"
            )
        return self._thread_pool

    def _semaphores(self, tool: Tool) -> tuple[asyncio.Semaphore, asyncio.Semaphore | None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # semaphores belong to one event loop
            self._loop = loop
            self._global = asyncio.Semaphore(self.max_concurrency)
            self._per_tool = {}
        assert self._global is not None
        limit = self.tool_concurrency.get(tool.name, tool.spec.max_concurrency)
        if limit is None:
            return self._global, None
        semaphore = self._per_tool.get(tool.name)
        if semaphore is None:
            semaphore = self._per_tool[tool.name] = asyncio.Semaphore(limit)
        return self._global, semaphore

    async def _call_in_slot(
        self, tool: Tool, params: Any, context: ToolContext, timeout_s: float | None
    ) -> Any:
        """Call ``tool`` holding a per-tool slot (taken first, so waiting for it does not block
        a global slot) and a global one. ``timeout_s`` limits the call, not the wait for a
        slot. Raises :class:`StepTimeoutError` when the call takes longer."""
        shared, own = self._semaphores(tool)
        if own is not None:
            await own.acquire()
        try:
            await shared.acquire()
            try:
                if timeout_s is None:
                    return await tool.invoke(params, context)
                try:
                    async with asyncio.timeout(timeout_s):
                        return await tool.invoke(params, context)
                except TimeoutError as exc:
                    raise StepTimeoutError(
                        f"'{tool.name}' did not finish within {timeout_s:g}s"
                    ) from exc
            finally:
                shared.release()
        finally:
            if own is not None:
                own.release()


class RunHandle:
    """A run in progress: await its result, cancel it, answer its approvals."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._task: asyncio.Task[RunRecord] | None = None

    @property
    def run_id(self) -> str:
        return self._run.run_id

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def result(self) -> RunRecord:
        """Wait for the run to end; returns its record. Cancelling the waiter does not cancel
        the run (use :meth:`cancel`)."""
        assert self._task is not None
        return await asyncio.shield(self._task)

    def step_status(self, step_id: str) -> StepStatus:
        return StepStatus(self._run.views[step_id].status)

    def cancel(self, reason: str = "cancelled", *, compensate: bool = False) -> None:
        """Stop the run: running steps are cancelled, nothing new starts. With
        ``compensate=True`` the completed steps' compensations run, as on failure."""
        self._run.request_cancel(reason, compensate=compensate)

    def pending_approvals(self) -> list[ApprovalRequest]:
        return self._run.approvals.pending()

    def decide(
        self, step_id: str, *, approved: bool, by: str, comment: str | None = None
    ) -> ApprovalDecision:
        decision = ApprovalDecision(
            approved=approved, by=by, comment=comment, decided_at=self._run.clock.now()
        )
        return self._run.approvals.decide(step_id, decision)

    def approve(self, step_id: str, *, by: str, comment: str | None = None) -> ApprovalDecision:
        return self.decide(step_id, approved=True, by=by, comment=comment)

    def deny(self, step_id: str, *, by: str, comment: str | None = None) -> ApprovalDecision:
        return self.decide(step_id, approved=False, by=by, comment=comment)


@dataclass(slots=True)
class _Outcome:
    record: StepRecord
    output: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _StepFailed(Exception):
    """Internal: a step failed before or outside its attempts (template, denial)."""

    def __init__(self, error: BaseException, record: StepRecord) -> None:
        self.error = error
        self.record = record


class _Run:
    """The state of one run. Lives only as long as the run."""

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
        self.completed: list[str] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
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

    # ------------------------------------------------------------------ run lifecycle

    async def execute(self) -> RunRecord:
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
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
        try:
            await asyncio.shield(self.done)
        except asyncio.CancelledError:
            self.request_cancel("the run's task was cancelled")
            await self._drain()
            await self.finish(started_at, t0)
            raise
        return await self.finish(started_at, t0)

    async def _drain(self) -> None:
        pending = [t for t in set(self.tasks.values()) if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def finish(self, started_at: Any, t0: float) -> RunRecord:
        if self.failure is not None or (self.cancel_reason and self.compensate_on_cancel):
            await self.compensate()
        for sid, view in self.views.items():
            if view.status == StepStatus.PENDING:
                reason = (
                    f"not started: {self.cancel_reason}"
                    if self.cancel_reason
                    else f"not started: the run failed at step '{self.failure[0]}'"
                    if self.failure
                    else "not started"
                )
                view.status = StepStatus.CANCELLED
                record = self.bare_record(self.plan.steps[sid], StepStatus.CANCELLED, reason)
                await self.emit(StepFinished(run_id=self.run_id, at=record.ended_at, record=record))
        outputs = self.render_outputs()
        if self.cancel_reason is not None:
            status, error = RunStatus.CANCELLED, self.cancel_reason
        elif self.failure is not None:
            status, error = RunStatus.FAILED, f"step '{self.failure[0]}' failed: {self.failure[1]}"
        else:
            status, error = RunStatus.SUCCEEDED, None
        cost = ZERO_COST
        for record in self.records:
            if record.cost is not ZERO_COST and not record.cost.is_zero:
                cost = cost + record.cost
        ended_at = self.clock.now()
        run = RunRecord(
            run_id=self.run_id,
            blueprint=self.plan.blueprint.name,
            inputs=self.inputs,
            status=status,
            started_at=started_at,
            ended_at=ended_at,
            duration_ms=(self.clock.monotonic() - t0) * 1000,
            cost=cost,
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

    def render_outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for key, compiled in self.plan.outputs.items():
            try:
                outputs[key] = to_jsonable(compiled.render(self.context))
            except UpstreamOutputMissingError as exc:
                outputs[key] = None
                self.issues.append(f"outputs.{key}: {exc}")
            except TemplateError as exc:
                outputs[key] = None
                self.issues.append(f"outputs.{key}: {exc}")
        return outputs

    def request_cancel(self, reason: str, *, compensate: bool = False) -> None:
        if self.cancel_reason is not None or (self.done is not None and self.done.done()):
            return
        self.cancel_reason = reason
        self.compensate_on_cancel = compensate
        for task in set(self.tasks.values()):
            if not task.done():
                task.cancel()
        self.check_done()

    def launch(self, sid: str) -> None:
        self.in_flight += 1
        self.tasks[sid] = asyncio.get_running_loop().create_task(
            self.run_chain(sid), name=f"kaizen-step:{self.run_id}:{sid}"
        )

    async def run_chain(self, sid: str) -> None:
        """Run ``sid``; then, in this same task, one dependent it made ready (the others get
        tasks of their own). Continuing here skips a task creation and a turn of the event
        loop, so a chain of steps runs back to back."""
        task = asyncio.current_task()
        assert task is not None
        follow: str | None = sid
        count = 0
        while follow is not None:
            self.tasks[follow] = task
            count += 1
            # let other tasks in now and then during long chains of steps that never wait
            follow = await self.run_step(follow, pause=count % INLINE_PAUSE_EVERY == 0)

    def check_done(self) -> None:
        if self.done is None or self.done.done() or self.in_flight:
            return
        if self.finished == len(self.plan.steps) or self.failure or self.cancel_reason:
            self.done.set_result(None)
        else:  # pragma: no cover - impossible for a validated DAG; never hang if it happens
            self.failure = ("", "internal error: steps left that can never become ready")
            self.done.set_result(None)

    async def run_step(self, sid: str, *, pause: bool = False) -> str | None:
        """Run one step and do its bookkeeping; returns a dependent to run next in this task."""
        planned = self.plan.steps[sid]
        view = self.views[sid]
        status = StepStatus.FAILED
        try:
            if pause:
                await asyncio.sleep(0)
            status = await self.execute_step(planned)
        except asyncio.CancelledError:
            status = StepStatus.CANCELLED
            view.settle(status, error=self.cancel_reason or "cancelled")
            if sid not in self.settled:
                record = self.bare_record(planned, status, view.error or "cancelled")
                await asyncio.shield(
                    self.emit(StepFinished(run_id=self.run_id, at=record.ended_at, record=record))
                )
        except EventSinkError as exc:
            view.settle(status, error=str(exc))
            if self.failure is None:
                self.failure = (sid, str(exc))
        except Exception as exc:  # a bug in the engine or a tool wrapper: record it, never hang
            message = f"internal error: {type(exc).__name__}: {exc}"
            view.settle(status, error=message)
            if self.failure is None:
                self.failure = (sid, message)
        except BaseException:  # cancelled again while recording the cancellation: account, go
            self.in_flight -= 1
            self.finished += 1
            self.step_done(planned, status, continue_with_one=False)
            raise
        self.in_flight -= 1
        self.finished += 1
        return self.step_done(planned, status, continue_with_one=True)

    def step_done(
        self, planned: PlannedStep, status: StepStatus, *, continue_with_one: bool
    ) -> str | None:
        """Account for a finished step and start the dependents it made ready. With
        ``continue_with_one``, one of them is returned (already counted in flight) for the
        caller to run instead of being given a task."""
        if status == StepStatus.SUCCEEDED:
            self.completed.append(planned.id)
        elif (
            status == StepStatus.FAILED
            and planned.step.on_error is not OnError.CONTINUE
            and self.failure is None
        ):
            self.failure = (planned.id, self.views[planned.id].error or "failed")
        follow: str | None = None
        if self.failure is None and self.cancel_reason is None:
            for dependent in planned.dependents:
                self.remaining[dependent] -= 1
                if self.remaining[dependent] == 0:
                    if continue_with_one and follow is None:
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
        try:
            await self.ex.sink.emit(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise EventSinkError(f"could not record {event.type}: {exc}") from exc

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

    def as_list(self, value: Any) -> list[Any]:
        if isinstance(value, list | tuple):
            return list(value)
        raise TemplateError(
            f"for_each.items must evaluate to a list, got {type(value).__name__}: "
            f"{summarize(value, 80)}"
        )

    async def skip(self, planned: PlannedStep, reason: str) -> StepStatus:
        view = self.views[planned.id]
        view.status = StepStatus.SKIPPED
        record = self.bare_record(planned, StepStatus.SKIPPED, reason)
        await self.emit(
            StepSkipped(run_id=self.run_id, at=record.ended_at, record=record, reason=reason)
        )
        return StepStatus.SKIPPED

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
        try:
            await self.emit(
                ApprovalRequested(run_id=self.run_id, at=request.requested_at, request=request)
            )
            try:
                async with asyncio.timeout(approval.timeout_s):
                    decision = await pending.future
            except TimeoutError:
                # A decision may have landed in the same loop turn as the timeout: it wins.
                decision = self.approvals.expire(
                    step.id,
                    ApprovalDecision(
                        approved=False,
                        by="timeout",
                        comment=f"nobody decided within {approval.timeout_s:g}s",
                        decided_at=self.clock.now(),
                    ),
                )
        finally:
            self.approvals.close(step.id)
        self.views[step.id].status = StepStatus.RUNNING
        await self.emit(
            ApprovalDecided(
                run_id=self.run_id, at=decision.decided_at, step_id=step.id, decision=decision
            )
        )
        if not decision.approved:
            reason = f"denied by {decision.by}" + (
                f": {decision.comment}" if decision.comment else ""
            )
            raise self.early_failure(planned, reason, ApprovalDeniedError(reason))

    def early_failure(
        self, planned: PlannedStep, message: str, error: BaseException
    ) -> _StepFailed:
        record = self.bare_record(planned, StepStatus.FAILED, message, error)
        return _StepFailed(error, record)

    async def run_items(self, planned: PlannedStep, items: list[Any]) -> _Outcome:
        step = planned.step
        assert step.for_each is not None
        started_at = self.clock.now()
        t0 = self.clock.monotonic()
        limit = asyncio.Semaphore(step.for_each.concurrency)
        results: list[Any] = [None] * len(items)
        outcomes: list[_Outcome | None] = [None] * len(items)
        first_failure: list[int] = []

        async def one(index: int, item: Any) -> None:
            async with limit:
                if first_failure:
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
                    first_failure.append(index)
                    return
                outcome = await self.run_call(planned, params, context, index, final=False)
                outcomes[index] = outcome
                if outcome.ok:
                    results[index] = outcome.output
                else:
                    first_failure.append(index)

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        done = [o for o in outcomes if o is not None]
        cost = ZERO_COST
        for o in done:
            cost = cost + o.record.cost
        duration_ms = (self.clock.monotonic() - t0) * 1000
        failed_at = min(first_failure) if first_failure else None
        error: BaseException | None = None
        issues: list[str] = []
        if failed_at is not None:
            failed = outcomes[failed_at]
            assert failed is not None
            error = failed.error
            not_run = sum(1 for o in outcomes if o is None)
            message = f"item {failed_at} of {len(items)} failed: {failed.record.error_message}"
            if not_run:
                issues.append(f"{not_run} item(s) not run after the failure")
        confidence = sum(o.record.confidence for o in done) / len(done) if done else 1.0
        record = StepRecord(
            run_id=self.run_id,
            step_id=step.id,
            tool=planned.tool.name,
            attempt=1,
            status=StepStatus.SUCCEEDED if error is None else StepStatus.FAILED,
            started_at=started_at,
            ended_at=self.clock.now(),
            duration_ms=duration_ms,
            confidence=confidence if error is None else 0.0,
            issues=issues,
            cost=cost,
            input_hash=digest(items),
            output_hash=digest(results) if error is None else None,
            output_summary=summarize(results) if error is None else None,
            error_class=type(error).__name__ if error is not None else None,
            error_category=error_category(error) if error is not None else None,
            error_message=message if error is not None else None,
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
                await self.clock.sleep(delay)
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
        """One call of ``tool``: emits StepStarted, returns the outcome with its record."""
        step_id = planned.id
        constant_hash = planned.constant_params_hash() if kind is RecordKind.ACTION else None
        input_hash = constant_hash if constant_hash is not None else digest(params)
        started_at = self.clock.now()
        await self.emit(
            StepStarted(
                run_id=self.run_id,
                at=started_at,
                step_id=step_id,
                tool=tool.name,
                kind=kind,
                attempt=attempt,
                item_index=item_index,
                input_hash=input_hash,
            )
        )
        t0 = self.clock.monotonic()
        context = ToolContext(
            run_id=self.run_id,
            step_id=step_id,
            attempt=attempt,
            item_index=item_index,
            clock=self.clock,
            thread_pool=self.ex.thread_pool,
        )
        error: BaseException | None = None
        result: Any = None
        try:
            parsed = tool.parse_params(params)
            result = await self.ex._call_in_slot(tool, parsed, context, timeout_s)
        except asyncio.CancelledError:
            record = self.make_record(
                planned,
                tool,
                kind,
                attempt,
                item_index,
                started_at,
                t0,
                input_hash,
                status=StepStatus.CANCELLED,
                error=None,
                message=self.cancel_reason or "cancelled",
            )
            final = item_index is None and kind is not RecordKind.COMPENSATION
            await asyncio.shield(
                self.emit(
                    StepFinished(run_id=self.run_id, at=record.ended_at, record=record, final=final)
                )
            )
            raise
        except Exception as exc:
            error = exc
        if error is not None:
            record = self.make_record(
                planned,
                tool,
                kind,
                attempt,
                item_index,
                started_at,
                t0,
                input_hash,
                status=StepStatus.FAILED,
                error=error,
                message=_message(error),
            )
            return _Outcome(record, None, error)
        output: Any
        confidence: float | None = None
        issues: list[str] = [note] if note else []
        cost: Cost | None = None
        if isinstance(result, ToolResult):
            output = to_jsonable(result.output)
            confidence = result.confidence
            issues.extend(result.issues)
            cost = result.cost
        else:
            output = to_jsonable(result)
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
            step_id=step_id,
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

    def make_record(
        self,
        planned: PlannedStep,
        tool: Tool,
        kind: RecordKind,
        attempt: int,
        item_index: int | None,
        started_at: Any,
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

    # ------------------------------------------------------------------ saga

    async def compensate(self) -> None:
        """Run compensations of completed steps, latest first; failures are recorded, and the
        remaining compensations still run."""
        for sid in reversed(self.completed):
            planned = self.plan.steps[sid]
            call = planned.compensate
            if call is None:
                continue
            try:
                params = call.params.render(self.context)
            except TemplateError as exc:
                record = self.bare_record(
                    planned, StepStatus.FAILED, f"compensate params: {exc}", exc
                )
                record = record.model_copy(
                    update={"kind": RecordKind.COMPENSATION, "tool": call.tool.name}
                )
                await self.emit(
                    StepFinished(run_id=self.run_id, at=record.ended_at, record=record, final=False)
                )
                self.issues.append(f"compensation of '{sid}' failed: {exc}")
                continue
            outcome = await self.attempt(
                planned, call.tool, RecordKind.COMPENSATION, params, 1, None, call.timeout_s
            )
            await self.emit(
                StepFinished(
                    run_id=self.run_id,
                    at=outcome.record.ended_at,
                    record=outcome.record,
                    output=outcome.output,
                    final=False,
                )
            )
            if outcome.ok:
                self.compensated.append(sid)
            else:
                self.issues.append(
                    f"compensation of '{sid}' failed: {outcome.record.error_message}"
                )


def _message(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__
