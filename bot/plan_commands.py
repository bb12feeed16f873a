"""``kaizen plan``: a request in, a blueprint (YAML) and how it was made out."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click
import yaml
from rich.console import Console

from bot.console.live import terminal_user
from bot.planning import make_planner, open_tool_catalog
from bot.settings import Settings
from bot.store import open_store
from engine.records import RunRecord, RunStatus
from knowledge.history import find_or_add_version
from knowledge.planner.memory import accept_plan, record_plan
from knowledge.planner.result import PlanResult
from knowledge.store.models import VersionOrigin

EXIT_FAILED = 1
EXIT_NO_PLAN = 2


def blueprint_yaml(result: PlanResult) -> str:
    """The plan's blueprint as YAML (what a person edits)."""
    if result.blueprint is None:
        return ""
    document = result.blueprint.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def how_it_was_made(result: PlanResult) -> list[str]:
    lines = [
        f"path: {result.path.value}   confidence: {result.confidence:.2f}   "
        f"{result.latency_ms:.0f} ms",
        f"how: {result.explanation}",
    ]
    if result.tools_considered:
        lines.append("tools considered: " + ", ".join(result.tools_considered))
    if result.exemplar_ids:
        lines.append("exemplars: " + ", ".join(f"#{i}" for i in result.exemplar_ids))
    if result.fallback_reason:
        lines.append(f"LLM not used: {result.fallback_reason}")
    if result.tokens_in or result.tokens_out:
        lines.append(
            f"tokens: {result.tokens_in} in, {result.tokens_out} out; "
            f"repair rounds: {result.repair_rounds}"
        )
    return lines


@click.command("plan")
@click.argument("request")
@click.option("--offline", is_flag=True, help="Use the offline planner even if an LLM is set.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan result as JSON.")
@click.option("--save", is_flag=True, help="Save the plan as a workflow version (remembered).")
@click.option("--run", "run_it", is_flag=True, help="Run the plan now (remembered if it succeeds).")
@click.option("-i", "--input", "pairs", multiple=True, metavar="KEY=VALUE", help="With --run.")
@click.option("--yes", "assume_yes", is_flag=True, help="With --run: approve approval steps.")
def plan_command(
    request: str,
    offline: bool,
    as_json: bool,
    save: bool,
    run_it: bool,
    pairs: tuple[str, ...],
    assume_yes: bool,
) -> None:
    """Plan REQUEST: print the blueprint (YAML) and how it was made (path, tools considered,
    confidence). A plan that needs an answer first prints its question."""
    console = Console(stderr=as_json)
    settings = Settings()
    user = terminal_user()
    db = open_store(settings)
    try:
        with open_tool_catalog(settings) as catalog:
            for error in catalog.errors:
                click.echo(f"tool source skipped: {error}", err=True)
            planner = make_planner(settings, catalog, db)
            try:
                result = planner.plan(request, offline_only=offline)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="REQUEST") from None
            with db.session() as session:
                record_plan(session, result, by=user)
            _show(console, result, as_json)
            if result.blueprint is None:
                sys.exit(EXIT_NO_PLAN)
            if save:
                with db.session() as session:
                    version, exemplar = accept_plan(
                        session,
                        request,
                        result.blueprint,
                        how="saved",
                        by=user,
                        registry=catalog.registry,
                    )
                console.print(
                    f"saved as [bold]{version.workflow}[/] v{version.number}; remembered as "
                    f"exemplar #{exemplar.id}"
                )
            if run_it:
                from bot.cli import RunOptions, _parse_inputs, _run

                with db.session() as session:  # the planner made this version, not the user
                    find_or_add_version(
                        session,
                        result.blueprint,
                        author=user,
                        origin=VersionOrigin.PLANNER,
                        registry=catalog.registry,
                    )

                record = asyncio.run(
                    _run(
                        result.blueprint,
                        _parse_inputs(pairs, None),
                        catalog.registry,
                        settings,
                        console,
                        RunOptions(assume_yes=assume_yes, quiet=as_json),
                    )
                )
                if not isinstance(record, RunRecord) or record.status != RunStatus.SUCCEEDED:
                    console.print("[red]the run did not succeed[/]: not remembered")
                    sys.exit(EXIT_FAILED)
                with db.session() as session:
                    _, exemplar = accept_plan(
                        session,
                        request,
                        result.blueprint,
                        how="ran",
                        by=user,
                        registry=catalog.registry,
                    )
                console.print(
                    f"run {record.run_id} succeeded; remembered as exemplar #{exemplar.id}"
                )
    finally:
        db.dispose()


def _show(console: Console, result: PlanResult, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        click.echo(json.dumps(payload, indent=2))
        return
    if result.blueprint is not None:
        click.echo(blueprint_yaml(result), nl=False)
        click.echo("---")
    if result.question:
        console.print(f"[bold yellow]question[/]: {result.question}", highlight=False)
    for line in how_it_was_made(result):
        console.print(f"[dim]{line}[/]", highlight=False)
