"""What people type: ``/kaizen …``, an @mention, and replies in a plan's or run's thread.

Slash commands are acknowledged before anything else; a command Slack re-sends (same
trigger id) and an event it re-delivers (same event id) are dropped.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards.messages import help_message, history_message, workflows_message
from bot.slack.commands import CommandError, KaizenCommand, parse_command
from bot.slack.listeners.context import ListenerContext
from bot.slack.listeners.plans import PlanListeners
from bot.slack.listeners.runs import RunLauncher
from bot.slack.listeners.summaries import workflow_rows
from knowledge.history.drafts import latest_draft_in_thread
from knowledge.history.errors import HistoryError
from knowledge.history.views import VersionInfo
from knowledge.history.workflows import diff_versions, history, rollback

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
#: Versions ``/kaizen history`` shows (with their diffs).
HISTORY_VERSIONS = 10


class RequestListeners:
    """``/kaizen``, @mentions and thread replies."""

    def __init__(self, ctx: ListenerContext, plans: PlanListeners, runs: RunLauncher) -> None:
        self.ctx = ctx
        self.plans = plans
        self.runs = runs

    async def on_kaizen_command(
        self, ack: Any, command: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        if not await self.ctx.first_delivery(command.get("trigger_id"), "command"):
            return
        user, channel = command["user_id"], command["channel_id"]
        if await self.ctx.refuse_channel(client, channel, user, "command"):
            return
        await self.dispatch(
            command.get("text", ""), client=client, channel=channel, user=user, thread_ts=None
        )

    async def on_app_mention(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """``@kaizen <request or subcommand>``: answered in the mention's thread."""
        if not await self.ctx.first_delivery(body.get("event_id"), "event"):
            return
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        if await self.ctx.refuse_channel(client, channel, user, "mention"):
            return
        text = _MENTION.sub(" ", event.get("text", "")).strip()
        thread_ts = event.get("thread_ts")
        if thread_ts and text and not text.startswith(("help", "run ", "history", "rollback")):
            draft = await self.ctx.services.in_session(latest_draft_in_thread, channel, thread_ts)
            if draft is not None:  # a change asked for in a plan's thread
                await self.plans.replan(
                    draft,
                    text,
                    client=client,
                    channel=channel,
                    user=user,
                    thread_ts=thread_ts,
                    reply_ts=event.get("ts"),
                )
                return
        await self.dispatch(
            text, client=client, channel=channel, user=user, thread_ts=thread_ts or event["ts"]
        )

    async def on_message(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        context: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        """A reply in the thread of a plan or run card re-plans it ("use staging instead").
        Other messages, bots' messages, edits and mentions (see :meth:`on_app_mention`) are
        left alone."""
        thread_ts = event.get("thread_ts")
        user, channel, text = event.get("user"), event.get("channel"), event.get("text") or ""
        if (
            not thread_ts
            or thread_ts == event.get("ts")
            or event.get("subtype")
            or event.get("bot_id")
            or not user
            or not channel
            or not text.strip()
            or _mentions_bot(text, context.get("bot_user_id"))
        ):
            return
        draft = await self.ctx.services.in_session(latest_draft_in_thread, channel, thread_ts)
        if draft is None:
            return
        if not await self.ctx.first_delivery(body.get("event_id"), "event"):
            return
        if await self.ctx.refuse_channel(client, channel, user, "re-plan"):
            return
        await self.plans.replan(
            draft,
            text,
            client=client,
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            reply_ts=event.get("ts"),
        )

    async def dispatch(
        self, text: str, *, client: AsyncWebClient, channel: str, user: str, thread_ts: str | None
    ) -> None:
        """Parse ``text`` (what follows ``/kaizen``) and carry it out."""
        try:
            parsed = parse_command(text)
        except CommandError as exc:
            await self.ctx.ephemeral(client, channel, user, f":warning: {exc}")
            return
        await self.handle(parsed, client=client, channel=channel, user=user, thread_ts=thread_ts)

    async def handle(
        self,
        parsed: KaizenCommand,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
    ) -> None:
        """Carry out a parsed command on behalf of ``user`` in ``channel``."""
        ctx = self.ctx
        if parsed.kind == "help":
            await ctx.ephemeral(client, channel, user, help_message())
        elif parsed.kind == "workflows":
            rows = await ctx.services.in_session(workflow_rows)
            await ctx.post(client, channel, workflows_message(rows), thread_ts=thread_ts)
        elif parsed.kind == "plan":
            await self.plans.plan_request(
                parsed.request, client=client, channel=channel, user=user, thread_ts=thread_ts
            )
        elif parsed.kind == "run":
            ran = await self.runs.run_workflow(
                parsed, client=client, channel=channel, user=user, thread_ts=thread_ts
            )
            if not ran:  # "run backups": no such workflow, so a request to plan
                await self.plans.plan_request(
                    f"run {parsed.workflow}",
                    client=client,
                    channel=channel,
                    user=user,
                    thread_ts=thread_ts,
                )
        elif parsed.kind == "history":
            await self._history(parsed, client=client, channel=channel, user=user, ts=thread_ts)
        elif parsed.kind == "rollback":
            await self._rollback(parsed, client=client, channel=channel, user=user, ts=thread_ts)

    async def _history(
        self, parsed: KaizenCommand, *, client: AsyncWebClient, channel: str, user: str, ts: Any
    ) -> None:
        assert parsed.workflow is not None
        try:
            versions, diffs = await self.ctx.services.in_session(_history_of, parsed.workflow)
        except HistoryError as exc:
            await self.ctx.ephemeral(client, channel, user, f":warning: {exc}")
            return
        card = history_message(parsed.workflow, versions, diffs)
        await self.ctx.post(client, channel, card, thread_ts=ts)

    async def _rollback(
        self, parsed: KaizenCommand, *, client: AsyncWebClient, channel: str, user: str, ts: Any
    ) -> None:
        """Only approvers roll back (with none configured, anyone in an allowed channel)."""
        assert parsed.workflow is not None
        assert parsed.version is not None
        ctx = self.ctx
        if not await ctx.is_approver(client, user):
            await ctx.deny(
                client, channel, user, "rollback", "Only an approver may roll a workflow back."
            )
            return
        try:
            version = await ctx.services.in_session(
                rollback, parsed.workflow, parsed.version, by=user
            )
        except HistoryError as exc:
            await ctx.ephemeral(client, channel, user, f":warning: {exc}")
            return
        text = (
            f":rewind: <@{user}> rolled *{version.workflow}* back to v{parsed.version}: "
            f"v{version.number} is now in production."
        )
        await ctx.post(client, channel, {"text": text, "blocks": None}, thread_ts=ts)


def _history_of(session: Any, workflow: str) -> tuple[list[VersionInfo], dict[int, str]]:
    """The newest versions and each one's diff from its parent."""
    versions = history(session, workflow, limit=HISTORY_VERSIONS)
    diffs: dict[int, str] = {}
    for version in versions:
        if version.parent_number is not None:
            diff = diff_versions(session, workflow, version.parent_number, version.number)
            diffs[version.number] = diff.text
    return versions, diffs


def _mentions_bot(text: str, bot_user_id: str | None) -> bool:
    """Whether the message mentions the bot (then it arrives as an app_mention too, which
    answers it). Without the bot's id, any mention counts."""
    if bot_user_id:
        return f"<@{bot_user_id}" in text
    return _MENTION.search(text) is not None
