"""Live run cards: the engine's events turned into a run card that is kept up to date.

:class:`LiveRunCards` is an engine event sink. For every run it was told about
(:meth:`LiveRunCards.follow`) it keeps a :class:`~bot.slack.cards.run_card.RunProgress` and
updates the card's message as steps start and finish — at most once per ``interval_s`` per
message (Slack rate-limits ``chat.update``); the last state is always shown, and the end of a
run is shown at once. Output too long for the card goes to the thread (or a file).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.slack.cards.run_card import RunProgress, StepProgress, overflow_output, run_card
from engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    RunEvent,
    RunFinished,
    StepFinished,
    StepRetried,
    StepSkipped,
    StepStarted,
)
from engine.records import StepStatus

log = logging.getLogger(__name__)

#: Posts a message update: (channel, ts, card) → awaitable.
UpdateMessage = Callable[[str, str, dict[str, Any]], Awaitable[None]]
#: Posts long output in the run's thread: (channel, thread_ts, text) → awaitable.
PostOverflow = Callable[[str, str, str], Awaitable[None]]
#: Called when a step waits for approval: (channel, thread_ts, event) → awaitable.
OnApproval = Callable[[str, str, ApprovalRequested], Awaitable[None]]
#: Called when a followed run ends: (run id, the progress shown) → awaitable.
OnFinished = Callable[[str, RunProgress], Awaitable[None]]

_FINAL_STEP_STATUS = {
    StepStatus.SUCCEEDED: "succeeded",
    StepStatus.FAILED: "failed",
    StepStatus.SKIPPED: "skipped",
    StepStatus.CANCELLED: "cancelled",
}


@dataclass
class _Followed:
    channel: str
    ts: str
    progress: RunProgress
    last_update: float = 0.0
    pending: asyncio.TimerHandle | None = None
    flushing: asyncio.Lock = field(default_factory=asyncio.Lock)
    dirty: bool = False


class LiveRunCards:
    """Keeps the run card of every followed run up to date (an engine event sink)."""

    def __init__(
        self,
        update: UpdateMessage,
        post_overflow: PostOverflow,
        *,
        interval_s: float = 1.0,
        on_approval: OnApproval | None = None,
        on_finished: OnFinished | None = None,
    ) -> None:
        self.update = update
        self.post_overflow = post_overflow
        self.interval_s = interval_s
        self.on_approval = on_approval
        self.on_finished = on_finished
        self._runs: dict[str, _Followed] = {}
        self._early: dict[str, list[RunEvent]] = {}
        self.updates = 0
        """How many card updates were sent (for tests and the benchmark)."""

    def follow(
        self,
        run_id: str,
        *,
        channel: str,
        ts: str,
        workflow: str,
        version: int | None,
        started_by: str,
        steps: list[tuple[str, str]],
    ) -> RunProgress:
        """Show ``run_id`` on the message ``ts`` in ``channel``; ``steps`` are (step id, tool)
        in blueprint order."""
        progress = RunProgress(
            run_id=run_id,
            workflow=workflow,
            version=version,
            status="running",
            started_by=started_by,
            steps=[
                StepProgress(step_id=step_id, tool=tool, status="waiting")
                for step_id, tool in steps
            ],
            duration_ms=None,
            cost_usd=None,
            outputs=None,
        )
        self._runs[run_id] = _Followed(channel=channel, ts=ts, progress=progress)
        return progress

    def forget(self, run_id: str) -> None:
        """Stop following ``run_id`` (it did not start)."""
        followed = self._runs.pop(run_id, None)
        if followed is not None and followed.pending is not None:
            followed.pending.cancel()

    def progress(self, run_id: str) -> RunProgress | None:
        followed = self._runs.get(run_id)
        return followed.progress if followed else None

    def where(self, run_id: str) -> tuple[str, str] | None:
        """(channel, ts) of the run's card, when followed."""
        followed = self._runs.get(run_id)
        return (followed.channel, followed.ts) if followed else None

    # ------------------------------------------------------------------ the sink

    async def emit(self, event: RunEvent) -> None:
        followed = self._runs.get(event.run_id)
        if followed is None:
            return
        try:
            final = self._apply(followed, event)
        except Exception:  # a card must never break a run
            log.exception("could not apply %s to the run card of %s", event.type, event.run_id)
            return
        if isinstance(event, ApprovalRequested) and self.on_approval is not None:
            await self._safely(self.on_approval(followed.channel, followed.ts, event))
        if final:
            await self._finish(event.run_id, followed)
        else:
            self._schedule(followed)

    def _apply(self, followed: _Followed, event: RunEvent) -> bool:
        """Fold ``event`` into the progress; True when the run ended."""
        progress = followed.progress
        if isinstance(event, RunFinished):
            run = event.run
            outputs = _outputs_text(run.outputs) if run.outputs else None
            if run.error and not outputs:
                outputs = f"Error: {run.error}"
            followed.progress = progress.model_copy(
                update={
                    "status": run.status.value,
                    "duration_ms": run.duration_ms,
                    "cost_usd": run.cost.usd,
                    "outputs": outputs,
                }
            )
            return True
        if isinstance(event, StepStarted):
            self._set_step(
                followed, event.step_id, event.tool, status="running", attempt=event.attempt
            )
        elif isinstance(event, StepRetried):
            record = event.record
            self._set_step(
                followed,
                record.step_id,
                record.tool,
                status="retrying",
                attempt=record.attempt,
                error=record.error_message,
            )
        elif isinstance(event, StepFinished) and event.final:
            record = event.record
            self._set_step(
                followed,
                record.step_id,
                record.tool,
                status=_FINAL_STEP_STATUS.get(record.status, "failed"),
                attempt=record.attempt,
                duration_ms=record.duration_ms,
                cost_usd=record.cost.usd or None,
                error=record.error_message,
                output_preview=record.output_summary,
            )
        elif isinstance(event, StepSkipped):
            self._set_step(followed, event.record.step_id, event.record.tool, status="skipped")
        elif isinstance(event, ApprovalRequested):
            request = event.request
            self._set_step(followed, request.step_id, request.tool, status="awaiting_approval")
        elif isinstance(event, ApprovalDecided) and not event.decision.approved:
            self._set_step(followed, event.step_id, None, status="cancelled")
        return False

    def _set_step(
        self, followed: _Followed, step_id: str, tool: str | None, **changes: Any
    ) -> None:
        steps = list(followed.progress.steps)
        for i, step in enumerate(steps):
            if step.step_id == step_id:
                steps[i] = step.model_copy(update=changes)
                break
        else:  # a step the blueprint did not list up front (should not happen)
            steps.append(StepProgress(step_id=step_id, tool=tool or "?", **changes))
        followed.progress = followed.progress.model_copy(update={"steps": steps})
        followed.dirty = True

    # ------------------------------------------------------------------ updating

    def _schedule(self, followed: _Followed) -> None:
        """Update now if the last update is old enough, else once the interval has passed."""
        if followed.pending is not None:
            return  # an update is already due; it will show the latest state
        wait = followed.last_update + self.interval_s - time.monotonic()
        loop = asyncio.get_running_loop()
        followed.pending = loop.call_later(
            max(0.0, wait), lambda: asyncio.ensure_future(self._flush(followed))
        )

    async def _flush(self, followed: _Followed) -> None:
        followed.pending = None
        async with followed.flushing:
            if not followed.dirty:
                return
            followed.dirty = False
            followed.last_update = time.monotonic()
            card = run_card(followed.progress)
            await self._safely(self.update(followed.channel, followed.ts, card))
            self.updates += 1

    async def _finish(self, run_id: str, followed: _Followed) -> None:
        if followed.pending is not None:
            followed.pending.cancel()
            followed.pending = None
        followed.dirty = True
        await self._flush(followed)
        extra = overflow_output(followed.progress)
        if extra:
            await self._safely(self.post_overflow(followed.channel, followed.ts, extra))
        if self.on_finished is not None:
            await self._safely(self.on_finished(run_id, followed.progress))
        self._runs.pop(run_id, None)

    async def _safely(self, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception:  # Slack being down must not fail the run
            log.exception("could not update a run card")


def _outputs_text(outputs: dict[str, Any]) -> str:
    """The run's outputs as readable text: strings as they are, the rest as JSON."""
    parts: list[str] = []
    for name, value in outputs.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        parts.append(f"{name}:\n{text}" if len(outputs) > 1 else text)
    return "\n\n".join(parts)
