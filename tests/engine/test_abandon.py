"""A sink that says the run belongs to another process now (RunAbandonedError): the run stops
at once — the call about to start does not happen, nothing else starts, nothing is
compensated."""

from __future__ import annotations

import asyncio

from engine.errors import RunAbandonedError
from engine.events import MemorySink, RunEvent, StepStarted
from engine.executor import Executor
from engine.records import RunStatus
from tests.engine.conftest import bp, work


class TakenOverSink(MemorySink):
    """Refuses the start of step ``at``: by then another process owns the run."""

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at

    async def emit(self, event: RunEvent) -> None:
        if isinstance(event, StepStarted) and event.step_id == self.at:
            raise RunAbandonedError("taken over by process B")
        await super().emit(event)


BLUEPRINT = {
    "steps": [
        work("a", compensate={"tool": "test.undo", "params": {"name": "undo-a"}}),
        work("b", depends_on=["a"]),
        work("c", depends_on=["b"]),
    ]
}


async def test_an_abandoned_run_makes_no_further_call_and_compensates_nothing(registry, journal):
    sink = TakenOverSink(at="b")
    executor = Executor(registry, sink=sink, seed=1)
    try:
        record = await executor.run(bp(BLUEPRINT))
    finally:
        executor.close()
    assert record.status == RunStatus.CANCELLED
    assert journal.order() == ["a"]  # b's call never happened, c never started
    assert [c for c in journal.calls if c[0] == "test.undo"] == []
    assert record.compensated == []


async def test_abandoning_from_outside_stops_without_compensating(registry, journal):
    executor = Executor(registry, seed=1)
    try:
        blueprint = bp(
            {
                "steps": [
                    work("a", compensate={"tool": "test.undo", "params": {"name": "undo-a"}}),
                    work("slow", params={"seconds": 5}, depends_on=["a"]),
                    work("after", depends_on=["slow"]),
                ]
            }
        )
        handle = executor.start(blueprint)
        while "slow" not in journal.order():
            await asyncio.sleep(0.005)
        handle.abandon("process B took the run over")
        record = await handle.result()
    finally:
        executor.close()
    assert record.status == RunStatus.CANCELLED
    assert "after" not in journal.order()
    assert [c for c in journal.calls if c[0] == "test.undo"] == []
