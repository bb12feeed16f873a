"""A run's trace as a readable terminal table."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from engine.records import RecordKind, RunRecord, RunStatus, StepRecord, StepStatus

STATUS_STYLE: dict[str, tuple[str, str]] = {
    StepStatus.SUCCEEDED: ("✓", "green"),
    StepStatus.FAILED: ("✗", "red"),
    StepStatus.SKIPPED: ("↷", "yellow"),
    StepStatus.CANCELLED: ("⊘", "magenta"),
    StepStatus.RUNNING: ("…", "cyan"),
}
RUN_STYLE = {
    RunStatus.SUCCEEDED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "bold magenta",
    RunStatus.RUNNING: "bold cyan",
}


#: Narrower terminals get the compact table (status as an icon, no attempt column).
COMPACT_BELOW = 110


def format_duration(ms: float) -> str:
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def record_label(record: StepRecord) -> str:
    """``probe[2]`` for a for_each item, ``deploy (fallback)`` for a fallback."""
    label = record.step_id
    if record.item_index is not None:
        label += f"[{record.item_index}]"
    if record.kind is not RecordKind.ACTION:
        label += f" ({record.kind.value})"
    return label


def _result(record: StepRecord) -> Text:
    if record.status == StepStatus.SUCCEEDED:
        text = Text(record.output_summary or "")
        if record.issues:
            text.append("  (" + "; ".join(record.issues) + ")", style="yellow")
        return text
    if record.error_message:
        return Text(record.error_message, style="red")
    return Text("; ".join(record.issues), style="dim")


def _cost(record: StepRecord) -> str:
    parts = []
    if record.cost.usd:
        parts.append(f"${record.cost.usd:.4f}")
    tokens = record.cost.tokens_in + record.cost.tokens_out
    if tokens:
        parts.append(f"{tokens} tok")
    return " ".join(parts)


def trace_table(run: RunRecord, width: int = 120) -> Table:
    """One row per step record, in the order they happened; one line per row, fitting
    ``width`` columns (the result column is cut with an ellipsis)."""
    show_cost = any(not r.cost.is_zero for r in run.records)
    compact = width < COMPACT_BELOW
    rows: list[list[Any]] = []
    for number, record in enumerate(run.records, start=1):
        icon, style = STATUS_STYLE.get(record.status, ("?", "white"))
        label = record_label(record)
        if compact:
            if record.attempt > 1:
                label += f" ×{record.attempt}"
            row: list[Any] = [Text(icon, style=style), label, record.tool]
        else:
            row = [
                str(number),
                label,
                record.tool,
                str(record.attempt) if record.attempt else "",
                Text(f"{icon} {record.status.value}", style=style),
            ]
        row.append(format_duration(record.duration_ms) if record.attempt else "")
        if show_cost:
            row.append(_cost(record))
        rows.append(row)
    headers = ["", "step", "tool"] if compact else ["#", "step", "tool", "try", "status"]
    headers += ["time", *(["cost"] if show_cost else [])]
    widths = [
        max([len(header)] + [len(r[i].plain if isinstance(r[i], Text) else r[i]) for r in rows])
        for i, header in enumerate(headers)
    ]
    result_width = max(20, width - sum(w + 3 for w in widths) - 1)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header, column_width in zip(headers, widths, strict=True):
        right = header in ("#", "try", "time", "cost")
        style = "dim" if header in ("#", "try", "cost") else ("bold" if header == "step" else "")
        table.add_column(
            header,
            justify="right" if right else "left",
            style=style,
            no_wrap=True,
            min_width=column_width,
        )
    table.add_column("result", no_wrap=True, overflow="ellipsis", max_width=result_width)
    for row, record in zip(rows, run.records, strict=True):
        result = _result(record)
        result.truncate(result_width, overflow="ellipsis")
        table.add_row(*row, result)
    return table


def run_summary(run: RunRecord) -> Text:
    """``Run 3f2a… fleet_snapshot: succeeded in 1.20 s · 8 steps: 7 succeeded, 1 skipped``."""
    counts: dict[str, int] = {}
    for status in run.step_status.values():
        counts[status.value] = counts.get(status.value, 0) + 1
    parts = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    text = Text()
    text.append(f"Run {run.run_id[:8]} · {run.blueprint}: ")
    text.append(run.status.value, style=RUN_STYLE.get(run.status, "bold"))
    text.append(f" in {format_duration(run.duration_ms)} · {len(run.step_status)} steps: {parts}")
    if run.cost.usd:
        text.append(f" · ${run.cost.usd:.4f}")
    return text


def _pretty(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_run(run: RunRecord, console: Console) -> None:
    """Print the summary line, the trace table, the outputs, and any errors or issues."""
    parts: list[Any] = [run_summary(run), trace_table(run, width=console.width)]
    if run.outputs:
        outputs = Table(box=None, show_header=False, pad_edge=False)
        outputs.add_column(style="bold")
        outputs.add_column(overflow="fold")
        for key, value in run.outputs.items():
            outputs.add_row(key, _pretty(value))
        parts.extend([Text("Outputs", style="bold underline"), outputs])
    if run.error:
        parts.append(Text(f"Error: {run.error}", style="red"))
    if run.compensated:
        parts.append(Text(f"Compensated: {', '.join(run.compensated)}", style="yellow"))
    for issue in run.issues:
        parts.append(Text(f"Note: {issue}", style="yellow"))
    console.print(Group(*parts))
