"""Human approval gates: a step waits here until someone allowed to decide does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from engine.errors import ApprovalError

#: ``(user, approver_entry) -> bool``: whether ``user`` counts as ``approver_entry`` (a user id
#: or a group name). The default is equality; the Slack side resolves user groups.
ApproverCheck = Callable[[str, str], bool]


def same_user(user: str, approver: str) -> bool:
    return user == approver


class ApprovalRequest(BaseModel):
    """What an approver is asked."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    step_id: str
    tool: str
    approvers: list[str]
    message: str
    requested_at: datetime
    timeout_s: float | None = None


class ApprovalDecision(BaseModel):
    """What an approver answered."""

    model_config = ConfigDict(frozen=True)

    approved: bool
    by: str
    comment: str | None = None
    decided_at: datetime


class PendingApproval:
    """One open request and the future its step is waiting on."""

    def __init__(self, request: ApprovalRequest) -> None:
        self.request = request
        self.future: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()


class ApprovalBook:
    """Open approval requests of one run. Decisions are single-use and permission-checked."""

    def __init__(self, check: ApproverCheck = same_user) -> None:
        self._check = check
        self._pending: dict[str, PendingApproval] = {}
        self._decided: dict[str, ApprovalDecision] = {}
        self._withdrawn: dict[str, str] = {}

    def open(self, request: ApprovalRequest) -> PendingApproval:
        pending = PendingApproval(request)
        self._pending[request.step_id] = pending
        return pending

    def close(self, step_id: str) -> None:
        self._pending.pop(step_id, None)

    def pending(self) -> list[ApprovalRequest]:
        return [p.request for p in self._pending.values()]

    def may_decide(self, request: ApprovalRequest, user: str) -> bool:
        return not request.approvers or any(self._check(user, a) for a in request.approvers)

    def expire(self, step_id: str, timeout: ApprovalDecision) -> ApprovalDecision:
        """Settle a request whose time ran out: the decision already made, if one was, else
        ``timeout`` (recorded, so later clicks are told it was denied by timeout)."""
        if step_id in self._decided:
            return self._decided[step_id]
        self._decided[step_id] = timeout
        self.close(step_id)
        return timeout

    def withdraw(self, step_id: str, reason: str) -> None:
        """The request no longer needs an answer (the run stopped); later answers are told so."""
        if step_id not in self._decided:
            self._withdrawn[step_id] = reason
        self.close(step_id)

    def withdraw_all(self, reason: str) -> None:
        """Withdraw every open request (the run is stopping)."""
        for step_id in list(self._pending):
            self.withdraw(step_id, reason)

    def decide(self, step_id: str, decision: ApprovalDecision) -> ApprovalDecision:
        """Settle the request of ``step_id``; raises :class:`ApprovalError` if it cannot be."""
        if step_id in self._withdrawn:
            raise ApprovalError(
                f"step '{step_id}' no longer needs a decision: {self._withdrawn[step_id]}"
            )
        if step_id in self._decided:
            earlier = self._decided[step_id]
            verb = "approved" if earlier.approved else "denied"
            raise ApprovalError(f"step '{step_id}' was already {verb} by {earlier.by}")
        pending = self._pending.get(step_id)
        if pending is None:
            raise ApprovalError(f"step '{step_id}' is not waiting for an approval")
        if not self.may_decide(pending.request, decision.by):
            allowed = ", ".join(pending.request.approvers)
            raise ApprovalError(
                f"{decision.by} may not decide on step '{step_id}' (approvers: {allowed})"
            )
        self._decided[step_id] = decision
        self.close(step_id)
        if not pending.future.done():
            pending.future.set_result(decision)
        return decision
