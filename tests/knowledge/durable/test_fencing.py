"""Fencing: a process that lost its claim on a run (it stalled past its lease and another
process took the run over) stops at once, makes no further mutating call, compensates nothing
and writes nothing more of that run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

from sqlalchemy import update

from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from knowledge.durable.runner import DurableRunner
from knowledge.store.database import Database
from knowledge.store.models import Run
from tests.knowledge.durable.helpers import blueprint, step, step_rows, store_version


def make_registry(calls: Counter[str]) -> ToolRegistry:
    @tool("stall")
    async def stall(name: str) -> dict[str, bool]:
        """Blocks the event loop (a CPU-bound tool, a GC pause, a suspended VM)."""
        calls[name] += 1
        time.sleep(2.5)  # noqa: ASYNC251 - the stall is the point (B has ~1.8 s to take over)
        return {"ok": True}

    @tool("deploy", side_effect="mutating")
    async def deploy(name: str) -> dict[str, bool]:
        """A mutating call that must happen once."""
        calls[name] += 1
        await asyncio.sleep(0.05)
        return {"ok": True}

    @tool("undo", side_effect="mutating")
    async def undo(name: str) -> dict[str, bool]:
        """A compensation."""
        calls[name] += 1
        return {"ok": True}

    return ToolRegistry([stall, deploy, undo])


async def test_a_stalled_owner_that_lost_its_run_does_not_make_the_mutating_call(db: Database):
    calls: Counter[str] = Counter()
    registry = make_registry(calls)
    version = store_version(
        db,
        registry,
        blueprint(
            "fenced",
            step("first", "deploy", compensate={"tool": "undo", "params": {"name": "undo"}}),
            step("x", "stall", depends_on=["first"]),
            step("m", "deploy", depends_on=["x"]),
        ),
    )
    takeover = threading.Event()

    def other_process() -> None:
        async def go() -> None:
            takeover.wait(5)
            await asyncio.sleep(0.7)  # A is stalled in 'x'; its 0.5 s lease has run out
            async with DurableRunner(db, registry, owner="B", lease_s=0.5) as b:
                report = await b.recover()
                for handle in report.resumed.values():
                    await handle.result()

        asyncio.run(go())

    thread = threading.Thread(target=other_process)
    thread.start()
    async with DurableRunner(db, registry, owner="A", lease_s=0.5) as a:
        ticket = await a.start(version, started_by="alice")
        takeover.set()
        assert ticket.handle is not None
        record = await ticket.handle.result()
    await asyncio.to_thread(thread.join, 10)
    assert record.status == "cancelled"  # A gave the run up
    assert calls["m"] == 1  # made once, by B
    assert calls["first"] == 1  # finished before the takeover: not made again
    assert calls["undo"] == 0  # A compensated nothing
    rows = [(r.step_id, r.status) for r in step_rows(db, ticket.run_id) if r.final]
    assert rows.count(("m", "succeeded")) == 1
    with db.session() as session:
        run = session.get(Run, ticket.run_id)
        assert run is not None
        assert run.status == "succeeded"  # B's result: A wrote nothing after it lost the run


async def test_renewal_notices_a_takeover_and_abandons_the_run(db: Database):
    calls: Counter[str] = Counter()
    gate = asyncio.Event()

    @tool("wait")
    async def wait(name: str) -> dict[str, bool]:
        """Waits for the test."""
        await gate.wait()
        return {"ok": True}

    registry = make_registry(calls)
    registry.register(wait)
    version = store_version(
        db,
        registry,
        blueprint(
            "renewed",
            step("first", "deploy", compensate={"tool": "undo", "params": {"name": "undo"}}),
            step("w", "wait", depends_on=["first"]),
            step("m", "deploy", depends_on=["w"]),
        ),
    )
    async with DurableRunner(db, registry, owner="A", lease_s=60) as a:
        ticket = await a.start(version, started_by="alice")
        assert ticket.handle is not None
        for _ in range(500):
            if calls["first"]:
                break
            await asyncio.sleep(0.01)
        assert await a.renew_leases() == []  # still ours
        with db.session() as session:  # another process claims it
            session.execute(update(Run).where(Run.id == ticket.run_id).values(owner="B"))
        assert await a.renew_leases() == [ticket.run_id]
        gate.set()
        record = await ticket.handle.result()
    assert record.status == "cancelled"
    assert calls["m"] == 0 and calls["undo"] == 0
    with db.session() as session:
        run = session.get(Run, ticket.run_id)
        assert run is not None and run.status == "running" and run.owner == "B"
        assert run.ended_at is None  # A's end of the run was not written
