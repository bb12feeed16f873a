"""Kaizen's App Home tab: workflows, recent runs, proposals awaiting review, today's budget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.models.views import View

from bot.slack.cards.limits import (
    MAX_VIEW_BLOCKS,
    BlockDict,
    context,
    divider,
    escape_clip,
    fit_blocks,
    fmt_cost,
    fmt_duration,
    fmt_percent,
    fmt_time,
    header,
    inline_code,
    line_sections,
    mention,
    one_line,
    plural,
)
from bot.slack.cards.run_card import RUN_ICONS

if TYPE_CHECKING:
    from knowledge.history.views import ProposalInfo, RunInfo

SECTION_BUDGET = 30
"""Blocks each of the three lists may use at most (with headers, ≤ 100 in all)."""
GROUP_CHARS_MAX = 12000
"""Characters of text each list may use at most (the tab stays readable and light)."""
EMPTY_WORKFLOWS = "No workflows yet — try `/kaizen deploy api to staging`"
EMPTY_RUNS = "No runs yet."
EMPTY_PROPOSALS = "No proposals waiting for review."


def workflow_line(workflow: dict[str, Any]) -> str:
    """``*deploy_api* v3 · 92% success · 14 runs · last run …`` from a workflow summary dict
    (keys: name, latest_version, success_rate, last_run_at, runs; missing ones are skipped)."""
    name = escape_clip(one_line(str(workflow.get("name", "?"))), 120)
    parts = [f"*{name}*"]
    version = workflow.get("latest_version")
    if version is not None:
        parts[0] += f" v{version}"
    rate = workflow.get("success_rate")
    if isinstance(rate, int | float):
        parts.append(f"{fmt_percent(float(rate))} success")
    runs = workflow.get("runs")
    if isinstance(runs, int):
        parts.append(plural(runs, "run"))
    last = workflow.get("last_run_at")
    parts.append(f"last run {fmt_time(last)}" if isinstance(last, datetime) else "never run")
    return " · ".join(parts)


def run_line(run: RunInfo) -> str:
    """``✅ `48d83287` deploy_api v3 · succeeded · 1.2 s · $0.01 · by <@U1> · <time>``."""
    status = str(run.status)
    icon = RUN_ICONS.get(status, "•")
    parts = [
        f"{icon} {inline_code(run.id[:8], 8)} {escape_clip(one_line(run.workflow), 80)} "
        f"v{run.version}",
        status.replace("_", " "),
        fmt_duration(run.duration_ms),
        fmt_cost(run.cost_usd) if run.cost_usd else "",
        f"by {mention(run.started_by)}",
        fmt_time(run.started_at or run.created_at),
    ]
    return " · ".join(p for p in parts if p)


def proposal_line(p: ProposalInfo) -> str:
    """``💡 #12 deploy_api v3 — rationale…``."""
    rationale = escape_clip(" ".join(p.rationale.split()), 200)
    workflow = escape_clip(one_line(p.workflow), 80)
    return f"💡 *#{p.id}* {workflow} v{p.base_version} — {rationale}"


def _group(title: str, lines: Sequence[str], empty: str, note: str) -> list[BlockDict]:
    """A titled list: its lines in sections, at most :data:`SECTION_BUDGET` blocks."""
    blocks = [header(title)]
    if not lines:
        return [*blocks, context(empty)]
    body = line_sections(lines, SECTION_BUDGET, note, max_chars=GROUP_CHARS_MAX)
    return [*blocks, *body]


def home_view(
    workflows: list[dict[str, Any]],
    recent_runs: list[RunInfo],
    proposals: list[ProposalInfo],
    budget_line: str | None,
) -> dict[str, Any]:
    """The App Home view (``views.publish``): at most 100 blocks, empty states spelled out."""
    blocks: list[BlockDict] = [header("Kaizen")]
    if budget_line:
        blocks.append(context(f"💰 {escape_clip(budget_line, 500)}"))
    groups = [
        _group(
            "Workflows",
            [workflow_line(w) for w in workflows],
            EMPTY_WORKFLOWS,
            "… {count} more workflows — `/kaizen workflows`",
        ),
        _group(
            "Recent runs",
            [run_line(r) for r in recent_runs],
            EMPTY_RUNS,
            "… {count} more runs — `kaizen runs list`",
        ),
        _group(
            "Proposals to review",
            [proposal_line(p) for p in proposals],
            EMPTY_PROPOSALS,
            "… {count} more proposals",
        ),
    ]
    for group in groups:
        blocks += [divider(), *group]
    blocks = fit_blocks(blocks, MAX_VIEW_BLOCKS - 1, "see the channel.")
    count = plural(len(workflows), "workflow")
    blocks.append(context(f"{count} · {plural(len(proposals), 'proposal')} to review"))
    return View(type="home", blocks=blocks).to_dict()
