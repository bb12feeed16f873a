"""Crash recovery (:mod:`knowledge.durable.recovery` and :meth:`DurableRunner.recover`).

A crash is simulated in-process (see :func:`tests.knowledge.durable.helpers.crash`): runner A
is blocked inside a tool call, then stops writing and its run's row is given to a dead owner.
Runner B (a fresh process, in effect) recovers. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from knowledge.durable.recovery import ResolutionError, resolve_call
from knowledge.durable.runner import DurableRunner, process_owner
from knowledge.store.redaction import Redactor
from tests.knowledge.durable.helpers import (
    OTHER_HOST_OWNER,
    approval_row,
    audit_actions,
    blueprint,
    bury,
    crash,
    dead_local_owner,
    other_connection,
    result,
    rows_of,
    run_row,
    set_owner,
    start_blocked,
    step,
    step_rows,
    store_version,
    usage_rows,
    wait_until,
)

# ---------------------------------------------------------------------------- resuming


CHAIN = blueprint(
    "chain",
    step("a", params={"value": 1}),
    step("m", "lab.mutate", params={"value": "{{ steps.a.output.value + 1 }}"}),
    step("g", params={"value": "{{ steps.m.output.value + 1 }}"}),
    step("z", params={"value": "{{ steps.a.output.value + steps.g.output.value }}"}),
    outputs={"z": "{{ steps.z.output.value }}"},
)


async def test_finished_steps_are_kept_and_an_interrupted_harmless_call_runs_again(
    db, lab, registry
):
    version = store_version(db, registry, CHAIN)
    a = DurableRunner(db, registry)
    ticket = await start_blocked(a, version, "g", lab)
    await crash(a, ticket.run_id)
    lab.gates["g"].armed = False
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            report = await b.recover()
            assert list(report.resumed) == [ticket.run_id]
            assert not report.needs_attention and not report.failed
            assert run_row(db, ticket.run_id).owner == "B"
            record = await result(report.resumed[ticket.run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"a": 1, "m": 1, "g": 2, "z": 1}
    assert lab.params["g"][-1] == {"value": 3}  # from the stored output of m
    assert lab.params["z"] == [{"value": 4}]  # a's stored output and g's new one
    rows = step_rows(db, ticket.run_id)
    assert [(r.attempt, r.status) for r in rows_of(rows, "g")] == [
        (1, "interrupted"),
        (1, "succeeded"),
    ]
    interrupted = rows_of(rows, "g")[0]
    assert interrupted.ended_at is not None and not interrupted.final
    assert [r.status for r in rows_of(rows, "a")] == ["succeeded"]
    assert [r.status for r in rows_of(rows, "m")] == ["succeeded"]
    run = run_row(db, ticket.run_id)
    assert (run.status, run.resumes, run.owner) == ("succeeded", 1, None)
    assert run.outputs == {"z": 4}
    assert audit_actions(db, ticket.run_id) == ["run.started", "run.finished"]
    (usage,) = usage_rows(db)
    assert usage.runs == 1


GUARDED = blueprint(
    "guarded",
    step("a", params={"value": 1}),
    step("m", "lab.mutate", params={"value": "{{ steps.a.output.value }}"}),
    step("after", params={"value": "{{ steps.m.output }}"}),
)


async def crash_in_mutating_call(db, lab, registry) -> tuple[DurableRunner, Any]:
    version = store_version(db, registry, GUARDED)
    a = DurableRunner(db, registry)
    ticket = await start_blocked(a, version, "m", lab)
    await crash(a, ticket.run_id)
    lab.gates["m"].armed = False
    return a, ticket


async def test_an_interrupted_mutating_call_needs_attention_then_a_retry(db, lab, registry):
    a, ticket = await crash_in_mutating_call(db, lab, registry)
    run_id = ticket.run_id
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            report = await b.recover()
            assert not report.resumed and not report.failed
            (problem,) = report.needs_attention[run_id]
            assert "'m'" in problem and "lab.mutate" in problem and "mutating" in problem
            run = run_row(db, run_id)
            assert run.status == "needs_attention"
            assert run.attention == problem
            assert run.owner is None and run.lease_expires_at is None
            assert audit_actions(db, run_id)[-1] == "run.needs_attention"
            (m_row,) = rows_of(step_rows(db, run_id), "m")
            assert m_row.status == "running"  # the person decides what it was

            again = await b.recover()
            assert not again.resumed and not again.needs_attention and not again.failed
            assert run_row(db, run_id).status == "needs_attention"

            with db.session() as session, pytest.raises(ResolutionError, match=r"waiting.*\bm\b"):
                resolve_call(session, run_id, "after", "retry", by="alice")
            with db.session() as session:
                assert resolve_call(session, run_id, "m", "retry", by="alice") == []
            run = run_row(db, run_id)
            assert (run.status, run.attention) == ("running", None)
            with (
                db.session() as session,
                pytest.raises(ResolutionError, match="not needs_attention"),
            ):
                resolve_call(session, run_id, "m", "retry", by="alice")

            record = await result(await b.resume(run_id))
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"a": 1, "m": 2, "after": 1}
    assert lab.params["after"] == [{"value": {"name": "m", "value": 1}}]
    m_rows = rows_of(step_rows(db, run_id), "m")
    assert [(r.status, r.decided_by) for r in m_rows] == [
        ("interrupted", "alice"),
        ("succeeded", None),
    ]
    assert run_row(db, run_id).status == "succeeded"
    actions = audit_actions(db, run_id)
    assert actions.count("run.needs_attention") == 1
    assert "run.resolved" in actions and actions[-1] == "run.finished"


async def test_an_interrupted_mutating_call_marked_done_is_not_called_again(db, lab, registry):
    a, ticket = await crash_in_mutating_call(db, lab, registry)
    run_id = ticket.run_id
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            assert run_id in (await b.recover()).needs_attention
            with db.session() as session:
                left = resolve_call(session, run_id, "m", "done", by="alice", output={"x": 1})
            assert left == []
            report = await b.recover()
            assert list(report.resumed) == [run_id]
            record = await result(report.resumed[run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"a": 1, "m": 1, "after": 1}
    assert lab.params["after"] == [{"value": {"x": 1}}]
    (m_row,) = rows_of(step_rows(db, run_id), "m")
    assert (m_row.status, m_row.final, m_row.decided_by, m_row.output) == (
        "succeeded",
        True,
        "alice",
        {"x": 1},
    )
    run = run_row(db, run_id)
    assert (run.status, run.resumes) == ("succeeded", 2)


async def test_resolving_a_run_that_is_not_waiting_is_refused(db, lab, registry):
    version = store_version(db, registry, blueprint("plain", step("a")))
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.run(version, started_by="alice")
    with db.session() as session, pytest.raises(ResolutionError, match="succeeded"):
        resolve_call(session, ticket.run_id, "a", "retry", by="alice")
    with db.session() as session, pytest.raises(ResolutionError, match="not found"):
        resolve_call(session, "no-such-run", "a", "retry", by="alice")


async def test_a_for_each_over_a_mutating_tool_resumes_item_by_item(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "fan",
            step(
                "each",
                "lab.mutate",
                params={"name": "each{{ item }}", "value": "{{ item }}"},
                for_each={"items": [0, 1, 2, 3], "concurrency": 1},
            ),
            step("after", params={"value": "{{ steps.each.output }}"}),
        ),
    )
    a = DurableRunner(db, registry)
    ticket = await start_blocked(a, version, "each1", lab)
    run_id = ticket.run_id
    await crash(a, run_id)
    lab.gates["each1"].armed = False
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            (problem,) = (await b.recover()).needs_attention[run_id]
            assert "'each[1]'" in problem and "mutating" in problem
            with db.session() as session, pytest.raises(ResolutionError, match=r"each\[1\]"):
                resolve_call(session, run_id, "each", "done", by="alice")  # no item given
            with db.session() as session:
                resolve_call(
                    session,
                    run_id,
                    "each",
                    "done",
                    by="alice",
                    item_index=1,
                    output={"name": "each1", "value": "by hand"},
                )
            report = await b.recover()
            record = await result(report.resumed[run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"each0": 1, "each1": 1, "each2": 1, "each3": 1, "after": 1}
    assert lab.params["after"] == [
        {
            "value": [
                {"name": "each0", "value": 0},
                {"name": "each1", "value": "by hand"},
                {"name": "each2", "value": 2},
                {"name": "each3", "value": 3},
            ]
        }
    ]
    items = {
        r.item_index: r.status
        for r in rows_of(step_rows(db, run_id), "each")
        if r.item_index is not None
    }
    assert items == {0: "succeeded", 1: "succeeded", 2: "succeeded", 3: "succeeded"}


async def test_an_approval_granted_before_the_crash_is_not_asked_again(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "approved",
            step("prep"),
            step("go", depends_on=["prep"], approval={"approvers": ["alice"]}),
            step("after", params={"value": "{{ steps.go.output.name }}"}),
        ),
    )
    a = DurableRunner(db, registry)
    gate = lab.gate("go")
    ticket = await a.start(version, started_by="bob")
    assert ticket.handle is not None
    await wait_until(lambda: approval_row(db, ticket.run_id, "go"), what="the approval")
    a.executor.decide(ticket.run_id, "go", approved=True, by="alice")
    await gate.wait_entered()
    await crash(a, ticket.run_id)
    gate.armed = False
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            report = await b.recover()
            handle = report.resumed[ticket.run_id]
            record = await result(handle)  # would wait forever for a second approval
            assert not b.executor.pending_approvals()
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"prep": 1, "go": 2, "after": 1}
    actions = audit_actions(db, ticket.run_id)
    assert actions.count("approval.requested") == 1
    assert actions.count("approval.granted") == 1
    row = approval_row(db, ticket.run_id, "go")
    assert row is not None and row.approved is True and row.decided_by == "alice"


# ---------------------------------------------------------------------------- incomplete outputs


async def test_a_truncated_harmless_output_still_needed_is_made_again(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "trunc-none",
            step("big", "lab.big", params={"size": 5000}),
            step("use", "lab.measure", params={"data": "{{ steps.big.output }}"}),
        ),
    )
    redactor = Redactor(max_stored_bytes=256)
    a = DurableRunner(db, registry, redactor=redactor)
    ticket = await start_blocked(a, version, "use", lab)
    await crash(a, ticket.run_id)
    lab.gates["use"].armed = False
    try:
        async with DurableRunner(db, registry, redactor=redactor, owner="B") as b:
            report = await b.recover()
            record = await result(report.resumed[ticket.run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"big": 2, "use": 2}
    (use,) = rows_of(step_rows(db, ticket.run_id), "use", status="succeeded")
    assert use.output == {"name": "use", "size": 5000}


async def test_a_truncated_mutating_output_still_needed_needs_attention(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "trunc-mut",
            step("big", "lab.big_mutate", params={"size": 5000}),
            step("use", "lab.measure", params={"data": "{{ steps.big.output }}"}),
        ),
    )
    redactor = Redactor(max_stored_bytes=256)
    a = DurableRunner(db, registry, redactor=redactor)
    ticket = await start_blocked(a, version, "use", lab)
    await crash(a, ticket.run_id)
    lab.gates["use"].armed = False
    try:
        async with DurableRunner(db, registry, redactor=redactor, owner="B") as b:
            report = await b.recover()
    finally:
        await bury(a, ticket.handle)
    (problem,) = report.needs_attention[ticket.run_id]
    assert "'big'" in problem and "truncated" in problem and "'use'" in problem
    assert lab.calls == {"big": 1, "use": 1}
    assert run_row(db, ticket.run_id).status == "needs_attention"


async def test_a_truncated_mutating_output_can_be_given_by_a_person(db, lab, registry):
    """The explanation says "Retry it, or mark it done with its output": a person must be able
    to do so, and the run then goes on with that output (and without calling it again)."""
    version = store_version(
        db,
        registry,
        blueprint(
            "trunc-mut-done",
            step("big", "lab.big_mutate", params={"size": 5000}),
            step("use", "lab.measure", params={"data": "{{ steps.big.output }}"}),
        ),
    )
    redactor = Redactor(max_stored_bytes=256)
    a = DurableRunner(db, registry, redactor=redactor)
    ticket = await start_blocked(a, version, "use", lab)
    run_id = ticket.run_id
    await crash(a, run_id)
    lab.gates["use"].armed = False
    try:
        async with DurableRunner(db, registry, redactor=redactor, owner="B") as b:
            assert run_id in (await b.recover()).needs_attention
            whole = {"name": "big", "payload": "y" * 3000}
            with db.session() as session:
                assert resolve_call(session, run_id, "big", "done", by="alice", output=whole) == []
            report = await b.recover()
            record = await result(report.resumed[run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert lab.calls == {"big": 1, "use": 2}
    assert lab.params["use"][-1] == {"data": {"name": "big", "payload": "y" * 3000}}


async def test_a_chain_of_truncated_harmless_outputs_is_made_again_from_its_start(
    db, lab, registry
):
    """``b`` is made again because ``c`` needs its whole output; ``b`` in turn needs the whole
    output of ``a``, also stored truncated: ``a`` must be made again too (or ``b`` runs on the
    stored summary of ``a`` instead of ``a``'s output)."""
    version = store_version(
        db,
        registry,
        blueprint(
            "trunc-chain",
            step("a", "lab.big", params={"size": 5000}),
            step("b", params={"value": "{{ steps.a.output }}"}),
            step("c", "lab.measure", params={"data": "{{ steps.b.output.value }}"}),
        ),
    )
    redactor = Redactor(max_stored_bytes=256)
    a = DurableRunner(db, registry, redactor=redactor)
    ticket = await start_blocked(a, version, "c", lab)
    await crash(a, ticket.run_id)
    lab.gates["c"].armed = False
    try:
        async with DurableRunner(db, registry, redactor=redactor, owner="B") as b:
            report = await b.recover()
            record = await result(report.resumed[ticket.run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    (c_row,) = rows_of(step_rows(db, ticket.run_id), "c", status="succeeded")
    assert c_row.output == {"name": "c", "size": 5000}


async def test_truncated_for_each_item_outputs_still_needed_are_made_again(db, lab, registry):
    """Items of an unfinished for_each step that succeeded are kept; when their stored output is
    truncated and the step's output is still needed, they are made again (harmless tool)
    rather than restored as their stored summaries."""
    version = store_version(
        db,
        registry,
        blueprint(
            "trunc-items",
            step(
                "f",
                "lab.big",
                params={"name": "f{{ item }}", "size": 5000},
                for_each={"items": [0, 1], "concurrency": 1},
            ),
            step("use", "lab.measure", params={"data": "{{ steps.f.output[0] }}"}),
        ),
    )
    redactor = Redactor(max_stored_bytes=256)
    a = DurableRunner(db, registry, redactor=redactor)
    ticket = await start_blocked(a, version, "f1", lab)
    await crash(a, ticket.run_id)
    lab.gates["f1"].armed = False
    try:
        async with DurableRunner(db, registry, redactor=redactor, owner="B") as b:
            report = await b.recover()
            record = await result(report.resumed[ticket.run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    (use,) = rows_of(step_rows(db, ticket.run_id), "use", status="succeeded")
    assert use.output == {"name": "use", "size": 5000}


# ---------------------------------------------------------------------------- who may claim


SLOW = blueprint("slow", step("a"), step("g", params={"value": "{{ steps.a.output.name }}"}))


async def test_a_run_of_a_live_owner_is_not_claimed_until_its_lease_runs_out(db, lab, registry):
    version = store_version(db, registry, SLOW)
    a = DurableRunner(db, registry)
    assert a.owner == process_owner()
    ticket = await start_blocked(a, version, "g", lab)
    run_id = ticket.run_id
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            report = await b.recover()
            assert not report.resumed and not report.needs_attention and not report.failed
            run = run_row(db, run_id)
            assert (run.owner, run.resumes) == (a.owner, 0)
            assert run.lease_expires_at is not None

            # another machine's run with a live lease: not claimed either
            await asyncio.to_thread(set_owner, db, run_id, OTHER_HOST_OWNER, lease_s=60)
            assert not (await b.recover()).resumed

            # A stops writing, its owner string still names this live process: only the lease
            # running out lets B take the run
            await crash(a, run_id, owner=a.owner, lease_s=60)
            assert not (await b.recover()).resumed
            await asyncio.to_thread(set_owner, db, run_id, a.owner, lease_s=-1)
            lab.gates["g"].armed = False
            report = await b.recover()
            assert list(report.resumed) == [run_id]
            record = await result(report.resumed[run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error
    assert run_row(db, run_id).resumes == 1
    assert lab.calls == {"a": 1, "g": 2}


async def test_a_run_of_a_dead_process_on_this_host_is_claimed_despite_its_lease(db, lab, registry):
    version = store_version(db, registry, SLOW)
    a = DurableRunner(db, registry)
    ticket = await start_blocked(a, version, "g", lab)
    await crash(a, ticket.run_id, owner=dead_local_owner(), lease_s=60)
    lab.gates["g"].armed = False
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            report = await b.recover()
            assert list(report.resumed) == [ticket.run_id]
            assert run_row(db, ticket.run_id).resumes == 1
            record = await result(report.resumed[ticket.run_id])
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded", record.error


async def test_two_runners_recovering_at_once_claim_each_run_once(db, lab, registry):
    version = store_version(db, registry, SLOW)
    a = DurableRunner(db, registry)
    gate = lab.gate("g")
    tickets = [await a.start(version, started_by="alice") for _ in range(6)]
    await wait_until(lambda: lab.calls["g"] == 6, what="six blocked calls")
    for ticket in tickets:
        await crash(a, ticket.run_id)
    gate.armed = False
    run_ids = {t.run_id for t in tickets}
    try:
        with other_connection(db) as other:
            async with (
                DurableRunner(db, registry, owner="B") as b,
                DurableRunner(other, registry, owner="C") as c,
            ):
                by_b, by_c = await asyncio.gather(b.recover(), c.recover())
                assert not set(by_b.resumed) & set(by_c.resumed)
                assert set(by_b.resumed) | set(by_c.resumed) == run_ids
                assert not (by_b.failed or by_c.failed or by_b.needs_attention)
                handles = [*by_b.resumed.values(), *by_c.resumed.values()]
                records = await asyncio.gather(*(result(h) for h in handles))
    finally:
        await bury(a, *(t.handle for t in tickets))
    assert {r.status for r in records} == {"succeeded"}
    assert lab.calls == {"a": 6, "g": 12}
    for run_id in run_ids:
        assert run_row(db, run_id).resumes == 1


async def test_a_resumed_run_cannot_be_taken_by_another_runner(db, lab, registry):
    """After a person's decision, :meth:`DurableRunner.resume` runs the run here: another
    runner's recover() must not take it meanwhile (and call its tools a second time)."""
    a, ticket = await crash_in_mutating_call(db, lab, registry)
    run_id = ticket.run_id
    try:
        async with (
            DurableRunner(db, registry, owner="B") as b,
            DurableRunner(db, registry, owner="C") as c,
        ):
            assert run_id in (await b.recover()).needs_attention
            with db.session() as session:
                resolve_call(session, run_id, "m", "retry", by="alice")
            gate = lab.gate("after")  # B's run blocks in its last step
            handle = await b.resume(run_id)
            await gate.wait_entered()
            stolen = await c.recover()
            gate.open()
            record = await result(handle)
            for other in stolen.resumed.values():
                await result(other)
    finally:
        await bury(a, ticket.handle)
    assert record.status == "succeeded"
    assert lab.calls == {"a": 1, "m": 2, "after": 1}, "C ran B's run a second time"
    assert (stolen.resumed, stolen.needs_attention, stolen.failed) == ({}, {}, {})
    assert run_row(db, run_id).resumes == 1


async def test_resuming_a_finished_run_is_refused(db, lab, registry):
    version = store_version(db, registry, blueprint("done-already", step("a")))
    async with DurableRunner(db, registry, owner="B") as b:
        ticket = await b.run(version, started_by="alice")
        assert ticket.status == "succeeded"
        refusal: str | None = None
        try:
            handle = await b.resume(ticket.run_id)
        except Exception as exc:
            refusal = str(exc)
        else:
            await result(handle)
    (usage,) = usage_rows(db)
    assert usage.runs == 1, "the run was counted twice"
    assert audit_actions(db, ticket.run_id) == ["run.started", "run.finished"]
    assert refusal is not None and "succeeded" in refusal


async def test_a_run_with_redacted_inputs_cannot_resume(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "secret-in",
            step("a", params={"value": "{{ inputs.password }}"}),
            step("g", params={"value": "{{ steps.a.output.name }}"}),
            inputs={"password": {"type": "string"}},
        ),
    )
    a = DurableRunner(db, registry)
    ticket = await start_blocked(a, version, "g", lab, inputs={"password": "hunter2-hunter2"})
    await crash(a, ticket.run_id)
    lab.gates["g"].armed = False
    try:
        async with DurableRunner(db, registry, owner="B") as b:
            report = await b.recover()
            assert not report.resumed and not report.needs_attention
            assert "secret" in report.failed[ticket.run_id]
            assert not (await b.recover()).failed
    finally:
        await bury(a, ticket.handle)
    run = run_row(db, ticket.run_id)
    assert run.status == "failed"
    assert run.error is not None and "secret" in run.error
    assert run.ended_at is not None and run.owner is None
    assert lab.calls == {"a": 1, "g": 1}
