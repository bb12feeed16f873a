"""How one step runs: its condition, rendering, approval, retries, fallback and for_each.

Part of :class:`engine.run.Run`; each method works on the run's state.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from engine.approvals import ApprovalDecision, ApprovalRequest
from engine.attempts import Attempts
from engine.blueprint import OnError
from engine.errors import (
    ApprovalDeniedError,
    TemplateError,
    UpstreamOutputMissingError,
    error_category,
    is_retryable,
)
from engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    StepRetried,
    StepSkipped,
)
from engine.outcomes import Outcome, StepFailed, Stopped
from engine.plan import PlannedStep
from engine.records import (
    RecordKind,
    StepRecord,
    StepStatus,
    digest,
    fingerprint,
    summarize,
)
from engine.tools.base import ZERO_COST


class StepFlow(Attempts):
    """The path of one step through a run, from its condition to its final record."""

    async def execute_step(self, planned: PlannedStep) -> StepStatus:
        view = self.views[planned.id]
        view.status = StepStatus.RUNNING
        t0 = self.clock.monotonic()
        try:
            outcome = await self.perform(planned)
        except StepFailed as failed:
            await self.emit(self.final_event(failed.record))
            outcome = Outcome(failed.record, None, failed.error)
        if outcome is None:
            return StepStatus.SKIPPED
        view.attempts = outcome.record.attempt
        view.duration_ms = (self.clock.monotonic() - t0) * 1000
        if outcome.ok:
            view.settle(StepStatus.SUCCEEDED, output=outcome.output)
            return StepStatus.SUCCEEDED
        view.settle(StepStatus.FAILED, error=outcome.record.error_message or "failed")
        return StepStatus.FAILED

    async def perform(self, planned: PlannedStep) -> Outcome | None:
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
        if step.approval is not None and not self.granted_before(step.id):
            await self.await_approval(planned, items if items is not None else params)
        if items is not None:
            return await self.run_items(planned, items)
        return await self.run_call(planned, params, self.context, None, final=True)

    def granted_before(self, step_id: str) -> bool:
        """Resuming: the step's approval was granted before the interruption."""
        if self.resume is None:
            return False
        decision = self.resume.approvals.get(step_id)
        return decision is not None and decision.approved

    async def settle_call(
        self, planned: PlannedStep, item_index: int | None, outcome: Outcome, *, final: bool
    ) -> Outcome:
        """Record how a call (attempt or fallback) ended for good; a success is remembered for
        the saga first."""
        if outcome.ok:
            self.mark_done(planned.id, item_index, outcome.output)
        await self.emit(self.final_event(outcome.record, output=outcome.output, final=final))
        return outcome

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

    def early_failure(self, planned: PlannedStep, message: str, error: BaseException) -> StepFailed:
        return StepFailed(error, self.bare_record(planned, StepStatus.FAILED, message, error))

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
        except Stopped as stopped:
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

    async def run_items(self, planned: PlannedStep, items: list[Any]) -> Outcome:
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
        outcomes: list[Outcome | None] = [None] * len(items)
        failed_at: list[int] = []
        stopped: list[Stopped] = []

        earlier = self.resume.items.get(step.id, {}) if self.resume is not None else {}

        async def one(index: int, item: Any) -> None:
            prior = earlier.get(index)
            if prior is not None:  # resuming: this item succeeded before the interruption
                outcomes[index] = Outcome(prior.record, prior.output)
                results[index] = prior.output
                return
            try:
                await self.wait(limit.acquire)
            except Stopped as exc:
                stopped.append(exc)
                return
            try:
                if failed_at or stopped:
                    return
                context = {**self.context, step.for_each.as_: item, "index": index}  # type: ignore[union-attr]
                try:
                    params = planned.params.render(context)
                except TemplateError as exc:
                    record = self.bare_record(
                        planned, StepStatus.FAILED, str(exc), exc, item_index=index
                    )
                    await self.emit(self.final_event(record, final=False))
                    outcomes[index] = Outcome(record, None, exc)
                    failed_at.append(index)
                    return
                try:
                    outcome = await self.run_call(planned, params, context, index, final=False)
                except Stopped as exc:
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
        await self.emit(self.final_event(record, output=output))
        return Outcome(record, output, error)

    async def run_call(
        self,
        planned: PlannedStep,
        params: Any,
        context: Mapping[str, Any],
        item_index: int | None,
        *,
        final: bool,
    ) -> Outcome:
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
                return await self.settle_call(planned, item_index, outcome, final=final)
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
            self.final_event(
                outcome.record,
                final=final and not use_fallback,
            )
        )
        if not use_fallback or fallback is None:
            return outcome
        try:
            fallback_params = fallback.params.render(context)
        except TemplateError as exc:
            record = self.bare_record(
                planned,
                StepStatus.FAILED,
                f"fallback params: {exc}",
                exc,
                kind=RecordKind.FALLBACK,
                tool=fallback.tool,
                item_index=item_index,
            )
            await self.emit(self.final_event(record, final=final))
            return Outcome(record, None, exc)
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
        return await self.settle_call(planned, item_index, result, final=final)
