"""One call of a tool: concurrency slots, the call itself, and the record it leaves.

Part of :class:`engine.run.Run`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import datetime
from typing import Any

from engine.errors import (
    StepTimeoutError,
    error_category,
)
from engine.events import (
    StepStarted,
)
from engine.outcomes import Outcome, Stopped, ToolCancelledItselfError
from engine.plan import PlannedStep
from engine.records import (
    RecordKind,
    StepRecord,
    StepStatus,
    digest,
    fingerprint,
)
from engine.run_state import RunState
from engine.tools.base import ZERO_COST, Cost, Tool, ToolContext, ToolResult
from engine.tools.function import to_jsonable


class Attempts(RunState):
    """Calling tools and recording each call."""

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
    ) -> Outcome:
        """One call of ``tool``. Raises :class:`Stopped` when the run stops this attempt (a
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
                kind=kind.value,
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
            except Stopped as stopped:
                record = self.make_record(
                    planned, tool, kind, attempt, item_index, started_at, t0, input_hash,
                    status=StepStatus.CANCELLED, error=None, message=f"stopped: {stopped}",
                )  # fmt: skip
                final = item_index is None and kind is not RecordKind.COMPENSATION
                await self.emit(self.final_event(record, final=final))
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
        return Outcome(record, output, None)

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
    ) -> Outcome:
        text = str(error) or type(error).__name__
        record = self.make_record(
            planned, tool, kind, attempt, item_index, started_at, t0, input_hash,
            status=StepStatus.FAILED, error=error, message=text,
        )  # fmt: skip
        return Outcome(record, None, error)

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
        *,
        kind: RecordKind = RecordKind.ACTION,
        tool: Tool | None = None,
        item_index: int | None = None,
    ) -> StepRecord:
        """A record for a call that never reached its tool (skipped, cancelled, failed early);
        ``kind``, ``tool`` and ``item_index`` say which call (default: the step's own)."""
        now = self.clock.now()
        return StepRecord(
            run_id=self.run_id,
            step_id=planned.id,
            tool=(tool or planned.tool).name,
            kind=kind,
            item_index=item_index,
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
