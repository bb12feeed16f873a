"""``kaizen runs``: stored runs, their traces, and people's decisions about interrupted calls.

Also :func:`resume_unfinished`, which every long-lived ``kaizen`` command calls on start.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import click
from rich.console import Console

from bot.console.history_tables import runs_table, step_records_table
from bot.console.live import terminal_user
from bot.settings import Settings
from bot.store import make_console_runner, make_redactor, open_store
from engine.tools.builtin import builtin_registry
from knowledge.durable.recovery import (
    ResolutionError,
    cancel_stopped_run,
    release_run,
    resolve_call,
)
from knowledge.durable.runner import DurableRunner
from knowledge.history import HistoryError, get_run, query_runs, query_step_records
from knowledge.store import Database
from knowledge.store.models import RunState

EXIT_FAILED = 1


async def resume_unfinished(
    runner: DurableRunner, console: Console, *, say_if_nothing: bool = False
) -> int:
    """Resume what a crashed Kaizen left unfinished, and wait for it; say what needs a
    person. Returns how many runs did not end succeeded (failed, or could not resume)."""
    report = await runner.recover()
    if say_if_nothing and not (report.resumed or report.needs_attention or report.failed):
        console.print("nothing to resume")
    for run_id, problems in report.needs_attention.items():
        console.print(f"[bold yellow]run {run_id} needs attention[/]")
        for problem in problems:
            console.print(f"  • {problem}", highlight=False)
        console.print(
            f"  [dim]decide with: kaizen runs resolve {run_id} STEP --retry | --done[/]",
            highlight=False,
        )
    for run_id, reason in report.failed.items():
        console.print(f"[red]run {run_id} could not be resumed[/]: {reason}")
    failures = len(report.failed)
    if report.resumed:
        console.print(f"[cyan]resuming {len(report.resumed)} interrupted run(s)…[/]")
        records = await asyncio.gather(*(h.result() for h in report.resumed.values()))
        for record in records:
            console.print(f"  run {record.run_id}: {record.status.value}")
            failures += record.status.value != "succeeded"
    return failures


@click.group("runs")
def runs_group() -> None:
    """Stored runs: list, show, resume, and decide about interrupted calls."""


@runs_group.command("list")
@click.option("--workflow", "-w", default=None, help="Only this workflow.")
@click.option(
    "--status",
    "-s",
    default=None,
    type=click.Choice([s.value for s in RunState]),
    help="Only runs in this state.",
)
@click.option("--since", default=None, metavar="HOURS", type=float, help="Only the last HOURS.")
@click.option("--limit", default=20, show_default=True)
def runs_list(workflow: str | None, status: str | None, since: float | None, limit: int) -> None:
    """The newest runs."""
    db = open_store(Settings())
    try:
        with db.reading() as session:
            runs = query_runs(
                session,
                workflow=workflow,
                status=RunState(status) if status else None,
                since=datetime.now(UTC) - timedelta(hours=since) if since else None,
                limit=limit,
            )
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    console = Console()
    if not runs:
        console.print("no runs")
        return
    console.print(runs_table(runs))


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="The run and its step records as JSON.")
def runs_show(run_id: str, as_json: bool) -> None:
    """One run: its status, why it needs attention (if it does), and every step record."""
    db = open_store(Settings())
    try:
        with db.reading() as session:
            run = get_run(session, _full_run_id(session, run_id))
            records = query_step_records(session, run_id=run.id, limit=100_000)
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    if as_json:
        payload = {
            "run": run.model_dump(mode="json"),
            "steps": [r.model_dump(mode="json") for r in reversed(records)],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    console = Console()
    console.print(
        f"[bold]run {run.id}[/] · {run.workflow} v{run.version} · [bold]{run.status}[/] · "
        f"started by {run.started_by}",
        highlight=False,
    )
    if run.attention:
        console.print(f"[bold yellow]needs attention:[/] {run.attention}", highlight=False)
    if run.error:
        console.print(f"[red]{run.error}[/]", highlight=False)
    console.print(step_records_table(sorted(records, key=lambda r: r.id)))


def _full_run_id(session: Any, prefix: str) -> str:
    """Accept the 12-character prefix ``kaizen runs list`` prints."""
    if len(prefix) >= 32:
        return prefix
    matches = [r.id for r in query_runs(session, limit=100_000) if r.id.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise click.ClickException(f"no run id starts with '{prefix}'")
    raise click.ClickException(f"'{prefix}' matches {len(matches)} runs; give more characters")


@runs_group.command("resolve")
@click.argument("run_id")
@click.argument("step_id")
@click.option("--retry", "decision", flag_value="retry", help="Call it again.")
@click.option("--done", "decision", flag_value="done", help="It happened: go on.")
@click.option("--item", type=int, default=None, help="The for_each item, for item calls.")
@click.option("--output", "output_json", default=None, metavar="JSON", help="With --done.")
@click.option("--no-resume", is_flag=True, help="Record the decision only.")
@click.option("--yes", "assume_yes", is_flag=True, help="Approve approval steps on resuming.")
def runs_resolve(
    run_id: str,
    step_id: str,
    decision: Literal["retry", "done"] | None,
    item: int | None,
    output_json: str | None,
    no_resume: bool,
    assume_yes: bool,
) -> None:
    """Decide about a mutating call that a crash interrupted, then resume the run."""
    if decision is None:
        raise click.UsageError("say --retry or --done")
    output: Any = None
    if output_json is not None:
        if decision != "done":
            raise click.UsageError("--output goes with --done")
        try:
            output = json.loads(output_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--output") from None
    settings = Settings()
    if output is not None:
        stored = make_redactor(settings).prepare(output)
        if stored.redacted or stored.truncated:
            raise click.BadParameter(
                "holds a secret or is too big to store; give only what later steps need",
                param_hint="--output",
            )
    db = open_store(settings)
    console = Console()
    try:
        with db.session() as session:
            full_id = _full_run_id(session, run_id)
            left = resolve_call(
                session, full_id, step_id, decision, by=terminal_user(), item_index=item,
                output=output,
            )  # fmt: skip
    except ResolutionError as exc:
        db.dispose()
        raise click.ClickException(str(exc)) from None
    if left:
        console.print(f"recorded; still waiting for a decision: {', '.join(left)}")
        db.dispose()
        return
    console.print("recorded; nothing else is waiting")
    if no_resume:
        db.dispose()
        return

    try:
        failures = asyncio.run(_resume(settings, db, console, assume_yes))
    finally:
        db.dispose()
    sys.exit(EXIT_FAILED if failures else 0)


async def _resume(settings: Settings, db: Database, console: Console, assume_yes: bool) -> int:
    registry = builtin_registry(settings.builtin_tools_config())
    runner = make_console_runner(settings, db, registry, console, assume_yes=assume_yes)
    try:
        return await resume_unfinished(runner, console, say_if_nothing=True)
    finally:
        await runner.close()


@runs_group.command("resume")
@click.option("--yes", "assume_yes", is_flag=True, help="Approve approval steps on resuming.")
def runs_resume(assume_yes: bool) -> None:
    """Resume every run a stopped Kaizen left unfinished (kaizen run does this on start)."""
    settings = Settings()
    db = open_store(settings)
    console = Console()
    try:
        failures = asyncio.run(_resume(settings, db, console, assume_yes))
    finally:
        db.dispose()
    sys.exit(EXIT_FAILED if failures else 0)


@runs_group.command("release")
@click.argument("run_id")
@click.option("--yes", "assume_yes", is_flag=True, help="Approve approval steps on resuming.")
def runs_release(run_id: str, assume_yes: bool) -> None:
    """Resume a run that needs attention for a reason other than an interrupted call (e.g. a
    tool that was missing), once the cause is fixed."""
    settings = Settings()
    db = open_store(settings)
    try:
        with db.session() as session:
            release_run(session, _full_run_id(session, run_id), by=terminal_user())
        failures = asyncio.run(_resume(settings, db, Console(), assume_yes))
    except ResolutionError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    sys.exit(EXIT_FAILED if failures else 0)


@runs_group.command("cancel")
@click.argument("run_id")
@click.option("--reason", default="given up at the terminal", show_default=True)
def runs_cancel(run_id: str, reason: str) -> None:
    """Give up a run that needs attention: it ends cancelled as it stands (nothing more is
    called, nothing is compensated)."""
    db = open_store(Settings())
    try:
        with db.session() as session:
            full_id = _full_run_id(session, run_id)
            cancel_stopped_run(session, full_id, by=terminal_user(), reason=reason)
    except ResolutionError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    click.echo(f"run {full_id} cancelled")
