"""Approval gates: the run pauses until someone allowed to decide does."""

from __future__ import annotations

import asyncio

import pytest

from engine.approvals import ApprovalRequest
from engine.errors import ApprovalError
from engine.events import ApprovalDecided, ApprovalRequested
from engine.executor import Executor
from engine.records import RunStatus, StepStatus
from tests.engine.conftest import bp, work


def gated(step_id: str, approvers=("U_LEAD",), **extra):
    return work(
        step_id,
        approval={
            "approvers": list(approvers),
            "message": "Deploy {{ inputs.service }} to prod?",
            **extra.pop("approval", {}),
        },
        **extra,
    )


BLUEPRINT = {
    "inputs": {"service": {"type": "string", "default": "api"}},
    "steps": [
        work("build"),
        gated("deploy", depends_on=["build"]),
        work("announce", depends_on=["deploy"]),
    ],
}


async def wait_for_request(executor: Executor) -> None:
    for _ in range(200):
        if executor.pending_approvals():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no approval was requested")


async def test_run_pauses_until_approved(executor, journal, sink):
    handle = executor.start(bp(BLUEPRINT))
    await wait_for_request(executor)
    (request,) = executor.pending_approvals()
    assert request.step_id == "deploy"
    assert request.message == "Deploy api to prod?"
    assert request.approvers == ["U_LEAD"]
    assert handle.step_status("deploy") == StepStatus.WAITING_APPROVAL
    assert journal.started("deploy") == []  # nothing runs before the decision
    decision = executor.decide(
        handle.run_id, "deploy", approved=True, by="U_LEAD", comment="ship it"
    )
    assert decision.approved
    run = await handle.result()
    assert run.status == RunStatus.SUCCEEDED
    assert journal.order() == ["build", "deploy", "announce"]
    assert isinstance(sink.of_type(ApprovalRequested)[0], ApprovalRequested)
    decided = sink.of_type(ApprovalDecided)[0]
    assert (decided.decision.by, decided.decision.comment) == ("U_LEAD", "ship it")


async def test_denial_fails_the_step_and_the_run(executor, journal):
    handle = executor.start(bp(BLUEPRINT))
    await wait_for_request(executor)
    handle.deny("deploy", by="U_LEAD", comment="not on a Friday")
    run = await handle.result()
    assert run.status == RunStatus.FAILED
    assert run.error == "step 'deploy' failed: denied by U_LEAD: not on a Friday"
    record = run.records_for("deploy")[0]
    assert (record.attempt, record.error_category) == (0, "denied")
    assert journal.started("deploy") == [] and journal.started("announce") == []


async def test_denial_with_on_error_continue_lets_the_run_go_on(executor, journal):
    blueprint = bp(
        {
            "inputs": {"service": {"type": "string", "default": "api"}},
            "steps": [
                gated("optional", on_error="continue"),
                work("after", depends_on=["optional"]),
            ],
        }
    )
    handle = executor.start(blueprint)
    await wait_for_request(executor)
    handle.deny("optional", by="U_LEAD")
    run = await handle.result()
    assert run.status == RunStatus.SUCCEEDED
    assert run.step_status["optional"] == StepStatus.FAILED
    assert run.step_status["after"] == StepStatus.SUCCEEDED


async def test_only_listed_approvers_may_decide_and_decisions_are_single_use(executor):
    handle = executor.start(bp(BLUEPRINT))
    await wait_for_request(executor)
    with pytest.raises(ApprovalError, match="U_INTERN may not decide on step 'deploy'"):
        handle.approve("deploy", by="U_INTERN")
    assert executor.pending_approvals(), "a refused decision leaves the request open"
    handle.approve("deploy", by="U_LEAD")
    with pytest.raises(ApprovalError, match="already approved by U_LEAD"):
        handle.deny("deploy", by="U_LEAD")
    with pytest.raises(ApprovalError, match="'build' is not waiting"):
        handle.approve("build", by="U_LEAD")
    run = await handle.result()
    assert run.status == RunStatus.SUCCEEDED
    with pytest.raises(ApprovalError, match="is not active"):
        executor.decide(run.run_id, "deploy", approved=True, by="U_LEAD")


async def test_group_membership_through_an_approver_check(registry):
    groups = {"S_ONCALL": {"U1", "U2"}}
    executor = Executor(
        registry,
        approver_check=lambda user, approver: user == approver or user in groups.get(approver, ()),
    )
    handle = executor.start(bp({**BLUEPRINT, "steps": [gated("deploy", approvers=["S_ONCALL"])]}))
    await wait_for_request(executor)
    with pytest.raises(ApprovalError):
        handle.approve("deploy", by="U3")
    handle.approve("deploy", by="U2")
    assert (await handle.result()).status == RunStatus.SUCCEEDED
    executor.close()


async def test_empty_approver_list_lets_anyone_decide(executor):
    handle = executor.start(bp({**BLUEPRINT, "steps": [gated("deploy", approvers=())]}))
    await wait_for_request(executor)
    handle.approve("deploy", by="anyone")
    assert (await handle.result()).status == RunStatus.SUCCEEDED


async def test_approval_times_out_as_a_denial(executor):
    blueprint = bp({**BLUEPRINT, "steps": [gated("deploy", approval={"timeout_s": 0.05})]})
    run = await asyncio.wait_for(executor.run(blueprint), timeout=2)
    assert run.status == RunStatus.FAILED
    assert "denied by timeout: nobody decided within 0.05s" in run.error
    assert executor.pending_approvals() == []


async def test_cancelling_a_waiting_run_closes_its_request(executor):
    handle = executor.start(bp(BLUEPRINT))
    await wait_for_request(executor)
    handle.cancel("changed my mind")
    run = await handle.result()
    assert run.status == RunStatus.CANCELLED
    assert run.step_status["deploy"] == StepStatus.CANCELLED
    assert executor.pending_approvals() == []
    assert [r.status for r in run.records_for("deploy")] == [StepStatus.CANCELLED]


async def test_default_message_shows_the_rendered_params(executor):
    blueprint = bp(
        {"steps": [work("deploy", params={"value": "v2"}, approval={"approvers": ["U"]})]}
    )
    handle = executor.start(blueprint)
    await wait_for_request(executor)
    (request,) = executor.pending_approvals()
    assert request.message.startswith("Run step 'deploy' (test.work) with {")
    assert "'deploy' (test.work)" in request.message and '"value": "v2"' in request.message
    handle.approve("deploy", by="U")
    await handle.result()


async def test_a_late_decision_after_the_timeout_is_refused_with_the_reason(executor):
    blueprint = bp({**BLUEPRINT, "steps": [gated("deploy", approval={"timeout_s": 0.05})]})
    handle = executor.start(blueprint)
    await wait_for_request(executor)
    run_id = handle.run_id
    await asyncio.sleep(0.1)
    with pytest.raises(ApprovalError, match="already denied by timeout"):
        handle.approve("deploy", by="U_LEAD")
    run = await handle.result()
    assert run.status == RunStatus.FAILED
    assert run.run_id == run_id


def test_a_decision_in_the_same_turn_as_the_timeout_wins():
    from datetime import UTC, datetime

    from engine.approvals import ApprovalBook, ApprovalDecision

    async def scenario():
        book = ApprovalBook()
        now = datetime.now(UTC)
        request = ApprovalRequest(
            run_id="r", step_id="s", tool="t", approvers=[], message="m", requested_at=now
        )
        book.open(request)
        approved = book.decide("s", ApprovalDecision(approved=True, by="U1", decided_at=now))
        timeout = ApprovalDecision(approved=False, by="timeout", decided_at=now)
        assert book.expire("s", timeout) is approved

    asyncio.run(scenario())
