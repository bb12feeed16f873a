"""Stopping runs safely: cancellation and failure at any moment, odd tools, sinks that fail.

Every run must end (no hangs), every step must get exactly one final record, nothing may start
after the run failed, and nothing that succeeded may be forgotten by the saga.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.blueprint import Blueprint
from engine.errors import PermanentToolError
from engine.events import MemorySink, RunFinished, StepFinished, StepSkipped
from engine.executor import Executor
from engine.records import RecordKind, RunStatus, StepStatus
from engine.tools.base import Cost, ToolResult
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from tests.engine.conftest import Journal, bp, make_registry, work


def final_records(sink: MemorySink) -> dict[str, int]:
    """How many final records each step got."""
    counts: dict[str, int] = {}
    for event in sink.events:
        if isinstance(event, StepFinished | StepSkipped):
            if isinstance(event, StepFinished) and not event.final:
                continue
            if event.record.kind is RecordKind.COMPENSATION:
                continue
            counts[event.record.step_id] = counts.get(event.record.step_id, 0) + 1
    return counts


async def test_cancel_right_after_start_ends_the_run(registry, journal, sink):
    executor = Executor(registry, sink=sink)
    steps = [work(f"r{i}", params={"seconds": 0.05}) for i in range(5)]
    handle = executor.start(bp({"steps": [*steps, work("after", depends_on=["r0"])]}))
    await asyncio.sleep(0)  # the step tasks exist but have not run yet
    handle.cancel("changed my mind")
    run = await asyncio.wait_for(handle.result(), timeout=2)
    assert run.status == RunStatus.CANCELLED
    assert set(run.step_status.values()) == {StepStatus.CANCELLED}
    assert journal.order() == []  # nothing started
    assert final_records(sink) == dict.fromkeys(run.step_status, 1)
    executor.close()


async def test_cancelling_the_caller_before_the_run_began(registry, journal, sink):
    executor = Executor(registry, sink=sink)
    steps = [work("a", params={"seconds": 0.5}), work("b", params={"seconds": 0.5})]
    task = asyncio.ensure_future(executor.run(bp({"steps": steps})))
    await asyncio.sleep(0)  # run() has started the run; the run's own task has not run yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert isinstance(sink.events[-1], RunFinished)
    assert sink.events[-1].run.status == RunStatus.CANCELLED
    assert journal.order() == []
    executor.close()


async def test_cancel_with_compensate_undoes_completed_steps(registry, journal):
    executor = Executor(registry)
    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "test.undo", "params": {"name": "a"}}),
                work("slow", depends_on=["a"], params={"seconds": 5}),
            ]
        }
    )
    handle = executor.start(blueprint)
    while not journal.started("slow"):
        await asyncio.sleep(0.005)
    handle.cancel("abort", compensate=True)
    run = await asyncio.wait_for(handle.result(), timeout=2)
    assert run.status == RunStatus.CANCELLED
    assert run.compensated == ["a"]
    assert ("undo", "a") in journal.events
    executor.close()


async def test_a_step_waiting_for_approval_is_stopped_when_the_run_fails(registry, journal):
    executor = Executor(registry)
    blueprint = bp(
        {
            "steps": [
                work("first", params={"seconds": 0.02}),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["first"],
                },
                work("deploy", approval={"approvers": ["U1"]}),
            ]
        }
    )
    handle = executor.start(blueprint)
    run = await asyncio.wait_for(handle.result(), timeout=2)  # no decision needed to end
    assert run.status == RunStatus.FAILED
    assert run.step_status["deploy"] == StepStatus.CANCELLED
    assert journal.started("deploy") == []
    assert executor.pending_approvals() == []
    assert "stopped: the run failed at step 'boom'" in run.records_for("deploy")[-1].issues[0]
    executor.close()


async def test_late_approval_of_a_withdrawn_request_is_refused(registry):
    executor = Executor(registry)
    blueprint = bp({"steps": [work("deploy", approval={"approvers": ["U1"]})]})
    handle = executor.start(blueprint)
    while not executor.pending_approvals():
        await asyncio.sleep(0.005)
    handle.cancel("nope")
    with pytest.raises(Exception, match="no longer needs a decision: the run stopped: nope"):
        handle.approve("deploy", by="U1")
    await handle.result()
    executor.close()


async def test_retries_stop_once_the_run_has_failed(registry, journal):
    executor = Executor(registry)
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "flaky",
                    "tool": "test.flaky",
                    "params": {"name": "flaky", "fail_times": 5},
                    "retry": {"attempts": 5, "backoff_s": 10, "jitter": 0},
                },
                work("first", params={"seconds": 0.02}),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["first"],
                },
            ]
        }
    )
    run = await asyncio.wait_for(executor.run(blueprint), timeout=2)  # not 40 s of backoff
    assert run.status == RunStatus.FAILED
    assert run.failed_step == "boom"
    assert run.step_status["flaky"] == StepStatus.CANCELLED
    assert len(journal.started("flaky")) == 1
    executor.close()


def _odd_registry(journal: Journal) -> ToolRegistry:
    registry = make_registry(journal)

    class Weird(BaseException):
        pass

    @tool("odd.base_exception")
    async def base_exception() -> None:
        raise Weird("not an Exception")

    @tool("odd.cancels_itself")
    async def cancels_itself() -> None:
        raise asyncio.CancelledError

    @dataclasses.dataclass
    class Holder:
        lock: Any

    @tool("odd.unserialisable")
    async def unserialisable() -> Any:
        return Holder(threading.Lock())

    @tool("odd.own_timeout")
    async def own_timeout() -> None:
        raise TimeoutError("upstream API timed out after 0.01s")

    @tool("odd.costly")
    async def costly(n: int) -> ToolResult:
        return ToolResult(output=n, cost=Cost(tokens_in=10, usd=0.01))

    for item in (base_exception, cancels_itself, unserialisable, own_timeout, costly):
        registry.register(item)
    return registry


@pytest.mark.parametrize(
    ("tool_name", "message"),
    [
        ("odd.base_exception", "not an Exception"),
        ("odd.cancels_itself", "raised CancelledError without being cancelled"),
        ("odd.unserialisable", "lock"),
        ("odd.own_timeout", "upstream API timed out after 0.01s"),
    ],
)
async def test_odd_tool_failures_are_the_tools_failures(tool_name, message, journal):
    executor = Executor(_odd_registry(journal))
    blueprint = bp(
        {
            "steps": [
                {"id": "odd", "tool": tool_name, "on_error": "continue", "timeout_s": 300},
                work("after", depends_on=["odd"]),
            ]
        }
    )
    run = await asyncio.wait_for(executor.run(blueprint), timeout=2)
    assert run.status == RunStatus.SUCCEEDED  # on_error: continue is respected
    assert run.step_status == {"odd": StepStatus.FAILED, "after": StepStatus.SUCCEEDED}
    record = run.records_for("odd")[-1]
    assert message in record.error_message
    assert "did not finish within" not in record.error_message
    executor.close()


async def test_for_each_costs_are_counted_once(journal):
    executor = Executor(_odd_registry(journal))
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "each",
                    "tool": "odd.costly",
                    "for_each": {"items": [1, 2, 3]},
                    "params": {"n": "{{ item }}"},
                }
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.cost.usd == pytest.approx(0.03)
    assert run.cost.tokens_in == 30
    aggregate = next(r for r in run.records_for("each") if r.item_index is None)
    assert aggregate.cost.usd == pytest.approx(0.03)
    executor.close()


class FlakySink(MemorySink):
    """Fails on the events ``fails_on`` selects; may be slow."""

    def __init__(self, fails_on=lambda event: False, delay: float = 0.0) -> None:
        super().__init__()
        self.fails_on = fails_on
        self.delay = delay

    async def emit(self, event):
        if self.delay and isinstance(event, StepFinished):
            await asyncio.sleep(self.delay)
        if self.fails_on(event):
            raise OSError("db down")
        await super().emit(event)


async def test_a_sink_failing_while_recording_a_cancellation_does_not_hang(registry):
    sink = FlakySink(
        lambda e: isinstance(e, StepFinished) and e.record.status == StepStatus.CANCELLED
    )
    executor = Executor(registry, sink=sink)
    handle = executor.start(bp({"steps": [work("wait", approval={"approvers": ["U"]})]}))
    while not executor.pending_approvals():
        await asyncio.sleep(0.005)
    handle.cancel()
    run = await asyncio.wait_for(handle.result(), timeout=2)
    assert run.status == RunStatus.CANCELLED
    assert run.failed_step == "wait"
    assert "could not record step_finished: db down" in run.issues[0]
    executor.close()


async def test_a_sink_failure_inside_for_each_leaves_no_item_running(registry, journal):
    sink = FlakySink(lambda e: isinstance(e, StepFinished) and e.record.item_index == 0)
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "each",
                    "tool": "test.work",
                    "for_each": {"items": [0, 1, 2, 3]},
                    "params": {
                        "name": "i{{ item }}",
                        "seconds": "{{ 0.001 if item == 0 else 0.1 }}",
                    },
                }
            ]
        }
    )
    run = await asyncio.wait_for(executor.run(blueprint), timeout=2)
    assert run.status == RunStatus.FAILED
    assert "db down" in run.error
    seen = list(journal.events)
    await asyncio.sleep(0.2)
    assert journal.events == seen, "an item kept running after the run had ended"
    assert all(("end", k) in seen for k in journal.order("start")), "started calls finish"
    executor.close()


async def test_a_success_recorded_while_the_run_is_cancelled_is_kept_and_compensated(
    registry, journal
):
    sink = FlakySink(delay=0.05)
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "test.undo", "params": {"name": "a"}}),
                work("b", depends_on=["a"]),
            ]
        }
    )
    handle = executor.start(blueprint)
    while not journal.started("a") or ("end", "a") not in journal.events:
        await asyncio.sleep(0.001)
    handle.cancel("stop", compensate=True)  # lands while a's success is being recorded
    run = await asyncio.wait_for(handle.result(), timeout=2)
    assert run.step_status["a"] == StepStatus.SUCCEEDED
    assert run.compensated == ["a"]
    assert run.step_status["b"] == StepStatus.CANCELLED
    executor.close()


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict], float | None, str | None]:
    n = draw(st.integers(min_value=1, max_value=12))
    steps = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        kind = draw(st.sampled_from(["work", "work", "fail", "flaky", "gate", "each"]))
        step: dict[str, Any] = {"id": f"s{i}", "depends_on": [f"s{d}" for d in deps]}
        seconds = draw(st.sampled_from([0, 0.001, 0.005]))
        if kind == "work":
            step |= {"tool": "test.work", "params": {"name": f"s{i}", "seconds": seconds}}
        elif kind == "fail":
            step |= {
                "tool": "test.fail",
                "params": {"name": f"s{i}"},
                "on_error": draw(st.sampled_from(["fail", "continue"])),
            }
        elif kind == "flaky":
            step |= {
                "tool": "test.flaky",
                "params": {"name": f"s{i}", "fail_times": 2},
                "retry": {"attempts": 3, "backoff_s": 0.002, "jitter": 0},
            }
        elif kind == "gate":
            step |= {
                "tool": "test.work",
                "params": {"name": f"s{i}"},
                "approval": {"approvers": ["U"], "timeout_s": 0.01},
            }
        else:
            step |= {
                "tool": "test.work",
                "for_each": {"items": [1, 2, 3], "concurrency": 2},
                "params": {"name": f"s{i}-{{{{ item }}}}", "seconds": seconds},
            }
        if draw(st.booleans()):
            step["compensate"] = {"tool": "test.undo", "params": {"name": f"s{i}"}}
        steps.append(step)
    cancel_after = draw(st.one_of(st.none(), st.sampled_from([0, 0.001, 0.003, 0.008])))
    sink_fails = draw(st.one_of(st.none(), st.sampled_from(["step_started", "step_finished"])))
    return steps, cancel_after, sink_fails


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_run_ends_and_every_step_gets_exactly_one_final_record(scenario):
    steps, cancel_after, sink_fails = scenario
    journal = Journal()
    failing_step = steps[len(steps) // 2]["id"]

    def refuses(event: Any) -> bool:
        if event.type != sink_fails:
            return False
        record = getattr(event, "record", None)
        step_id = record.step_id if record is not None else getattr(event, "step_id", None)
        return step_id == failing_step

    sink = FlakySink(refuses)
    executor = Executor(make_registry(journal), sink=sink)

    async def scenario_run() -> Any:
        handle = executor.start(Blueprint.model_validate({"name": "fuzz", "steps": steps}))
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            handle.cancel("fuzz", compensate=True)
        try:
            return await asyncio.wait_for(handle.result(), timeout=5)
        except TimeoutError:
            raise AssertionError("the run hung") from None
        except Exception as exc:
            return exc

    outcome = asyncio.run(scenario_run())
    executor.close()
    if isinstance(outcome, Exception):
        assert sink_fails is not None, f"unexpected {outcome!r}"
        return
    run = outcome
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
    expected = dict.fromkeys((s["id"] for s in steps), 1)
    refused = sink_fails == "step_finished" and run.step_status[failing_step] not in (
        StepStatus.SKIPPED,
    )
    if refused and failing_step not in final_records(sink):
        # the sink refused every final record of that step: the run must not claim success
        del expected[failing_step]
        assert run.status != RunStatus.SUCCEEDED
    assert final_records(sink) == expected, "exactly one final record each"
    failed_at = next(
        (
            i
            for i, e in enumerate(sink.events)
            if isinstance(e, StepFinished) and e.final and e.record.step_id == run.failed_step
        ),
        None,
    )
    if run.status == RunStatus.FAILED and cancel_after is None and failed_at is not None:
        # nothing new starts once the failure is recorded
        late = [
            e
            for e in sink.events[failed_at:]
            if e.type == "step_started" and e.kind is not RecordKind.COMPENSATION
        ]
        assert late == []


# ------------------------------------------------------------------ second review's cases


def _saga_registry(journal: Journal) -> ToolRegistry:
    registry = make_registry(journal)

    @tool("undo.cancels_itself")
    async def undo_cancels_itself(name: str) -> None:
        journal.events.append(("undo", name))
        raise asyncio.CancelledError

    @tool("undo.item")
    async def undo_item(service: str, deployed: Any) -> None:
        journal.events.append(("undo", f"{service}:{deployed}"))

    @tool("deploy.item")
    async def deploy_item(service: str) -> str:
        if service == "bad":
            raise PermanentToolError("cannot deploy bad")
        journal.events.append(("start", service))
        return f"{service}-v2"

    for item in (undo_cancels_itself, undo_item, deploy_item):
        registry.register(item)
    return registry


class YieldingSink(MemorySink):
    """Suspends on every event, as any real (I/O-bound) sink does."""

    async def emit(self, event):
        await asyncio.sleep(0)
        await super().emit(event)


async def test_cancelling_a_step_task_from_outside_still_records_the_step(registry, journal):
    sink = YieldingSink()
    executor = Executor(registry, sink=sink)
    handle = executor.start(bp({"steps": [work("slow", params={"seconds": 5}), work("other")]}))
    while not journal.started("slow"):
        await asyncio.sleep(0.001)
    step_tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("kaizen-step:")]
    for task in step_tasks:
        task.cancel()  # as asyncio.run's shutdown or an app's "cancel everything" would
    run = await asyncio.wait_for(handle.result(), timeout=2)
    assert run.status == RunStatus.CANCELLED
    assert run.step_status["slow"] == StepStatus.CANCELLED
    assert final_records(sink) == {"slow": 1, "other": 1}
    executor.close()


async def test_a_compensation_raising_cancelled_error_itself_is_its_failure(journal, sink):
    executor = Executor(_saga_registry(journal), sink=sink)
    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "test.undo", "params": {"name": "a"}}),
                work(
                    "b",
                    depends_on=["a"],
                    compensate={"tool": "undo.cancels_itself", "params": {"name": "b"}},
                ),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["b"],
                },
            ]
        }
    )
    run = await asyncio.wait_for(executor.run(blueprint), timeout=2)
    assert run.status == RunStatus.FAILED
    assert run.compensated == ["a"]
    assert run.issues == [
        "compensation of 'b' failed: raised CancelledError without being cancelled"
    ]
    assert isinstance(sink.events[-1], RunFinished)
    executor.close()


async def test_a_sink_error_during_the_saga_does_not_stop_it(registry, journal):
    sink = FlakySink(
        lambda e: (
            isinstance(e, StepFinished)
            and e.record.kind is RecordKind.COMPENSATION
            and e.record.step_id == "b"
        )
    )
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "test.undo", "params": {"name": "a"}}),
                work(
                    "b", depends_on=["a"], compensate={"tool": "test.undo", "params": {"name": "b"}}
                ),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["b"],
                },
            ]
        }
    )
    run = await asyncio.wait_for(executor.run(blueprint), timeout=2)
    assert [n for e, n in journal.events if e == "undo"] == ["b", "a"]
    assert run.compensated == ["b", "a"]
    assert any("db down" in issue for issue in run.issues)
    assert isinstance(sink.events[-1], RunFinished)
    executor.close()


class SlowToRecordFailures(MemorySink):
    """Stores each event; takes a while to 'flush' a failure (as a database sink might)."""

    async def emit(self, event):
        await super().emit(event)
        if isinstance(event, StepFinished) and event.record.status == StepStatus.FAILED:
            await asyncio.sleep(0.1)


async def test_nothing_starts_once_a_failure_is_being_recorded(registry, journal):
    sink = SlowToRecordFailures()
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {
            "steps": [
                {"id": "boom", "tool": "test.fail", "params": {"name": "boom"}},
                work("quick", params={"seconds": 0.001}),
                work("later", depends_on=["quick"]),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    assert journal.started("later") == []
    failed_at = next(
        i
        for i, e in enumerate(sink.events)
        if isinstance(e, StepFinished) and e.record.step_id == "boom"
    )
    assert not [e for e in sink.events[failed_at:] if e.type == "step_started"]
    executor.close()


async def test_a_success_the_sink_refused_is_still_compensated(registry, journal):
    sink = FlakySink(
        lambda e: (
            isinstance(e, StepFinished)
            and e.record.step_id == "b"
            and e.record.status == StepStatus.SUCCEEDED
        )
    )
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "test.undo", "params": {"name": "a"}}),
                work(
                    "b", depends_on=["a"], compensate={"tool": "test.undo", "params": {"name": "b"}}
                ),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    assert ("end", "b") in journal.events  # b's side effect happened
    assert run.compensated == ["b", "a"]
    executor.close()


async def test_cancelling_the_run_task_repeatedly_still_ends_cleanly(journal, sink):
    registry = make_registry(journal)

    @tool("undo.slow")
    async def undo_slow(name: str) -> None:
        journal.events.append(("undo", name))
        await asyncio.sleep(0.05)
        journal.events.append(("undone", name))

    registry.register(undo_slow)
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "undo.slow", "params": {"name": "a"}}),
                work("slow", depends_on=["a"], params={"seconds": 5}),
            ]
        }
    )
    handle = executor.start(blueprint)
    while not journal.started("slow"):
        await asyncio.sleep(0.001)
    handle.cancel("stop", compensate=True)
    while ("undo", "a") not in journal.events:
        await asyncio.sleep(0.001)
    for _ in range(5):  # cancel the run's own task while it compensates
        handle._task.cancel()
        await asyncio.sleep(0.005)
    with pytest.raises(asyncio.CancelledError):
        await handle._task
    assert ("undone", "a") in journal.events, "the compensation was interrupted"
    assert isinstance(sink.events[-1], RunFinished)
    assert final_records(sink) == {"a": 1, "slow": 1}
    executor.close()


async def test_a_sink_raising_cancelled_error_itself_is_a_sink_failure(registry):
    class CancellingSink(MemorySink):
        async def emit(self, event):
            if isinstance(event, StepFinished) and event.record.step_id == "a":
                raise asyncio.CancelledError
            await super().emit(event)

    executor = Executor(registry, sink=CancellingSink())
    run = await asyncio.wait_for(
        executor.run(bp({"steps": [work("a"), work("b", depends_on=["a"])]})), 2
    )
    assert run.status == RunStatus.FAILED
    assert "the sink raised CancelledError" in run.error
    executor.close()


async def test_for_each_items_are_compensated_one_by_one(journal):
    executor = Executor(_saga_registry(journal))
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "deploy",
                    "tool": "deploy.item",
                    "for_each": {"items": ["api", "web", "bad"], "as": "svc", "concurrency": 1},
                    "params": {"service": "{{ svc }}"},
                    "compensate": {
                        "tool": "undo.item",
                        "params": {"service": "{{ svc }}", "deployed": "{{ output }}"},
                    },
                }
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    assert [n for e, n in journal.events if e == "undo"] == ["web:web-v2", "api:api-v2"]
    assert run.compensated == ["deploy[1]", "deploy[0]"]
    undo_records = [r for r in run.records if r.kind is RecordKind.COMPENSATION]
    assert [r.item_index for r in undo_records] == [1, 0]
    executor.close()


async def test_a_timed_out_sync_tool_keeps_its_slot_until_its_thread_ends(journal):
    import time as systime

    registry = make_registry(journal)
    ends: dict[str, float] = {}

    @tool("sync.slow")
    def slow(name: str, seconds: float) -> str:
        journal.events.append(("start", name))
        systime.sleep(seconds)
        ends[name] = systime.monotonic()
        return name

    registry.register(slow)
    executor = Executor(registry, max_concurrency=1)
    starts: dict[str, float] = {}

    class Clocked(MemorySink):
        async def emit(self, event):
            if event.type == "step_started":
                starts[event.step_id] = systime.monotonic()

    executor.sink = Clocked()
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "first",
                    "tool": "sync.slow",
                    "params": {"name": "first", "seconds": 0.3},
                    "timeout_s": 0.05,
                    "on_error": "continue",
                },
                {"id": "second", "tool": "sync.slow", "params": {"name": "second", "seconds": 0}},
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.step_status == {"first": StepStatus.FAILED, "second": StepStatus.SUCCEEDED}
    assert starts["second"] >= ends["first"], "the second call ran while the first thread ran"
    executor.close()


def test_compensations_always_have_a_time_limit(registry):
    from engine.plan import DEFAULT_COMPENSATION_TIMEOUT_S, build_plan

    blueprint = bp(
        {
            "steps": [
                work("a", compensate={"tool": "test.undo", "params": {"name": "a"}}),
                work("b", timeout_s=7, compensate={"tool": "test.undo", "params": {"name": "b"}}),
            ]
        }
    )
    plan = build_plan(blueprint, registry)
    assert plan.steps["a"].compensate.timeout_s == DEFAULT_COMPENSATION_TIMEOUT_S
    assert plan.steps["b"].compensate.timeout_s == 7
