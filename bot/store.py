"""Opening Kaizen's store from the settings: the database, the redactor, a durable runner."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from bot.console.live import ConsoleApprover, ConsoleProgress, terminal_user_may_approve
from bot.settings import Settings
from engine.events import EventSink, FanoutSink
from engine.tools.registry import ToolRegistry
from knowledge.durable.runner import DurableRunner
from knowledge.store import Database, DatabaseError, open_database
from knowledge.store.redaction import Redactor

EXIT_STORE = 3


def open_store(settings: Settings) -> Database:
    """The database of ``settings``, its schema upgraded (the CLI exits with a clear message
    when it cannot be opened)."""
    try:
        return open_database(settings.database)
    except DatabaseError as exc:
        click.echo(f"error: {exc}", err=True)
    except Exception as exc:  # connection refused, permissions, …
        click.echo(f"error: cannot open the database ({type(exc).__name__}): {exc}", err=True)
    sys.exit(EXIT_STORE)


def make_redactor(settings: Settings) -> Redactor:
    return Redactor(settings.secret_values(), max_stored_bytes=settings.store_output_limit_bytes)


def make_runner(
    settings: Settings,
    db: Database,
    registry: ToolRegistry,
    *,
    sink: EventSink | None = None,
    **executor_options: Any,
) -> DurableRunner:
    return DurableRunner(
        db,
        registry,
        redactor=make_redactor(settings),
        sink=sink,
        lease_s=settings.run_lease_s,
        max_concurrency=settings.max_concurrency,
        max_threads=settings.max_threads,
        **executor_options,
    )


def make_console_runner(
    settings: Settings,
    db: Database,
    registry: ToolRegistry,
    console: Console,
    *,
    assume_yes: bool | Callable[[str], bool] = False,
    progress: bool = True,
    seed: int | None = None,
) -> DurableRunner:
    """A runner for the terminal: progress lines, and approval steps asked at the prompt, or
    approved with ``assume_yes`` (true, or a test of the run id: ``kaizen run --yes`` approves
    only the run it starts, never runs it resumed)."""
    sinks: list[EventSink] = [ConsoleProgress(console)] if progress else []
    sinks.append(
        ConsoleApprover(
            console,
            lambda run_id, step_id, approved, by, comment: runner.executor.decide(
                run_id, step_id, approved=approved, by=by, comment=comment
            ),
            assume_yes=assume_yes,
        )
    )
    runner = make_runner(
        settings,
        db,
        registry,
        sink=FanoutSink(sinks),
        seed=seed,
        approver_check=terminal_user_may_approve,
    )
    return runner
