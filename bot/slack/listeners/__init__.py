"""The Slack app's listeners, one module per kind of interaction: what people type
(:mod:`.requests`), plan cards (:mod:`.plans`), runs (:mod:`.runs`), approval gates
(:mod:`.approvals`), feedback (:mod:`.feedback`), proposals (:mod:`.proposals`) and the App
Home (:mod:`.home`). :class:`Listeners` builds them all around one :class:`ListenerContext`."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.approvers import ApproverDirectory
from bot.slack.listeners.approvals import ApprovalListeners
from bot.slack.listeners.context import ListenerContext
from bot.slack.listeners.feedback import FeedbackListeners
from bot.slack.listeners.home import HomeListener
from bot.slack.listeners.plans import PlanListeners
from bot.slack.listeners.proposals import ProposalListeners
from bot.slack.listeners.requests import RequestListeners
from bot.slack.listeners.runs import RunLauncher
from bot.slack.services import Services


class Listeners:
    """Every listener of the app, sharing one context."""

    def __init__(
        self, services: Services, client: AsyncWebClient, approvers: ApproverDirectory
    ) -> None:
        self.ctx = ListenerContext(services=services, approvers=approvers)
        self.runs = RunLauncher(self.ctx)
        self.plans = PlanListeners(self.ctx, self.runs)
        self.requests = RequestListeners(self.ctx, self.plans, self.runs)
        self.approvals = ApprovalListeners(self.ctx, client)
        self.feedback = FeedbackListeners(self.ctx)
        self.proposals = ProposalListeners(self.ctx)
        self.home = HomeListener(self.ctx)
        services.live.on_approval = self.approvals.on_requested


__all__ = ["ListenerContext", "Listeners"]
