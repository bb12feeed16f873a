"""Approval gates in Slack: a step waiting for approval posts an Approve/Deny card in its
run's thread, naming its approvers; a click from an approver decides it (once — the engine
refuses a second decision), anyone else is told no and audited."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards import actions
from bot.slack.cards.run_card import approval_card, decided_approval_card
from bot.slack.listeners.context import ListenerContext, clicked
from engine.approvals import ApprovalRequest
from engine.errors import ApprovalError
from engine.events import ApprovalRequested

log = logging.getLogger(__name__)


class ApprovalListeners:
    """Posts approval cards and takes their decisions."""

    def __init__(self, ctx: ListenerContext, client: AsyncWebClient) -> None:
        self.ctx = ctx
        self.client = client

    async def on_requested(self, channel: str, thread_ts: str, event: ApprovalRequested) -> None:
        """A step waits for approval: post its card in the run card's thread."""
        request = event.request
        card = approval_card(
            request.run_id, request.step_id, request.tool, request.message, request.approvers
        )
        await self.ctx.post(self.client, channel, card, thread_ts=thread_ts)

    async def on_approve(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await self._decide(body, client, approved=True)

    async def on_deny(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await self._decide(body, client, approved=False)

    async def _decide(
        self, body: dict[str, Any], client: AsyncWebClient, *, approved: bool
    ) -> None:
        user, channel, ts, value = clicked(body)
        ctx = self.ctx
        verb = "approve" if approved else "deny"
        if await ctx.refuse_channel(client, channel, user, f"approval.{verb}"):
            return
        try:
            run_id, step_id = actions.parse_approval_value(value)
        except ValueError:
            await ctx.ephemeral(client, channel, user, "This approval card is malformed.")
            return
        request = self._pending(run_id, step_id)
        if request is None:
            await ctx.ephemeral(
                client,
                channel,
                user,
                f"Step `{step_id}` is no longer waiting for a decision "
                "(already decided, timed out, or the run ended).",
            )
            return
        if request.approvers and not await ctx.approvers.may_approve(
            client, user, request.approvers
        ):
            await ctx.deny(
                client,
                channel,
                user,
                f"approval.{verb}",
                f"You are not an approver of step `{step_id}`.",
            )
            return
        executor = ctx.services.runner.executor
        try:
            decision = executor.decide(run_id, step_id, approved=approved, by=user)
        except ApprovalError as exc:  # a second click: the first decision stands
            await ctx.ephemeral(client, channel, user, f"Nothing changed: {exc}.")
            return
        card = decided_approval_card(
            run_id,
            step_id,
            request.tool,
            request.message,
            approved=decision.approved,
            by=decision.by,
            at=decision.decided_at,
        )
        await ctx.update(client, channel, ts, card)

    def _pending(self, run_id: str, step_id: str) -> ApprovalRequest | None:
        """The open request of ``step_id`` in ``run_id`` (running in this process)."""
        for request in self.ctx.services.runner.executor.pending_approvals():
            if request.run_id == run_id and request.step_id == step_id:
                return request
        return None
