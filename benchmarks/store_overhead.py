"""Store overhead benchmark: what durable runs cost on top of the bare engine.

Run it with ``make bench-store`` (``.venv/bin/python benchmarks/store_overhead.py``); add
``--quick`` for a fast check. A measurement script, not a test: it always exits 0 and prints
PASS/FAIL next to the target.

In one run, on the engine overhead benchmark's DAG shapes (``wide``, ``deep``, ``random``) at
1,000 no-op steps:

1. **No store** — ``Executor.run`` (validate, compile, run) with the default ``NullSink``.
2. **SQLite store** — ``DurableRunner.run`` of the same blueprint stored as a workflow version,
   on a SQLite file (WAL, ``synchronous=FULL``: every commit is fsynced). Everything a durable
   run does is timed: loading the version, creating the run row, committing every transition,
   closing the run.
3. **PostgreSQL store** — the same on a throwaway PostgreSQL 15 with fsync on (when its
   binaries are installed; else reported as null).

Each is measured twice per configuration, with no-op tools declared ``none`` (their call starts
are committed with the next transaction) and ``mutating`` (every call start is committed before
the call: the worst case). Added cost per step = (store run − no-store run) / steps; the median
of the repeats is taken per shape, and the worst shape and side effect is reported.

Then **runs per second** of a 5-step workflow (a chain of no-op steps) on SQLite: one run after
another (each waits for its own commits), and 20 at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

from engine_overhead import make_blueprint, shape_dependencies

from engine.blueprint import Blueprint
from engine.executor import Executor
from engine.records import RunStatus
from engine.tools.function import tool
from engine.tools.registry import ToolRegistry
from knowledge.durable.runner import DurableRunner
from knowledge.history.workflows import find_or_add_version
from knowledge.store import Database, open_database
from knowledge.store.models import RunState, VersionOrigin

TARGET_SQLITE_US = 2000.0
SHAPES = ("wide", "deep", "random")
SIDE_EFFECTS = ("none", "mutating")


@tool("bench.noop")
async def noop() -> None:
    """Do nothing."""


@tool("bench.noop_mutating", side_effect="mutating")
async def noop_mutating() -> None:
    """Do nothing, declared as mutating (every call start is committed first)."""


def make_registry() -> ToolRegistry:
    return ToolRegistry([noop, noop_mutating])


def tool_name(side_effect: str) -> str:
    return "bench.noop" if side_effect == "none" else "bench.noop_mutating"


def bench_blueprint(shape: str, steps: int, side_effect: str, seed: int) -> Blueprint:
    deps = shape_dependencies(shape, steps, seed)
    return make_blueprint(f"bench-{shape}-{side_effect}", deps, tool_name(side_effect))


async def time_engine(blueprint: Blueprint, registry: ToolRegistry) -> float:
    executor = Executor(registry, max_concurrency=20_000)
    try:
        t0 = time.perf_counter()
        record = await executor.run(blueprint)
        elapsed = time.perf_counter() - t0
    finally:
        executor.close()
    if record.status is not RunStatus.SUCCEEDED:
        raise RuntimeError(f"run ended {record.status}: {record.error}")
    return elapsed


def store_version(db: Database, blueprint: Blueprint, registry: ToolRegistry) -> int:
    with db.session() as session:
        version = find_or_add_version(
            session, blueprint, author="bench", origin=VersionOrigin.USER, registry=registry
        )
    return version.id


async def time_store(db: Database, version_id: int, registry: ToolRegistry) -> float:
    runner = DurableRunner(db, registry, max_concurrency=20_000)
    try:
        t0 = time.perf_counter()
        ticket = await runner.run(version_id, {}, started_by="bench")
        elapsed = time.perf_counter() - t0
    finally:
        await runner.close()
    if ticket.status is not RunState.SUCCEEDED:
        raise RuntimeError(f"durable run ended {ticket.status}")
    return elapsed


def run_async(make: Callable[[], Awaitable[float]]) -> float:
    gc.collect()
    return asyncio.run(make())  # type: ignore[arg-type]


def measure_store(
    label: str,
    open_db: Callable[[str], Database],
    registry: ToolRegistry,
    steps: int,
    repeats: int,
    seed: int,
) -> dict[str, Any]:
    """Added µs per step of the store over the bare engine, per shape and side effect."""
    results: dict[str, Any] = {}
    worst = 0.0
    for side_effect in SIDE_EFFECTS:
        for shape in SHAPES:
            blueprint = bench_blueprint(shape, steps, side_effect, seed)
            added: list[float] = []
            for repeat in range(repeats):
                db = open_db(f"{shape}_{side_effect}_{repeat}")
                try:
                    version_id = store_version(db, blueprint, registry)
                    bare = run_async(lambda b=blueprint: time_engine(b, registry))
                    stored = run_async(lambda d=db, v=version_id: time_store(d, v, registry))
                finally:
                    db.dispose()
                added.append((stored - bare) / steps * 1e6)
            median = statistics.median(added)
            worst = max(worst, median)
            results[f"{shape}/{side_effect}"] = round(median, 1)
            print(
                f"  {label:<10} {shape:<7} {side_effect:<9} added {median:8.1f} µs/step "
                f"(repeats: {', '.join(f'{a:.0f}' for a in added)})",
                flush=True,
            )
    results["worst"] = round(worst, 1)
    return results


async def runs_per_second(db: Database, registry: ToolRegistry, runs: int) -> tuple[float, float]:
    blueprint = make_blueprint("bench-five", shape_dependencies("deep", 5, 0), "bench.noop")
    version_id = store_version(db, blueprint, registry)
    async with DurableRunner(db, registry) as runner:
        await runner.run(version_id, {}, started_by="bench")  # warm up
        t0 = time.perf_counter()
        for _ in range(runs):
            ticket = await runner.run(version_id, {}, started_by="bench")
            assert ticket.status is RunState.SUCCEEDED
        sequential = runs / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        batch = 20
        for _ in range(runs // batch):
            tickets = await asyncio.gather(
                *(runner.run(version_id, {}, started_by="bench") for _ in range(batch))
            )
            assert all(t.status is RunState.SUCCEEDED for t in tickets)
        concurrent = (runs // batch * batch) / (time.perf_counter() - t0)
    return sequential, concurrent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true", help="Skip PostgreSQL.")
    parser.add_argument("--quick", action="store_true", help="300 steps, 1 repeat, 60 runs.")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.runs = 300, 1, 60
    registry = make_registry()
    print(f"Store overhead: {args.steps} no-op steps, {args.repeats} repeats", flush=True)
    with tempfile.TemporaryDirectory(prefix="kaizen-bench-") as tmp:

        def sqlite_db(name: str) -> Database:
            return open_database(f"sqlite:///{tmp}/{name}.db")

        sqlite = measure_store("sqlite", sqlite_db, registry, args.steps, args.repeats, args.seed)
        postgres: dict[str, Any] | None = None
        postgres_note = "not measured (--no-postgres)"
        if not args.no_postgres:
            try:
                from tests.support.postgres import ThrowawayPostgres

                server = ThrowawayPostgres(durable=True).start()
            except Exception as exc:  # binaries missing: report, do not fail
                postgres_note = f"not measured: {exc}".splitlines()[0]
            else:
                try:

                    def postgres_db(name: str) -> Database:
                        server.create_database(f"bench_{name}")
                        return open_database(server.url(f"bench_{name}"))

                    postgres = measure_store(
                        "postgresql", postgres_db, registry, args.steps, args.repeats, args.seed
                    )
                    postgres_note = "PostgreSQL 15, fsync on"
                finally:
                    server.stop()
        db = sqlite_db("runs")
        try:
            sequential, concurrent = asyncio.run(runs_per_second(db, registry, args.runs))
        finally:
            db.dispose()
    ok = sqlite["worst"] <= TARGET_SQLITE_US
    print()
    print(
        f"SQLite added per step (worst shape): {sqlite['worst']:.1f} µs "
        f"(target ≤ {TARGET_SQLITE_US:.0f}) {'PASS' if ok else 'FAIL'}"
    )
    if postgres is not None:
        print(f"PostgreSQL added per step (worst shape): {postgres['worst']:.1f} µs")
    else:
        print(f"PostgreSQL: {postgres_note}")
    print(f"5-step runs per second on SQLite: {sequential:.1f} one at a time, {concurrent:.1f} "
          "20 at a time")  # fmt: skip
    print(
        json.dumps(
            {
                "sqlite_us_per_step": sqlite["worst"],
                "postgres_us_per_step": postgres["worst"] if postgres is not None else None,
                "runs_per_s": round(sequential, 1),
                "runs_per_s_concurrent": round(concurrent, 1),
                "sqlite_by_shape": sqlite,
                "postgres_by_shape": postgres,
                "steps": args.steps,
                "repeats": args.repeats,
                "target_sqlite_us_per_step": TARGET_SQLITE_US,
                "postgres": postgres_note,
            }
        )
    )


if __name__ == "__main__":
    main()
