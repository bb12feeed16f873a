"""Block Kit cards (built with slack_sdk.models.blocks, always within Slack's limits) and their
plain-text rendering for the console."""

from bot.slack.cards.home import home_view
from bot.slack.cards.messages import help_message, history_message, notice, workflows_message
from bot.slack.cards.plan_card import (
    closed_plan_card,
    edit_errors,
    edit_modal,
    preview_card,
    question_card,
    reject_modal,
)
from bot.slack.cards.proposal_card import proposal_card
from bot.slack.cards.run_card import (
    RunProgress,
    StepProgress,
    approval_card,
    decided_approval_card,
    overflow_output,
    run_card,
)
from bot.slack.cards.text import render_text

__all__ = [
    "RunProgress",
    "StepProgress",
    "approval_card",
    "closed_plan_card",
    "decided_approval_card",
    "edit_errors",
    "edit_modal",
    "help_message",
    "history_message",
    "home_view",
    "notice",
    "overflow_output",
    "preview_card",
    "proposal_card",
    "question_card",
    "reject_modal",
    "render_text",
    "run_card",
    "workflows_message",
]
