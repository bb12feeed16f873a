"""Shared tools, blueprints and store helpers of the durable-run tests.

The tools all take a ``name`` (the key of their call counter, gate and hook) and record every
call in a :class:`Lab`. A test arms a :class:`Gate` to make a call block until it is released
(or until the runner holding it is "killed"), and sets a hook to look at the store while a
call is in progress.

A crash is simulated in-process (:func:`crash`): what the runner queued is committed, then its
recorder stops writing anything (as a dead process would), and the run's row is given to a
dead owner. A fresh runner then recovers the run.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from engine.errors import PermanentToolError, TransientToolError
from engine.events import RunEvent
from engine.executor import RunHandle
from engine.tools.base import Cost, ToolResult
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from knowledge.durable.runner import DurableRunner
from knowledge.durable.writer import WriteOp
from knowledge.history.workflows import find_or_add_version
from knowledge.store.database import Database
from knowledge.store.models import (
    Approval,
    AuditEntry,
    Base,
    Run,
    StepCall,
    Usage,
    VersionOrigin,
)
from knowledge.store.types import utcnow

#: A run owner on another machine: only its lease tells whether it is alive.
OTHER_HOST_OWNER = "otherhost.invalid:1:x"
#: How long a test waits for something that should happen within milliseconds.
WAIT_S = 5.0


# ---------------------------------------------------------------------------- tools


@dataclass
class Gate:
    """Blocks calls while armed: ``entered`` is set when a call starts waiting."""

    armed: bool = True
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_entered(self) -> None:
        await asyncio.wait_for(self.entered.wait(), WAIT_S)

    def open(self) -> None:
        self.armed = False
        self.release.set()


@dataclass
class Lab:
    """What the test tools did, and how they behave."""

    calls: Counter[str] = field(default_factory=Counter)
    params: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    hooks: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    """Run in a thread while the call is in progress (may raise: the call fails)."""
    failures: dict[str, int] = field(default_factory=dict)
    """Transient failures still to come, by name (``lab.flaky``)."""
    hook_results: dict[str, list[Any]] = field(default_factory=dict)

    def gate(self, name: str) -> Gate:
        """Arm a gate for the calls named ``name``."""
        gate = self.gates[name] = Gate()
        return gate

    async def enter(self, name: str, params: dict[str, Any]) -> None:
        self.calls[name] += 1
        self.params.setdefault(name, []).append(params)
        hook = self.hooks.get(name)
        if hook is not None:
            result = await asyncio.to_thread(hook, params)
            self.hook_results.setdefault(name, []).append(result)
        gate = self.gates.get(name)
        if gate is not None and gate.armed:
            gate.entered.set()
            await gate.release.wait()


def make_registry(lab: Lab) -> ToolRegistry:
    """Tools for every side effect; ``lab.*`` names."""

    @tool("lab.echo")
    async def echo(name: str, value: Any = None) -> Any:
        """No side effect: returns its name and value."""
        await lab.enter(name, {"value": value})
        return {"name": name, "value": value}

    @tool("lab.idem", side_effect="idempotent")
    async def idem(name: str, value: Any = None) -> Any:
        """Idempotent: returns its name and value."""
        await lab.enter(name, {"value": value})
        return {"name": name, "value": value}

    @tool("lab.mutate", side_effect="mutating")
    async def mutate(name: str, value: Any = None) -> Any:
        """Mutating: returns its name and value."""
        await lab.enter(name, {"value": value})
        return {"name": name, "value": value}

    @tool("lab.flaky")
    async def flaky(name: str) -> Any:
        """Fails transiently ``lab.failures[name]`` times, then succeeds."""
        await lab.enter(name, {})
        left = lab.failures.get(name, 0)
        if left > 0:
            lab.failures[name] = left - 1
            raise TransientToolError(f"{name}: try again")
        return {"name": name, "ok": True}

    @tool("lab.fail")
    async def fail(name: str, message: str = "boom") -> Any:
        """Always fails permanently with ``message``."""
        await lab.enter(name, {"message": message})
        raise PermanentToolError(message)

    @tool("lab.costly")
    async def costly(
        name: str, tokens_in: int = 100, tokens_out: int = 20, usd: float = 0.5
    ) -> Any:
        """Reports confidence, issues and cost."""
        await lab.enter(name, {})
        return ToolResult(
            output={"name": name, "text": "a fine answer"},
            confidence=0.75,
            issues=["the answer was short"],
            cost=Cost(tokens_in=tokens_in, tokens_out=tokens_out, usd=usd),
        )

    @tool("lab.big")
    async def big(name: str, size: int = 50_000) -> Any:
        """No side effect: a big output (``size`` characters of payload)."""
        await lab.enter(name, {"size": size})
        return {"name": name, "payload": "x" * size}

    @tool("lab.big_mutate", side_effect="mutating")
    async def big_mutate(name: str, size: int = 50_000) -> Any:
        """Mutating: a big output."""
        await lab.enter(name, {"size": size})
        return {"name": name, "payload": "x" * size}

    @tool("lab.measure")
    async def measure(name: str, data: Any = None) -> Any:
        """No side effect: how big its ``data`` payload is (fails without one)."""
        await lab.enter(name, {"data": data})
        if not isinstance(data, dict) or "payload" not in data:
            raise PermanentToolError(f"{name}: no payload in {str(data)[:80]}")
        return {"name": name, "size": len(data["payload"])}

    @tool("lab.leak")
    async def leak(name: str, text: str = "", fail: bool = False) -> Any:
        """Returns (or raises) ``text`` in several shapes a secret can hide in."""
        await lab.enter(name, {"text": text})
        if fail:
            raise PermanentToolError(f"upstream refused: {text}")
        return {
            "name": name,
            "note": text,
            "password": "hunter2-hunter2",
            "token": "tok-0123456789abcdef",
            "headers": {"Authorization": "Bearer abcdef0123456789abcdef"},
            "pairs": [["Authorization", "Bearer abcdef0123456789abcdef"]],
        }

    @tool("lab.stats")
    async def stats(name: str) -> Any:
        """No side effect: statistics of nothing (a NaN mean)."""
        await lab.enter(name, {})
        return {"name": name, "mean": float("nan"), "n": 0}

    @tool("lab.binary")
    async def binary(name: str, fail: bool = False) -> Any:
        """No side effect: a NUL character in its issue, or in its error message."""
        await lab.enter(name, {})
        if fail:
            raise PermanentToolError("stderr: \x00\x01 garbage")
        return ToolResult(output={"name": name}, issues=["odd bytes: \x00"])

    registry = ToolRegistry()
    tools = (echo, idem, mutate, flaky, fail, costly, big, big_mutate, measure, leak, stats, binary)
    for item in tools:
        registry.register(item)
    return registry


# ---------------------------------------------------------------------------- blueprints


def step(step_id: str, tool_name: str = "lab.echo", **extra: Any) -> dict[str, Any]:
    """A step whose ``name`` param is its id (unless ``params`` gives another)."""
    params = {"name": step_id, **extra.pop("params", {})}
    return {"id": step_id, "tool": tool_name, "params": params, **extra}


def blueprint(name: str, *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "steps": list(steps), **extra}


def store_version(db: Database, registry: ToolRegistry, document: dict[str, Any]) -> int:
    """Store ``document`` as a workflow version; returns its id."""
    with db.session() as session:
        return find_or_add_version(
            session, document, author="tester", origin=VersionOrigin.USER, registry=registry
        ).id


# ---------------------------------------------------------------------------- reading the store


def step_rows(db: Database, run_id: str) -> list[StepCall]:
    with db.session() as session:
        return list(
            session.scalars(select(StepCall).where(StepCall.run_id == run_id).order_by(StepCall.id))
        )


def run_row(db: Database, run_id: str) -> Run:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None, f"run {run_id} is not in the store"
        session.expunge(run)
        return run


def runs(db: Database) -> list[Run]:
    with db.session() as session:
        return list(session.scalars(select(Run).order_by(Run.created_at)))


def audit_actions(db: Database, run_id: str) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject_type == "run", AuditEntry.subject_id == run_id)
                .order_by(AuditEntry.id)
            )
        )


def audit_entries(db: Database, run_id: str) -> list[AuditEntry]:
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_type == "run", AuditEntry.subject_id == run_id)
                .order_by(AuditEntry.id)
            )
        )


def approval_row(db: Database, run_id: str, step_id: str) -> Approval | None:
    with db.session() as session:
        return session.scalars(
            select(Approval).where(Approval.run_id == run_id, Approval.step_id == step_id)
        ).one_or_none()


def usage_rows(db: Database) -> list[Usage]:
    with db.session() as session:
        return list(session.scalars(select(Usage)))


def dump_tables(db: Database) -> str:
    """Every row of every table, as text (to search for secrets)."""
    lines: list[str] = []
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


def rows_of(rows: list[StepCall], step_id: str, **where: Any) -> list[StepCall]:
    return [
        r
        for r in rows
        if r.step_id == step_id and all(getattr(r, k) == v for k, v in where.items())
    ]


@contextmanager
def other_connection(db: Database) -> Iterator[Database]:
    """A second Database on the same URL: what another process would see."""
    other = Database(db.url)
    try:
        yield other
    finally:
        other.dispose()


# ---------------------------------------------------------------------------- waiting


async def wait_until(
    check: Callable[[], Any], *, within: float = WAIT_S, what: str = "condition"
) -> Any:
    """Poll ``check`` (run in a thread: it may read the store) until it returns something
    truthy; returns that."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def result(handle: RunHandle) -> Any:
    return await asyncio.wait_for(handle.result(), WAIT_S)


# ---------------------------------------------------------------------------- crashes


async def flush(runner: DurableRunner) -> None:
    """Commit what the runner's writer has queued (deferred writes included)."""
    await runner.writer.write(lambda connection: None)


def lazy_writes(runner: DurableRunner) -> None:
    """Make the runner's writer keep deferred writes until the next durable one (which they
    then precede, in order): allowed by the writer's contract, and the slowest it may be. What
    must be committed before the engine goes on then is only if it was written durably."""
    writer = runner.writer
    held: list[WriteOp] = []
    defer, write = writer.defer, writer.write

    def hold(op: WriteOp) -> None:
        held.append(op)

    async def write_after_held(op: WriteOp) -> Any:
        while held:
            defer(held.pop(0))
        return await write(op)

    writer.defer = hold  # type: ignore[method-assign]
    writer.write = write_after_held  # type: ignore[method-assign]


def set_owner(db: Database, run_id: str, owner: str | None, *, lease_s: float | None) -> None:
    """Give the run to ``owner`` with a lease ending ``lease_s`` from now (negative: past)."""
    with db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                owner=owner,
                lease_expires_at=None if lease_s is None else utcnow() + timedelta(seconds=lease_s),
            )
        )


async def crash(
    runner: DurableRunner,
    run_id: str,
    *,
    owner: str = OTHER_HOST_OWNER,
    lease_s: float | None = -60.0,
) -> None:
    """The runner "dies": what it queued is committed, then it writes nothing more, and the
    run's row names a dead ``owner`` (by default on another host, lease run out)."""
    await flush(runner)

    async def gone(event: RunEvent) -> None:
        return None

    runner.recorder.emit = gone  # type: ignore[method-assign]
    await asyncio.to_thread(set_owner, runner.db, run_id, owner, lease_s=lease_s)


async def bury(runner: DurableRunner, *handles: RunHandle | None) -> None:
    """Stop what a "dead" runner still has in memory, then close it."""
    for handle in handles:
        if handle is not None and not handle.done():
            handle.cancel("test over")
            await asyncio.wait_for(asyncio.gather(handle.result(), return_exceptions=True), WAIT_S)
    await runner.close()


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def dead_local_owner() -> str:
    """An owner on this host whose process is gone."""
    return f"{socket.gethostname()}:{dead_pid()}:x"


async def start_blocked(
    runner: DurableRunner, version: int, gate_name: str, lab: Lab, **kw: Any
) -> Any:
    """Start a run and wait until its call ``gate_name`` is blocked; returns the ticket."""
    gate = lab.gates.get(gate_name) or lab.gate(gate_name)
    ticket = await runner.start(version, started_by="alice", **kw)
    assert ticket.created and ticket.handle is not None
    await gate.wait_entered()
    return ticket


async def crash_while_in(
    runner: DurableRunner, version: int, gate_name: str, lab: Lab, **kw: Any
) -> Any:
    """Start a run, let the process "die" while call ``gate_name`` runs, then let that call
    return (into nothing); returns the ticket."""
    ticket = await start_blocked(runner, version, gate_name, lab, **kw)
    await crash(runner, ticket.run_id)
    lab.gates[gate_name].open()
    return ticket
