"""The executor: runs blueprints against a tool registry and reports to an event sink.

:class:`Executor` is the engine's entry point; :class:`RunHandle` controls one run in progress
(await it, cancel it, answer its approvals). How a run is scheduled, fails, stops and
compensates is described in :mod:`engine.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.approvals import ApprovalDecision, ApprovalRequest, ApproverCheck, same_user
from engine.blueprint import Blueprint
from engine.clock import Clock, SystemClock
from engine.errors import ApprovalError
from engine.events import EventSink, NullSink
from engine.inputs import resolve_inputs
from engine.plan import ExecutionPlan, build_plan
from engine.records import RunRecord, StepStatus
from engine.resume import Resume
from engine.run import Run
from engine.templating import TemplateEngine, default_engine
from engine.tools.base import Tool
from engine.tools.registry import ToolRegistry

DEFAULT_MAX_CONCURRENCY = 64


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
        resume: Resume | None = None,
    ) -> RunHandle:
        """Start a run in the background and return its handle. Must be called in a running
        event loop. Invalid blueprints or inputs raise ``BlueprintInvalidError`` here.

        With ``resume`` (and the interrupted run's ``run_id``), the run continues where an
        earlier execution stopped: see :mod:`engine.resume`."""
        plan = blueprint if isinstance(blueprint, ExecutionPlan) else self.plan(blueprint)
        resolved = resolve_inputs(plan.blueprint, inputs)
        if resume is not None:
            if run_id is None:
                raise ValueError("resuming a run needs its run_id")
            resume.check(
                set(plan.steps),
                {sid for sid, p in plan.steps.items() if p.step.for_each is not None},
            )
        if run_id is not None and run_id in self._runs:
            raise ValueError(f"run '{run_id}' is already running in this executor")
        run = Run(self, plan, resolved, run_id or self._new_run_id(), resume)
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
        resume: Resume | None = None,
    ) -> RunRecord:
        """Run to the end and return the run record (with every step record).

        Cancelling the task that awaits this cancels the run: running steps are stopped, and
        the run is recorded as cancelled before the cancellation propagates.
        """
        handle = self.start(blueprint, inputs, run_id=run_id, resume=resume)
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

    def slots(self, tool: Tool) -> tuple[asyncio.Semaphore, asyncio.Semaphore | None]:
        """The global concurrency semaphore, and the tool's own one if it has a limit."""
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


class RunHandle:
    """A run in progress: await its result, cancel it, answer its approvals."""

    def __init__(self, run: Run) -> None:
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
        """Stop the run: tool calls and waits are interrupted, nothing new starts; every step
        still gets its final record. With ``compensate=True`` the completed steps'
        compensations run, as on failure."""
        self._run.request_cancel(reason, compensate=compensate)

    def abandon(self, reason: str) -> None:
        """Give the run up to another owner: stop at once and compensate nothing (see
        :class:`engine.errors.RunAbandonedError`)."""
        self._run.abandon(reason)

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
