"""``kaizen workflows``: workflows and their immutable versions."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.syntax import Syntax

from bot.console.history_tables import history_table
from bot.console.live import terminal_user
from bot.settings import Settings
from bot.store import open_store
from knowledge.history import HistoryError, diff_versions, history, list_workflows, rollback


@click.group("workflows")
def workflows_group() -> None:
    """Workflows: their versions, what changed, and rolling back."""


@workflows_group.command("list")
def workflows_list() -> None:
    """Every workflow with its production and newest version."""
    db = open_store(Settings())
    try:
        with db.reading() as session:
            workflows = list_workflows(session)
    finally:
        db.dispose()
    console = Console()
    if not workflows:
        console.print("no workflows yet (kaizen run FILE stores one)")
    for workflow in workflows:
        console.print(
            f"[bold]{workflow.name}[/] · production v{workflow.production_version} · "
            f"{workflow.version_count} version(s) · {workflow.description}",
            highlight=False,
        )


@workflows_group.command("history")
@click.argument("workflow")
@click.option("--limit", default=None, type=int)
def workflows_history(workflow: str, limit: int | None) -> None:
    """Every version of WORKFLOW, newest first: who made it, how, and what changed."""
    db = open_store(Settings())
    try:
        with db.reading() as session:
            versions = history(session, workflow, limit=limit)
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    Console().print(history_table(versions))


@workflows_group.command("diff")
@click.argument("workflow")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--patch", "as_patch", is_flag=True, help="Print the RFC 6902 JSON Patch.")
def workflows_diff(workflow: str, a: int, b: int, as_patch: bool) -> None:
    """What changed from version A to version B."""
    db = open_store(Settings())
    try:
        with db.reading() as session:
            diff = diff_versions(session, workflow, a, b)
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    if as_patch:
        click.echo(json.dumps(diff.patch, indent=2))
    elif diff.text:
        Console().print(Syntax(diff.text, "diff", theme="ansi_dark"))
    else:
        click.echo(f"v{a} and v{b} are the same")


@workflows_group.command("rollback")
@click.argument("workflow")
@click.argument("version", type=int)
@click.option("--note", default="", help="Why.")
def workflows_rollback(workflow: str, version: int, note: str) -> None:
    """Make a new production version equal to VERSION (recorded as a rollback)."""
    db = open_store(Settings())
    try:
        with db.session() as session:
            restored = rollback(session, workflow, version, by=terminal_user(), note=note)
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    click.echo(f"{workflow}: v{restored.number} restores v{version} and is now production")
