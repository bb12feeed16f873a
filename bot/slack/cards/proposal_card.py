"""The proposal card: an improvement the optimizer proposes for a workflow, with its rationale,
its diff, the evidence for it, and Approve / Reject while it awaits review."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.slack.cards import actions as ids
from bot.slack.cards.limits import (
    MAX_MESSAGE_BLOCKS,
    MESSAGE_CHARS_MAX,
    BlockDict,
    actions,
    button,
    clip,
    code_block,
    code_sections,
    context,
    escape_clip,
    fmt_cost,
    fmt_duration,
    fmt_time,
    header,
    mention,
    plural,
    section,
    short_value,
    text_size,
)
from bot.slack.cards.limits import message as message_payload
from knowledge.store.models import ProposalState

if TYPE_CHECKING:
    from knowledge.history.views import ProposalInfo

MAX_DIFF_BLOCKS = 10
RATIONALE_MAX = 1500
EVIDENCE_MAX = 1500
MAX_EVIDENCE_ROWS = 30
CELL_MAX = 24
_DIFF_TITLE = "*Change*\n"
_EVIDENCE_TITLE = "*Evidence*\n"

Formatter = Callable[[float], str]
_OPEN_STATES = (ProposalState.DRAFT, ProposalState.EVALUATED)
"""Not yet ready for a decision (the optimizer is still evaluating them)."""


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _number(value: float) -> str:
    return f"{value:,.4g}"


_KNOWN: dict[str, tuple[str, Formatter]] = {
    "success": ("success rate", _percent),
    "success_rate": ("success rate", _percent),
    "latency_p50_ms": ("latency p50", fmt_duration),
    "latency_p95_ms": ("latency p95", fmt_duration),
    "cost_usd": ("cost per run", fmt_cost),
}


def _formatter(key: str) -> tuple[str, Formatter]:
    """The label and number format of an evidence key (known ones first, then by suffix)."""
    if key in _KNOWN:
        return _KNOWN[key]
    label = key.replace("_", " ")
    if key.endswith("_ms"):
        return label, fmt_duration
    if key.endswith("_usd") or key.startswith("cost"):
        return label, fmt_cost
    if key.endswith(("_rate", "_ratio")):
        return label, _percent
    return label, _number


def _cell(value: Any, fmt: Formatter) -> str:
    """One table cell: a formatted number, an interval ``lo–hi``, or a short value."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return clip(fmt(float(value)), CELL_MAX)
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return clip(f"{fmt(float(value[0]))}–{fmt(float(value[1]))}", CELL_MAX)
    return short_value(value, CELL_MAX)


def evidence_rows(evidence: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(metric, before, after, interval)`` rows: known metrics first, then the rest in order.

    A metric given as a plain value shows it under "after"; anything else is shown as JSON.
    """
    keys = [k for k in _KNOWN if k in evidence] + [k for k in evidence if k not in _KNOWN]
    rows = []
    for key in keys:
        label, fmt = _formatter(str(key))
        entry = evidence[key]
        if isinstance(entry, dict):
            before, after = _cell(entry.get("before"), fmt), _cell(entry.get("after"), fmt)
            interval = _cell(entry.get("interval"), fmt)
            if not (before or after or interval):
                after = short_value(entry, CELL_MAX)
        else:
            before, after, interval = "", _cell(entry, fmt), ""
        rows.append((clip(label, CELL_MAX), before, after, interval))
    return rows


def evidence_table(evidence: dict[str, Any]) -> str:
    """The evidence as an aligned plain-text table (empty when there is none)."""
    rows = evidence_rows(evidence)
    if not rows:
        return ""
    extra = len(rows) - MAX_EVIDENCE_ROWS
    table = [("metric", "before", "after", "interval"), *rows[:MAX_EVIDENCE_ROWS]]
    widths = [max(len(row[col]) for row in table) for col in range(4)]
    lines = [
        "  ".join(
            cell.ljust(width) if col == 0 else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]
    if extra > 0:
        lines.append(f"… {plural(extra, 'more metric')}")
    return "\n".join(lines)


def _evidence_block(evidence: dict[str, Any]) -> BlockDict:
    table = evidence_table(evidence)
    if not table:
        return section(_EVIDENCE_TITLE + "_No evidence recorded._")
    return section(_EVIDENCE_TITLE + code_block(table, EVIDENCE_MAX - len(_EVIDENCE_TITLE)))


def _diff_blocks(p: ProposalInfo, diff: str, max_blocks: int, max_chars: int) -> list[BlockDict]:
    """The diff in code blocks of ≤ 3,000 characters, within the budgets."""
    if not diff.strip():
        return [section(_DIFF_TITLE + f"_No textual change ({plural(len(p.patch), 'patch op')})._")]
    note = "… {count} more diff lines not shown."
    return code_sections(
        diff,
        note,
        max_blocks=max(1, min(MAX_DIFF_BLOCKS, max_blocks)),
        max_chars=max(0, max_chars),
        title=_DIFF_TITLE,
    )


def decision_note(p: ProposalInfo) -> str | None:
    """ "Approved by <@U> at …" / "Rejected by <@U> at …: reason" (``None`` while undecided)."""
    if p.state in (ProposalState.CANDIDATE, *_OPEN_STATES):
        return None
    rejected = p.state is ProposalState.REJECTED
    verb = "❌ Rejected" if rejected else "✅ Approved"
    who = f" by {mention(p.reviewer)}" if p.reviewer else ""
    when = f" at {fmt_time(p.decided_at)}" if p.decided_at else ""
    note = f"{verb}{who}{when}"
    if p.review_comment:
        note += f": {escape_clip(p.review_comment, 1000)}"
    if p.result_version is not None:
        note += f" · became v{p.result_version}"
    if p.state is ProposalState.PRODUCTION:
        note += " · in production"
    elif p.state is ProposalState.ROLLED_BACK:
        note += " · later rolled back"
    return note


def _tail(p: ProposalInfo) -> BlockDict:
    """Approve / Reject while the proposal is a candidate; otherwise where it stands."""
    if p.state is ProposalState.CANDIDATE:
        value = ids.id_value(p.id)
        return actions(
            [
                button("✅ Approve", ids.PROPOSAL_APPROVE, value, style="primary"),
                button("Reject…", ids.PROPOSAL_REJECT, value, style="danger"),
            ]
        )
    note = decision_note(p)
    if note is None:
        return context(f"⏳ Not ready for review yet ({p.state.value}): still being evaluated.")
    return context(note)


def proposal_card(p: ProposalInfo, diff: str) -> dict[str, Any]:
    """A proposal with its rationale, diff and evidence; Approve / Reject (value: the proposal
    id) while it is a candidate, the decision once made."""
    head = [
        header(f"💡 Proposal #{p.id}: improve {p.workflow} v{p.base_version}"),
        context(
            f"by {mention(p.created_by)}",
            plural(len(p.patch), "patch op"),
            f"proposed {fmt_time(p.created_at)}",
        ),
        section("*Why*\n" + (escape_clip(p.rationale, RATIONALE_MAX) or "_No rationale given._")),
    ]
    tail = [_evidence_block(p.evidence), _tail(p)]
    others = [*head, *tail]
    diff_blocks = _diff_blocks(
        p, diff, MAX_MESSAGE_BLOCKS - len(others), MESSAGE_CHARS_MAX - text_size(others)
    )
    text = f"Proposal #{p.id} for {p.workflow} v{p.base_version}: {p.rationale}"
    return message_payload(text, [*head, *diff_blocks, *tail])
