"""Retries, timeouts, on_error modes, fallbacks, compensation (saga), and what gets recorded."""

from __future__ import annotations

import pytest

from engine.blueprint import RetryPolicy
from engine.events import MemorySink, RunFinished, StepFinished, StepRetried
from engine.executor import Executor
from engine.records import RecordKind, RunStatus, StepStatus, digest
from tests.engine.conftest import bp, work


def flaky(step_id: str, fail_times: int, kind: str = "transient", **extra):
    return {
        "id": step_id,
        "tool": "test.flaky",
        "params": {"name": step_id, "fail_times": fail_times, "kind": kind},
        **extra,
    }


# ------------------------------------------------------------------------------------ retries


async def test_retries_use_exponential_backoff_with_cap(executor, clock):
    retry = {"attempts": 5, "backoff_s": 1, "multiplier": 2, "max_backoff_s": 5, "jitter": 0}
    run = await executor.run(bp({"steps": [flaky("a", 4, retry=retry)]}))
    assert run.status == RunStatus.SUCCEEDED
    assert clock.sleeps == [1, 2, 4, 5]  # 8 capped to 5
    attempts = [(r.attempt, r.status) for r in run.records_for("a")]
    assert attempts == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.FAILED),
        (4, StepStatus.FAILED),
        (5, StepStatus.SUCCEEDED),
    ]
    assert run.records_for("a")[-1].issues == ["succeeded on attempt 5"]


async def test_jitter_spreads_delays_within_bounds_and_is_seeded(registry, clock):
    retry = {"attempts": 6, "backoff_s": 1, "multiplier": 1, "jitter": 0.5}
    blueprint = bp({"steps": [flaky("a", 5, retry=retry)]})
    delays = []
    for _ in range(2):
        from engine.clock import VirtualClock
        from tests.engine.conftest import Journal, make_registry

        virtual = VirtualClock()
        ex = Executor(make_registry(Journal()), clock=virtual, seed=123)
        await ex.run(blueprint)
        delays.append(virtual.sleeps)
    assert delays[0] == delays[1], "same seed, same delays"
    assert len(set(delays[0])) > 1, "jitter varies the delays"
    assert all(0.5 <= d <= 1.5 for d in delays[0])


def test_retry_policy_delay_formula():
    policy = RetryPolicy(attempts=10, backoff_s=2, multiplier=3, max_backoff_s=30, jitter=0.1)
    assert policy.delay(1, 0.5) == 2
    assert policy.delay(2, 0.5) == 6
    assert policy.delay(3, 0.5) == 18
    assert policy.delay(4, 0.5) == 30
    assert policy.delay(1, 0.0) == pytest.approx(1.8)
    assert policy.delay(1, 0.999999) == pytest.approx(2.2, rel=1e-4)
    assert policy.delay(9, 0.999) <= 30  # jitter never exceeds the cap


async def test_permanent_errors_are_not_retried_by_default(executor, journal, clock):
    run = await executor.run(bp({"steps": [flaky("a", 1, "permanent", retry={"attempts": 3})]}))
    assert run.status == RunStatus.FAILED
    assert journal.started("a") == ["a"]
    assert clock.sleeps == []
    assert run.records_for("a")[0].error_category == "error"


async def test_only_listed_error_classes_are_retried(executor, journal):
    retry = {"attempts": 3, "backoff_s": 0, "errors": ["PermanentToolError"]}
    run = await executor.run(bp({"steps": [flaky("a", 2, "permanent", retry=retry)]}))
    assert run.status == RunStatus.SUCCEEDED
    assert len(journal.started("a")) == 3

    retry_timeouts_only = {"attempts": 3, "backoff_s": 0, "errors": ["timeout"]}
    run = await executor.run(bp({"steps": [flaky("b", 2, "transient", retry=retry_timeouts_only)]}))
    assert run.status == RunStatus.FAILED
    assert len(journal.started("b")) == 1


async def test_timeouts_are_retried_by_default(executor, journal):
    run = await executor.run(bp({"steps": [flaky("a", 1, "timeout", retry={"attempts": 2})]}))
    assert run.status == RunStatus.SUCCEEDED
    assert run.records_for("a")[0].error_category == "timeout"


async def test_retry_events_carry_the_failed_attempt_and_delay(executor, sink):
    retry = {"attempts": 2, "backoff_s": 3, "jitter": 0}
    await executor.run(bp({"steps": [flaky("a", 1, retry=retry)]}))
    retried = sink.of_type(StepRetried)
    assert len(retried) == 1
    assert retried[0].delay_s == 3
    assert retried[0].record.status == StepStatus.FAILED
    assert retried[0].record.error_class == "TransientToolError"
    assert retried[0].record.error_message == "a: temporary failure"


# ------------------------------------------------------------------------------------ timeouts


async def test_step_timeout_fails_the_attempt_and_is_retried(registry, journal):
    ex = Executor(registry, seed=1)
    blueprint = bp(
        {
            "steps": [
                work(
                    "slow",
                    params={"seconds": 5},
                    timeout_s=0.05,
                    retry={"attempts": 2, "backoff_s": 0},
                )
            ]
        }
    )
    run = await ex.run(blueprint)
    assert run.status == RunStatus.FAILED
    records = run.records_for("slow")
    assert [r.error_category for r in records] == ["timeout", "timeout"]
    assert records[0].error_class == "StepTimeoutError"
    assert "did not finish within 0.05s" in records[0].error_message
    assert all(r.duration_ms < 1000 for r in records)
    ex.close()


# ------------------------------------------------------------------------------- on_error modes


async def test_on_error_continue_keeps_the_run_going(executor, journal):
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
                work("checks_status", params={"value": "{{ steps.bad.status }}"}),
                work("independent"),
            ],
            "outputs": {"status": "{{ steps.checks_status.output.value }}"},
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.SUCCEEDED
    assert run.step_status["bad"] == StepStatus.FAILED
    assert run.step_status["needs_output"] == StepStatus.SKIPPED
    assert run.records_for("needs_output")[0].issues == [
        "needs the output of step 'bad', which failed"
    ]
    assert run.step_status["checks_status"] == StepStatus.SUCCEEDED
    assert run.outputs["status"] == "failed"
    assert run.step_status["independent"] == StepStatus.SUCCEEDED


async def test_on_error_fail_stops_new_steps_but_lets_running_ones_finish(registry, journal):
    ex = Executor(registry)
    blueprint = bp(
        {
            "steps": [
                work("first", params={"seconds": 0.01}),
                {
                    "id": "bad",
                    "tool": "test.fail",
                    "params": {"name": "bad"},
                    "depends_on": ["first"],
                },
                work("running", params={"seconds": 0.1}),
                work("later", depends_on=["running"]),
            ]
        }
    )
    run = await ex.run(blueprint)
    assert run.status == RunStatus.FAILED
    assert run.failed_step == "bad"
    assert run.error == "step 'bad' failed: bad: boom"
    assert run.step_status["running"] == StepStatus.SUCCEEDED  # its tool call was not abandoned
    assert ("end", "running") in journal.events
    assert run.step_status["later"] == StepStatus.CANCELLED
    assert "not started: the run failed at step 'bad'" in run.records_for("later")[0].issues[0]
    assert journal.started("later") == []
    ex.close()


async def test_fallback_runs_after_retries_and_both_are_recorded(executor, journal, sink):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "primary",
                    "tool": "test.fail",
                    "params": {"name": "primary"},
                    "retry": {"attempts": 2, "errors": ["error"], "backoff_s": 0},
                    "on_error": "fallback",
                    "fallback": {"tool": "test.work", "params": {"name": "backup", "value": 42}},
                },
                work("next", params={"value": "{{ steps.primary.output.value }}"}),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.SUCCEEDED
    records = run.records_for("primary")
    assert [(r.kind, r.attempt, r.status) for r in records] == [
        (RecordKind.ACTION, 1, StepStatus.FAILED),
        (RecordKind.ACTION, 2, StepStatus.FAILED),
        (RecordKind.FALLBACK, 1, StepStatus.SUCCEEDED),
    ]
    assert records[-1].tool == "test.work"
    assert "fallback 'test.work' used" in records[-1].issues[0]
    assert records[-1].confidence < 1.0
    assert run.records_for("next")[-1].output_summary == '{"name": "next", "value": 42}'
    finals = [
        (e.record.kind, e.final)
        for e in sink.of_type(StepFinished)
        if e.record.step_id == "primary"
    ]
    assert finals == [(RecordKind.ACTION, False), (RecordKind.FALLBACK, True)]


async def test_failed_fallback_fails_the_step(executor):
    blueprint = bp(
        {
            "steps": [
                {
                    "id": "primary",
                    "tool": "test.fail",
                    "params": {"name": "primary"},
                    "on_error": "fallback",
                    "fallback": {"tool": "test.fail", "params": {"name": "backup"}},
                }
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    assert run.error == "step 'primary' failed: backup: boom"


# ----------------------------------------------------------------------------------- the saga


def compensated_step(step_id: str, **extra):
    return work(
        step_id,
        compensate={
            "tool": "test.undo",
            "params": {"name": step_id, "of": "{{ steps." + step_id + ".output.name }}"},
        },
        **extra,
    )


async def test_compensations_run_in_reverse_completion_order(executor, journal):
    blueprint = bp(
        {
            "steps": [
                compensated_step("a", params={"seconds": 0.03}),
                compensated_step("b", params={"seconds": 0.01}),  # finishes before a
                compensated_step("c", depends_on=["a", "b"]),
                work("no_undo", depends_on=["c"]),
                {
                    "id": "boom",
                    "tool": "test.fail",
                    "params": {"name": "boom"},
                    "depends_on": ["no_undo"],
                },
                compensated_step("never", depends_on=["boom"]),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    undone = [name for event, name in journal.events if event == "undo"]
    assert undone == ["c", "a", "b"]  # completion order was b, a, c
    assert run.compensated == ["c", "a", "b"]
    assert [c[1]["of"] for c in journal.calls if c[0] == "test.undo"] == ["c", "a", "b"]
    comp = [r for r in run.records if r.kind is RecordKind.COMPENSATION]
    assert [r.step_id for r in comp] == ["c", "a", "b"]
    assert all(r.status == StepStatus.SUCCEEDED for r in comp)
    assert run.step_status["never"] == StepStatus.CANCELLED


async def test_failed_compensation_is_recorded_and_the_rest_still_run(executor, journal):
    blueprint = bp(
        {
            "steps": [
                compensated_step("a"),
                work(
                    "b",
                    depends_on=["a"],
                    compensate={"tool": "test.fail", "params": {"name": "undo_b"}},
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
    run = await executor.run(blueprint)
    assert run.compensated == ["a"]
    assert run.issues == ["compensation of 'b' failed: undo_b: boom"]
    assert [n for e, n in journal.events if e == "undo"] == ["a"]


async def test_successful_run_compensates_nothing(executor, journal):
    run = await executor.run(bp({"steps": [compensated_step("a")]}))
    assert run.status == RunStatus.SUCCEEDED
    assert run.compensated == []
    assert not [e for e in journal.events if e[0] == "undo"]


# -------------------------------------------------------------------------- what gets recorded


async def test_step_record_has_every_field(executor):
    blueprint = bp({"steps": [work("a", params={"value": {"k": [1, 2]}})]})
    run = await executor.run(blueprint)
    (record,) = run.records
    assert record.run_id == run.run_id
    assert (record.step_id, record.tool, record.attempt) == ("a", "test.work", 1)
    assert record.status == StepStatus.SUCCEEDED
    assert record.ended_at >= record.started_at
    assert record.duration_ms >= 0
    assert record.confidence == 1.0
    assert record.input_hash == digest({"name": "a", "value": {"k": [1, 2]}})
    assert record.output_hash == digest({"name": "a", "value": {"k": [1, 2]}})
    assert record.output_summary == '{"name": "a", "value": {"k": [1, 2]}}'
    assert record.error_class is None and record.error_message is None
    assert record.cost.is_zero


async def test_tool_reported_confidence_issues_and_cost_are_recorded_and_summed(executor):
    blueprint = bp(
        {
            "steps": [
                {"id": "a", "tool": "test.report", "params": {"name": "a", "usd": 0.25}},
                {
                    "id": "b",
                    "tool": "test.report",
                    "params": {"name": "b", "usd": 0.5, "confidence": 0.4},
                },
            ]
        }
    )
    run = await executor.run(blueprint)
    a, b = run.records_for("a")[0], run.records_for("b")[0]
    assert a.confidence == 0.9 and b.confidence == 0.4
    assert a.issues == ["looked odd"]
    assert a.cost.tokens_in == 10 and a.cost.usd == 0.25
    assert run.cost.usd == pytest.approx(0.75)
    assert run.cost.tokens_in == 20 and run.cost.tokens_out == 10


async def test_long_outputs_are_summarised_not_copied(executor):
    blueprint = bp({"steps": [work("a", params={"value": "x" * 10_000})]})
    run = await executor.run(blueprint)
    summary = run.records[0].output_summary
    assert len(summary) == 200 and summary.endswith("…")


async def test_tools_receive_their_context(executor):
    run = await executor.run(bp({"steps": [{"id": "ctx", "tool": "test.context"}]}))
    assert run.records[0].output_summary == (
        f'{{"run_id": "{run.run_id}", "step_id": "ctx", "attempt": 1}}'
    ), "summaries keep the tool's key order"


async def test_invalid_rendered_params_fail_without_retry(executor, journal):
    blueprint = bp(
        {
            "inputs": {"n": {"type": "string", "default": "abc"}},
            "steps": [
                {
                    "id": "a",
                    "tool": "test.flaky",
                    "params": {"name": "a", "fail_times": "{{ inputs.n }}"},
                    "retry": {"attempts": 3},
                }
            ],
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    record = run.records_for("a")[0]
    assert record.error_category == "invalid_params"
    assert "fail_times" in record.error_message
    assert journal.started("a") == []
    assert len(run.records_for("a")) == 1


async def test_template_error_at_run_time_fails_the_step_with_the_missing_key(executor):
    blueprint = bp(
        {
            "steps": [
                work("a", params={"value": {"x": 1}}),
                work("b", params={"value": "{{ steps.a.output.value.y }}"}),
            ]
        }
    )
    run = await executor.run(blueprint)
    assert run.status == RunStatus.FAILED
    record = run.records_for("b")[0]
    assert record.attempt == 0
    assert record.error_category == "template"
    assert record.error_message == ("params: steps.a.output.value has no key 'y'; its keys are: x")


async def test_a_failing_event_sink_fails_the_run_instead_of_losing_history(registry):
    class BrokenSink(MemorySink):
        async def emit(self, event):
            if isinstance(event, StepFinished):
                raise OSError("disk full")
            await super().emit(event)

    sink = BrokenSink()
    ex = Executor(registry, sink=sink)
    run = await ex.run(bp({"steps": [work("a"), work("b", depends_on=["a"])]}))
    assert run.status == RunStatus.FAILED
    assert run.failed_step == "a"
    assert run.error == "step 'a' failed: could not record step_finished: disk full"
    assert run.step_status["b"] == StepStatus.CANCELLED  # nothing started after it
    assert isinstance(sink.events[-1], RunFinished)
    assert sink.events[-1].run.status == RunStatus.FAILED
    ex.close()


async def test_a_sink_that_refuses_the_final_run_record_raises(registry):
    class BrokenSink(MemorySink):
        async def emit(self, event):
            if isinstance(event, RunFinished):
                raise OSError("disk full")
            await super().emit(event)

    ex = Executor(registry, sink=BrokenSink())
    with pytest.raises(Exception, match="could not record run_finished: disk full"):
        await ex.run(bp({"steps": [work("a")]}))
    ex.close()


async def test_global_and_per_tool_concurrency_limits(registry, journal):
    ex = Executor(registry, max_concurrency=3)
    steps = [work(f"w{i}", params={"seconds": 0.03}) for i in range(8)]
    await ex.run(bp({"steps": steps}))
    assert journal.max_running == 3

    journal.max_running = 0
    limited = [
        {"id": f"l{i}", "tool": "test.limited", "params": {"name": f"l{i}"}} for i in range(6)
    ]
    await ex.run(bp({"steps": limited}))
    assert journal.max_running == 2  # the tool's own max_concurrency

    journal.max_running = 0
    ex2 = Executor(registry, tool_concurrency={"test.limited": 1})
    await ex2.run(bp({"steps": limited}))
    assert journal.max_running == 1
    ex.close()
    ex2.close()


def test_executor_rejects_bad_limits(registry):
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        Executor(registry, max_concurrency=0)
    with pytest.raises(ValueError, match=r"tool_concurrency\['x'\]"):
        Executor(registry, tool_concurrency={"x": 0})


async def test_waiting_for_a_concurrency_slot_does_not_count_against_the_timeout(registry):
    ex = Executor(registry, max_concurrency=1)
    steps = [work(f"w{i}", params={"seconds": 0.06}, timeout_s=0.1) for i in range(3)]
    run = await ex.run(bp({"steps": steps}))
    assert run.status == RunStatus.SUCCEEDED, run.error  # the third waited ~0.12 s for its slot
    ex.close()
