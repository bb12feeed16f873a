"""The process the crash test kills: one durable run of a fixed 50-step blueprint.

Run it as ``python -m tests.knowledge.durable.crash_worker --db URL --ledger PATH`` (from the
repository root). It opens the database, stores the blueprint (once), takes over what a killed
predecessor left unfinished (:meth:`DurableRunner.recover`), starts the run with a fixed
idempotency key (a no-op when the run exists), prints ``READY`` once work is under way, waits
for every run it has, prints ``DONE <status of the run>`` and exits 0. A run paused as
``needs_attention`` ends it too (``DONE needs_attention``): a person decides, then it runs
again.

The tools act on files next to the ledger:

- ``ledger.append`` (mutating) appends one line — the call's idempotency key and its value —
  to the ledger and fsyncs it; a repeated mutating call shows as a repeated key;
- ``kv.put`` (idempotent) writes a file per call (writing it again changes nothing);
- ``calc.mix`` and ``calc.spread`` (no side effect) are pure.

Every tool returns a value computed from its params only (:func:`derive`), and the blueprint
passes outputs downstream through templates, so an output lost or wrong anywhere changes the
final outputs. ``test_crash.py`` imports this module (for :func:`ledger_output` and the
blueprint) and preloads it in a fork server, so a worker starts in milliseconds instead of the
second the imports take.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# The database drivers too, so that a worker forked from a server that imported this module
# loads nothing more.
import sqlalchemy.dialects.postgresql.psycopg
import sqlalchemy.dialects.sqlite.pysqlite  # noqa: F401
from sqlalchemy import select

from engine.blueprint import Blueprint
from engine.tools.base import ToolContext
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from knowledge.durable.runner import DurableRunner
from knowledge.history.workflows import find_or_add_version
from knowledge.store import open_database
from knowledge.store.models import Run, VersionOrigin

#: The idempotency key of the one run every worker starts (or finds).
RUN_KEY = "crash-run"
STARTED_BY = "crash-test"
#: How many items the for_each steps fan out over.
FAN_ITEMS = 5
#: Random delay (seconds) before and after each ledger append, so kills land inside calls.
APPEND_DELAY_S = 0.003
CALC_DELAY_S = 0.001

MUTATING_TOOL = "ledger.append"


def derive(tag: str, value: Any) -> int:
    """A deterministic 48-bit number from ``value`` (what every tool's output is made of)."""
    text = json.dumps([tag, value], sort_keys=True, separators=(",", ":"))
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def ledger_output(value: Any) -> int:
    """What ``ledger.append`` returns for ``value`` (a person marking a call done uses it)."""
    return derive("ledger", value)


def kv_dir(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".kv")


def build_registry(ledger: Path) -> ToolRegistry:
    """The crash test's tools, acting on ``ledger`` (and the ``kv`` directory beside it)."""
    store = kv_dir(ledger)

    @tool(MUTATING_TOOL, side_effect="mutating")
    async def append(value: Any, ctx: ToolContext) -> int:
        """Append one line (the call's idempotency key and ``value``) to the ledger."""
        await asyncio.sleep(random.uniform(0, APPEND_DELAY_S))
        line = json.dumps(
            {
                "key": ctx.idempotency_key,
                "step": ctx.step_id,
                "item": ctx.item_index,
                "value": value,
            },
            sort_keys=True,
        )
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())  # one write: a line is appended whole or not
            os.fsync(fd)
        finally:
            os.close(fd)
        await asyncio.sleep(random.uniform(0, APPEND_DELAY_S))
        return ledger_output(value)

    @tool("kv.put", side_effect="idempotent")
    async def put(value: Any, ctx: ToolContext) -> int:
        """Store ``value`` under the call's idempotency key (again: same file, same content)."""
        await asyncio.sleep(random.uniform(0, CALC_DELAY_S))
        store.mkdir(exist_ok=True)
        name = ctx.idempotency_key.replace(":", "_").replace("[", "_").replace("]", "")
        target = store / name
        scratch = store / f".{name}.{os.getpid()}"
        scratch.write_text(json.dumps(value, sort_keys=True))
        os.replace(scratch, target)
        return derive("kv", value)

    @tool("calc.mix")
    async def mix(parts: list[Any]) -> int:
        """A number made of ``parts``."""
        await asyncio.sleep(random.uniform(0, CALC_DELAY_S))
        return derive("mix", parts)

    @tool("calc.spread")
    async def spread(parts: list[Any]) -> list[int]:
        """``FAN_ITEMS`` numbers made of ``parts`` (what the for_each steps fan out over)."""
        await asyncio.sleep(random.uniform(0, CALC_DELAY_S))
        return [derive("spread", [parts, i]) % 1000 for i in range(FAN_ITEMS)]

    return ToolRegistry([append, put, mix, spread])


# ---------------------------------------------------------------------------- the blueprint


def _ref(step_id: str) -> str:
    return "{{ steps.%s.output }}" % step_id  # noqa: UP031 (Jinja braces)


def _step(tool_name: str, step_id: str, deps: tuple[str, ...], key: str) -> dict[str, Any]:
    return {"id": step_id, "tool": tool_name, "params": {key: [step_id, *map(_ref, deps)]}}


def _mix(step_id: str, *deps: str) -> dict[str, Any]:
    return _step("calc.mix", step_id, deps, "parts")


def _append(step_id: str, *deps: str) -> dict[str, Any]:
    return _step(MUTATING_TOOL, step_id, deps, "value")


def _put(step_id: str, *deps: str) -> dict[str, Any]:
    return _step("kv.put", step_id, deps, "value")


def _blueprint_steps() -> list[dict[str, Any]]:
    return [
        # roots
        _mix("seed"),
        _append("r1"),
        _append("r2"),
        _put("r3"),
        # chain A
        _append("a1", "seed"),
        _mix("a2", "a1"),
        _append("a3", "a2"),
        _put("a4", "a3"),
        _append("a5", "a4"),
        _mix("a6", "a5"),
        _append("a7", "a6"),
        # diamond B
        _append("b_top", "seed", "r1"),
        _mix("b_left", "b_top"),
        _append("b_right", "b_top"),
        _put("b_mid", "b_top"),
        _append("b_join", "b_left", "b_right", "b_mid"),
        # fan-out over FAN_ITEMS items (one mutating, one pure), fan-in
        _step("calc.spread", "spread", ("a7", "b_join"), "parts"),
        {
            "id": "fan",
            "tool": MUTATING_TOOL,
            "for_each": {"items": _ref("spread"), "as": "x", "concurrency": 3},
            "params": {"value": ["fan", "{{ x }}", "{{ index }}"]},
        },
        {
            "id": "fan_calc",
            "tool": "calc.mix",
            "for_each": {"items": _ref("spread"), "as": "x", "concurrency": 2},
            "params": {"parts": ["fan_calc", "{{ x }}", "{{ index }}"]},
        },
        _mix("fan_sum", "fan", "fan_calc"),
        _append("fan_log", "fan_sum"),
        # chain C
        _mix("c1", "r2"),
        _append("c2", "c1"),
        _mix("c3", "c2"),
        _mix("c4", "c3"),
        _append("c5", "c4"),
        _put("c6", "c5"),
        _mix("c7", "c6"),
        _append("c8", "c7"),
        # wide diamond D
        _mix("d_top", "c4"),
        _append("d1", "d_top"),
        _mix("d2", "d_top"),
        _append("d3", "d_top"),
        _put("d4", "d_top"),
        _mix("d5", "d_top"),
        _append("d_join", "d1", "d2", "d3", "d4", "d5"),
        # diamond E, joining the fan-in and chain C
        _append("e_top", "fan_log", "c8"),
        _mix("e_left", "e_top"),
        _append("e_left2", "e_left"),
        _mix("e_right", "e_top"),
        _mix("e_join", "e_left2", "e_right"),
        # chain G
        _mix("g1", "d_join"),
        _append("g2", "g1"),
        _mix("g3", "g2"),
        _put("g4", "g3"),
        _append("g5", "g4"),
        # ordering only (no data): after diamond B
        {"id": "late", "tool": "calc.mix", "params": {"parts": ["late"]}, "depends_on": ["b_join"]},
        # the end: everything flows into the checksum
        _mix("collect", "e_join", "g5", "r3", "late", "a6"),
        _append("final_log", "collect"),
        _mix("checksum", "final_log", "collect"),
    ]


def blueprint() -> Blueprint:
    """The crash test's blueprint: 50 steps, the same every time. Its outputs are every step's
    output and the checksum everything flows into."""
    steps = _blueprint_steps()
    outputs: dict[str, Any] = {"checksum": _ref("checksum")}
    outputs.update({s["id"]: _ref(s["id"]) for s in steps})
    return Blueprint.model_validate({"name": "crash-test", "steps": steps, "outputs": outputs})


BLUEPRINT = blueprint()
STEP_IDS = [s.id for s in BLUEPRINT.steps]
MUTATING_STEPS = [s.id for s in BLUEPRINT.steps if s.tool == MUTATING_TOOL]
FOR_EACH_STEPS = [s.id for s in BLUEPRINT.steps if s.for_each is not None]


def expected_ledger_keys(run_id: str) -> set[str]:
    """The idempotency key of every mutating call of the run (each for_each item's too)."""
    keys: set[str] = set()
    for step_id in MUTATING_STEPS:
        if step_id in FOR_EACH_STEPS:
            keys.update(f"{run_id}:{step_id}[{i}]" for i in range(FAN_ITEMS))
        else:
            keys.add(f"{run_id}:{step_id}")
    return keys


# ---------------------------------------------------------------------------- the worker


async def work(db_url: str, ledger: Path, say: Callable[[str], None]) -> str:
    """Recover, start (or find) the run, wait for it; returns the run's stored status."""
    db = open_database(db_url)
    try:
        registry = build_registry(ledger)
        with db.session() as session:
            version = find_or_add_version(
                session, BLUEPRINT, author=STARTED_BY, origin=VersionOrigin.USER, registry=registry
            )
        runner = DurableRunner(db, registry)
        try:
            report = await runner.recover()
            for run_id, reason in report.failed.items():
                print(f"recover: run {run_id} failed: {reason}", file=sys.stderr, flush=True)
            for run_id, problems in report.needs_attention.items():
                print(
                    f"recover: run {run_id} needs attention: {problems}",
                    file=sys.stderr,
                    flush=True,
                )
            ticket = await runner.start(
                version.id, {}, started_by=STARTED_BY, idempotency_key=RUN_KEY
            )
            handles = dict(report.resumed)
            if ticket.handle is not None:
                handles[ticket.run_id] = ticket.handle
            say(f"READY {ticket.run_id} created={ticket.created} resumed={len(report.resumed)}")
            for handle in handles.values():
                await handle.result()
        finally:
            await runner.close()
        with db.session() as session:
            status = session.scalar(select(Run.status).where(Run.idempotency_key == RUN_KEY))
        return str(status)
    finally:
        db.dispose()


def _printer(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL")
    parser.add_argument("--ledger", required=True, type=Path, help="the ledger file")
    args = parser.parse_args(argv)
    status = asyncio.run(work(args.db, args.ledger, _printer))
    print(f"DONE {status}", flush=True)
    return 0


def forked_main(db_url: str, ledger: str, channel: Connection, log: str) -> None:
    """:func:`main` in a process forked from a server that already imported everything; its
    stdout and stderr go to ``log``; READY and DONE are also sent through ``channel``."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)

    def say(line: str) -> None:
        _printer(line)
        channel.send(line)

    status = asyncio.run(work(db_url, Path(ledger), say))
    say(f"DONE {status}")
    sys.stdout.flush()
    sys.exit(0)


def noop() -> None:
    """Starts the fork server (whose first start imports this module) without doing a thing."""


if __name__ == "__main__":
    sys.exit(main())
