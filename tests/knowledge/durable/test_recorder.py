"""The store as the engine's event sink (:mod:`knowledge.durable.recorder`): what a run leaves
in every table, what is committed before the engine goes on, and what is never written
(secrets, big values). Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select

from engine.errors import EventSinkError
from engine.events import MemorySink, StepFinished
from engine.records import StepStatus, digest
from knowledge.durable.runner import DurableRunner
from knowledge.store.models import Run, StepCall
from knowledge.store.redaction import REDACTED, Redactor
from tests.knowledge.durable.helpers import (
    approval_row,
    audit_actions,
    audit_entries,
    blueprint,
    dump_tables,
    lazy_writes,
    other_connection,
    result,
    rows_of,
    run_row,
    step,
    step_rows,
    store_version,
    usage_rows,
    wait_until,
)

SECRET = "s3cr3t-value-123"


# ---------------------------------------------------------------------------- a finished run


ROWS_BLUEPRINT = blueprint(
    "rows",
    step("ask", "lab.costly"),
    step("retry", "lab.flaky", retry={"attempts": 3, "backoff_s": 0}),
    step(
        "fb",
        "lab.fail",
        params={"message": "primary is down"},
        on_error="fallback",
        fallback={"tool": "lab.echo", "params": {"name": "fb_fallback", "value": 7}},
    ),
    step(
        "each",
        "lab.idem",
        params={"value": "{{ item * 10 }}"},
        for_each={"items": [1, 2, 3], "concurrency": 1},
    ),
    step("skip", when="{{ steps.ask.output.name == 'nobody' }}"),
    step(
        "last",
        "lab.mutate",
        params={"value": "{{ steps.each.output | length }}"},
        depends_on=["retry", "fb", "skip"],
    ),
    outputs={"answer": "{{ steps.ask.output.text }}", "each": "{{ steps.each.output }}"},
)


async def test_a_finished_run_leaves_one_row_per_record_with_its_fields(db, lab, registry):
    lab.failures["retry"] = 1
    version = store_version(db, registry, ROWS_BLUEPRINT)
    events = MemorySink()
    async with DurableRunner(db, registry, sink=events) as runner:
        ticket = await runner.start(version, started_by="alice")
        assert ticket.created
        assert ticket.handle is not None
        record = await result(ticket.handle)
    assert record.status == "succeeded", record.error

    rows = step_rows(db, ticket.run_id)
    by_key = {(r.step_id, r.kind, r.item_index, r.attempt): r for r in rows}
    assert len(by_key) == len(rows) == len(record.records)
    outputs = {
        (e.record.step_id, e.record.kind.value, e.record.item_index, e.record.attempt): e.output
        for e in events.of_type(StepFinished)
    }
    for rec in record.records:
        key = (rec.step_id, rec.kind.value, rec.item_index, rec.attempt)
        row = by_key[key]
        assert row.tool == rec.tool, key
        assert row.started_at == rec.started_at, key
        assert row.ended_at == rec.ended_at, key
        assert row.duration_ms == pytest.approx(rec.duration_ms), key
        assert row.confidence == pytest.approx(rec.confidence), key
        assert row.issues == rec.issues, key
        assert (row.tokens_in, row.tokens_out) == (rec.cost.tokens_in, rec.cost.tokens_out), key
        assert row.cost_usd == pytest.approx(rec.cost.usd), key
        assert row.input_hash == rec.input_hash, key
        assert row.output_hash == rec.output_hash, key
        assert row.output_summary == rec.output_summary, key
        assert row.error_class == rec.error_class, key
        assert row.error_category == rec.error_category, key
        assert row.error_message == rec.error_message, key
        assert row.decided_by is None
        if row.status == "succeeded":
            assert row.output == outputs[key], key
            assert row.output_size == len(json.dumps(outputs[key], sort_keys=True))
            assert not row.output_truncated
            assert not row.output_redacted
        else:
            assert row.output is None, key

    def one(step_id: str, **where: Any) -> StepCall:
        (found,) = rows_of(rows, step_id, **where)
        return found

    # status, final flag, attempt, kind, item_index and side effect of each call
    shape = sorted(
        (
            (r.step_id, r.kind, r.item_index, r.attempt, r.status, r.final, r.side_effect)
            for r in rows
        ),
        key=repr,
    )
    assert shape == sorted(
        [
            ("ask", "action", None, 1, "succeeded", True, "none"),
            ("retry", "action", None, 1, "retried", False, "none"),
            ("retry", "action", None, 2, "succeeded", True, "none"),
            ("fb", "action", None, 1, "failed", False, "none"),
            ("fb", "fallback", None, 1, "succeeded", True, "none"),
            ("each", "action", 0, 1, "succeeded", False, "idempotent"),
            ("each", "action", 1, 1, "succeeded", False, "idempotent"),
            ("each", "action", 2, 1, "succeeded", False, "idempotent"),
            ("each", "action", None, 1, "succeeded", True, "idempotent"),
            ("skip", "action", None, 0, "skipped", True, "none"),
            ("last", "action", None, 1, "succeeded", True, "mutating"),
        ],
        key=repr,
    )
    ask = one("ask")
    assert (ask.tokens_in, ask.tokens_out, ask.cost_usd) == (100, 20, 0.5)
    assert ask.confidence == 0.75
    assert ask.issues == ["the answer was short"]
    assert ask.output == {"name": "ask", "text": "a fine answer"}
    retried = one("retry", attempt=1)
    assert (retried.error_class, retried.error_category) == ("TransientToolError", "transient")
    assert retried.error_message == "retry: try again"
    assert retried.ended_at is not None
    failed = one("fb", kind="action")
    assert (failed.error_class, failed.error_message) == ("PermanentToolError", "primary is down")
    assert one("fb", kind="fallback").tool == "lab.echo"
    assert one("fb", kind="fallback").output == {"name": "fb_fallback", "value": 7}
    assert [one("each", item_index=i).output["value"] for i in range(3)] == [10, 20, 30]
    assert one("each", item_index=None).output == [
        {"name": "each", "value": v} for v in (10, 20, 30)
    ]
    assert one("skip").issues and "condition is false" in one("skip").issues[0]
    assert one("last").output == {"name": "last", "value": 3}
    assert all(r.started_at <= r.ended_at for r in rows)

    run = run_row(db, ticket.run_id)
    assert run.status == "succeeded"
    assert (
        run.outputs == record.outputs == {"answer": "a fine answer", "each": record.outputs["each"]}
    )
    assert (run.tokens_in, run.tokens_out, run.cost_usd) == (100, 20, 0.5)
    assert run.started_by == "alice"
    assert run.started_at is not None and run.ended_at is not None
    assert run.ended_at == record.ended_at
    assert run.started_at <= run.ended_at
    assert run.duration_ms is not None and run.duration_ms >= 0
    assert run.error is None and run.failed_step is None and run.attention is None
    assert run.owner is None and run.lease_expires_at is None
    assert run.inputs == {} and not run.inputs_redacted
    assert audit_actions(db, ticket.run_id) == ["run.started", "run.finished"]
    started, finished = audit_entries(db, ticket.run_id)
    assert started.actor == "alice"
    assert started.detail["version_id"] == version
    assert finished.detail == {"status": "succeeded", "failed_step": None}


async def test_a_failed_run_records_its_error_and_the_compensations(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "saga",
            step(
                "m",
                "lab.mutate",
                params={"value": "made"},
                compensate={
                    "tool": "lab.idem",
                    "params": {"name": "undo", "value": "{{ output.value }}"},
                },
            ),
            step("boom", "lab.fail", params={"message": "kaput"}, depends_on=["m"]),
            step("never", depends_on=["boom"]),
        ),
    )
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.start(version, started_by="bob")
        assert ticket.handle is not None
        record = await result(ticket.handle)
    assert record.status == "failed"
    rows = step_rows(db, ticket.run_id)
    (m,) = rows_of(rows, "m", kind="action")
    assert (m.status, m.final, m.side_effect) == ("succeeded", True, "mutating")
    (boom,) = rows_of(rows, "boom")
    assert (boom.status, boom.final) == ("failed", True)
    assert (boom.error_class, boom.error_category, boom.error_message) == (
        "PermanentToolError",
        "error",
        "kaput",
    )
    (undo,) = rows_of(rows, "m", kind="compensation")
    assert (undo.tool, undo.status, undo.final, undo.side_effect) == (
        "lab.idem",
        "succeeded",
        False,
        "idempotent",
    )
    assert undo.output == {"name": "undo", "value": "made"}
    (never,) = rows_of(rows, "never")
    assert (never.status, never.final, never.attempt) == ("cancelled", True, 0)
    assert not [r for r in rows if r.status == "running"]
    assert lab.calls == {"m": 1, "boom": 1, "undo": 1}

    run = run_row(db, ticket.run_id)
    assert run.status == "failed"
    assert run.failed_step == "boom"
    assert run.error is not None and "kaput" in run.error
    assert run.ended_at is not None and run.owner is None
    finished = audit_entries(db, ticket.run_id)[-1]
    assert finished.action == "run.finished"
    assert finished.detail == {"status": "failed", "failed_step": "boom"}


async def test_usage_adds_up_runs_tokens_and_cost_per_day_and_workflow(db, lab, registry):
    version = store_version(
        db, registry, blueprint("spend", step("ask", "lab.costly", params={"usd": 0.25}))
    )
    other = store_version(db, registry, blueprint("cheap", step("ask", "lab.echo")))
    async with DurableRunner(db, registry) as runner:
        first = await runner.run(version, started_by="alice")
        assert first.status == "succeeded"
        (usage,) = usage_rows(db)
        assert (usage.runs, usage.tokens_in, usage.tokens_out, usage.cost_usd) == (1, 100, 20, 0.25)
        assert usage.day == datetime.now(UTC).date()
        second = await runner.run(version, started_by="alice")
        assert second.run_id != first.run_id
        await runner.run(other, started_by="alice")
    by_workflow = {u.workflow_id: u for u in usage_rows(db)}
    assert len(by_workflow) == 2
    spend = by_workflow[run_row(db, first.run_id).workflow_id]
    assert (spend.runs, spend.tokens_in, spend.tokens_out) == (2, 200, 40)
    assert spend.cost_usd == pytest.approx(0.5)
    cheap = next(u for u in by_workflow.values() if u is not spend)
    assert (cheap.runs, cheap.tokens_in, cheap.cost_usd) == (1, 0, 0.0)


# ---------------------------------------------------------------------------- durability order


async def test_a_mutating_call_sees_its_own_start_committed(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint("order-m", step("m", "lab.mutate", retry={"attempts": 2, "backoff_s": 0})),
    )
    with other_connection(db) as other:

        def look(params: dict[str, Any]) -> list[tuple[str, int, bool, str]]:
            with other.session() as session:
                return [
                    (r.status, r.attempt, r.final, r.side_effect)
                    for r in session.scalars(select(StepCall).where(StepCall.step_id == "m"))
                ]

        lab.hooks["m"] = look
        async with DurableRunner(db, registry) as runner:
            lazy_writes(runner)
            ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "succeeded"
    assert lab.hook_results["m"] == [[("running", 1, False, "mutating")]]


async def test_a_dependent_sees_its_upstream_committed_with_its_output(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "order-dep",
            step("a", params={"value": 41}),
            step("f", "lab.idem", params={"value": "{{ item }}"}, for_each={"items": [1, 2]}),
            step(
                "b",
                "lab.mutate",
                params={"value": "{{ steps.a.output.value + 1 }}"},
                depends_on=["f"],
            ),
            step("c", params={"value": "{{ steps.b.output.value }}"}),
        ),
    )
    with other_connection(db) as other:

        def settled(params: dict[str, Any]) -> dict[str, Any]:
            with other.session() as session:
                return {
                    (r.step_id, r.item_index): (r.status, r.final, r.output)
                    for r in session.scalars(select(StepCall).where(StepCall.status != "running"))
                }

        lab.hooks["b"] = settled
        lab.hooks["c"] = settled
        async with DurableRunner(db, registry) as runner:
            lazy_writes(runner)
            ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "succeeded"
    (seen_by_b,) = lab.hook_results["b"]
    assert seen_by_b[("a", None)] == ("succeeded", True, {"name": "a", "value": 41})
    assert seen_by_b[("f", None)] == (
        "succeeded",
        True,
        [{"name": "f", "value": 1}, {"name": "f", "value": 2}],
    )
    assert seen_by_b[("f", 0)][0] == seen_by_b[("f", 1)][0] == "succeeded"
    (seen_by_c,) = lab.hook_results["c"]
    assert seen_by_c[("b", None)] == ("succeeded", True, {"name": "b", "value": 42})
    # a call with no side effect need not be committed as running during the call, but after
    # the run every call is there, settled
    rows = step_rows(db, ticket.run_id)
    assert sorted(((r.step_id, r.item_index, r.status) for r in rows), key=repr) == sorted(
        [
            ("a", None, "succeeded"),
            ("f", 0, "succeeded"),
            ("f", 1, "succeeded"),
            ("f", None, "succeeded"),
            ("b", None, "succeeded"),
            ("c", None, "succeeded"),
        ],
        key=repr,
    )


# ---------------------------------------------------------------------------- redaction


async def test_secrets_are_written_nowhere(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "secrets",
            step("leak", "lab.leak", params={"text": "the key is {{ inputs.key }}"}),
            step(
                "refused",
                "lab.leak",
                params={"text": "bad key {{ inputs.key }}", "fail": True},
                on_error="continue",
            ),
            step("noted", "lab.costly", depends_on=["leak"]),
            inputs={
                "api_token": {"type": "string"},
                "who": {"type": "string"},
                "key": {"type": "string"},
            },
            outputs={"leaked": "{{ steps.leak.output }}", "who": "{{ inputs.who }}"},
        ),
    )
    redactor = Redactor([SECRET])
    async with DurableRunner(db, registry, redactor=redactor) as runner:
        ticket = await runner.run(
            version,
            {"api_token": "tok-abcdef-0123456789", "who": f"user with {SECRET}", "key": SECRET},
            started_by="alice",
        )
    assert ticket.status == "succeeded"
    text = dump_tables(db)
    for secret in (SECRET, "hunter2-hunter2", "tok-0123456789abcdef", "abcdef0123456789abcdef"):
        assert secret not in text
    assert "tok-abcdef-0123456789" not in text
    rows = step_rows(db, ticket.run_id)
    (leak,) = rows_of(rows, "leak")
    assert leak.output_redacted
    assert leak.output["password"] == leak.output["token"] == REDACTED
    assert leak.output["headers"]["Authorization"] == REDACTED
    assert leak.output["pairs"] == [["Authorization", REDACTED]]
    assert leak.output["note"] == f"the key is {REDACTED}"
    assert leak.output_hash is not None  # the engine's digest of the real output
    (refused,) = rows_of(rows, "refused")
    assert refused.status == "failed"
    assert refused.error_message == f"upstream refused: bad key {REDACTED}"
    run = run_row(db, ticket.run_id)
    assert run.inputs_redacted
    assert run.inputs == {"api_token": REDACTED, "who": f"user with {REDACTED}", "key": REDACTED}
    assert run.outputs is not None and run.outputs["who"] == f"user with {REDACTED}"


async def test_a_secret_is_not_cut_in_two_by_the_stored_summary(db, lab, registry):
    """The engine's one-line summary of an output is cut at 200 characters; a known secret cut
    there must not be stored half (its first characters are enough to guess it)."""
    version = store_version(
        db,
        registry,
        blueprint("summary-cut", step("s", params={"value": "y" * 160 + " " + SECRET})),
    )
    async with DurableRunner(db, registry, redactor=Redactor([SECRET])) as runner:
        ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "succeeded"
    (row,) = step_rows(db, ticket.run_id)
    assert row.output["value"].endswith(REDACTED)
    assert row.output_summary is not None
    assert SECRET[:8] not in row.output_summary, row.output_summary


async def test_a_header_value_hidden_in_the_output_is_hidden_in_its_summary(db, lab, registry):
    """Header shapes (``{"name": "X-Api-Key", "value": ...}``, ``["X-Api-Key", ...]``) are
    redacted in the stored output; the stored one-line summary of that output must not show
    what the output hides."""
    version = store_version(
        db,
        registry,
        blueprint(
            "summary-headers",
            step("h", params={"value": "{{ inputs.headers }}"}),
            inputs={"headers": {"type": "array"}},
        ),
    )
    headers = [
        {"name": "X-Api-Key", "value": "plain-value-0987"},
        ["X-Api-Key", "plain-value-0987"],
    ]
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.run(version, {"headers": headers}, started_by="alice")
    assert ticket.status == "succeeded"
    (row,) = step_rows(db, ticket.run_id)
    assert row.output_redacted
    assert row.output["value"] == [
        {"name": "X-Api-Key", "value": REDACTED},
        ["X-Api-Key", REDACTED],
    ]
    assert run_row(db, ticket.run_id).inputs_redacted
    assert "plain-value-0987" not in (row.output_summary or "")
    assert "plain-value-0987" not in dump_tables(db)


async def test_an_approval_comment_holding_a_secret_is_not_written(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint("approve-secret", step("go", "lab.mutate", approval={"approvers": ["alice"]})),
    )
    async with DurableRunner(db, registry, redactor=Redactor([SECRET])) as runner:
        ticket = await runner.start(version, started_by="alice")
        assert ticket.handle is not None
        await wait_until(lambda: approval_row(db, ticket.run_id, "go"), what="the approval")
        runner.executor.decide(
            ticket.run_id, "go", approved=True, by="alice", comment=f"use {SECRET} to log in"
        )
        assert (await result(ticket.handle)).status == "succeeded"
    row = approval_row(db, ticket.run_id, "go")
    assert row is not None and row.comment == f"use {REDACTED} to log in"
    assert SECRET not in dump_tables(db)


async def test_secret_run_inputs_are_not_written_in_step_outputs(db, lab, registry):
    """A run input recognised as a secret (stored redacted in the run's row) is a secret value
    for the rest of the run too: a step that passes it on must not have it stored."""
    version = store_version(
        db,
        registry,
        blueprint(
            "input-secret",
            step("use", params={"value": "{{ inputs.api_token }}"}),
            inputs={"api_token": {"type": "string"}},
        ),
    )
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.run(version, {"api_token": "plain-0123456789"}, started_by="a")
    assert ticket.status == "succeeded"
    assert run_row(db, ticket.run_id).inputs == {"api_token": REDACTED}
    assert "plain-0123456789" not in dump_tables(db)


# ---------------------------------------------------------------------------- big values


async def test_a_big_output_is_stored_truncated_with_its_size_and_hash(db, lab, registry):
    version = store_version(
        db,
        registry,
        blueprint(
            "big",
            step("big", "lab.big"),
            step("use", "lab.measure", params={"data": "{{ steps.big.output }}"}),
            outputs={"big": "{{ steps.big.output }}"},
        ),
    )
    full = {"name": "big", "payload": "x" * 50_000}
    text = json.dumps(full, sort_keys=True, ensure_ascii=False)
    async with DurableRunner(db, registry, redactor=Redactor(max_stored_bytes=1024)) as runner:
        ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "succeeded"
    rows = step_rows(db, ticket.run_id)
    (big,) = rows_of(rows, "big")
    assert big.output_truncated and not big.output_redacted
    assert big.output_size == len(text.encode())
    assert big.output == {
        "truncated": True,
        "size": len(text.encode()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "preview": text[:2000],
    }
    assert big.output_hash == digest(full)
    # the run itself went on with the whole output
    (use,) = rows_of(rows, "use")
    assert use.output == {"name": "use", "size": 50_000}
    outputs = run_row(db, ticket.run_id).outputs
    assert outputs is not None and outputs["truncated"] is True  # the run's outputs too
    assert len(dump_tables(db)) < 20_000


# ---------------------------------------------------------------------------- approvals


APPROVAL_BLUEPRINT = blueprint(
    "approve",
    step("prep"),
    step(
        "go",
        "lab.mutate",
        params={"value": "{{ steps.prep.output.name }}"},
        approval={"approvers": ["alice"], "message": "Ship {{ steps.prep.output.name }}?"},
    ),
)


async def test_an_approval_is_written_when_asked_and_when_granted(db, lab, registry):
    version = store_version(db, registry, APPROVAL_BLUEPRINT)
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.start(version, started_by="bob")
        assert ticket.handle is not None
        asked = await wait_until(
            lambda: approval_row(db, ticket.run_id, "go"), what="the approval request"
        )
        assert (asked.tool, asked.approvers, asked.message) == (
            "lab.mutate",
            ["alice"],
            "Ship prep?",
        )
        assert asked.approved is None and asked.decided_by is None and asked.decided_at is None
        assert asked.requested_at is not None
        assert audit_actions(db, ticket.run_id)[-1] == "approval.requested"
        assert lab.calls["go"] == 0
        assert run_row(db, ticket.run_id).status == "running"

        runner.executor.decide(ticket.run_id, "go", approved=True, by="alice", comment="ok")
        record = await result(ticket.handle)
    assert record.status == "succeeded"
    decided = approval_row(db, ticket.run_id, "go")
    assert decided is not None
    assert (decided.approved, decided.decided_by, decided.comment) == (True, "alice", "ok")
    assert decided.decided_at is not None and decided.decided_at >= decided.requested_at
    assert audit_actions(db, ticket.run_id) == [
        "run.started",
        "approval.requested",
        "approval.granted",
        "run.finished",
    ]
    granted = audit_entries(db, ticket.run_id)[2]
    assert granted.actor == "alice"
    assert granted.detail["step"] == "go"
    assert lab.calls["go"] == 1


async def test_a_denied_approval_is_written_and_fails_the_run(db, lab, registry):
    version = store_version(db, registry, APPROVAL_BLUEPRINT)
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.start(version, started_by="bob")
        assert ticket.handle is not None
        await wait_until(lambda: approval_row(db, ticket.run_id, "go"), what="the approval")
        with pytest.raises(Exception, match="may not decide"):
            runner.executor.decide(ticket.run_id, "go", approved=True, by="mallory")
        runner.executor.decide(ticket.run_id, "go", approved=False, by="alice", comment="no")
        record = await result(ticket.handle)
    assert record.status == "failed"
    decided = approval_row(db, ticket.run_id, "go")
    assert decided is not None
    assert (decided.approved, decided.decided_by, decided.comment) == (False, "alice", "no")
    assert audit_actions(db, ticket.run_id) == [
        "run.started",
        "approval.requested",
        "approval.denied",
        "run.finished",
    ]
    (go,) = rows_of(step_rows(db, ticket.run_id), "go")
    assert (go.status, go.final, go.attempt) == ("failed", True, 0)
    assert go.error_message == "denied by alice: no"
    assert lab.calls["go"] == 0
    assert run_row(db, ticket.run_id).failed_step == "go"


# ---------------------------------------------------------------------------- store failures


async def test_a_run_whose_row_vanished_fails_loudly(db, lab, registry):
    """The store refuses the run's records (its row was deleted under it): the run fails with
    an EventSinkError instead of going on unrecorded."""
    version = store_version(
        db,
        registry,
        blueprint("vanish", step("a"), step("b", "lab.mutate", depends_on=["a"])),
    )
    gate = lab.gate("a")
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.start(version, started_by="alice")
        assert ticket.handle is not None
        await gate.wait_entered()
        with db.session() as session:
            session.execute(delete(Run).where(Run.id == ticket.run_id))
        gate.open()
        with pytest.raises(EventSinkError, match="could not record run_finished"):
            await result(ticket.handle)
        assert ticket.handle.step_status("a") == StepStatus.FAILED
    assert lab.calls["b"] == 0  # nothing after the refused record ran
    with db.session() as session:
        assert session.get(Run, ticket.run_id) is None
        assert not list(session.scalars(select(StepCall)))


async def test_a_record_the_store_refuses_fails_the_run(db, lab, registry, monkeypatch):
    """A write of the recorder that raises (here: the step's final record) fails the step and
    the run, and the run's row says so."""
    version = store_version(
        db,
        registry,
        blueprint("refuse", step("a", "lab.mutate"), step("b", depends_on=["a"])),
    )
    async with DurableRunner(db, registry) as runner:
        real = runner.recorder.record_values
        refused: list[str] = []

        def refuse(record: Any, output: Any, **kwargs: Any) -> dict[str, Any]:
            if record.step_id == "a" and record.attempt == 1:  # the call's own final record
                refused.append(record.step_id)
                raise RuntimeError("disk full")
            return real(record, output, **kwargs)

        monkeypatch.setattr(runner.recorder, "record_values", refuse)
        ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "failed"
    assert refused  # (the writer tries a refused write once more on its own)
    assert lab.calls == {"a": 1}
    run = run_row(db, ticket.run_id)
    assert run.status == "failed" and run.failed_step == "a"
    assert run.error is not None and "disk full" in run.error
    (b,) = rows_of(step_rows(db, ticket.run_id), "b")
    assert (b.status, b.final) == ("cancelled", True)  # never called


async def test_a_step_row_never_stays_running_in_a_finished_run(db, lab, registry, monkeypatch):
    """After a refused final record the run ends; the call's row must not be left ``running``
    (recovery would never look at it again, and the trace would claim the call never ended)."""
    version = store_version(db, registry, blueprint("refuse-row", step("a", "lab.mutate")))
    async with DurableRunner(db, registry) as runner:
        real = runner.recorder.record_values
        refused: list[str] = []

        def refuse(record: Any, output: Any, **kwargs: Any) -> dict[str, Any]:
            if record.step_id == "a" and record.attempt == 1:  # the call's own final record
                refused.append(record.step_id)
                raise RuntimeError("disk full")
            return real(record, output, **kwargs)

        monkeypatch.setattr(runner.recorder, "record_values", refuse)
        ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "failed"
    assert [
        (r.attempt, r.status) for r in step_rows(db, ticket.run_id) if r.status == "running"
    ] == []


async def test_an_output_with_nan_is_stored_on_every_backend(db, lab, registry):
    """``float('nan')`` is a normal tool output (statistics of nothing); JSON columns on
    PostgreSQL (jsonb) refuse NaN, so it must be made storable rather than fail the run."""
    version = store_version(
        db,
        registry,
        blueprint(
            "nan",
            step("stats", "lab.stats"),
            outputs={"mean": "{{ steps.stats.output.mean }}"},
        ),
    )
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "succeeded"
    (row,) = step_rows(db, ticket.run_id)
    assert row.status == "succeeded"
    assert row.output == {"name": "stats", "mean": "NaN", "n": 0}
    assert run_row(db, ticket.run_id).outputs == {"mean": "NaN"}


async def test_nul_characters_in_errors_and_issues_are_stored_on_every_backend(db, lab, registry):
    """A tool's error message or issue may hold a NUL character (a process's raw stderr, say);
    PostgreSQL's text columns refuse NUL, so it must be made storable rather than fail the run
    (and lose the step's record)."""
    version = store_version(
        db,
        registry,
        blueprint(
            "nul",
            step("odd", "lab.binary"),
            step("broken", "lab.binary", params={"fail": True}, on_error="continue"),
        ),
    )
    async with DurableRunner(db, registry) as runner:
        ticket = await runner.run(version, started_by="alice")
    assert ticket.status == "succeeded", run_row(db, ticket.run_id).error
    rows = step_rows(db, ticket.run_id)
    (odd,) = rows_of(rows, "odd")
    assert odd.status == "succeeded" and odd.issues and odd.issues[0].startswith("odd bytes: ")
    (broken,) = rows_of(rows, "broken")
    assert broken.status == "failed"
    assert broken.error_message is not None and broken.error_message.startswith("stderr: ")
