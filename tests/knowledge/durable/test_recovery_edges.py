"""Recovery at the edges: a cancel cut short by a crash, a compensation that failed before
it, and a run this process cannot resume at all."""

from __future__ import annotations

import pytest

from engine.errors import PermanentToolError
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from knowledge.durable.recovery import (
    ResolutionError,
    cancel_stopped_run,
    release_run,
    resolve_call,
)
from knowledge.durable.runner import DurableRunner
from knowledge.store.redaction import Redactor
from tests.knowledge.durable.helpers import (
    audit_actions,
    blueprint,
    bury,
    crash,
    crash_while_in,
    result,
    run_row,
    step,
    step_rows,
    store_version,
)


async def test_a_mutating_call_cut_short_by_a_cancel_then_a_crash_is_not_made_again(
    db, lab, registry
):
    version = store_version(
        db,
        registry,
        blueprint(
            "cancelled",
            step(
                "a",
                "lab.mutate",
                params={"value": 1},
                compensate={"tool": "lab.echo", "params": {"name": "undo_a"}},
            ),
            step("b", "lab.mutate", params={"value": "{{ steps.a.output.value }}"}),
        ),
    )
    a = DurableRunner(db, registry, owner="A")
    gate_b, gate_undo = lab.gate("b"), lab.gate("undo_a")
    ticket = await a.start(version, started_by="alice")
    await gate_b.wait_entered()  # b is inside its call
    assert ticket.handle is not None
    ticket.handle.cancel("operator pressed Cancel", compensate=True)
    await gate_undo.wait_entered()  # the compensation of a runs: the process dies
    await crash(a, ticket.run_id)
    gate_b.open()
    gate_undo.open()
    async with DurableRunner(db, registry, owner="B") as b:
        report = await b.recover()
    await bury(a, ticket.handle)
    assert list(report.needs_attention) == [ticket.run_id]
    assert "'b'" in report.needs_attention[ticket.run_id][0]
    assert lab.calls["b"] == 1  # not made again by itself
    assert run_row(db, ticket.run_id).status == "needs_attention"


async def test_a_compensation_that_failed_before_the_crash_is_not_tried_again(db, lab, registry):
    @tool("lab.rollback", side_effect="mutating")
    async def rollback(name: str) -> dict[str, str]:
        """Fails after (maybe) acting."""
        await lab.enter(name, {})
        raise PermanentToolError("half rolled back")

    registry.register(rollback)
    version = store_version(
        db,
        registry,
        blueprint(
            "undo-twice",
            step("a2", "lab.mutate", compensate={"tool": "lab.echo", "params": {"name": "undo2"}}),
            step(
                "a1",
                "lab.mutate",
                depends_on=["a2"],
                compensate={"tool": "lab.rollback", "params": {"name": "undo1"}},
            ),
            step("boom", "lab.fail", depends_on=["a1"]),
        ),
    )
    a = DurableRunner(db, registry, owner="A")
    ticket = await crash_while_in(
        a, version, "undo2", lab
    )  # undo1 already failed; undo2 is running
    async with DurableRunner(db, registry, owner="B") as b:
        report = await b.recover()
        record = await result(report.resumed[ticket.run_id])
    await bury(a, ticket.handle)
    assert record.status == "failed"
    assert lab.calls["undo1"] == 1
    assert lab.calls["undo2"] == 2  # interrupted and harmless: made again


async def test_a_run_this_process_cannot_resume_waits_for_a_person(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "missing-tool",
            step("a", "lab.mutate", compensate={"tool": "lab.echo", "params": {"name": "undo"}}),
            step("m", "lab.echo", depends_on=["a"]),
        ),
    )
    a = DurableRunner(db, registry, owner="A")
    ticket = await crash_while_in(a, version, "m", lab)
    smaller = ToolRegistry([registry.get("lab.echo")])  # this process lacks lab.mutate
    async with DurableRunner(db, smaller, owner="B") as b:
        report = await b.recover()
    assert list(report.needs_attention) == [ticket.run_id]
    assert "could not resume" in report.needs_attention[ticket.run_id][0]
    run = run_row(db, ticket.run_id)
    assert run.status == "needs_attention" and "lab.mutate" in (run.attention or "")
    assert "run.needs_attention" in audit_actions(db, ticket.run_id)

    with db.session() as session, pytest.raises(ResolutionError, match="not found"):
        release_run(session, "nope", by="alice")
    with db.session() as session:  # the tool is back: release it, and it resumes
        release_run(session, ticket.run_id, by="alice")
    async with DurableRunner(db, registry, owner="C") as c:
        report = await c.recover()
        record = await result(report.resumed[ticket.run_id])
    await bury(a, ticket.handle)
    assert record.status == "succeeded"
    assert lab.calls["a"] == 1


async def test_a_run_that_needs_attention_can_be_given_up(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint("give-up", step("a", "lab.mutate"), step("m", "lab.mutate", depends_on=["a"])),
    )
    a = DurableRunner(db, registry, owner="A")
    ticket = await crash_while_in(a, version, "m", lab)
    async with DurableRunner(db, registry, owner="B") as b:
        assert list((await b.recover()).needs_attention) == [ticket.run_id]
    await bury(a, ticket.handle)
    with db.session() as session, pytest.raises(ResolutionError, match="still waits"):
        release_run(session, ticket.run_id, by="alice")
    with db.session() as session:
        cancel_stopped_run(session, ticket.run_id, by="alice", reason="not needed any more")
    run = run_row(db, ticket.run_id)
    assert run.status == "cancelled" and "not needed any more" in (run.error or "")
    assert [r.status for r in step_rows(db, ticket.run_id) if r.step_id == "m"] == ["interrupted"]
    assert "run.cancelled" in audit_actions(db, ticket.run_id)
    with db.session() as session, pytest.raises(ResolutionError, match="not needs_attention"):
        resolve_call(session, ticket.run_id, "m", "retry", by="alice")
    async with DurableRunner(db, registry, owner="C") as c:
        assert not (await c.recover()).resumed  # a cancelled run stays cancelled


async def test_a_truncated_harmless_output_read_by_the_run_outputs_is_made_again(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "outputs-read-it",
            step("a", "lab.big", params={"size": 100_000}),
            step("b"),
            outputs={
                "who": "{{ steps.a.output.name }}",
                "n": "{{ steps.a.output.payload | length }}",
            },
        ),
    )
    a = DurableRunner(db, registry, owner="A")
    ticket = await crash_while_in(a, version, "b", lab)
    async with DurableRunner(db, registry, owner="B") as b:
        record = await result((await b.recover()).resumed[ticket.run_id])
    await bury(a, ticket.handle)
    assert record.outputs == {"who": "a", "n": 100_000}
    assert lab.calls["a"] == 2  # made again for its whole output


async def test_a_step_that_only_waits_for_a_truncated_mutating_one_does_not_need_a_person(
    db, lab, registry
):
    """``depends_on`` orders without data: the truncated output is not needed."""
    version = store_version(
        db,
        registry,
        blueprint(
            "order-only",
            step("big", "lab.big_mutate", params={"size": 5000}),
            step("after", depends_on=["big"]),
        ),
    )
    redactor = Redactor(max_stored_bytes=256)
    a = DurableRunner(db, registry, redactor=redactor, owner="A")
    ticket = await crash_while_in(a, version, "after", lab)
    async with DurableRunner(db, registry, redactor=redactor, owner="B") as b:
        report = await b.recover()
        assert not report.needs_attention
        record = await result(report.resumed[ticket.run_id])
    await bury(a, ticket.handle)
    assert record.status == "succeeded"
    assert lab.calls["big"] == 1


async def test_a_cancel_asked_for_before_a_crash_stands_after_it(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "cancel-stands",
            step(
                "a",
                "lab.mutate",
                params={"value": 1},
                compensate={"tool": "lab.echo", "params": {"name": "undo_a"}},
            ),
            step("b", "lab.mutate", params={"value": "{{ steps.a.output.value }}"}),
            step("c", "lab.mutate", depends_on=["b"]),
        ),
    )
    a = DurableRunner(db, registry, owner="A")
    gate_b, gate_undo = lab.gate("b"), lab.gate("undo_a")
    ticket = await a.start(version, started_by="alice")
    await gate_b.wait_entered()
    await a.cancel(ticket.run_id, "operator pressed Cancel", by="alice", compensate=True)
    await gate_undo.wait_entered()  # compensating a when the process dies
    await crash(a, ticket.run_id)
    gate_b.open()
    gate_undo.open()
    async with DurableRunner(db, registry, owner="B") as b:
        report = await b.recover()
        assert not report.needs_attention
        record = await result(report.resumed[ticket.run_id])
    await bury(a, ticket.handle)
    assert record.status == "cancelled"
    assert record.error == "operator pressed Cancel"
    assert lab.calls["b"] == 1 and lab.calls["c"] == 0  # nothing made again, nothing new
    assert lab.calls["undo_a"] == 2  # the interrupted (harmless) compensation, made again
    assert run_row(db, ticket.run_id).status == "cancelled"
    assert "run.cancel_requested" in audit_actions(db, ticket.run_id)
