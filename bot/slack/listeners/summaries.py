"""What the workflows list and App Home show, read from the store in one session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.slack.cards.limits import fmt_cost
from knowledge.history import query_runs
from knowledge.history.proposals import list_proposals
from knowledge.history.usage import get_budget, usage_for
from knowledge.history.views import ProposalInfo, RunInfo
from knowledge.history.workflows import list_workflows
from knowledge.store.models import ProposalState

#: Runs of each workflow its success rate is computed over.
RATE_WINDOW = 100
#: Runs the App Home lists.
RECENT_RUNS = 15


def workflow_rows(session: Session) -> list[dict[str, Any]]:
    """Each workflow with its newest version, success rate and last run (of its last 100)."""
    rows = []
    for workflow in list_workflows(session):
        runs = query_runs(session, workflow=workflow.name, limit=RATE_WINDOW)
        ended = [r for r in runs if r.status in ("succeeded", "failed", "cancelled")]
        rows.append(
            {
                "name": workflow.name,
                "latest_version": workflow.latest_version,
                "success_rate": (
                    sum(r.status == "succeeded" for r in ended) / len(ended) if ended else None
                ),
                "last_run_at": max((r.created_at for r in runs), default=None),
                "runs": len(runs),
            }
        )
    return rows


def budget_line(session: Session, *, now: datetime | None = None) -> str:
    """Today's spending across workflows, against the global budget when one is set."""
    day = (now or datetime.now(UTC)).date()
    used = usage_for(session, day=day)
    line = (
        f"Today: {used.runs} runs · {used.tokens_in + used.tokens_out:,} tokens · "
        f"{fmt_cost(used.cost_usd) or '$0'}"
    )
    budget = get_budget(session)
    if budget is not None:
        limits = []
        if budget.daily_usd is not None:
            limits.append(f"{fmt_cost(budget.daily_usd)} a day")
        if budget.daily_tokens is not None:
            limits.append(f"{budget.daily_tokens:,} tokens a day")
        if limits:
            line += " of a budget of " + " and ".join(limits)
    return line


def home_data(
    session: Session,
) -> tuple[list[dict[str, Any]], list[RunInfo], list[ProposalInfo], str]:
    """Workflows, recent runs, proposals to review and the budget line of the App Home."""
    return (
        workflow_rows(session),
        query_runs(session, limit=RECENT_RUNS),
        list_proposals(session, state=ProposalState.CANDIDATE),
        budget_line(session),
    )
