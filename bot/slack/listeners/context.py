"""What every listener shares: the services, Slack calls that never raise, permissions and
retry de-duplication."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.approvers import ApproverDirectory
from bot.slack.call_errors import SLACK_CALL_ERRORS, slack_error
from bot.slack.cards.messages import notice
from bot.slack.services import Services
from knowledge.history import audit
from knowledge.history.deliveries import claim_delivery

log = logging.getLogger(__name__)

#: What a card is: ``{"text": fallback, "blocks": [...]}``.
Card = dict[str, Any]


@dataclass
class ListenerContext:
    """The services, the approver directory and helpers for Slack calls."""

    services: Services
    approvers: ApproverDirectory

    # ------------------------------------------------------------------ permissions

    def channel_allowed(self, channel: str | None) -> bool:
        """Whether Kaizen acts in ``channel`` (``KAIZEN_SLACK_ALLOWED_CHANNELS``)."""
        allowed = self.services.settings.slack_allowed_channels
        return not allowed or (channel is not None and channel in allowed)

    async def is_approver(self, client: AsyncWebClient, user: str) -> bool:
        """Whether ``user`` is among ``KAIZEN_SLACK_APPROVERS`` (users or user groups); with
        none configured, everyone is."""
        configured = self.services.settings.slack_approvers
        return not configured or await self.approvers.may_approve(client, user, configured)

    async def deny(
        self, client: AsyncWebClient, channel: str, user: str, action: str, why: str
    ) -> None:
        """Tell ``user`` (only them) why not, and keep an audit record."""
        await self.services.in_session(
            audit,
            actor=user,
            action="slack.denied",
            subject_type="slack",
            subject_id=channel or "-",
            detail={"action": action, "why": why},
        )
        await self.ephemeral(client, channel, user, f":no_entry: {why}")

    async def refuse_channel(
        self, client: AsyncWebClient, channel: str, user: str, action: str
    ) -> bool:
        """Deny ``action`` when Kaizen is not enabled in ``channel``; True when denied."""
        if self.channel_allowed(channel):
            return False
        await self.deny(client, channel, user, action, "Kaizen is not enabled in this channel.")
        return True

    async def first_delivery(self, key: str | None, kind: str) -> bool:
        """False when ``key`` (an event id, a trigger id) was seen before: Slack re-sent it,
        and it must not act twice. A request without a key always acts."""
        if not key:
            return True
        first = await self.services.in_session(claim_delivery, key, kind)
        if not first:
            log.info("ignoring a repeated %s delivery %s", kind, key)
        return first

    # ------------------------------------------------------------------ Slack calls

    async def post(
        self, client: AsyncWebClient, channel: str, card: Card, *, thread_ts: str | None = None
    ) -> str | None:
        """Post ``card``; its ts, or ``None`` when Slack refused (logged)."""
        try:
            response = await client.chat_postMessage(
                channel=channel, text=card["text"], blocks=card.get("blocks"), thread_ts=thread_ts
            )
        except SLACK_CALL_ERRORS as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, slack_error(exc))
            return None
        return str(response["ts"])

    async def update(self, client: AsyncWebClient, channel: str, ts: str, card: Card) -> None:
        """Replace the message ``ts`` with ``card`` (failures logged)."""
        try:
            await client.chat_update(
                channel=channel, ts=ts, text=card["text"], blocks=card.get("blocks")
            )
        except SLACK_CALL_ERRORS as exc:
            log.warning("chat.update of %s failed: %s", ts, slack_error(exc))

    async def ephemeral(
        self, client: AsyncWebClient, channel: str, user: str, text: str | Card
    ) -> None:
        """A message only ``user`` sees (mrkdwn text or a card)."""
        card = text if isinstance(text, dict) else notice(text)
        try:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=card["text"], blocks=card.get("blocks")
            )
        except SLACK_CALL_ERRORS as exc:
            log.warning("chat.postEphemeral failed: %s", slack_error(exc))

    async def open_view(self, client: AsyncWebClient, trigger_id: str, view: Card) -> bool:
        """Open a modal; False when Slack refused (an expired trigger, logged)."""
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SLACK_CALL_ERRORS as exc:
            log.warning("views.open failed: %s", slack_error(exc))
            return False
        return True

    async def react(self, client: AsyncWebClient, channel: str, ts: str, name: str) -> None:
        """Add reaction ``name`` to a message, to show it was seen (failures logged)."""
        try:
            await client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SLACK_CALL_ERRORS as exc:
            if slack_error(exc) != "already_reacted":
                log.warning("reactions.add failed: %s", slack_error(exc))


def clicked(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(user, channel, message ts, button value) of a button click."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
    return body["user"]["id"], channel, ts, str(body["actions"][0].get("value", ""))
