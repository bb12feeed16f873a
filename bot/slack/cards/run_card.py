"""The run card (a run's progress, updated in place, then its summary and outputs) and the
approval cards for a step waiting for a human decision."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.slack.cards import actions as ids
from bot.slack.cards.limits import (
    MAX_MESSAGE_BLOCKS,
    MESSAGE_CHARS_MAX,
    SECTION_TEXT_MAX,
    BlockDict,
    actions,
    button,
    code_block,
    confirm,
    context,
    escape,
    escape_clip,
    fmt_cost,
    fmt_duration,
    fmt_time,
    header,
    inline_code,
    line_sections,
    mention,
    one_line,
    plural,
    section,
    text_size,
)
from bot.slack.cards.limits import message as message_payload

StepStatus = Literal[
    "waiting",
    "running",
    "succeeded",
    "failed",
    "retrying",
    "skipped",
    "cancelled",
    "awaiting_approval",
]
RunStatus = Literal["running", "succeeded", "failed", "cancelled", "needs_attention"]

STEP_ICONS: dict[str, str] = {
    "waiting": "⏳",
    "running": "🔄",
    "succeeded": "✅",
    "failed": "❌",
    "retrying": "🔁",
    "skipped": "⏭",
    "cancelled": "🚫",
    "awaiting_approval": "✋",
}
RUN_ICONS: dict[str, str] = {
    "running": "🔄",
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "🚫",
    "needs_attention": "⚠️",
}
_ENDED = frozenset({"succeeded", "failed", "skipped", "cancelled"})
ERROR_MAX = 200
PREVIEW_MAX = 60
_OUTPUTS_TITLE = "*Outputs*\n"


class StepProgress(BaseModel):
    """Where one step of a run stands."""

    model_config = ConfigDict(frozen=True)

    step_id: str
    tool: str
    status: StepStatus
    attempt: int = 0
    duration_ms: float | None = None
    cost_usd: float | None = None
    error: str | None = None
    output_preview: str | None = None


class RunProgress(BaseModel):
    """Where a run stands: what the run card shows."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow: str
    version: int | None = None
    status: RunStatus
    started_by: str
    steps: list[StepProgress]
    duration_ms: float | None = None
    cost_usd: float | None = None
    outputs: str | None = None
    """The final outputs rendered as text."""


# ---------------------------------------------------------------------------- run card


def _status_note(step: StepProgress) -> str:
    """``(attempt 2)``, ``awaiting approval``, ``after 3 attempts`` or nothing."""
    if step.status == "retrying":
        return f"(attempt {step.attempt})" if step.attempt else "(retrying)"
    if step.status == "awaiting_approval":
        return "awaiting approval"
    if step.attempt > 1 and step.status in ("succeeded", "failed"):
        return f"after {step.attempt} attempts"
    return ""


def step_line(step: StepProgress) -> str:
    """One mrkdwn line: icon, step id, tool, status note, time, cost, error or output."""
    parts = [
        f"{STEP_ICONS[step.status]} {inline_code(step.step_id, 64)} {inline_code(step.tool, 80)}",
        _status_note(step),
        fmt_duration(step.duration_ms),
        fmt_cost(step.cost_usd) if step.cost_usd else "",
    ]
    if step.error:
        parts.append(escape_clip(one_line(step.error), ERROR_MAX))
    elif step.output_preview and step.status == "succeeded":
        parts.append(f"→ {inline_code(step.output_preview, PREVIEW_MAX)}")
    return " · ".join(p for p in parts if p)


def _title(progress: RunProgress) -> str:
    version = f" v{progress.version}" if progress.version is not None else ""
    label = progress.status.replace("_", " ")
    return f"{RUN_ICONS[progress.status]} {progress.workflow}{version} — {label}"


def _about(progress: RunProgress) -> BlockDict:
    """Run id, who started it, how far it got."""
    done = sum(s.status in _ENDED for s in progress.steps)
    return context(
        f"Run {inline_code(progress.run_id, 64)}",
        f"started by {mention(progress.started_by)}",
        f"{done:,}/{plural(len(progress.steps), 'step')} done",
    )


def summary_line(progress: RunProgress) -> str:
    """``7 succeeded · 1 failed · 1 skipped · 3.2 s · $0.0042``."""
    counts: Counter[str] = Counter(step.status for step in progress.steps)
    parts = [f"{counts[s]:,} {s.replace('_', ' ')}" for s in STEP_ICONS if counts[s]]
    parts += [fmt_duration(progress.duration_ms), fmt_cost(progress.cost_usd)]
    return " · ".join(p for p in parts if p) or "no steps"


def _outputs_fit(outputs: str) -> bool:
    """Whether ``outputs`` fit in the card's outputs section unclipped."""
    if len(outputs) > SECTION_TEXT_MAX:
        return False
    return len(_OUTPUTS_TITLE) + len(code_block(outputs, 10**9)) <= SECTION_TEXT_MAX


def _ending(progress: RunProgress) -> list[BlockDict]:
    """The summary and the outputs, once the run has ended."""
    if progress.status == "running":
        return []
    blocks = [context(f"*Summary:* {summary_line(progress)}")]
    if progress.outputs:
        limit = SECTION_TEXT_MAX - len(_OUTPUTS_TITLE)
        blocks.append(section(_OUTPUTS_TITLE + code_block(progress.outputs, limit)))
        if not _outputs_fit(progress.outputs):
            blocks.append(
                context(
                    f"Outputs clipped: they have {len(progress.outputs):,} characters; "
                    "the full text is in the thread."
                )
            )
    return blocks


def run_card(progress: RunProgress) -> dict[str, Any]:
    """The run card: header, one line per step (in sections of ≤ 3,000 characters, at most 50
    blocks in all), then, when the run has ended, the summary and the outputs."""
    head = [header(_title(progress)), _about(progress)]
    tail = _ending(progress)
    lines = [step_line(step) for step in progress.steps]
    note = (
        "… {count} more steps not shown — see the thread or "
        f"`kaizen runs show {escape(progress.run_id)}`"
    )
    others = [*head, *tail]
    steps = line_sections(
        lines,
        max(1, MAX_MESSAGE_BLOCKS - len(others)),
        note,
        max_chars=max(0, MESSAGE_CHARS_MAX - text_size(others)),
    )
    text = f"{_title(progress)}: {summary_line(progress)}"
    return message_payload(text, [*head, *steps, *tail])


def overflow_output(progress: RunProgress) -> str | None:
    """The whole outputs text when the card had to clip it (to post in the thread or upload as
    a file), else ``None``."""
    if progress.outputs and progress.status != "running" and not _outputs_fit(progress.outputs):
        return progress.outputs
    return None


# ---------------------------------------------------------------------------- approvals


def _approval_blocks(run_id: str, step_id: str, tool: str, message_text: str) -> list[BlockDict]:
    """What is to be approved: the step, its tool, the run and the approval message."""
    blocks = [
        section(
            f"✋ *Approval needed* for step {inline_code(step_id, 64)} "
            f"({inline_code(tool, 80)}) in run {inline_code(run_id, 64)}"
        )
    ]
    if message_text.strip():
        quoted = "\n".join(f">{line}" for line in escape(message_text.strip()).split("\n"))
        blocks.append(section(quoted))
    return blocks


def _who(approvers: list[str]) -> str:
    if not approvers:
        return "Anyone allowed to run this workflow can decide."
    shown = ", ".join(mention(a) for a in approvers[:20])
    more = f" and {len(approvers) - 20:,} more" if len(approvers) > 20 else ""
    return f"Who can decide: {shown}{more}"


def approval_card(
    run_id: str, step_id: str, tool: str, message: str, approvers: list[str]
) -> dict[str, Any]:
    """An approval request with Approve (primary) and Deny (danger) buttons; their value is
    ``approval_value(run_id, step_id)``."""
    value = ids.approval_value(run_id, step_id)
    deny = confirm("Deny this step?", "The step fails and the run stops.", "Deny", "Back")
    buttons = [
        button("✅ Approve", ids.APPROVAL_APPROVE, value, style="primary"),
        button("Deny", ids.APPROVAL_DENY, value, style="danger", confirmation=deny),
    ]
    blocks = [
        *_approval_blocks(run_id, step_id, tool, message),
        context(_who(approvers)),
        actions(buttons),
    ]
    return message_payload(f"Approval needed: step {step_id} ({tool}) in run {run_id}", blocks)


def decided_approval_card(
    run_id: str,
    step_id: str,
    tool: str,
    message: str,
    *,
    approved: bool,
    by: str,
    at: datetime,
) -> dict[str, Any]:
    """The approval request once decided: no buttons, "Approved by <@U1> at …"."""
    verb = "Approved" if approved else "Denied"
    icon = "✅" if approved else "❌"
    note = f"{icon} {verb} by {mention(by)} at {fmt_time(at)}"
    blocks = [*_approval_blocks(run_id, step_id, tool, message), context(note)]
    return message_payload(f"{verb}: step {step_id} ({tool}) in run {run_id}", blocks)
