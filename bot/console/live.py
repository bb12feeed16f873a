"""Live progress in the terminal: a line per finished step, and approval prompts."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from bot.console.trace_table import STATUS_STYLE, format_duration, record_label
from engine.approvals import ApprovalDecision
from engine.errors import ApprovalError
from engine.events import ApprovalRequested, RunEvent, StepFinished, StepRetried, StepSkipped

Decide = Callable[[str, str, bool, str, str | None], ApprovalDecision]


class ConsoleProgress:
    """An event sink that prints one line per finished step attempt."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def emit(self, event: RunEvent) -> None:
        if isinstance(event, StepFinished | StepSkipped):
            record = event.record
            icon, style = STATUS_STYLE.get(record.status, ("?", "white"))
            label = record_label(record)
            line = Text(f"  {icon} ", style=style)
            line.append(label, style="bold")
            line.append(f"  {record.tool}", style="dim")
            if record.attempt:
                line.append(f"  {format_duration(record.duration_ms)}", style="dim")
            if isinstance(event, StepSkipped):
                line.append(f"  {event.reason}", style="yellow")
            elif record.error_message:
                line.append(f"  {record.error_message}", style="red")
            self.console.print(line, highlight=False)
        elif isinstance(event, StepRetried):
            record = event.record
            self.console.print(
                Text(
                    f"  ↻ {record.step_id}  attempt {record.attempt} failed "
                    f"({record.error_message}); retrying in {event.delay_s:.2f}s",
                    style="yellow",
                ),
                highlight=False,
            )


class ConsoleApprover:
    """Answers approval requests at the terminal (or automatically with ``--yes``).

    The person at the terminal owns the process, so the executor behind a console run lets the
    local user decide for any approver list (``terminal_user_may_approve``).
    """

    def __init__(
        self,
        console: Console,
        decide: Decide,
        *,
        assume_yes: bool | Callable[[str], bool] = False,
    ) -> None:
        self.console = console
        self.decide = decide
        self.assume_yes: Callable[[str], bool] = (
            assume_yes if callable(assume_yes) else (lambda _run_id: bool(assume_yes))
        )
        """Whether ``--yes`` answers the approvals of a run (by id)."""
        self.user = terminal_user()
        self._tasks: set[asyncio.Task[None]] = set()

    async def emit(self, event: RunEvent) -> None:
        if isinstance(event, ApprovalRequested):
            task = asyncio.get_running_loop().create_task(self._answer(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, event: ApprovalRequested) -> None:
        request = event.request
        self.console.print(
            Text(
                f"  ? approval needed for '{request.step_id}': {request.message}",
                style="bold yellow",
            )
        )
        if self.assume_yes(request.run_id):
            approved, comment = True, "approved with --yes"
        elif not sys.stdin.isatty():
            approved, comment = False, "no terminal to ask; rerun with --yes to approve"
        else:
            answer = await asyncio.to_thread(input, "    approve? [y/N] ")
            approved, comment = answer.strip().lower() in ("y", "yes"), None
        try:
            self.decide(request.run_id, request.step_id, approved, self.user, comment)
        except ApprovalError as exc:  # e.g. the run was cancelled meanwhile
            self.console.print(Text(f"    {exc}", style="red"))


def terminal_user() -> str:
    """Who is at the terminal (recorded as the starter of runs and author of versions)."""
    try:
        return f"console:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "console"


def terminal_user_may_approve(user: str, approver: str) -> bool:
    """Approver check for local runs: the terminal's user stands in for every approver."""
    return True
