"""The Bolt app: Slack's requests routed to :class:`~bot.slack.handlers.SlackHandlers`.

The same app serves HTTP (request signatures verified by Bolt) and Socket Mode, and the local
console drives it in-process.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards import actions
from bot.slack.listeners import Listeners

log = logging.getLogger(__name__)

#: The slash commands the app answers (the app manifest declares each).
COMMANDS = ("/kaizen", "/improve")
#: The Events API events the app listens to (the manifest subscribes to each; ``message``
#: arrives as ``message.channels``/``message.groups`` for thread replies).
EVENTS = ("app_mention", "message", "reaction_added", "app_home_opened")


def build_app(
    listeners: Listeners,
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    verify_requests: bool = True,
) -> AsyncApp:
    """An AsyncApp routing every command, button, modal and event to ``listeners``.
    ``client`` carries the bot token and the Web API base URL; ``verify_requests=False`` only
    for in-process use (the console, Socket Mode), where no signed HTTP request arrives.

    Listeners run after the ack (``process_before_response=False``): Slack hears back at once
    whatever the work behind a request."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=verify_requests,
        process_before_response=False,
        logger=log,
    )
    requests, plans = listeners.requests, listeners.plans
    app.command("/kaizen")(requests.on_kaizen_command)
    app.command("/improve")(listeners.feedback.on_improve)
    app.event("app_mention")(requests.on_app_mention)
    app.event("message")(requests.on_message)
    app.event("reaction_added")(listeners.feedback.on_reaction)
    app.event("app_home_opened")(listeners.home.on_home_opened)
    app.action(actions.PLAN_RUN)(plans.on_run)
    app.action(actions.PLAN_EDIT)(plans.on_edit)
    app.action(actions.PLAN_SAVE)(plans.on_save)
    app.action(actions.PLAN_CANCEL)(plans.on_cancel)
    app.view(actions.EDIT_MODAL)(plans.on_edit_submitted)
    app.action(actions.APPROVAL_APPROVE)(listeners.approvals.on_approve)
    app.action(actions.APPROVAL_DENY)(listeners.approvals.on_deny)
    app.action(actions.PROPOSAL_APPROVE)(listeners.proposals.on_approve)
    app.action(actions.PROPOSAL_REJECT)(listeners.proposals.on_reject)
    app.view(actions.REJECT_MODAL)(listeners.proposals.on_reject_submitted)
    return app
