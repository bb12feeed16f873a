"""Resuming an interrupted run: settled steps, for_each items, approvals and compensations that
an earlier execution already did are not done again (see :mod:`engine.resume`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.approvals import ApprovalDecision
from engine.clock import VirtualClock
from engine.errors import TransientToolError
from engine.events import ApprovalRequested, MemorySink, RunStarted, StepFinished, StepStarted
from engine.executor import Executor
from engine.records import RecordKind, RunStatus, StepRecord, StepStatus
from engine.resume import PriorCall, Resume
from engine.tools.base import Cost, ToolContext
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from tests.engine.conftest import Journal, bp, make_registry, work

RUN_ID = "run-resume-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class ProbeCall:
    name: str
    kind: str
    attempt: int
    item_index: int | None
    key: str


@dataclass
class Probe:
    """What ``test.probe`` saw: every call with its context, and a gate blocking calls."""

    calls: list[ProbeCall] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    gate_open: bool = False
    _gate: asyncio.Event | None = None

    @property
    def gate(self) -> asyncio.Event:
        if self._gate is None:
            self._gate = asyncio.Event()
            if self.gate_open:
                self._gate.set()
        return self._gate

    def open(self) -> None:
        self.gate_open = True
        self.gate.set()

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def keys(self, name: str) -> list[str]:
        return [c.key for c in self.calls if c.name == name]


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def registry(journal: Journal, probe: Probe) -> ToolRegistry:
    """The conftest tools, plus ``test.probe``: records its context (idempotency key
    included), can fail transiently a number of times, and can block until the gate opens."""
    registry = make_registry(journal)

    @tool("test.probe", side_effect="idempotent")
    async def probe_tool(
        ctx: ToolContext,
        name: str,
        value: Any = None,
        fail_times: int = 0,
        block: bool = False,
    ) -> dict[str, Any]:
        """Record the call; fail ``fail_times`` times; wait for the gate when ``block``."""
        probe.calls.append(
            ProbeCall(name, ctx.kind, ctx.attempt, ctx.item_index, ctx.idempotency_key)
        )
        left = probe.failures_left.setdefault(name, fail_times)
        if left > 0:
            probe.failures_left[name] = left - 1
            raise TransientToolError(f"{name}: temporary failure")
        if block and not probe.gate.is_set():
            probe.blocked.append(name)
            await probe.gate.wait()
        return {"name": name, "value": value}

    registry.register(probe_tool)
    return registry


def new_executor(registry: ToolRegistry, sink: MemorySink | None = None) -> Executor:
    return Executor(registry, sink=sink or MemorySink(), clock=VirtualClock(), seed=7)


def rec(
    step_id: str,
    status: StepStatus = StepStatus.SUCCEEDED,
    *,
    tool_name: str = "test.work",
    item_index: int | None = None,
    attempt: int = 1,
    error: str | None = None,
    cost: Cost | None = None,
    kind: RecordKind = RecordKind.ACTION,
) -> StepRecord:
    """A record as an interrupted execution would have stored it."""
    return StepRecord(
        run_id=RUN_ID,
        step_id=step_id,
        tool=tool_name,
        kind=kind,
        item_index=item_index,
        attempt=attempt if status != StepStatus.SKIPPED else 0,
        status=status,
        started_at=T0,
        ended_at=T0,
        duration_ms=5.0,
        confidence=1.0 if status == StepStatus.SUCCEEDED else 0.0,
        cost=cost or Cost(),
        error_class="PermanentToolError" if error else None,
        error_category="error" if error else None,
        error_message=error,
    )


def done(step_id: str, output: Any = None, **kw: Any) -> PriorCall:
    return PriorCall(record=rec(step_id, **kw), output=output)


def resume_from(sink: MemorySink) -> Resume:
    """What a store would build from the events it persisted: every successful final call
    (steps and for_each items), in the order they happened, with every record."""
    steps: dict[str, PriorCall] = {}
    items: dict[str, dict[int, PriorCall]] = {}
    completed: list[tuple[str, int | None]] = []
    for event in sink.events:
        if not isinstance(event, StepFinished):
            continue
        record = event.record
        if record.kind is RecordKind.COMPENSATION or record.status != StepStatus.SUCCEEDED:
            continue
        prior = PriorCall(record=record, output=event.output)
        if record.item_index is not None:
            items.setdefault(record.step_id, {})[record.item_index] = prior
            completed.append((record.step_id, record.item_index))
        elif event.final:
            steps[record.step_id] = prior
            if record.step_id not in items:
                completed.append((record.step_id, None))
    return Resume(steps=steps, items=items, completed=completed, records=sink.records)


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting until {what}")


def starts(sink: MemorySink) -> list[tuple[str, str, int | None]]:
    return [
        (e.step_id, e.kind.value, e.item_index) for e in sink.events if isinstance(e, StepStarted)
    ]


CHAIN = {
    "steps": [
        work("a", params={"value": 1}),
        work("b", params={"value": "{{ steps.a.output.value + 1 }}"}),
        work("c", params={"value": "{{ steps.b.output.value * 10 }}"}),
    ],
    "outputs": {"a": "{{ steps.a.output }}", "result": "{{ steps.c.output.value }}"},
}


# ---------------------------------------------------------------------------- 1. settled steps


async def test_settled_steps_are_not_run_again_and_their_stored_output_is_used(
    executor, journal, sink
):
    # the stored output differs from what test.work would return now: the run must use it
    stored = {"name": "a", "value": 41, "extra": ["kept", "as", "is"]}
    resume = Resume(steps={"a": done("a", stored)}, records=[rec("a")])
    run = await executor.run(bp(CHAIN), run_id=RUN_ID, resume=resume)

    assert run.status == RunStatus.SUCCEEDED
    assert run.run_id == RUN_ID
    assert journal.order() == ["b", "c"]  # a did not run again
    assert [s for s, _, _ in starts(sink)] == ["b", "c"]
    assert next(c for c in journal.calls if c[1]["name"] == "b")[1]["value"] == 42
    assert run.outputs == {"a": stored, "result": 420}
    assert run.step_status == {
        "a": StepStatus.SUCCEEDED,
        "b": StepStatus.SUCCEEDED,
        "c": StepStatus.SUCCEEDED,
    }
    assert run.records[0] == resume.records[0]
    assert [r.step_id for r in run.records] == ["a", "b", "c"]
    # no event re-announces the restored step
    assert not [e for e in sink.events if getattr(e, "step_id", None) == "a"]
    assert not [e for e in sink.events if getattr(e, "record", None) is resume.records[0]]


async def test_every_settled_status_is_kept_and_templates_see_it(executor, journal):
    blueprint = bp(
        {
            "steps": [
                work("ok", params={"value": 1}),
                {
                    "id": "bad",
                    "tool": "test.fail",
                    "params": {"name": "bad"},
                    "on_error": "continue",
                },
                work("maybe", when="{{ false }}"),
                work(
                    "report",
                    params={
                        "value": "{{ [steps.ok.status, steps.bad.status, steps.maybe.status, "
                        "steps.ok.attempts, steps.bad.error] }}"
                    },
                ),
            ],
            "outputs": {"report": "{{ steps.report.output.value }}"},
        }
    )
    resume = Resume(
        steps={
            "ok": done("ok", {"value": 1}, attempt=3),
            "bad": done(
                "bad",
                None,
                status=StepStatus.FAILED,
                tool_name="test.fail",
                error="bad: stored failure",
            ),
            "maybe": done("maybe", None, status=StepStatus.SKIPPED),
        }
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["report"]
    assert run.step_status["ok"] == StepStatus.SUCCEEDED
    assert run.step_status["bad"] == StepStatus.FAILED
    assert run.step_status["maybe"] == StepStatus.SKIPPED
    assert run.outputs["report"] == ["succeeded", "failed", "skipped", 3, "bad: stored failure"]


async def test_a_restored_middle_step_waits_for_nothing_and_later_steps_still_run(
    executor, journal
):
    """Settled steps in the middle of the graph: the steps before them that were not settled
    run, the settled one is not called, the ones after it run with its stored output."""
    blueprint = bp(
        {
            "steps": [
                work("a", params={"value": 1}),
                work("b", params={"value": "{{ steps.a.output.value + 1 }}"}),
                work("c", params={"value": "{{ steps.b.output.value + steps.a.output.value }}"}),
            ],
            "outputs": {"c": "{{ steps.c.output.value }}"},
        }
    )
    resume = Resume(steps={"b": done("b", {"name": "b", "value": 100})})
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["a", "c"]
    assert run.outputs == {"c": 101}


async def test_prior_records_count_in_the_run_totals(executor):
    prior = rec("a", cost=Cost(tokens_in=100, tokens_out=50, usd=0.25))
    resume = Resume(
        steps={"a": PriorCall(record=prior, output={"name": "a", "value": 1})},
        records=[rec("a", attempt=1, status=StepStatus.FAILED, error="first try"), prior],
    )
    run = await executor.run(bp(CHAIN), run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.SUCCEEDED
    assert run.records[:2] == resume.records
    assert run.cost.usd == pytest.approx(0.25)
    assert (run.cost.tokens_in, run.cost.tokens_out) == (100, 50)


# ---------------------------------------------------------------------------- 6. RunStarted


async def test_run_started_says_whether_the_run_was_resumed(registry):
    sink = MemorySink()
    executor = new_executor(registry, sink)
    await executor.run(bp(CHAIN))
    await executor.run(bp(CHAIN), run_id="plain-with-id")
    await executor.run(bp(CHAIN), run_id=RUN_ID, resume=Resume())
    started = sink.of_type(RunStarted)
    assert [e.resumed for e in started] == [False, False, True]
    assert started[2].run_id == RUN_ID
    executor.close()


async def test_an_empty_resume_runs_everything(executor, journal):
    run = await executor.run(bp(CHAIN), run_id=RUN_ID, resume=Resume())
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["a", "b", "c"]
    assert run.outputs["result"] == 20


# ---------------------------------------------------------------------------- 2. round trip


ROUND_TRIP = {
    "steps": [
        work("a", params={"value": 1}),
        work("side", depends_on=["a"], params={"value": "side"}),
        {
            "id": "fan",
            "tool": "test.probe",
            "for_each": {"items": [10, 20, 30, 40], "as": "n", "concurrency": 1},
            "params": {
                "name": "fan-{{ n }}",
                "value": "{{ n + steps.a.output.value }}",
                "block": "{{ n == 30 }}",
            },
        },
        {
            "id": "gate",
            "tool": "test.probe",
            "params": {"name": "gate", "value": "{{ steps.fan.output | length }}"},
        },
        work("last", params={"value": "{{ steps.gate.output.value * 2 }}"}),
    ],
    "outputs": {
        "fan": "{{ steps.fan.output }}",
        "side": "{{ steps.side.output }}",
        "last": "{{ steps.last.output.value }}",
    },
}


async def interrupted_run(registry: ToolRegistry, probe: Probe) -> tuple[MemorySink, Any]:
    """Run ROUND_TRIP until item 2 of ``fan`` blocks (items 0 and 1 and step ``side`` done,
    item 3 waiting for the concurrency slot), then stop it the way a crash would."""
    sink = MemorySink()
    executor = new_executor(registry, sink)
    handle = executor.start(bp(ROUND_TRIP), run_id=RUN_ID)
    await until(lambda: probe.blocked == ["fan-30"], "item 2 of fan blocks")
    await until(lambda: handle.step_status("side") == StepStatus.SUCCEEDED, "side is done")
    handle.cancel("the worker died")
    first = await asyncio.wait_for(handle.result(), timeout=2)
    executor.close()
    assert first.status == RunStatus.CANCELLED
    assert first.step_status["fan"] == StepStatus.CANCELLED
    return sink, first


async def test_round_trip_runs_only_what_was_unfinished_and_gives_the_same_outputs(
    registry, journal, probe
):
    sink, _ = await interrupted_run(registry, probe)
    assert journal.order() == ["a", "side"]
    assert probe.names() == ["fan-10", "fan-20", "fan-30"]

    # as a store would: persisted as JSON, read back
    resume = Resume.model_validate_json(resume_from(sink).model_dump_json())
    assert resume == resume_from(sink)
    assert set(resume.steps) == {"a", "side"}
    assert set(resume.items) == {"fan"} and set(resume.items["fan"]) == {0, 1}

    probe.open()
    journal.events.clear()
    probe.calls.clear()
    resumed_sink = MemorySink()
    executor = new_executor(registry, resumed_sink)
    run = await asyncio.wait_for(executor.run(bp(ROUND_TRIP), run_id=RUN_ID, resume=resume), 2)
    executor.close()

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert journal.order() == ["last"]  # neither a nor side ran again
    assert probe.names() == ["fan-30", "fan-40", "gate"]  # only the unfinished items
    assert starts(resumed_sink) == [
        ("fan", "action", 2),
        ("fan", "action", 3),
        ("gate", "action", None),
        ("last", "action", None),
    ]
    assert set(run.step_status.values()) == {StepStatus.SUCCEEDED}
    assert run.records[: len(resume.records)] == resume.records

    # an uninterrupted run of the same blueprint gives the same outputs
    executor = new_executor(registry)
    fresh = await executor.run(bp(ROUND_TRIP))
    executor.close()
    assert fresh.status == RunStatus.SUCCEEDED
    assert run.outputs == fresh.outputs
    assert run.outputs["fan"] == [
        {"name": "fan-10", "value": 11},
        {"name": "fan-20", "value": 21},
        {"name": "fan-30", "value": 31},
        {"name": "fan-40", "value": 41},
    ]
    assert run.outputs["last"] == 8


async def test_idempotency_key_of_an_interrupted_call_is_the_same_when_resumed(registry, probe):
    sink, _ = await interrupted_run(registry, probe)
    before = probe.keys("fan-30")
    assert before == [f"{RUN_ID}:fan[2]"]
    probe.open()
    probe.calls.clear()
    executor = new_executor(registry)
    run = await executor.run(bp(ROUND_TRIP), run_id=RUN_ID, resume=resume_from(sink))
    executor.close()
    assert run.status == RunStatus.SUCCEEDED
    assert probe.keys("fan-30") == before
    assert probe.keys("gate") == [f"{RUN_ID}:gate"]


# ---------------------------------------------------------------------------- 3. settled failure


def undoable(step_id: str, **extra: Any) -> dict[str, Any]:
    return work(
        step_id,
        compensate={
            "tool": "test.undo",
            "params": {"name": "undo-" + step_id, "of": "{{ output.value }}"},
        },
        **extra,
    )


async def test_a_settled_failure_fails_the_run_at_once_and_compensates_in_reverse(
    executor, journal, sink
):
    blueprint = bp(
        {
            "steps": [
                undoable("a", params={"value": 1}),
                undoable("b", params={"value": 2}),
                undoable("c", params={"value": 3}),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["a", "b", "c"],
                },
                undoable("after", depends_on=["boom"]),
                undoable("independent"),  # a root that had not started yet
            ]
        }
    )
    resume = Resume(
        steps={
            "a": done("a", {"value": "stored-a"}),
            "b": done("b", {"value": "stored-b"}),
            "c": done("c", {"value": "stored-c"}),
            "boom": done(
                "boom", None, status=StepStatus.FAILED, tool_name="test.fail", error="boom: stored"
            ),
        },
        completed=[("b", None), ("a", None), ("c", None)],
        compensated=[("c", None)],  # c was undone before the interruption
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)

    assert run.status == RunStatus.FAILED
    assert run.failed_step == "boom"
    assert "boom: stored" in (run.error or "")
    assert journal.order() == []  # nothing ran: no pending step started, boom not retried
    assert [s for s, k, _ in starts(sink) if k == "action"] == []
    undone = [c[1] for c in journal.calls if c[0] == "test.undo"]
    assert undone == [
        {"name": "undo-a", "of": "stored-a"},
        {"name": "undo-b", "of": "stored-b"},
    ]  # reverse of completed (b, a, c), without c
    assert run.compensated == ["c", "a", "b"]
    assert run.step_status["boom"] == StepStatus.FAILED
    assert run.step_status["a"] == StepStatus.SUCCEEDED
    assert run.step_status["after"] == StepStatus.CANCELLED
    assert run.step_status["independent"] == StepStatus.CANCELLED


async def test_compensation_order_defaults_to_the_order_of_the_resume(executor, journal):
    blueprint = bp(
        {
            "steps": [
                undoable("a", params={"value": 1}),
                undoable("b", params={"value": 2}),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["a", "b"],
                },
            ]
        }
    )
    resume = Resume(
        steps={
            "a": done("a", {"value": "A"}),
            "b": done("b", {"value": "B"}),
        }
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert journal.order() == ["boom"]  # boom was not settled: it runs and fails
    assert [c[1]["of"] for c in journal.calls if c[0] == "test.undo"] == ["B", "A"]
    assert run.compensated == ["b", "a"]


async def test_a_later_failure_also_compensates_restored_steps(executor, journal):
    blueprint = bp(
        {
            "steps": [
                undoable("a", params={"value": 1}),
                undoable("b", params={"value": "{{ steps.a.output.value }}"}),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["b"],
                },
            ]
        }
    )
    resume = Resume(steps={"a": done("a", {"value": "from-before"})})
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert journal.order() == ["b", "boom"]
    # b (new) first, then a (restored) with its stored output
    assert [c[1]["of"] for c in journal.calls if c[0] == "test.undo"] == [
        "from-before",
        "from-before",
    ]
    assert [c[1]["name"] for c in journal.calls if c[0] == "test.undo"] == ["undo-b", "undo-a"]
    assert run.compensated == ["b", "a"]


async def test_a_settled_failure_with_on_error_continue_does_not_fail_the_run(executor, journal):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "bad",
                    "tool": "test.fail",
                    "params": {"name": "bad"},
                    "on_error": "continue",
                },
                work("needs_output", params={"value": "{{ steps.bad.output }}"}),
                work("independent"),
            ]
        }
    )
    resume = Resume(
        steps={
            "bad": done(
                "bad", None, status=StepStatus.FAILED, tool_name="test.fail", error="bad: stored"
            )
        }
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["independent"]
    assert run.step_status["bad"] == StepStatus.FAILED
    assert run.step_status["needs_output"] == StepStatus.SKIPPED


async def test_cancelling_a_resumed_run_with_compensate_undoes_restored_steps(
    executor, journal, probe
):
    blueprint = bp(
        {
            "steps": [
                undoable("a", params={"value": 1}),
                {
                    "id": "p",
                    "tool": "test.probe",
                    "params": {"name": "p", "block": True},
                    "depends_on": ["a"],
                },
            ]
        }
    )
    resume = Resume(steps={"a": done("a", {"value": "A"})})
    handle = executor.start(blueprint, run_id=RUN_ID, resume=resume)
    await until(lambda: probe.blocked == ["p"], "p blocks")
    handle.cancel("stop", compensate=True)
    run = await asyncio.wait_for(handle.result(), 2)
    assert run.status == RunStatus.CANCELLED
    assert journal.order() == []
    assert [c[1] for c in journal.calls if c[0] == "test.undo"] == [{"name": "undo-a", "of": "A"}]
    assert run.compensated == ["a"]


# ---------------------------------------------------------------------------- 4. for_each


FAN = {
    "inputs": {"names": {"type": "array", "default": ["w", "x", "y", "z"]}},
    "steps": [
        {
            "id": "fan",
            "tool": "test.work",
            "for_each": {"items": "{{ inputs.names }}", "as": "who", "concurrency": 2},
            "params": {"name": "fan-{{ who }}", "value": "{{ index }}"},
            "compensate": {
                "tool": "test.undo",
                "params": {"name": "undo-{{ who }}-{{ index }}", "of": "{{ output }}"},
            },
        },
        work("after", params={"value": "{{ steps.fan.output | length }}"}),
    ],
    "outputs": {"fan": "{{ steps.fan.output }}"},
}


def item(step_id: str, index: int, output: Any) -> PriorCall:
    return PriorCall(record=rec(step_id, item_index=index), output=output)


async def test_for_each_does_not_call_restored_items_again(executor, journal, sink):
    resume = Resume(
        items={"fan": {1: item("fan", 1, "stored-1"), 3: item("fan", 3, {"stored": 3})}}
    )
    run = await executor.run(bp(FAN), run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.SUCCEEDED
    assert sorted(journal.order()) == ["after", "fan-w", "fan-y"]
    assert sorted(i for s, _, i in starts(sink) if s == "fan") == [0, 2]
    assert run.outputs["fan"] == [
        {"name": "fan-w", "value": 0},
        "stored-1",
        {"name": "fan-y", "value": 2},
        {"stored": 3},
    ]
    assert [c[1]["value"] for c in journal.calls if c[1]["name"] == "after"] == [4]


async def test_for_each_with_every_item_restored_calls_nothing(executor, journal):
    resume = Resume(items={"fan": {i: item("fan", i, f"s{i}") for i in range(4)}})
    run = await executor.run(bp(FAN), run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["after"]
    assert run.outputs["fan"] == ["s0", "s1", "s2", "s3"]


async def test_compensating_a_restored_for_each_step_gets_each_item_and_its_output(
    executor, journal
):
    blueprint = bp(
        {
            **FAN,
            "steps": [
                *FAN["steps"],
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["after"],
                },
            ],
        }
    )
    stored = ["o0", "o1", "o2", "o3"]
    resume = Resume(
        steps={"fan": PriorCall(record=rec("fan"), output=stored)},
        items={"fan": {i: item("fan", i, stored[i]) for i in range(4)}},
        completed=[("fan", 2), ("fan", 0), ("fan", 3), ("fan", 1)],
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert journal.order() == ["after", "boom"]
    undone = [c[1] for c in journal.calls if c[0] == "test.undo"]
    assert undone == [
        {"name": "undo-x-1", "of": "o1"},
        {"name": "undo-z-3", "of": "o3"},
        {"name": "undo-w-0", "of": "o0"},
        {"name": "undo-y-2", "of": "o2"},
    ]
    assert run.compensated == ["fan[1]", "fan[3]", "fan[0]", "fan[2]"]


async def test_a_partly_restored_for_each_step_compensates_old_and_new_items(executor, journal):
    """The step was interrupted half-way: its restored items and the ones run now are all
    undone (newest first) when the run fails, each with its own item and output."""
    blueprint = bp(
        {
            **FAN,
            "steps": [
                *FAN["steps"],
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["after"],
                },
            ],
        }
    )
    resume = Resume(items={"fan": {0: item("fan", 0, "old-0"), 2: item("fan", 2, "old-2")}})
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    undone = {c[1]["name"]: c[1]["of"] for c in journal.calls if c[0] == "test.undo"}
    assert undone == {
        "undo-w-0": "old-0",
        "undo-x-1": {"name": "fan-x", "value": 1},
        "undo-y-2": "old-2",
        "undo-z-3": {"name": "fan-z", "value": 3},
    }
    # the restored ones happened first, so they are undone last
    order = [c[1]["name"] for c in journal.calls if c[0] == "test.undo"]
    assert order[2:] == ["undo-y-2", "undo-w-0"]
    assert len([n for n in journal.order() if n.startswith("fan-")]) == 2


async def test_a_settled_failed_for_each_step_fails_the_run_and_undoes_its_items(executor, journal):
    """Item 2 failed before the interruption: the step failed, items 0 and 1 had succeeded.
    Resumed, the run fails at once and undoes items 1 then 0, each with its own item."""
    failed = rec("fan", status=StepStatus.FAILED, error="item 2 of 4 failed: fan-y: boom")
    resume = Resume(
        steps={"fan": PriorCall(record=failed)},
        items={"fan": {0: item("fan", 0, "o0"), 1: item("fan", 1, "o1")}},
    )
    run = await executor.run(bp(FAN), run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert run.failed_step == "fan"
    assert journal.order() == []
    assert [c[1] for c in journal.calls if c[0] == "test.undo"] == [
        {"name": "undo-x-1", "of": "o1"},
        {"name": "undo-w-0", "of": "o0"},
    ]
    assert run.compensated == ["fan[1]", "fan[0]"]
    assert run.step_status == {"fan": StepStatus.FAILED, "after": StepStatus.CANCELLED}


async def test_compensated_items_are_not_compensated_again(executor, journal):
    blueprint = bp(
        {
            **FAN,
            "steps": [
                *FAN["steps"],
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["after"],
                },
            ],
        }
    )
    stored = ["o0", "o1", "o2", "o3"]
    resume = Resume(
        steps={"fan": PriorCall(record=rec("fan"), output=stored)},
        items={"fan": {i: item("fan", i, stored[i]) for i in range(4)}},
        compensated=[("fan", 3), ("fan", 1)],
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert [c[1]["name"] for c in journal.calls if c[0] == "test.undo"] == [
        "undo-y-2",
        "undo-w-0",
    ]
    assert run.compensated == ["fan[3]", "fan[1]", "fan[2]", "fan[0]"]


# ---------------------------------------------------------------------------- 5. approvals


GATED = {
    "steps": [
        work("build"),
        work("deploy", depends_on=["build"], approval={"approvers": ["U_LEAD"]}),
        work("announce", depends_on=["deploy"]),
    ]
}


def decision(approved: bool) -> ApprovalDecision:
    return ApprovalDecision(approved=approved, by="U_LEAD", decided_at=T0)


async def test_a_granted_approval_is_not_asked_again(executor, journal, sink):
    resume = Resume(steps={"build": done("build")}, approvals={"deploy": decision(True)})
    run = await asyncio.wait_for(executor.run(bp(GATED), run_id=RUN_ID, resume=resume), 2)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["deploy", "announce"]
    assert sink.of_type(ApprovalRequested) == []
    assert executor.pending_approvals() == []


@pytest.mark.parametrize("prior", [None, False], ids=["never-decided", "denied-before"])
async def test_an_approval_not_granted_before_is_asked_again(executor, journal, sink, prior):
    approvals = {} if prior is None else {"deploy": decision(prior)}
    resume = Resume(steps={"build": done("build")}, approvals=approvals)
    handle = executor.start(bp(GATED), run_id=RUN_ID, resume=resume)
    await until(lambda: bool(executor.pending_approvals()), "the approval is requested")
    (request,) = executor.pending_approvals()
    assert request.step_id == "deploy" and request.run_id == RUN_ID
    assert journal.order() == []
    handle.approve("deploy", by="U_LEAD")
    run = await asyncio.wait_for(handle.result(), 2)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["deploy", "announce"]
    assert len(sink.of_type(ApprovalRequested)) == 1


# ---------------------------------------------------------------------------- 7. errors


async def test_resume_without_run_id_is_refused(executor, journal):
    with pytest.raises(ValueError, match="run_id"):
        executor.start(bp(CHAIN), resume=Resume())
    assert executor.active_runs() == []
    assert journal.order() == []


@pytest.mark.parametrize(
    "resume",
    [
        Resume(steps={"ghost": done("ghost")}),
        Resume(items={"ghost": {0: item("ghost", 0, None)}}),
        Resume(approvals={"ghost": decision(True)}),
        Resume(completed=[("ghost", None)]),
        Resume(compensated=[("ghost", 2)]),
    ],
    ids=["steps", "items", "approvals", "completed", "compensated"],
)
async def test_resume_naming_an_unknown_step_is_refused(executor, journal, resume):
    with pytest.raises(ValueError, match="ghost"):
        await executor.run(bp(CHAIN), run_id=RUN_ID, resume=resume)
    assert executor.active_runs() == []
    assert journal.order() == []


@pytest.mark.parametrize(
    "status",
    [StepStatus.RUNNING, StepStatus.CANCELLED, StepStatus.PENDING, StepStatus.WAITING_APPROVAL],
)
async def test_a_settled_step_must_have_ended(executor, journal, status):
    resume = Resume(steps={"a": done("a", status=status)})
    with pytest.raises(ValueError, match="'a'"):
        await executor.run(bp(CHAIN), run_id=RUN_ID, resume=resume)
    assert journal.order() == []


async def test_a_compensation_record_cannot_settle_a_step(executor):
    resume = Resume(steps={"a": done("a", kind=RecordKind.COMPENSATION)})
    with pytest.raises(ValueError, match="compensation"):
        await executor.run(bp(CHAIN), run_id=RUN_ID, resume=resume)


async def test_a_run_id_already_active_here_is_refused(executor, journal, probe):
    blueprint = bp(
        {"steps": [{"id": "p", "tool": "test.probe", "params": {"name": "p", "block": True}}]}
    )
    handle = executor.start(blueprint, run_id=RUN_ID)
    await until(lambda: probe.blocked == ["p"], "p blocks")
    with pytest.raises(ValueError, match=RUN_ID):
        executor.start(bp(CHAIN), run_id=RUN_ID, resume=Resume())
    with pytest.raises(ValueError, match=RUN_ID):
        executor.start(bp(CHAIN), run_id=RUN_ID)
    assert journal.order() == []
    probe.open()
    run = await asyncio.wait_for(handle.result(), 2)
    assert run.status == RunStatus.SUCCEEDED
    # once it ended, the id may be used again (e.g. to resume it)
    again = await executor.run(bp(CHAIN), run_id=RUN_ID, resume=Resume())
    assert again.status == RunStatus.SUCCEEDED


# ---------------------------------------------------------------------------- 8. idempotency key


async def test_idempotency_key_is_the_same_across_retries(executor, probe):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "call",
                    "tool": "test.probe",
                    "params": {"name": "call", "fail_times": 2},
                    "retry": {"attempts": 3, "backoff_s": 1},
                }
            ]
        }
    )
    run = await executor.run(blueprint, run_id=RUN_ID)
    assert run.status == RunStatus.SUCCEEDED
    assert [(c.attempt, c.kind, c.key) for c in probe.calls] == [
        (1, "action", f"{RUN_ID}:call"),
        (2, "action", f"{RUN_ID}:call"),
        (3, "action", f"{RUN_ID}:call"),
    ]


async def test_idempotency_keys_of_items_fallbacks_and_compensations(executor, probe):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "fan",
                    "tool": "test.probe",
                    "for_each": {"items": ["p", "q"], "concurrency": 1},
                    "params": {"name": "fan-{{ item }}", "fail_times": 1},
                    "retry": {"attempts": 2, "backoff_s": 1},
                    "compensate": {"tool": "test.probe", "params": {"name": "undo-{{ item }}"}},
                },
                {
                    "id": "rescued",
                    "tool": "test.fail",
                    "params": {"name": "rescued"},
                    "on_error": "fallback",
                    "fallback": {"tool": "test.probe", "params": {"name": "plan-b"}},
                    "compensate": {"tool": "test.probe", "params": {"name": "undo-rescued"}},
                },
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["fan", "rescued"],
                },
            ]
        }
    )
    run = await executor.run(blueprint, run_id=RUN_ID)
    assert run.status == RunStatus.FAILED
    keys = {c.name: set(probe.keys(c.name)) for c in probe.calls}
    assert keys == {
        "fan-p": {f"{RUN_ID}:fan[0]"},
        "fan-q": {f"{RUN_ID}:fan[1]"},
        "plan-b": {f"{RUN_ID}:rescued:fallback"},
        "undo-p": {f"{RUN_ID}:fan[0]:compensation"},
        "undo-q": {f"{RUN_ID}:fan[1]:compensation"},
        "undo-rescued": {f"{RUN_ID}:rescued:compensation"},
    }
    assert len(probe.keys("fan-p")) == 2  # a retry, same key
    kinds = {c.name: c.kind for c in probe.calls}
    assert kinds["plan-b"] == "fallback" and kinds["undo-p"] == "compensation"


async def test_idempotency_key_depends_on_the_run_id(registry, probe):
    blueprint = bp({"steps": [{"id": "s", "tool": "test.probe", "params": {"name": "s"}}]})
    for run_id in ("one", "two", "one"):
        executor = new_executor(registry)
        await executor.run(blueprint, run_id=run_id)
        executor.close()
    assert probe.keys("s") == ["one:s", "two:s", "one:s"]


async def test_resumed_compensation_has_the_same_idempotency_key(executor, probe):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "made",
                    "tool": "test.probe",
                    "params": {"name": "made"},
                    "compensate": {"tool": "test.probe", "params": {"name": "unmade"}},
                },
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["made"],
                },
            ]
        }
    )
    resume = Resume(
        steps={
            "made": PriorCall(record=rec("made", tool_name="test.probe"), output={}),
            "boom": done("boom", status=StepStatus.FAILED, tool_name="test.fail", error="x"),
        }
    )
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert [(c.name, c.key) for c in probe.calls] == [("unmade", f"{RUN_ID}:made:compensation")]


# ---------------------------------------------------------------------------- 9. skipped


SKIPPY = {
    "inputs": {"go": {"type": "boolean", "default": False}},
    "steps": [
        work("maybe", when="{{ inputs.go }}", params={"value": 5}),
        work("needs", params={"value": "{{ steps.maybe.output.value }}"}),
        work("merge", params={"value": "{{ steps.maybe.output.value | default('none') }}"}),
        work("status", params={"value": "{{ steps.maybe.status }}"}),
        work("after_needs", params={"value": "{{ steps.needs.output.value }}"}),
    ],
    "outputs": {
        "merge": "{{ steps.merge.output.value }}",
        "status": "{{ steps.status.output.value }}",
    },
}


async def test_a_settled_skip_behaves_as_the_skip_did_in_a_normal_run(registry, journal):
    executor = new_executor(registry)
    normal = await executor.run(bp(SKIPPY))
    normal_started = journal.order()
    assert normal.step_status["maybe"] == StepStatus.SKIPPED  # sanity: the when was false

    journal.events.clear()
    skipped = PriorCall(record=rec("maybe", status=StepStatus.SKIPPED))
    # the input now says go: the stored skip wins, the condition is not evaluated again
    resumed = await executor.run(
        bp(SKIPPY), {"go": True}, run_id=RUN_ID, resume=Resume(steps={"maybe": skipped})
    )
    executor.close()
    assert resumed.status == normal.status == RunStatus.SUCCEEDED
    assert resumed.step_status == normal.step_status
    assert resumed.step_status["needs"] == StepStatus.SKIPPED
    assert resumed.step_status["after_needs"] == StepStatus.SKIPPED
    assert resumed.outputs == normal.outputs == {"merge": "none", "status": "skipped"}
    assert sorted(journal.order()) == sorted(normal_started) == ["merge", "status"]


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        (
            Resume(
                items={
                    "fan": {
                        1: PriorCall(
                            record=rec("fan", StepStatus.FAILED, item_index=1, error="x"),
                            output=None,
                        )
                    }
                }
            ),
            "only items that succeeded",
        ),
        (Resume(items={"fan": {1: item("fan", 2, "o")}}), "holds a record of fan[2]"),
        (Resume(items={"after": {0: item("after", 0, "o")}}), "not a for_each step"),
        (Resume(steps={"after": PriorCall(record=rec("fan"))}), "holds a record of step 'fan'"),
    ],
)
async def test_item_records_that_do_not_fit_are_refused(executor, journal, resume, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        executor.start(bp(FAN), run_id=RUN_ID, resume=resume)
    assert journal.calls == []


async def test_a_for_each_step_settled_without_its_items_is_not_undone_as_a_whole(
    executor, journal
):
    """Without item records there is nothing item-shaped to undo: the engine must not call the
    compensation once with the whole list (and no item variable)."""
    blueprint = bp(
        {
            **FAN,
            "steps": [
                *FAN["steps"],
                {"id": "boom", "tool": "test.fail", "params": {"name": "boom"}},
            ],
        }
    )
    resume = Resume(steps={"fan": PriorCall(record=rec("fan"), output=["a", "b", "c", "d"])})
    run = await executor.run(blueprint, run_id=RUN_ID, resume=resume)
    assert run.status == RunStatus.FAILED
    assert [c for c in journal.calls if c[0] == "test.undo"] == []
    assert not any("compensation of 'fan' failed" in issue for issue in run.issues)
