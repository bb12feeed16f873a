"""Feedback for the optimizer: ``/improve <text>`` on the last run in the channel (or a run
named by its id or message link), and reactions on a run card."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from bot.slack.listeners.context import ListenerContext
from knowledge.history.drafts import find_draft_by_message, recent_drafts
from knowledge.history.errors import HistoryError
from knowledge.history.feedback import normalize_reaction, record_feedback
from knowledge.history.views import FeedbackInfo
from knowledge.store.models import FeedbackKind

log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: A message link: https://<team>.slack.com/archives/<channel>/p<ts without the dot>
_LINK = re.compile(r"^<?https://[^/\s]+/archives/([A-Z0-9]+)/p(\d{10})(\d{6})(?:[?#][^\s>]*)?>?$")
#: Drafts of a channel searched for its last run.
LAST_RUN_WINDOW = 200

USAGE = "`/improve [run id or message link] <what should be better>`"


@dataclass(frozen=True)
class ImproveTarget:
    """Which run ``/improve`` is about (a run id, a message, or neither: the channel's last
    run), and the feedback text."""

    run_id: str | None
    channel: str | None
    ts: str | None
    text: str


def parse_improve(text: str) -> ImproveTarget:
    """Split ``/improve``'s text into the run it names (an id or a message link; none means
    the channel's last run) and the feedback. ``ValueError`` when no feedback is left."""
    words = text.strip().split(maxsplit=1)
    run_id = channel = ts = None
    feedback = text.strip()
    if words:
        first, rest = words[0], words[1] if len(words) > 1 else ""
        link = _LINK.match(first)
        if _RUN_ID.match(first):
            run_id, feedback = first, rest
        elif link:
            channel, ts, feedback = link[1], f"{link[2]}.{link[3]}", rest
    feedback = feedback.strip()
    if not feedback:
        raise ValueError(f"say what should be better — usage: {USAGE}")
    return ImproveTarget(run_id, channel, ts, feedback)


class FeedbackListeners:
    """``/improve`` and reactions on run cards."""

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx

    async def on_improve(self, ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        ctx = self.ctx
        if not await ctx.first_delivery(command.get("trigger_id"), "command"):
            return
        user, channel = command["user_id"], command["channel_id"]
        if await ctx.refuse_channel(client, channel, user, "improve"):
            return
        try:
            target = parse_improve(command.get("text", ""))
            info = await ctx.services.in_session(_record_improve, target, channel, user)
        except (ValueError, HistoryError) as exc:
            await ctx.ephemeral(client, channel, user, f":warning: {exc}")
            return
        where = f"*{info.workflow}* v{info.version}" if info.workflow else "the run"
        await ctx.ephemeral(
            client,
            channel,
            user,
            f":memo: Thanks — noted on {where} (run `{info.run_id}`). "
            "The optimizer takes it into account when it proposes the next version.",
        )

    async def on_reaction(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """A configured reaction on a run card is feedback on that run, by whoever reacted."""
        item = event.get("item") or {}
        user = event.get("user")
        name = normalize_reaction(event.get("reaction", ""))
        configured = self.ctx.services.settings.slack_feedback_reactions
        wanted = {normalize_reaction(r) for r in configured}
        if item.get("type") != "message" or not user or name not in wanted:
            return
        channel, ts = item.get("channel"), item.get("ts")
        if not channel or not ts or not self.ctx.channel_allowed(channel):
            return
        draft = await self.ctx.services.in_session(find_draft_by_message, channel, ts)
        if draft is None or draft.run_id is None:
            return  # not a run card
        if not await self.ctx.first_delivery(body.get("event_id"), "event"):
            return
        await self.ctx.services.in_session(
            record_feedback,
            user=user,
            run_id=draft.run_id,
            kind=FeedbackKind.REACTION,
            reaction=name,
        )


def _record_improve(
    session: Session, target: ImproveTarget, channel: str, user: str
) -> FeedbackInfo:
    run_id = target.run_id or _run_of(session, target, channel)
    return record_feedback(
        session, user=user, run_id=run_id, kind=FeedbackKind.IMPROVE, text=target.text
    )


def _run_of(session: Session, target: ImproveTarget, channel: str) -> str:
    """The run a message link points at, or the channel's last run."""
    if target.channel and target.ts:
        draft = find_draft_by_message(session, target.channel, target.ts)
        if draft is None or draft.run_id is None:
            raise ValueError("that message is not a Kaizen run card")
        return draft.run_id
    for draft in recent_drafts(session, channel=channel, limit=LAST_RUN_WINDOW):
        if draft.run_id is not None:
            return draft.run_id
    raise ValueError(
        "no run in this channel yet to attach that to — run something first, or name a run: "
        + USAGE
    )
