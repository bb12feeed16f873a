"""Stored runs, step records and workflow versions as terminal tables."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from bot.console.trace_table import format_duration
from knowledge.history.views import RunInfo, StepRecordInfo, VersionInfo

CALL_STYLE = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "retried": ("↻", "yellow"),
    "skipped": ("↷", "yellow"),
    "cancelled": ("⊘", "magenta"),
    "running": ("…", "cyan"),
    "interrupted": ("⚡", "bold red"),
}
RUN_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "running": "cyan",
    "needs_attention": "bold yellow",
}


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else ""


def runs_table(runs: list[RunInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    # the id prefix, status and time never shrink; workflow and starter give way
    for header, width in (("run", 12), ("workflow", None), ("status", 15), ("started", 19)):
        table.add_column(header, no_wrap=True, min_width=width, overflow="ellipsis")
    table.add_column("time", no_wrap=True, justify="right", min_width=8)
    table.add_column("by", no_wrap=True, overflow="ellipsis")
    for run in runs:
        table.add_row(
            run.id[:12],
            f"{run.workflow} v{run.version}",
            Text(str(run.status), style=RUN_STYLE.get(run.status, "")),
            _when(run.started_at or run.created_at),
            format_duration(run.duration_ms) if run.duration_ms is not None else "",
            run.started_by,
        )
    return table


def step_records_table(records: list[StepRecordInfo]) -> Table:
    """One row per stored record; every column but the result keeps its full width."""
    rows: list[tuple[list[str | Text], Text]] = []
    for number, record in enumerate(records, start=1):
        label = record.step_id
        if record.item_index is not None:
            label += f"[{record.item_index}]"
        if record.kind != "action":
            label += f" ({record.kind})"
        icon, style = CALL_STYLE.get(record.status, ("?", ""))
        result = (
            Text(record.error_message, style="red")
            if record.error_message
            else Text(record.output_summary or "")
        )
        if record.output_truncated:
            result.append(f"  (stored truncated: {record.output_size} bytes)", style="dim")
        if record.decided_by:
            result.append(f"  (decided by {record.decided_by})", style="yellow")
        cells: list[str | Text] = [
            str(number),
            label,
            record.tool,
            str(record.attempt) if record.attempt else "",
            Text(f"{icon} {record.status}", style=style),
            format_duration(record.duration_ms) if record.duration_ms is not None else "",
        ]
        rows.append((cells, result))
    headers = ("#", "step", "tool", "try", "status", "time")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, header in enumerate(headers):
        width = max([len(header)] + [_width(cells[i]) for cells, _ in rows])
        table.add_column(
            header, no_wrap=True, min_width=width, justify="right" if header == "time" else "left"
        )
    table.add_column("result", no_wrap=True, overflow="ellipsis")
    for cells, result in rows:
        table.add_row(*cells, result)
    return table


def _width(cell: str | Text) -> int:
    return len(cell.plain if isinstance(cell, Text) else cell)


def history_table(versions: list[VersionInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in ("version", "", "origin", "by", "when", "changes", "note"):
        table.add_column(header, no_wrap=header != "note")
    for version in versions:
        changes = (
            f"restores v{version.restores_number}"
            if version.restores_number is not None
            else (
                f"{version.patch_ops} op(s) from v{version.parent_number}" if version.patch else ""
            )
        )
        table.add_row(
            f"v{version.number}",
            Text("production", style="bold green") if version.is_production else "",
            str(version.origin),
            version.author,
            _when(version.created_at),
            changes,
            version.note,
        )
    return table
