"""Property tests: on any random DAG, every step runs exactly once and after its dependencies."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.blueprint import Blueprint
from engine.executor import Executor
from engine.records import RunStatus, StepStatus
from tests.engine.conftest import Journal, make_registry


@st.composite
def dags(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=40))
    steps = []
    for i in range(n):
        deps = draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=4)) if i else set()
        use_template = draw(st.booleans())
        explicit = sorted(f"s{d}" for d in deps)
        params: dict = {"name": f"s{i}", "seconds": draw(st.sampled_from([0, 0, 0.001, 0.003]))}
        if use_template and explicit:
            # the first dependency becomes a data reference instead of depends_on
            params["value"] = "{{ steps." + explicit[0] + ".output.name }}"
            explicit = explicit[1:]
        steps.append(
            {
                "id": f"s{i}",
                "tool": "test.work",
                "params": params,
                "depends_on": explicit,
                "_deps": deps,
            }
        )
    order = draw(st.permutations(range(n)))  # blueprint order must not matter
    return [steps[i] for i in order]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.integers(min_value=1, max_value=8))
def test_every_step_runs_once_after_its_dependencies(steps, max_concurrency):
    journal = Journal()
    executor = Executor(make_registry(journal), max_concurrency=max_concurrency)
    blueprint = Blueprint.model_validate(
        {"name": "random", "steps": [{k: v for k, v in s.items() if k != "_deps"} for s in steps]}
    )
    run = asyncio.run(executor.run(blueprint))
    executor.close()
    assert run.status == RunStatus.SUCCEEDED
    assert all(status == StepStatus.SUCCEEDED for status in run.step_status.values())
    started = journal.order("start")
    assert sorted(started) == sorted(s["id"] for s in steps), "each step exactly once"
    for step in steps:
        for dep in step["_deps"]:
            assert journal.index("end", f"s{dep}") < journal.index("start", step["id"]), (
                f"{step['id']} started before its dependency s{dep} ended"
            )
    assert journal.max_running <= max_concurrency


@settings(max_examples=30, deadline=None)
@given(dags(), st.data())
def test_a_failure_anywhere_never_runs_a_dependent_and_never_hangs(steps, data):
    journal = Journal()
    executor = Executor(make_registry(journal))
    victim = data.draw(st.sampled_from([s["id"] for s in steps]))
    for step in steps:
        if step["id"] == victim:
            step["tool"] = "test.fail"
            step["params"] = {"name": victim}
    blueprint = Blueprint.model_validate(
        {"name": "random", "steps": [{k: v for k, v in s.items() if k != "_deps"} for s in steps]}
    )
    run = asyncio.run(asyncio.wait_for(executor.run(blueprint), timeout=10))
    executor.close()
    assert run.status == RunStatus.FAILED
    assert run.failed_step == victim
    by_id = {s["id"]: s for s in steps}

    def descendants(root: str) -> set[str]:
        found, frontier = set(), [root]
        while frontier:
            current = frontier.pop()
            for s in steps:
                if int(current[1:]) in s["_deps"] and s["id"] not in found:
                    found.add(s["id"])
                    frontier.append(s["id"])
        return found

    for dependent in descendants(victim):
        assert dependent not in journal.order("start"), f"{dependent} ran after {victim} failed"
        assert run.step_status[dependent] == StepStatus.CANCELLED
    assert len(run.step_status) == len(by_id)
