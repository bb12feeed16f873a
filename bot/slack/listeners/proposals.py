"""Proposals in Slack: the optimizer's proposed changes as cards with Approve / Reject (a
modal asks why). Only approvers decide; a proposal is decided once — later clicks are told
who decided, and the card shows it."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from bot.slack.cards import actions
from bot.slack.cards.plan_card import reject_modal
from bot.slack.cards.proposal_card import decision_note, proposal_card
from bot.slack.listeners.context import Card, ListenerContext, clicked
from engine.tools.registry import ToolRegistry
from knowledge.history.blueprints import apply_patch, unified_diff
from knowledge.history.errors import ConflictError, HistoryError
from knowledge.history.proposals import advance_proposal, get_proposal
from knowledge.history.views import ProposalInfo
from knowledge.history.workflows import get_version
from knowledge.store.models import ProposalState

log = logging.getLogger(__name__)


def proposal_diff(session: Session, proposal: ProposalInfo) -> str:
    """The readable diff of the proposal: its base version's blueprint against the patched
    one (or why it cannot be shown)."""
    base = get_version(session, proposal.workflow, proposal.base_version).blueprint_json
    try:
        patched = apply_patch(base, proposal.patch)
    except HistoryError as exc:
        return f"(the patch does not apply to v{proposal.base_version}: {exc})"
    return unified_diff(base, patched, f"v{proposal.base_version}", "proposed")


def proposal_message(session: Session, proposal_id: int) -> Card:
    """The proposal's card as it stands now."""
    proposal = get_proposal(session, proposal_id)
    return proposal_card(proposal, proposal_diff(session, proposal))


def approve_proposal(
    session: Session, proposal_id: int, *, by: str, registry: ToolRegistry
) -> ProposalInfo:
    """Approve the proposal and put its version into production, in one transaction."""
    advance_proposal(session, proposal_id, ProposalState.APPROVED, by=by)
    return advance_proposal(
        session, proposal_id, ProposalState.PRODUCTION, by=by, registry=registry
    )


class ProposalListeners:
    """Posting proposal cards; Approve, Reject and the reject reason modal."""

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx

    async def post_proposal(
        self, client: AsyncWebClient, proposal_id: int, channel: str
    ) -> str | None:
        """Post the card of ``proposal_id`` to ``channel``; its ts."""
        card = await self.ctx.services.in_session(proposal_message, proposal_id)
        return await self.ctx.post(client, channel, card)

    async def on_approve(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, ts, value = clicked(body)
        proposal_id = await self._allowed(client, channel, user, value, "approve")
        if proposal_id is None:
            return
        ctx = self.ctx
        try:
            await ctx.services.in_session(
                approve_proposal, proposal_id, by=user, registry=ctx.services.catalog.registry
            )
        except HistoryError as exc:
            await self._refused(client, channel, user, proposal_id, exc)
        await self._refresh(client, channel, ts, proposal_id)

    async def on_reject(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, ts, value = clicked(body)
        proposal_id = await self._allowed(client, channel, user, value, "reject")
        if proposal_id is None:
            return
        proposal = await self.ctx.services.in_session(get_proposal, proposal_id)
        if proposal.state is not ProposalState.CANDIDATE:
            await self._refused(client, channel, user, proposal_id, None)
            await self._refresh(client, channel, ts, proposal_id)
            return
        modal = reject_modal(proposal_id, channel=channel, message_ts=ts)
        await self.ctx.open_view(client, body["trigger_id"], modal)

    async def on_reject_submitted(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = body["user"]["id"]
        ctx = self.ctx
        try:
            proposal_id, channel, ts = actions.parse_reject_metadata(
                view.get("private_metadata", "")
            )
            reason = view["state"]["values"][actions.REASON_BLOCK][actions.REASON_INPUT]["value"]
        except (KeyError, ValueError, TypeError):
            await ack(response_action="errors", errors={actions.REASON_BLOCK: "Malformed form."})
            return
        if not (reason or "").strip():
            await ack(response_action="errors", errors={actions.REASON_BLOCK: "Say why, please."})
            return
        if not await ctx.is_approver(client, user):
            await ack(
                response_action="errors",
                errors={actions.REASON_BLOCK: "Only an approver may reject proposals."},
            )
            await ctx.deny(
                client, channel or "-", user, "proposal.reject", "You are not an approver."
            )
            return
        try:
            await ctx.services.in_session(
                advance_proposal,
                proposal_id,
                ProposalState.REJECTED,
                by=user,
                comment=reason.strip(),
            )
        except HistoryError as exc:
            await ack(response_action="errors", errors={actions.REASON_BLOCK: str(exc)[:2000]})
            return
        await ack()
        if channel and ts:
            await self._refresh(client, channel, ts, proposal_id)

    async def _allowed(
        self, client: AsyncWebClient, channel: str, user: str, value: str, verb: str
    ) -> int | None:
        """The proposal id of a click by an approver in an allowed channel (else ``None``,
        the user told why and the refusal audited)."""
        ctx = self.ctx
        if await ctx.refuse_channel(client, channel, user, f"proposal.{verb}"):
            return None
        try:
            proposal_id = actions.parse_id_value(value)
        except ValueError:
            await ctx.ephemeral(client, channel, user, "This proposal card is malformed.")
            return None
        if not await ctx.is_approver(client, user):
            await ctx.deny(
                client,
                channel,
                user,
                f"proposal.{verb}",
                f"Only an approver may {verb} proposal #{proposal_id}.",
            )
            return None
        return proposal_id

    async def _refused(
        self,
        client: AsyncWebClient,
        channel: str,
        user: str,
        proposal_id: int,
        error: HistoryError | None,
    ) -> None:
        """Tell ``user`` why their click changed nothing (already decided, or it failed)."""
        proposal = await self.ctx.services.in_session(get_proposal, proposal_id)
        note = decision_note(proposal)
        if note and (error is None or isinstance(error, ConflictError)):
            text = f"Nothing changed: proposal #{proposal_id} was already decided — {note}"
        else:
            text = f":warning: Proposal #{proposal_id} could not be approved: {error}"
        await self.ctx.ephemeral(client, channel, user, text)

    async def _refresh(
        self, client: AsyncWebClient, channel: str, ts: str, proposal_id: int
    ) -> None:
        card = await self.ctx.services.in_session(proposal_message, proposal_id)
        await self.ctx.update(client, channel, ts, card)
