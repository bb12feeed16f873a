"""Shared fixtures: a registry of instrumented tools that record what ran, when and how."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.blueprint import Blueprint
from engine.clock import VirtualClock
from engine.errors import PermanentToolError, TransientToolError
from engine.events import MemorySink
from engine.executor import Executor
from engine.tools.base import Cost, ToolContext, ToolResult
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry


@dataclass
class Journal:
    """What the test tools did: start/end order and every call's params."""

    events: list[tuple[str, str]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)
    running: int = 0
    max_running: int = 0
    counter: itertools.count = field(default_factory=itertools.count)

    def started(self, key: str) -> list[str]:
        return [k for e, k in self.events if e == "start" and k == key]

    def order(self, event: str = "start") -> list[str]:
        return [k for e, k in self.events if e == event]

    def index(self, event: str, key: str) -> int:
        return self.events.index((event, key))


def make_registry(journal: Journal) -> ToolRegistry:
    registry = ToolRegistry()

    @tool("test.work")
    async def work(name: str, seconds: float = 0.0, value: Any = None) -> dict[str, Any]:
        """Record a start, optionally sleep, record an end; returns name and value."""
        journal.events.append(("start", name))
        journal.calls.append(("test.work", {"name": name, "seconds": seconds, "value": value}))
        journal.running += 1
        journal.max_running = max(journal.max_running, journal.running)
        try:
            if seconds:
                await asyncio.sleep(seconds)
        finally:
            journal.running -= 1
        journal.events.append(("end", name))
        return {"name": name, "value": value}

    @tool("test.flaky")
    async def flaky(name: str, fail_times: int = 1, kind: str = "transient") -> dict[str, Any]:
        """Fail the first ``fail_times`` calls for ``name``, then succeed."""
        journal.events.append(("start", name))
        left = journal.failures_left.setdefault(name, fail_times)
        if left > 0:
            journal.failures_left[name] = left - 1
            if kind == "transient":
                raise TransientToolError(f"{name}: temporary failure")
            if kind == "timeout":
                raise TimeoutError(f"{name}: upstream timed out")
            raise PermanentToolError(f"{name}: permanent failure")
        return {"name": name, "ok": True}

    @tool("test.fail")
    async def fail(name: str, message: str = "boom") -> None:
        """Always fail permanently."""
        journal.events.append(("start", name))
        raise PermanentToolError(f"{name}: {message}")

    @tool("test.undo", side_effect="idempotent")
    async def undo(name: str, of: Any = None) -> dict[str, Any]:
        """A compensation: records what it undid."""
        journal.events.append(("undo", name))
        journal.calls.append(("test.undo", {"name": name, "of": of}))
        return {"undone": name}

    @tool("test.blocking")
    def blocking(name: str, seconds: float = 0.05) -> str:
        """A sync tool (runs in the thread pool)."""
        import time

        journal.events.append(("start", name))
        time.sleep(seconds)
        journal.events.append(("end", name))
        return name

    @tool("test.report")
    async def report(name: str, confidence: float = 0.9, usd: float = 0.01) -> ToolResult:
        """Reports its own confidence, issues and cost."""
        journal.events.append(("start", name))
        return ToolResult(
            output={"name": name},
            confidence=confidence,
            issues=["looked odd"],
            cost=Cost(tokens_in=10, tokens_out=5, usd=usd),
        )

    @tool("test.context")
    async def context(ctx: ToolContext) -> dict[str, Any]:
        """Returns what the context says."""
        return {"run_id": ctx.run_id, "step_id": ctx.step_id, "attempt": ctx.attempt}

    @tool("test.limited", max_concurrency=2)
    async def limited(name: str, seconds: float = 0.02) -> str:
        """A tool that allows two calls at a time."""
        journal.running += 1
        journal.max_running = max(journal.max_running, journal.running)
        try:
            await asyncio.sleep(seconds)
        finally:
            journal.running -= 1
        return name

    for item in (work, flaky, fail, undo, blocking, report, context, limited):
        registry.register(item)
    return registry


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def registry(journal: Journal) -> ToolRegistry:
    return make_registry(journal)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def executor(registry: ToolRegistry, sink: MemorySink, clock: VirtualClock) -> Executor:
    """An executor on virtual time (retry backoff does not really sleep), seeded."""
    ex = Executor(registry, sink=sink, clock=clock, seed=7)
    yield ex
    ex.close()


def bp(data: dict[str, Any]) -> Blueprint:
    """A blueprint from a dict, with a default name."""
    return Blueprint.model_validate({"name": "test", **data})


def work(step_id: str, **extra: Any) -> dict[str, Any]:
    """A ``test.work`` step named after its id."""
    params = {"name": step_id, **extra.pop("params", {})}
    return {"id": step_id, "tool": "test.work", "params": params, **extra}
