"""Live run cards: engine events folded into the card, updates throttled, the end shown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bot.slack.live_runs import LiveRunCards
from engine.events import RunFinished, StepFinished, StepStarted
from engine.records import RunRecord, RunStatus, StepRecord, StepStatus

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _record(step: str, status: StepStatus = StepStatus.SUCCEEDED) -> StepRecord:
    return StepRecord(
        run_id="r1", step_id=step, tool="t", attempt=1, status=status, started_at=NOW,
        ended_at=NOW, duration_ms=12.0, confidence=1.0, output_summary="ok",
    )  # fmt: skip


async def test_updates_are_throttled_and_the_end_is_shown_at_once_with_overflow():
    updates: list[dict[str, Any]] = []
    overflow: list[str] = []

    async def update(channel: str, ts: str, card: dict[str, Any]) -> None:
        updates.append(card)

    async def post(channel: str, ts: str, text: str) -> None:
        overflow.append(text)

    cards = LiveRunCards(update, post, interval_s=0.2)
    steps = [(f"s{i}", "t") for i in range(20)]
    cards.follow("r1", channel="C1", ts="1.0", workflow="w", version=1, started_by="U1",
                 steps=steps)  # fmt: skip
    for step, _ in steps:
        await cards.emit(StepStarted(run_id="r1", at=NOW, step_id=step, tool="t", attempt=1))
        await cards.emit(StepFinished(run_id="r1", at=NOW, record=_record(step)))
    await asyncio.sleep(0.05)
    assert len(updates) <= 1  # 40 events within the interval: at most one update so far
    big = "x" * 1_000_000
    run = RunRecord(run_id="r1", blueprint="w", inputs={}, status=RunStatus.SUCCEEDED,
                    started_at=NOW, duration_ms=50.0, outputs={"report": big})  # fmt: skip
    await cards.emit(RunFinished(run_id="r1", at=NOW, run=run))
    final = str(updates[-1]["blocks"]).lower()
    assert "succeeded" in final
    assert overflow == [big]  # too long for the card: all of it goes to the thread
    assert cards.progress("r1") is None  # forgotten once shown
    await asyncio.sleep(0.3)
    assert len(updates) <= 2


async def test_events_of_runs_not_followed_are_ignored():
    calls: list[Any] = []

    async def update(*args: Any) -> None:
        calls.append(args)

    cards = LiveRunCards(update, update, interval_s=0.0)
    await cards.emit(StepStarted(run_id="other", at=NOW, step_id="s", tool="t", attempt=1))
    await asyncio.sleep(0.05)
    assert calls == []
