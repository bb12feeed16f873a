"""Starting a run with an idempotency key (:meth:`DurableRunner.start`): one key, one run —
started twice in a row, at once in one runner, or at once by two runners (two processes on
the same database). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from knowledge.durable.runner import DurableRunner
from knowledge.store.database import Database
from knowledge.store.models import RunState
from tests.knowledge.durable.helpers import (
    WAIT_S,
    audit_actions,
    blueprint,
    other_connection,
    result,
    run_row,
    runs,
    step,
    step_rows,
    store_version,
)

ONCE = blueprint(
    "once",
    step("m", "lab.mutate", params={"value": "{{ inputs.n }}"}),
    inputs={"n": {"type": "integer", "default": 0}},
)


async def test_the_same_key_twice_in_a_row_is_one_run(db, lab, registry):
    version = store_version(db, registry, ONCE)
    async with DurableRunner(db, registry) as runner:
        first = await runner.run(version, {"n": 1}, started_by="alice", idempotency_key="k-1")
        second = await runner.run(version, {"n": 2}, started_by="bob", idempotency_key="k-1")
    assert first.created and first.status == RunState.SUCCEEDED
    assert not second.created
    assert second.run_id == first.run_id
    assert second.status == RunState.SUCCEEDED  # read from the store
    assert second.handle is None
    assert lab.calls["m"] == 1
    assert lab.params["m"] == [{"value": 1}]
    (run,) = runs(db)
    assert (run.id, run.idempotency_key, run.started_by) == (first.run_id, "k-1", "alice")
    assert run.inputs == {"n": 1}
    assert audit_actions(db, first.run_id) == ["run.started", "run.finished"]


async def test_the_same_key_while_the_run_is_running_names_the_running_run(db, lab, registry):
    version = store_version(db, registry, ONCE)
    gate = lab.gate("m")
    async with DurableRunner(db, registry) as runner:
        first = await runner.start(version, started_by="alice", idempotency_key="k-run")
        await gate.wait_entered()
        again = await runner.start(version, started_by="alice", idempotency_key="k-run")
        assert not again.created
        assert again.run_id == first.run_id
        assert again.status == RunState.RUNNING
        assert again.handle is first.handle  # it runs here: the same handle
        gate.open()
        assert first.handle is not None
        assert (await result(first.handle)).status == "succeeded"
    assert lab.calls["m"] == 1
    assert len(runs(db)) == 1


async def test_the_same_key_at_once_in_one_runner_is_one_run(db, lab, registry):
    version = store_version(db, registry, ONCE)
    async with DurableRunner(db, registry) as runner:
        tickets = await asyncio.gather(
            *(
                runner.run(version, {"n": n}, started_by="alice", idempotency_key="k-gather")
                for n in range(5)
            )
        )
        # a ticket that did not create the run but found it running here waits on nothing:
        # let the one run finish before looking
        for ticket in tickets:
            if ticket.handle is not None:
                await result(ticket.handle)
    assert [t.created for t in tickets].count(True) == 1
    assert {t.run_id for t in tickets} == {tickets[0].run_id}
    assert lab.calls["m"] == 1
    (run,) = runs(db)
    assert run.status == "succeeded"
    assert len(step_rows(db, run.id)) == 1
    assert audit_actions(db, run.id).count("run.started") == 1


async def test_the_same_key_at_once_from_two_processes_is_one_run(db, lab, registry):
    version = store_version(db, registry, ONCE)
    with other_connection(db) as other:
        async with (
            DurableRunner(db, registry, owner="A") as a,
            DurableRunner(other, registry, owner="B") as b,
        ):
            tickets = await asyncio.gather(
                *(
                    runner.start(version, {"n": n}, started_by=runner.owner, idempotency_key="k-2")
                    for n in range(3)
                    for runner in (a, b)
                )
            )
            created = [t for t in tickets if t.created]
            assert len(created) == 1
            assert created[0].handle is not None
            await result(created[0].handle)
    assert {t.run_id for t in tickets} == {created[0].run_id}
    assert lab.calls["m"] == 1
    (run,) = runs(db)
    assert run.status == "succeeded"
    assert run.started_by in ("A", "B")
    assert audit_actions(db, run.id) == ["run.started", "run.finished"]


@contextmanager
def writers_meeting(at: str, *databases: Database) -> Iterator[list[tuple[int, str]]]:
    """Make the store writers of the databases (two) meet before their first statement that
    starts with ``at``, then go on together; yields what they did (``(position, statement)``
    for BEGIN and INSERT INTO runs)."""
    seen: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(databases), timeout=WAIT_S)
    met: set[int] = set()
    listeners = []
    for position, database in enumerate(databases):

        def before(_conn: Any, _cursor: Any, statement: str, *_: Any, me: int = position):
            if threading.current_thread().name != "kaizen-store-writer":
                return
            text = " ".join(statement.split()[:3]).upper()
            if text.startswith(at) and me not in met:
                met.add(me)
                barrier.wait()
            if text.startswith(("BEGIN", "INSERT INTO RUNS")):
                seen.append((me, text))

        event.listen(database.engine, "before_cursor_execute", before)
        listeners.append((database.engine, before))
    try:
        yield seen
    finally:
        for engine, listener in listeners:
            event.remove(engine, "before_cursor_execute", listener)


async def test_two_processes_starting_the_same_key_at_the_same_moment_make_one_run(
    db, lab, registry
):
    """Both processes write at the same moment. On PostgreSQL both find no run with the key and
    both insert one: the loser's insert fails on the unique key and it names the winner's run.
    (On SQLite a writing transaction takes the lock when it begins, so the loser waits, then
    finds the winner's run.)"""
    version = store_version(db, registry, ONCE)
    sqlite = db.dialect == "sqlite"
    meet_at = "BEGIN" if sqlite else "INSERT INTO RUNS"
    with other_connection(db) as other:
        async with (
            DurableRunner(db, registry, owner="A") as a,
            DurableRunner(other, registry, owner="B") as b,
        ):
            with writers_meeting(meet_at, db, other) as seen:
                tickets = await asyncio.gather(
                    *(
                        runner.start(version, started_by=runner.owner, idempotency_key="k-3")
                        for runner in (a, b)
                    )
                )
            created = [t for t in tickets if t.created]
            assert len(created) == 1
            assert created[0].handle is not None
            await result(created[0].handle)
    inserts = sorted(me for me, text in seen if text.startswith("INSERT"))
    winner = tickets.index(created[0])
    # PostgreSQL: both inserted (the loser's failed on the key); SQLite: only the winner did
    assert inserts == ([winner] if sqlite else [0, 1])
    assert {t.run_id for t in tickets} == {created[0].run_id}
    assert lab.calls["m"] == 1
    (run,) = runs(db)
    assert run.status == "succeeded"
    assert audit_actions(db, run.id) == ["run.started", "run.finished"]


async def test_different_keys_and_no_key_start_new_runs(db, lab, registry):
    version = store_version(db, registry, ONCE)
    async with DurableRunner(db, registry) as runner:
        keyed = [
            await runner.run(version, started_by="alice", idempotency_key=key)
            for key in ("k-a", "k-b")
        ]
        unkeyed = [await runner.run(version, started_by="alice") for _ in range(2)]
        concurrent = await asyncio.gather(
            *(runner.run(version, started_by="alice") for _ in range(3))
        )
    tickets = [*keyed, *unkeyed, *concurrent]
    assert all(t.created and t.status == RunState.SUCCEEDED for t in tickets)
    assert len({t.run_id for t in tickets}) == 7
    assert lab.calls["m"] == 7
    stored = runs(db)
    assert len(stored) == 7
    assert sorted(r.idempotency_key or "" for r in stored) == ["", "", "", "", "", "k-a", "k-b"]
    assert run_row(db, keyed[0].run_id).idempotency_key == "k-a"


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_a_key_the_database_cannot_hold_is_refused_before_anything_runs(
    db, lab, registry, key
):
    version = store_version(db, registry, ONCE)
    async with DurableRunner(db, registry) as runner:
        with pytest.raises(ValueError, match="idempotency_key must be 1 to 200 characters"):
            await runner.start(version, started_by="alice", idempotency_key=key)
    assert lab.calls == {}
