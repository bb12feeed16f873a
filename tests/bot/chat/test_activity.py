"""When the console considers the app quiet: listener tasks done, no run working, no Web API
call just now — and a run waiting for an approval does not hold the prompt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.chat.activity import Activity
from bot.chat.workspace import LocalWorkspace
from engine.approvals import ApprovalRequest


class FakeRuns:
    def __init__(self) -> None:
        self.active: list[str] = []
        self.approvals: list[ApprovalRequest] = []

    def active_runs(self) -> list[str]:
        return list(self.active)

    def pending_approvals(self) -> list[ApprovalRequest]:
        return list(self.approvals)


def approval(run_id: str) -> ApprovalRequest:
    return ApprovalRequest(
        run_id=run_id,
        step_id="deploy",
        tool="shell.run",
        approvers=[],
        message="ok?",
        requested_at=datetime.now(UTC),
    )


@pytest.fixture
def workspace() -> LocalWorkspace:
    workspace = LocalWorkspace()
    workspace.last_call -= 10  # no call for a while
    return workspace


@pytest.fixture
async def activity(workspace: LocalWorkspace):
    activity = Activity(workspace, FakeRuns(), settle_s=0.05, human_settle_s=0.2)
    activity.install()
    yield activity
    activity.uninstall()


async def test_only_tasks_a_dispatch_creates_itself_are_captured(activity) -> None:
    release = asyncio.Event()
    outside = asyncio.create_task(release.wait())
    with activity.capture():
        listener = asyncio.ensure_future(release.wait())  # as Bolt starts a listener
    assert activity.listeners == [listener]
    assert not activity.quiet()
    release.set()
    await asyncio.gather(listener, outside)
    assert activity.listeners == []
    assert activity.quiet()


async def test_grandchild_tasks_are_not_captured(activity) -> None:
    started: list[asyncio.Task[None]] = []
    forever = asyncio.Event()

    async def listener() -> None:
        started.append(asyncio.create_task(forever.wait()))  # e.g. a lease-renewal loop

    with activity.capture():
        task = asyncio.ensure_future(listener())
    await task
    assert activity.listeners == []
    assert activity.quiet()
    started[0].cancel()


async def test_a_recent_web_api_call_is_not_quiet_yet(activity, workspace) -> None:
    workspace.call("auth.test", {})
    assert not activity.quiet()
    assert await activity.until_quiet(patience_s=5)
    assert activity.since_last_call() >= 0.05


async def test_a_working_run_is_not_quiet(activity) -> None:
    activity.runs.active = ["r1"]
    assert not activity.quiet()
    assert await activity.until_quiet(patience_s=0.1) is False
    activity.runs.active = []
    assert activity.quiet()


async def test_a_run_waiting_for_approval_lets_the_prompt_back(activity, workspace) -> None:
    release = asyncio.Event()
    with activity.capture():
        listener = asyncio.ensure_future(release.wait())  # awaits the run's result
    activity.runs.active = ["r1"]
    activity.runs.approvals = [approval("r1")]
    workspace.call("chat.update", {})  # the card shows "awaiting approval"
    assert not activity.quiet()  # not for human_settle_s yet
    ticks: list[None] = []
    assert await activity.until_quiet(tick=lambda: ticks.append(None), patience_s=5)
    assert ticks
    assert activity.since_last_call() >= 0.2
    assert not listener.done()
    release.set()
    await listener


async def test_uninstall_restores_the_task_factory() -> None:
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    activity = Activity(LocalWorkspace())
    activity.install()
    assert loop.get_task_factory() is not before
    activity.uninstall()
    assert loop.get_task_factory() is before
