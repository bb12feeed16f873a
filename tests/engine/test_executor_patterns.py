"""Workflow control-flow patterns (van der Aalst et al.) on the executor."""

from __future__ import annotations

import asyncio

import pytest

from engine.clock import SystemClock
from engine.events import RunFinished, RunStarted, StepFinished, StepSkipped, StepStarted
from engine.executor import Executor
from engine.records import RunStatus, StepStatus
from tests.engine.conftest import bp, work


async def test_sequence_runs_in_order_and_passes_data(executor, journal):
    blueprint = bp(
        {
            "steps": [
                work("a", params={"value": 1}),
                work("b", params={"value": "{{ steps.a.output.value + 1 }}"}),
                work("c", params={"value": "{{ steps.b.output.value * 10 }}"}),
            ],
            "outputs": {"result": "{{ steps.c.output.value }}"},
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["a", "b", "c"]
    assert run.outputs == {"result": 20}
    assert isinstance(run.outputs["result"], int)


async def test_parallel_split_starts_branches_together(executor, journal):
    blueprint = bp(
        {
            "steps": [
                work("a"),
                work("b", depends_on=["a"], params={"seconds": 0.05}),
                work("c", depends_on=["a"], params={"seconds": 0.05}),
                work("d", depends_on=["a"], params={"seconds": 0.05}),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.SUCCEEDED
    assert journal.max_running == 3
    # every branch started before any branch ended
    last_start = max(journal.index("start", k) for k in "bcd")
    first_end = min(journal.index("end", k) for k in "bcd")
    assert last_start < first_end


async def test_synchronisation_waits_for_every_branch(executor, journal):
    blueprint = bp(
        {
            "steps": [
                work("fast", params={"seconds": 0.01}),
                work("slow", params={"seconds": 0.08}),
                work("join", depends_on=["fast", "slow"]),
            ]
        }
    )
    await executor.run(blueprint)
    assert journal.index("start", "join") > journal.index("end", "slow")
    assert journal.index("start", "join") > journal.index("end", "fast")


async def test_step_starts_as_soon_as_its_own_dependencies_finish(executor, journal):
    """Not level by level: c needs only a (fast) and must not wait for b (slow, same level)."""
    blueprint = bp(
        {
            "steps": [
                work("a", params={"seconds": 0.01}),
                work("b", params={"seconds": 0.2}),
                work("c", depends_on=["a"]),
            ]
        }
    )
    await executor.run(blueprint)
    assert journal.index("end", "c") < journal.index("end", "b")


@pytest.mark.parametrize(("kind", "expected"), [("fix", "patch"), ("feature", "release")])
async def test_exclusive_choice_runs_exactly_one_branch(executor, journal, kind, expected):
    blueprint = bp(
        {
            "inputs": {"kind": {"type": "string", "enum": ["fix", "feature"]}},
            "steps": [
                work("classify", params={"value": "{{ inputs.kind }}"}),
                work("patch", when="{{ steps.classify.output.value == 'fix' }}"),
                work("release", when="steps.classify.output.value == 'feature'"),
            ],
        }
    )
    run = await executor.run(blueprint, {"kind": kind})
    other = "release" if expected == "patch" else "patch"
    assert run.step_status[expected] == StepStatus.SUCCEEDED
    assert run.step_status[other] == StepStatus.SKIPPED
    assert journal.started(other) == []
    skipped = [r for r in run.records if r.step_id == other]
    assert skipped[0].status == StepStatus.SKIPPED
    assert "condition is false" in skipped[0].issues[0]


async def test_simple_merge_takes_whichever_branch_ran(executor, journal):
    blueprint = bp(
        {
            "inputs": {"urgent": {"type": "boolean"}},
            "steps": [
                work("page", when="{{ inputs.urgent }}", params={"value": "paged"}),
                work("email", when="{{ not inputs.urgent }}", params={"value": "emailed"}),
                work(
                    "log",
                    params={
                        "value": "{{ steps.page.output.value | default(steps.email.output.value) }}"
                    },
                ),
            ],
            "outputs": {"how": "{{ steps.log.output.value }}"},
        }
    )
    assert (await executor.run(blueprint, {"urgent": True})).outputs["how"] == "paged"
    assert (await executor.run(blueprint, {"urgent": "false"})).outputs["how"] == "emailed"


async def test_multi_choice_runs_every_branch_whose_condition_holds(executor, journal):
    blueprint = bp(
        {
            "inputs": {"channels": {"type": "array"}},
            "steps": [
                work("slack", when="{{ 'slack' in inputs.channels }}"),
                work("email", when="{{ 'email' in inputs.channels }}"),
                work("sms", when="{{ 'sms' in inputs.channels }}"),
            ],
        }
    )
    run = await executor.run(blueprint, {"channels": ["slack", "sms"]})
    assert run.step_status == {
        "slack": StepStatus.SUCCEEDED,
        "email": StepStatus.SKIPPED,
        "sms": StepStatus.SUCCEEDED,
    }


async def test_structured_synchronising_merge_waits_only_for_active_branches(executor, journal):
    """After a multi-choice, the merge runs once, after all branches that ran, and sees which
    ran; skipped branches do not block it."""
    blueprint = bp(
        {
            "steps": [
                work("slack", when="{{ true }}", params={"seconds": 0.03, "value": "s"}),
                work("email", when="{{ false }}", params={"value": "e"}),
                work("sms", when="{{ true }}", params={"seconds": 0.01, "value": "t"}),
                work(
                    "merge",
                    params={
                        "value": "{{ [steps.slack, steps.email, steps.sms]"
                        " | selectattr('status', 'equalto', 'succeeded')"
                        " | map(attribute='id') | list }}"
                    },
                ),
            ],
            "outputs": {"ran": "{{ steps.merge.output.value }}"},
        }
    )
    run = await executor.run(blueprint)
    assert run.outputs["ran"] == ["slack", "sms"]
    assert journal.started("merge") == ["merge"]
    assert journal.index("start", "merge") > journal.index("end", "slack")


async def test_data_dependency_on_skipped_step_skips_with_reason(executor, journal):
    blueprint = bp(
        {
            "steps": [
                work("maybe", when="{{ false }}"),
                work("uses", params={"value": "{{ steps.maybe.output.value }}"}),
                work("after_uses", params={"value": "{{ steps.uses.output }}"}),
                work("ordered_only", depends_on=["maybe"]),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.SUCCEEDED
    assert run.step_status["uses"] == StepStatus.SKIPPED
    assert run.step_status["after_uses"] == StepStatus.SKIPPED
    assert run.step_status["ordered_only"] == StepStatus.SUCCEEDED
    reason = run.records_for("uses")[0].issues[0]
    assert reason == "needs the output of step 'maybe', which was skipped"


async def test_multiple_instances_keep_order_and_respect_concurrency(executor, journal):
    blueprint = bp(
        {
            "inputs": {"services": {"type": "array"}},
            "steps": [
                {
                    "id": "check",
                    "tool": "test.work",
                    "for_each": {"items": "{{ inputs.services }}", "as": "svc", "concurrency": 2},
                    "params": {
                        "name": "{{ svc }}",
                        "seconds": "{{ 0.04 if index == 0 else 0.01 }}",
                        "value": "{{ index }}",
                    },
                },
                work("count", params={"value": "{{ steps.check.output | length }}"}),
            ],
            "outputs": {"names": "{{ steps.check.output | map(attribute='name') | list }}"},
        }
    )
    services = ["api", "web", "db", "cache", "queue"]
    run = await executor.run(blueprint, {"services": services})
    assert run.status == RunStatus.SUCCEEDED
    assert run.outputs["names"] == services  # input order, not completion order
    assert journal.max_running == 2
    item_records = [r for r in run.records_for("check") if r.item_index is not None]
    assert sorted(r.item_index for r in item_records) == [0, 1, 2, 3, 4]
    aggregate = [r for r in run.records_for("check") if r.item_index is None]
    assert len(aggregate) == 1
    assert aggregate[0].status == StepStatus.SUCCEEDED
    assert run.records_for("count")[-1].output_summary == '{"name": "count", "value": 5}'


async def test_for_each_over_empty_list_succeeds_with_empty_output(executor):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "each",
                    "tool": "test.work",
                    "for_each": {"items": []},
                    "params": {"name": "x"},
                }
            ],
            "outputs": {"out": "{{ steps.each.output }}"},
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.SUCCEEDED
    assert run.outputs["out"] == []


async def test_for_each_items_must_be_a_list(executor):
    blueprint = bp(
        {
            "inputs": {"x": {"type": "object"}},
            "steps": [
                {
                    "id": "each",
                    "tool": "test.work",
                    "for_each": {"items": "{{ inputs.x }}"},
                    "params": {"name": "n"},
                }
            ],
        }
    )
    run = await executor.run(blueprint, {"x": {"a": 1}})
    assert run.status == RunStatus.FAILED
    assert "for_each.items must evaluate to a list, got dict" in run.error


async def test_failed_item_fails_the_step_and_reports_which(executor, journal):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "each",
                    "tool": "test.flaky",
                    "for_each": {"items": ["a", "b", "c"], "concurrency": 1},
                    "params": {
                        "name": "{{ item }}",
                        "fail_times": "{{ 5 if item == 'b' else 0 }}",
                        "kind": "permanent",
                    },
                }
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    assert "item 1 of 3 failed: b: permanent failure" in run.error
    assert journal.started("c") == []  # nothing new starts after the failure
    final = next(r for r in run.records_for("each") if r.item_index is None)
    assert final.issues == ["1 item(s) not run after the failure"]


async def test_cancellation_stops_running_steps_and_starts_nothing_new(registry, journal, sink):
    executor = Executor(registry, sink=sink, clock=SystemClock())
    blueprint = bp(
        {
            "steps": [
                work("quick"),
                work("long", depends_on=["quick"], params={"seconds": 5}),
                work("after", depends_on=["long"]),
            ]
        }
    )
    handle = executor.start(blueprint)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if journal.started("long"):
            break
    handle.cancel("operator asked")
    run = await asyncio.wait_for(handle.result(), timeout=2)
    assert run.status == RunStatus.CANCELLED
    assert run.error == "operator asked"
    assert run.step_status == {
        "quick": StepStatus.SUCCEEDED,
        "long": StepStatus.CANCELLED,
        "after": StepStatus.CANCELLED,
    }
    assert journal.started("after") == []
    assert ("end", "long") not in journal.events
    long_records = run.records_for("long")
    assert [r.status for r in long_records] == [StepStatus.CANCELLED]
    assert long_records[0].attempt == 1  # the attempt that was interrupted
    assert run.records_for("after")[0].attempt == 0
    assert isinstance(sink.events[-1], RunFinished)
    executor.close()


async def test_cancel_through_the_handle(registry, journal, sink):
    executor = Executor(registry, sink=sink)
    blueprint = bp({"steps": [work("long", params={"seconds": 5})]})
    task = asyncio.ensure_future(executor.run(blueprint))
    await asyncio.sleep(0.05)
    handle = executor.handle(executor.active_runs()[0])
    handle.cancel()
    run = await asyncio.wait_for(task, timeout=2)
    assert run.status == RunStatus.CANCELLED
    executor.close()


async def test_cancelling_the_task_awaiting_run_cancels_the_run(registry, journal, sink):
    executor = Executor(registry, sink=sink)
    blueprint = bp(
        {"steps": [work("long", params={"seconds": 5}), work("next", depends_on=["long"])]}
    )
    task = asyncio.ensure_future(executor.run(blueprint))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert executor.active_runs() == []
    finished = sink.events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.run.status == RunStatus.CANCELLED
    assert finished.run.error == "the caller stopped waiting for the run"
    assert journal.started("next") == []
    executor.close()


async def test_cancelling_a_watcher_leaves_the_run_alone(executor):
    handle = executor.start(bp({"steps": [work("a", params={"seconds": 0.05})]}))
    watcher = asyncio.ensure_future(handle.result())
    await asyncio.sleep(0.01)
    watcher.cancel()
    run = await handle.result()
    assert run.status == RunStatus.SUCCEEDED


async def test_events_bracket_the_run_and_every_step(executor, sink):
    blueprint = bp(
        {"steps": [work("a"), work("b", when="{{ false }}"), work("c", depends_on=["a"])]}
    )
    run = await executor.run(blueprint)
    assert isinstance(sink.events[0], RunStarted)
    assert isinstance(sink.events[-1], RunFinished)
    assert sink.events[-1].run.run_id == run.run_id
    started = [e.step_id for e in sink.of_type(StepStarted)]
    finished = [e.record.step_id for e in sink.of_type(StepFinished) if e.final]
    skipped = [e.record.step_id for e in sink.of_type(StepSkipped)]
    assert sorted(started) == ["a", "c"]
    assert sorted(finished) == ["a", "c"]
    assert skipped == ["b"]
    finished_a = next(e for e in sink.of_type(StepFinished) if e.record.step_id == "a")
    assert finished_a.output == {"name": "a", "value": None}


async def test_sync_tools_run_in_threads_without_blocking_the_loop(registry, journal):
    executor = Executor(registry)
    blueprint = bp(
        {
            "steps": [
                {
                    "id": f"b{i}",
                    "tool": "test.blocking",
                    "params": {"name": f"b{i}", "seconds": 0.1},
                }
                for i in range(4)
            ]
        }
    )
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    run = await executor.run(blueprint)
    elapsed = loop.time() - t0
    assert run.status == RunStatus.SUCCEEDED
    assert elapsed < 0.3, f"4 x 0.1 s sync tools took {elapsed:.2f}s: they ran one after another"
    executor.close()


async def test_a_long_chain_of_instant_steps_does_not_starve_other_tasks(executor):
    """Chains continue in one task without a loop turn per step, but must still let the rest
    of the process (Slack acks, other runs) in regularly."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    steps = [work("s0")] + [work(f"s{i}", depends_on=[f"s{i - 1}"]) for i in range(1, 320)]
    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    before = ticks
    run = await executor.run(bp({"steps": steps}))
    stop.set()
    await task
    assert run.status == RunStatus.SUCCEEDED
    assert ticks - before >= 320 // 32, (
        f"the event loop ran other tasks only {ticks - before} times"
    )
