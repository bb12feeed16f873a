"""The Bolt app: Slack's requests routed to :class:`~bot.slack.handlers.SlackHandlers`.

The same app serves HTTP (request signatures verified by Bolt) and Socket Mode, and the local
console drives it in-process.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards import actions
from bot.slack.handlers import SlackHandlers

log = logging.getLogger(__name__)


def build_app(
    handlers: SlackHandlers,
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    verify_requests: bool = True,
) -> AsyncApp:
    """An AsyncApp whose listeners are ``handlers``' methods. ``client`` carries the bot token
    and the Web API base URL; ``verify_requests=False`` only for in-process use (the console,
    Socket Mode), where no signed HTTP request arrives."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=verify_requests,
        process_before_response=False,
        logger=log,
    )
    app.command("/kaizen")(handlers.on_kaizen_command)
    app.action(actions.PLAN_RUN)(handlers.on_plan_run)
    app.action(actions.PLAN_SAVE)(handlers.on_plan_save)
    app.action(actions.PLAN_CANCEL)(handlers.on_plan_cancel)
    return app
