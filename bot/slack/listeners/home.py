"""The App Home tab: published for whoever opens it, from the store as it is then."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.call_errors import SLACK_CALL_ERRORS, slack_error
from bot.slack.cards.home import home_view
from bot.slack.listeners.context import ListenerContext
from bot.slack.listeners.summaries import home_data

log = logging.getLogger(__name__)


class HomeListener:
    """``app_home_opened`` → ``views.publish``."""

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx

    async def on_home_opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        user = event.get("user")
        if event.get("tab", "home") != "home" or not user:
            return
        workflows, runs, proposals, budget = await self.ctx.services.in_session(home_data)
        view = home_view(workflows, runs, proposals, budget)
        try:
            await client.views_publish(user_id=user, view=view)
        except SLACK_CALL_ERRORS as exc:
            log.warning("views.publish for %s failed: %s", user, slack_error(exc))
