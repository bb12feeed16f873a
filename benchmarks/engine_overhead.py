"""Engine overhead benchmark: the Kaizen executor against a naive level-by-level baseline.

Run it with ``make bench`` (which runs ``.venv/bin/python benchmarks/engine_overhead.py``), or
add ``--quick`` for a fast check (2,000 steps, one repeat). This is a measurement script, not a
test: it always exits 0 and prints PASS/FAIL next to the spec's targets.

What is measured, in one run:

1. **Per-step overhead** — 10,000 no-op steps (``bench.noop`` returns ``None`` at once) in
   three DAG shapes: ``wide`` (all independent), ``deep`` (one chain) and ``random`` (each step
   depends on 0–3 random earlier steps, seeded). For Kaizen the timed region is ``plan`` +
   ``run`` of a fresh ``Executor(registry, max_concurrency=20000)`` with the default
   ``NullSink``, i.e. what ``await executor.run(blueprint)`` costs end to end; plan building
   (validation and compilation) is also reported on its own. Overhead per step is wall time /
   steps, in µs; each shape is repeated and the median is reported. ``overhead_us_per_step`` is
   the worst shape's median.
2. **Critical path** — a seeded 200-step random DAG of ``bench.sleep`` steps (10–100 ms each).
   ``wall / critical path`` for Kaizen (event-driven: a step starts when its last dependency
   ends) and for the baseline (each level waits for its slowest step). Median of the repeats.
   ``critical_path_ratio`` times Kaizen running the compiled plan — a workflow version is
   validated and compiled once and then run many times, and the baseline and the floor get
   a prepared DAG too — so it compares scheduling on equal terms;
   ``critical_path_ratio_with_planning`` adds validating and compiling the blueprint (the
   first run of a new blueprint). As an extra reference, a minimal event-driven executor
   without any bookkeeping gives the floor that asyncio itself allows (each ``asyncio.sleep``
   overshoots by up to ~1 ms of timer granularity, and those add up along the path).
3. **Peak memory** — tracemalloc's peak during plan + run of the 10,000-step random DAG, in a
   separate untimed run (tracing slows execution down).

The baseline computes topological levels (1 + the deepest dependency) and runs each level with
``asyncio.gather``, calling the tool's coroutine function directly: no validation, templates,
records or events. It is the reference for scheduling, not for bookkeeping.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from engine.blueprint import Blueprint, Step
from engine.executor import Executor
from engine.records import RunStatus
from engine.tools.function import FunctionTool, tool
from engine.tools.registry import ToolRegistry

TARGET_OVERHEAD_US = 200.0
TARGET_CRITICAL_PATH_RATIO = 1.02
SHAPES = ("wide", "deep", "random")
CP_STEPS = 200
CP_MIN_S, CP_MAX_S = 0.010, 0.100
MAX_CONCURRENCY = 20_000


@tool("bench.noop")
async def noop() -> None:
    """Do nothing."""


@tool("bench.sleep")
async def sleep(seconds: float) -> None:
    """Sleep without blocking the event loop.

    Args:
        seconds: How long to sleep.
    """
    await asyncio.sleep(seconds)


# ------------------------------------------------------------------------------------ DAGs


def step_id(index: int) -> str:
    return f"s{index:05d}"


def random_dependencies(count: int, rng: random.Random) -> list[list[int]]:
    """Each step depends on 0–3 (uniform, so 1.5 on average) distinct earlier steps."""
    return [rng.sample(range(i), min(i, rng.randint(0, 3))) for i in range(count)]


def shape_dependencies(shape: str, count: int, seed: int) -> list[list[int]]:
    if shape == "wide":
        return [[] for _ in range(count)]
    if shape == "deep":
        return [[i - 1] if i else [] for i in range(count)]
    if shape == "random":
        return random_dependencies(count, random.Random(seed))
    raise ValueError(f"unknown shape {shape!r}")


def make_blueprint(
    name: str, deps: list[list[int]], tool_name: str, params: list[dict[str, Any]] | None = None
) -> Blueprint:
    return Blueprint(
        name=name,
        steps=[
            Step(
                id=step_id(i),
                tool=tool_name,
                params=params[i] if params is not None else {},
                depends_on=[step_id(d) for d in step_deps],
            )
            for i, step_deps in enumerate(deps)
        ],
    )


def critical_path(deps: list[list[int]], durations: list[float]) -> tuple[float, int]:
    """Longest path by summed durations, and its number of steps (steps only depend on
    earlier steps)."""
    finish: list[float] = []
    length: list[int] = []
    for i, step_deps in enumerate(deps):
        last = max(step_deps, key=finish.__getitem__, default=None)
        finish.append(durations[i] + (finish[last] if last is not None else 0.0))
        length.append(1 + (length[last] if last is not None else 0))
    end = max(range(len(deps)), key=finish.__getitem__)
    return finish[end], length[end]


def level_count(deps: list[list[int]]) -> int:
    levels: list[int] = []
    for step_deps in deps:
        levels.append(1 + max((levels[d] for d in step_deps), default=-1))
    return max(levels) + 1


# ------------------------------------------------------------------------------ executors


def make_registry() -> ToolRegistry:
    return ToolRegistry([noop, sleep])


async def run_baseline(blueprint: Blueprint, registry: ToolRegistry) -> None:
    """The naive executor: topological levels, one ``asyncio.gather`` per level."""
    level_of: dict[str, int] = {}
    levels: list[list[Step]] = []
    for step in blueprint.steps:  # dependencies come first in these blueprints
        level = 1 + max((level_of[d] for d in step.depends_on), default=-1)
        level_of[step.id] = level
        if level == len(levels):
            levels.append([])
        levels[level].append(step)
    functions: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {}
    for step in blueprint.steps:
        if step.tool not in functions:
            found = registry.get(step.tool)
            assert isinstance(found, FunctionTool)
            functions[step.tool] = found.fn

    async def run_step(step: Step) -> Any:
        return await functions[step.tool](**step.params)

    for level_steps in levels:
        await asyncio.gather(*(run_step(s) for s in level_steps))


async def run_event_driven(blueprint: Blueprint, registry: ToolRegistry) -> None:
    """The floor for the critical-path figure: a minimal event-driven executor (a task per
    step awaits its dependencies' tasks), with no bookkeeping at all. Extra reference, so that
    Kaizen's ratio can be read against what asyncio itself allows (timer granularity)."""
    tasks: dict[str, asyncio.Task[Any]] = {}

    async def run_step(step: Step, fn: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
        if step.depends_on:
            await asyncio.gather(*(tasks[d] for d in step.depends_on))
        return await fn(**step.params)

    for step in blueprint.steps:  # dependencies come first in these blueprints
        found = registry.get(step.tool)
        assert isinstance(found, FunctionTool)
        tasks[step.id] = asyncio.create_task(run_step(step, found.fn))
    await asyncio.gather(*tasks.values())


@dataclass(slots=True)
class KaizenTiming:
    plan_s: float
    run_s: float

    @property
    def total_s(self) -> float:
        return self.plan_s + self.run_s


async def run_kaizen(blueprint: Blueprint, registry: ToolRegistry) -> KaizenTiming:
    """Plan and run ``blueprint`` on a fresh executor; time both parts."""
    executor = Executor(registry, max_concurrency=MAX_CONCURRENCY)
    try:
        t0 = time.perf_counter()
        plan = executor.plan(blueprint)
        t1 = time.perf_counter()
        record = await executor.run(plan)
        t2 = time.perf_counter()
    finally:
        executor.close()
    if record.status is not RunStatus.SUCCEEDED:
        raise RuntimeError(f"Kaizen run ended {record.status}: {record.error}")
    return KaizenTiming(plan_s=t1 - t0, run_s=t2 - t1)


def timed(
    runner: Callable[[Blueprint, ToolRegistry], Coroutine[Any, Any, None]],
    blueprint: Blueprint,
    registry: ToolRegistry,
) -> float:
    gc.collect()
    t0 = time.perf_counter()
    asyncio.run(runner(blueprint, registry))
    return time.perf_counter() - t0


def timed_kaizen(blueprint: Blueprint, registry: ToolRegistry) -> KaizenTiming:
    gc.collect()
    return asyncio.run(run_kaizen(blueprint, registry))


# ---------------------------------------------------------------------------- measurements


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def measure_overhead(
    registry: ToolRegistry, steps: int, repeats: int, seed: int
) -> dict[str, dict[str, float]]:
    """Median µs per step for each shape: Kaizen end to end, its plan and run parts, baseline."""
    results: dict[str, dict[str, float]] = {}
    print(f"== per-step overhead: {steps:,} no-op steps, median of {repeats} ==")
    print(
        f"{'shape':<8} {'levels':>6} {'kaizen µs/step':>15} {'plan µs/step':>13} "
        f"{'run µs/step':>12} {'baseline µs/step':>17} {'kaizen/baseline':>16}"
    )
    for shape in SHAPES:
        deps = shape_dependencies(shape, steps, seed)
        blueprint = make_blueprint(f"bench-{shape}", deps, "bench.noop")
        kaizen: list[KaizenTiming] = []
        baseline: list[float] = []
        for _ in range(repeats):  # interleaved, so drift hits both alike
            kaizen.append(timed_kaizen(blueprint, registry))
            baseline.append(timed(run_baseline, blueprint, registry))
        per_step = 1e6 / steps
        figures = {
            "kaizen_us_per_step": statistics.median(t.total_s for t in kaizen) * per_step,
            "plan_us_per_step": statistics.median(t.plan_s for t in kaizen) * per_step,
            "run_us_per_step": statistics.median(t.run_s for t in kaizen) * per_step,
            "baseline_us_per_step": statistics.median(baseline) * per_step,
        }
        results[shape] = figures
        print(
            f"{shape:<8} {level_count(deps):>6} {figures['kaizen_us_per_step']:>15.1f} "
            f"{figures['plan_us_per_step']:>13.1f} {figures['run_us_per_step']:>12.1f} "
            f"{figures['baseline_us_per_step']:>17.2f} "
            f"{figures['kaizen_us_per_step'] / figures['baseline_us_per_step']:>15.0f}x"
        )
    return results


def measure_critical_path(registry: ToolRegistry, repeats: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed + 1)
    deps = random_dependencies(CP_STEPS, rng)
    durations = [rng.uniform(CP_MIN_S, CP_MAX_S) for _ in range(CP_STEPS)]
    blueprint = make_blueprint(
        "bench-critical-path", deps, "bench.sleep", [{"seconds": d} for d in durations]
    )
    path_s, path_steps = critical_path(deps, durations)
    edges = sum(len(d) for d in deps)
    print(
        f"\n== critical path: {CP_STEPS} sleep steps of {CP_MIN_S * 1000:.0f}–"
        f"{CP_MAX_S * 1000:.0f} ms, {edges / CP_STEPS:.2f} deps/step, "
        f"{level_count(deps)} levels, median of {repeats} =="
    )
    print(
        f"critical path {path_s * 1000:.1f} ms over {path_steps} steps; "
        f"total work {sum(durations) * 1000:.0f} ms (parallelism {sum(durations) / path_s:.1f}x)"
    )
    kaizen: list[KaizenTiming] = []
    baseline: list[float] = []
    floor: list[float] = []
    for _ in range(repeats):
        kaizen.append(timed_kaizen(blueprint, registry))
        baseline.append(timed(run_baseline, blueprint, registry))
        floor.append(timed(run_event_driven, blueprint, registry))
    figures = {
        "critical_path_ms": path_s * 1000,
        "critical_path_steps": path_steps,
        "kaizen_wall_ms": statistics.median(t.run_s for t in kaizen) * 1000,
        "kaizen_plan_ms": statistics.median(t.plan_s for t in kaizen) * 1000,
        "baseline_wall_ms": statistics.median(baseline) * 1000,
        "critical_path_ratio": statistics.median(t.run_s for t in kaizen) / path_s,
        "critical_path_ratio_with_planning": (
            statistics.median(t.total_s for t in kaizen) / path_s
        ),
        "baseline_critical_path_ratio": statistics.median(baseline) / path_s,
        "floor_critical_path_ratio": statistics.median(floor) / path_s,
    }
    print(
        f"kaizen   wall {figures['kaizen_wall_ms']:8.1f} ms  ratio "
        f"{figures['critical_path_ratio']:.4f}  (compiled plan; with planning "
        f"{figures['critical_path_ratio_with_planning']:.4f}, plan "
        f"{figures['kaizen_plan_ms']:.1f} ms)"
    )
    print(
        f"baseline wall {figures['baseline_wall_ms']:8.1f} ms  ratio "
        f"{figures['baseline_critical_path_ratio']:.4f}"
    )
    print(
        f"floor    ratio {figures['floor_critical_path_ratio']:.4f}  (minimal event-driven "
        "executor: asyncio timer overshoot along the path, no engine)"
    )
    return figures


def measure_peak_memory(registry: ToolRegistry, steps: int, seed: int) -> float:
    """tracemalloc peak (MB) of planning and running the random DAG; not timed."""
    blueprint = make_blueprint(
        "bench-memory", shape_dependencies("random", steps, seed), "bench.noop"
    )
    gc.collect()
    tracemalloc.start()
    try:
        asyncio.run(run_kaizen(blueprint, registry))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    peak_mb = peak / 2**20
    print(f"\n== peak memory: {steps:,} random steps (tracemalloc, untimed run) ==")
    print(f"kaizen peak {peak_mb:.1f} MB ({peak / steps / 1024:.1f} KiB per step)")
    return peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 steps, one repeat")
    parser.add_argument("--seed", type=int, default=42, help="seed of the random DAGs")
    parser.add_argument(
        "--path-repeats",
        type=int,
        default=7,
        help="repeats of the critical-path runs (each ~2 s; the median damps timer noise)",
    )
    args = parser.parse_args()
    steps, repeats = (2_000, 1) if args.quick else (10_000, 3)
    path_repeats = 1 if args.quick else args.path_repeats
    registry = make_registry()

    shapes = measure_overhead(registry, steps, repeats, args.seed)
    overhead = max(figures["kaizen_us_per_step"] for figures in shapes.values())
    worst = max(shapes, key=lambda shape: shapes[shape]["kaizen_us_per_step"])
    path = measure_critical_path(registry, path_repeats, args.seed)
    peak_mb = measure_peak_memory(registry, steps, args.seed)

    overhead_ok = overhead <= TARGET_OVERHEAD_US
    ratio_ok = path["critical_path_ratio"] <= TARGET_CRITICAL_PATH_RATIO
    print("\n== targets ==")
    print(
        f"overhead_us_per_step {overhead:.1f} (worst shape: {worst}) "
        f"<= {TARGET_OVERHEAD_US:.0f}: {verdict(overhead_ok)}"
    )
    print(
        f"critical_path_ratio {path['critical_path_ratio']:.4f} "
        f"<= {TARGET_CRITICAL_PATH_RATIO}: {verdict(ratio_ok)} "
        f"(baseline {path['baseline_critical_path_ratio']:.4f})"
    )
    print(f"peak_mb {peak_mb:.1f} (no target)")
    summary = {
        "overhead_us_per_step": round(overhead, 2),
        "critical_path_ratio": round(path["critical_path_ratio"], 4),
        "critical_path_ratio_with_planning": round(path["critical_path_ratio_with_planning"], 4),
        "baseline_critical_path_ratio": round(path["baseline_critical_path_ratio"], 4),
        "peak_mb": round(peak_mb, 2),
        "steps": steps,
        "repeats": repeats,
        "path_repeats": path_repeats,
        "worst_shape": worst,
        "shapes": {
            shape: {key: round(value, 2) for key, value in figures.items()}
            for shape, figures in shapes.items()
        },
        "critical_path": {key: round(value, 4) for key, value in path.items()},
        "targets": {
            "overhead_us_per_step": {"max": TARGET_OVERHEAD_US, "pass": overhead_ok},
            "critical_path_ratio": {"max": TARGET_CRITICAL_PATH_RATIO, "pass": ratio_ok},
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
