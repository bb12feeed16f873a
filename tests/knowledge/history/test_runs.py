"""Reading runs and step records, each filter alone and combined, and per-tool stats."""

from __future__ import annotations

from datetime import datetime

import pytest

from knowledge.history import (
    InvalidArgumentError,
    NotFoundError,
    add_version,
    create_workflow,
    get_run,
    query_runs,
    query_step_records,
    step_stats,
)
from knowledge.history.runs import percentile
from knowledge.store.models import CallState, RunState, VersionOrigin
from tests.knowledge.history.factories import add_run, add_step, at, blueprint

S, F = RunState.SUCCEEDED, RunState.FAILED


@pytest.fixture
def runs_db(db):
    """deploy v1: r1 (ok, t0), r2 (failed, t10); deploy v2: r3 (ok, t20), r5 (running, t40);
    release v1: r4 (needs attention, t30). Step records at the minutes given."""
    with db.session() as s:
        d1 = create_workflow(s, blueprint(), author="U1")
        d2 = add_version(
            s, "deploy", blueprint(description="2"), author="U1", origin=VersionOrigin.USER
        )
        r1 = create_workflow(s, blueprint("release"), author="U1")
        add_run(s, d1, "r1", status=S, created=0, tokens_in=5, cost_usd=0.1)
        add_run(s, d1, "r2", status=F, created=10, error="boom", failed_step="deploy")
        add_run(s, d2, "r3", status=S, created=20)
        add_run(s, r1, "r4", status=RunState.NEEDS_ATTENTION, created=30, attention="stuck")
        add_run(s, d2, "r5", status=RunState.RUNNING, created=40)
        add_step(s, "r1", "deploy", "svc.deploy", started=0, duration_ms=100)
        add_step(
            s, "r1", "check", "svc.health", status=CallState.RETRIED, started=1, duration_ms=50
        )
        add_step(s, "r1", "check", "svc.health", started=2, duration_ms=70, attempt=2)
        add_step(
            s,
            "r2",
            "deploy",
            "svc.deploy",
            status=CallState.FAILED,
            started=10,
            duration_ms=300,
            cost_usd=0.5,
        )
        add_step(s, "r3", "deploy", "svc.deploy", started=20, duration_ms=200)
        add_step(
            s, "r3", "post", "chat.post", status=CallState.SKIPPED, started=21, duration_ms=None
        )
        add_step(
            s,
            "r4",
            "post",
            "chat.post",
            started=30,
            duration_ms=10,
            cost_usd=0.25,
            tokens_in=10,
            tokens_out=5,
        )
    return db


def ids(items) -> list[str]:
    return [item.id for item in items]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["r5", "r4", "r3", "r2", "r1"]),
        ({"workflow": "deploy"}, ["r5", "r3", "r2", "r1"]),
        ({"workflow": "deploy", "version": 1}, ["r2", "r1"]),
        ({"workflow": "deploy", "version": 2}, ["r5", "r3"]),
        ({"status": RunState.FAILED}, ["r2"]),
        ({"status": {RunState.FAILED, RunState.NEEDS_ATTENTION}}, ["r4", "r2"]),
        ({"since": at(10)}, ["r5", "r4", "r3", "r2"]),
        ({"until": at(10)}, ["r1"]),
        ({"since": at(10), "until": at(30)}, ["r3", "r2"]),
        ({"workflow": "deploy", "status": RunState.SUCCEEDED, "since": at(5)}, ["r3"]),
        ({"workflow": "release", "version": 1, "status": RunState.FAILED}, []),
        ({"limit": 2}, ["r5", "r4"]),
    ],
)
def test_query_runs_filters(runs_db, filters, expected):
    with runs_db.session() as s:
        assert ids(query_runs(s, **filters)) == expected


def test_query_runs_by_workflow_id(runs_db):
    with runs_db.session() as s:
        release_id = query_runs(s, workflow="release")[0].workflow_id
        assert ids(query_runs(s, workflow=release_id)) == ["r4"]


def test_run_info_carries_names_and_numbers(runs_db):
    with runs_db.session() as s:
        run = get_run(s, "r2")
        assert (run.workflow, run.version, run.status) == ("deploy", 1, RunState.FAILED)
        assert (run.error, run.failed_step, run.started_by) == ("boom", "deploy", "U1")
        assert run.created_at == at(10) and run.inputs == {"service": "api"}
        assert get_run(s, "r1").tokens_in == 5 and get_run(s, "r1").cost_usd == 0.1
        assert get_run(s, "r4").attention == "stuck"
        with pytest.raises(NotFoundError, match="run 'nope' not found"):
            get_run(s, "nope")


def test_query_argument_errors(runs_db):
    with runs_db.session() as s:
        with pytest.raises(InvalidArgumentError, match="name the workflow"):
            query_runs(s, version=1)
        with pytest.raises(InvalidArgumentError, match="time zone"):
            query_runs(s, since=datetime(2026, 3, 1))
        with pytest.raises(NotFoundError, match="known: deploy, release"):
            query_runs(s, workflow="nope")
        with pytest.raises(NotFoundError, match="no version 3"):
            query_step_records(s, workflow="deploy", version=3)


def steps(records) -> list[tuple[str, str, int]]:
    return [(r.run_id, r.step_id, r.attempt) for r in records]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"run_id": "r1"}, [("r1", "check", 2), ("r1", "check", 1), ("r1", "deploy", 1)]),
        ({"workflow": "release"}, [("r4", "post", 1)]),
        (
            {"workflow": "deploy", "version": 2},
            [("r3", "post", 1), ("r3", "deploy", 1)],
        ),
        ({"tool": "svc.deploy"}, [("r3", "deploy", 1), ("r2", "deploy", 1), ("r1", "deploy", 1)]),
        ({"status": CallState.RETRIED}, [("r1", "check", 1)]),
        (
            {"status": [CallState.FAILED, CallState.SKIPPED]},
            [("r3", "post", 1), ("r2", "deploy", 1)],
        ),
        ({"since": at(21)}, [("r4", "post", 1), ("r3", "post", 1)]),
        ({"until": at(1)}, [("r1", "deploy", 1)]),
        ({"since": at(1), "until": at(10)}, [("r1", "check", 2), ("r1", "check", 1)]),
        (
            {"workflow": "deploy", "version": 1, "tool": "svc.deploy", "since": at(5)},
            [("r2", "deploy", 1)],
        ),
        (
            {"run_id": "r1", "tool": "svc.health", "status": CallState.SUCCEEDED},
            [("r1", "check", 2)],
        ),
        ({"limit": 1}, [("r4", "post", 1)]),
    ],
)
def test_query_step_records_filters(runs_db, filters, expected):
    with runs_db.session() as s:
        assert steps(query_step_records(s, **filters)) == expected


def test_step_record_fields(runs_db):
    with runs_db.session() as s:
        [record] = query_step_records(s, run_id="r4")
    assert (record.tool, record.status, record.duration_ms) == (
        "chat.post",
        CallState.SUCCEEDED,
        10,
    )
    assert (record.tokens_in, record.tokens_out, record.cost_usd) == (10, 5, 0.25)
    assert record.started_at == at(30) and record.final


def stats_by_tool(stats):
    return {item.tool: item for item in stats}


def test_step_stats_numbers(runs_db):
    with runs_db.session() as s:
        stats = step_stats(s)
    assert [item.tool for item in stats] == ["chat.post", "svc.deploy", "svc.health"]
    by_tool = stats_by_tool(stats)
    deploy = by_tool["svc.deploy"]
    assert (deploy.calls, deploy.successes, deploy.failures) == (3, 2, 1)
    assert deploy.mean_ms == pytest.approx(200)
    assert deploy.p50_ms == pytest.approx(200)
    assert deploy.p95_ms == pytest.approx(290)
    assert deploy.total_cost_usd == pytest.approx(0.5)
    assert deploy.success_rate == pytest.approx(2 / 3)
    health = by_tool["svc.health"]
    assert (health.calls, health.successes, health.failures) == (2, 1, 1)
    assert (health.mean_ms, health.p50_ms, health.p95_ms) == pytest.approx((60, 60, 69))
    post = by_tool["chat.post"]  # the skipped record is not a call
    assert (post.calls, post.successes, post.failures) == (1, 1, 0)
    assert (post.mean_ms, post.p95_ms, post.tokens_in, post.tokens_out) == (10, 10, 10, 5)
    assert post.total_cost_usd == pytest.approx(0.25)


def test_step_stats_filters(runs_db):
    with runs_db.session() as s:
        v1 = stats_by_tool(step_stats(s, workflow="deploy", version=1))
        recent = stats_by_tool(step_stats(s, since=at(20)))
        release = step_stats(s, workflow="release")
    assert set(v1) == {"svc.deploy", "svc.health"}
    assert (v1["svc.deploy"].calls, v1["svc.deploy"].p95_ms) == (2, pytest.approx(290))
    assert set(recent) == {"svc.deploy", "chat.post"}
    assert recent["svc.deploy"].mean_ms == 200
    assert [(r.tool, r.calls) for r in release] == [("chat.post", 1)]


def test_percentile_interpolates_linearly():
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([float(v) for v in range(1, 101)], 95) == pytest.approx(95.05)
