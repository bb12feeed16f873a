"""The ``kaizen`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bot.chat.command import chat_command
from bot.console.live import (
    terminal_user,
)
from bot.console.trace_table import render_run
from bot.db_commands import db_group
from bot.plan_commands import plan_command
from bot.planning import open_tool_catalog, tool_index
from bot.run_commands import resume_unfinished, runs_group
from bot.serve_command import serve_command, start_command
from bot.settings import Settings
from bot.store import make_console_runner, open_store
from bot.workflow_commands import workflows_group
from engine.blueprint import Blueprint
from engine.errors import BlueprintInvalidError
from engine.loading import check_blueprint_file
from engine.records import RunRecord, RunStatus
from engine.schema import blueprint_json_schema_text
from engine.tools.builtin import builtin_registry
from engine.tools.registry import ToolRegistry
from knowledge.history import RunInfo, find_or_add_version, get_run
from knowledge.store.models import RunState, VersionOrigin

EXIT_FAILED = 1
EXIT_INVALID = 2


def _registry(settings: Settings) -> ToolRegistry:
    return builtin_registry(settings.builtin_tools_config())


def _parse_inputs(pairs: tuple[str, ...], inputs_json: str | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if inputs_json:
        try:
            loaded = json.loads(inputs_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--inputs-json") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--inputs-json")
        inputs.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{pair}' is not key=value", param_hint="--input")
        inputs[key.strip()] = raw  # converted by the input's declared type
    return inputs


def _print_problems(console: Console, header: str, problems: list[Any]) -> None:
    console.print(f"[bold red]{header}[/] ({len(problems)} problem(s))")
    for problem in problems:
        line = f"  • [bold]{problem.loc or '(blueprint)'}[/]: {problem.message}"
        if problem.hint:
            line += f" [dim]— {problem.hint}[/]"
        console.print(line, highlight=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kaizen")
def main() -> None:
    """Kaizen: plan, run and improve tool workflows."""


@main.command()
@click.argument("blueprint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-i", "--input", "pairs", multiple=True, metavar="KEY=VALUE", help="An input value.")
@click.option("--inputs-json", metavar="JSON", help="All inputs as one JSON object.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@click.option("--yes", "assume_yes", is_flag=True, help="Approve every approval step.")
@click.option("--seed", type=int, default=None, help="Seed retry jitter (reproducible runs).")
@click.option(
    "--idempotency-key",
    default=None,
    help="Run at most once per key: repeating the command with it shows the earlier run.",
)
def run(
    blueprint: Path,
    pairs: tuple[str, ...],
    inputs_json: str | None,
    as_json: bool,
    assume_yes: bool,
    seed: int | None,
    idempotency_key: str | None,
) -> None:
    """Validate and run a blueprint file, then print its trace.

    The blueprint is stored as a workflow version (a new version when it changed), the run and
    every step are recorded in the database, and runs a crashed Kaizen left unfinished are
    resumed first."""
    console = Console(stderr=as_json)
    settings = Settings()
    registry = _registry(settings)
    report = check_blueprint_file(blueprint, registry)
    if not report.ok or report.blueprint is None:
        _print_problems(console, f"{blueprint} is not a valid blueprint", report.problems)
        sys.exit(EXIT_INVALID)
    inputs = _parse_inputs(pairs, inputs_json)
    record = asyncio.run(
        _run(
            report.blueprint,
            inputs,
            registry,
            settings,
            console,
            RunOptions(assume_yes=assume_yes, seed=seed, quiet=as_json, key=idempotency_key),
        )
    )
    if record is None:
        sys.exit(EXIT_INVALID)
    if isinstance(record, RunInfo):  # the idempotency key named an earlier run
        if as_json:
            click.echo(record.model_dump_json(indent=2))
        console.print(
            f"[yellow]already run[/]: run {record.id} of {record.workflow} v{record.version} "
            f"with this idempotency key is [bold]{record.status}[/]"
        )
        sys.exit(0 if record.status == RunState.SUCCEEDED else EXIT_FAILED)
    if as_json:
        click.echo(record.model_dump_json(indent=2))
    else:
        console.print()
        render_run(record, console)
    sys.exit(0 if record.status == RunStatus.SUCCEEDED else EXIT_FAILED)


@dataclass(frozen=True)
class RunOptions:
    assume_yes: bool = False
    seed: int | None = None
    quiet: bool = False
    key: str | None = None


async def _run(
    blueprint: Blueprint,
    inputs: dict[str, Any],
    registry: ToolRegistry,
    settings: Settings,
    console: Console,
    options: RunOptions,
) -> RunRecord | RunInfo | None:
    db = open_store(settings)
    own_runs: set[str] = set()  # --yes answers for the run this command starts, no other
    runner = make_console_runner(
        settings,
        db,
        registry,
        console,
        assume_yes=lambda run_id: options.assume_yes and run_id in own_runs,
        progress=not options.quiet,
        seed=options.seed,
    )
    try:
        await resume_unfinished(runner, console)
        user = terminal_user()
        with db.session() as session:
            version = find_or_add_version(
                session, blueprint, author=user, origin=VersionOrigin.USER, registry=registry
            )
        if not options.quiet:
            console.print(
                f"[bold]Running {blueprint.name}[/] [dim](v{version.number}, "
                f"{len(blueprint.steps)} steps)[/]"
            )
        ticket = await runner.start(
            version.id, inputs, started_by=user, idempotency_key=options.key
        )
        if ticket.handle is None:
            with db.session() as session:
                return get_run(session, ticket.run_id)
        own_runs.add(ticket.run_id)
        try:
            return await ticket.handle.result()
        except asyncio.CancelledError:  # Ctrl-C: stop the run and let it record how it ended
            try:  # remembered first, so that the cancel stands even if this process dies now
                await runner.cancel(ticket.run_id, "interrupted at the terminal", by=user)
            except Exception:
                ticket.handle.cancel("interrupted at the terminal")
            with contextlib.suppress(Exception):
                await ticket.handle.result()
            raise
    except BlueprintInvalidError as exc:
        _print_problems(console, "the inputs are not valid", exc.problems)
        return None
    finally:
        await runner.close()
        db.dispose()


@main.command()
@click.argument("blueprint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print problems as JSON.")
def validate(blueprint: Path, as_json: bool) -> None:
    """Check a blueprint file and list every problem with its location."""
    console = Console()
    report = check_blueprint_file(blueprint, _registry(Settings()))
    if as_json:
        click.echo(json.dumps([p.model_dump() for p in report.problems], indent=2))
    elif report.ok:
        console.print(f"[green]✓[/] {blueprint} is valid")
    else:
        _print_problems(console, f"{blueprint} is not a valid blueprint", report.problems)
    sys.exit(0 if report.ok else EXIT_INVALID)


@main.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.option("--check", is_flag=True, help="Exit 1 if --output differs from the current schema.")
def schema(output: Path | None, check: bool) -> None:
    """Print (or write) the blueprint JSON Schema."""
    text = blueprint_json_schema_text()
    if output is None:
        click.echo(text, nl=False)
        return
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            click.echo(f"{output} is out of date; run `make schema`", err=True)
            sys.exit(EXIT_FAILED)
        click.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the tool specs as JSON.")
@click.pass_context
def tools(ctx: click.Context, as_json: bool) -> None:
    """List the tools blueprints can use (``kaizen tools search TEXT`` finds them)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = Settings()
    with open_tool_catalog(settings) as catalog:
        for error in catalog.errors:
            click.echo(f"tool source skipped: {error}", err=True)
        registry = catalog.registry
    if as_json:
        click.echo(json.dumps([s.model_dump(mode="json") for s in registry.specs()], indent=2))
        return
    console = Console()
    for spec in registry.specs():
        badge = {
            "none": "",
            "idempotent": " [dim](idempotent)[/]",
            "mutating": " [yellow](mutating)[/]",
        }
        risk = " [red]high risk[/]" if spec.risk == "high" else ""
        console.print(
            f"[bold]{spec.name}[/]{badge[spec.side_effect.value]}{risk} — {spec.description}"
        )


main.add_command(chat_command)
main.add_command(db_group)
main.add_command(plan_command)
main.add_command(runs_group)
main.add_command(serve_command)
main.add_command(start_command)
main.add_command(workflows_group)


@tools.command("search")
@click.argument("text")
@click.option("-k", "limit", default=5, show_default=True, help="How many tools.")
def tools_search(text: str, limit: int) -> None:
    """The tools that best fit TEXT: meaning (embeddings) and words (BM25), fused."""
    settings = Settings()
    with open_tool_catalog(settings) as catalog:
        for error in catalog.errors:
            click.echo(f"tool source skipped: {error}", err=True)
        hits = tool_index(settings, catalog).search(text, k=limit)
    console = Console()
    for rank, hit in enumerate(hits, start=1):
        ranks = f"meaning #{hit.dense_rank or '–'}, words #{hit.lexical_rank or '–'}"
        console.print(
            f"{rank}. [bold]{hit.name}[/] [dim]{hit.score:.4f} ({ranks})[/] — "
            f"{hit.entry.description}",
            highlight=False,
        )


if __name__ == "__main__":  # pragma: no cover
    main()
