"""Usage: atomic increments per day and workflow, budgets and their status."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from knowledge.history import (
    InvalidArgumentError,
    NotFoundError,
    budget_status,
    create_workflow,
    get_budget,
    query_audit,
    record_usage,
    set_budget,
    usage_for,
)
from tests.knowledge.history.factories import blueprint

DAY = date(2026, 3, 1)
NEXT = date(2026, 3, 2)


@pytest.fixture
def workflows(db):
    with db.session() as s:
        deploy = create_workflow(s, blueprint(), author="U1").workflow_id
        release = create_workflow(s, blueprint("release"), author="U1").workflow_id
    return db, deploy, release


def test_record_usage_increments(workflows):
    db, deploy, release = workflows
    with db.session() as s:
        first = record_usage(
            s, workflow_id=deploy, day=DAY, tokens_in=100, tokens_out=20, cost_usd=0.5
        )
        assert (first.runs, first.tokens_in, first.tokens_out, first.cost_usd) == (1, 100, 20, 0.5)
        record_usage(
            s, workflow_id=deploy, day=DAY, tokens_in=10, tokens_out=5, cost_usd=0.25, runs=2
        )
        record_usage(s, workflow_id=release, day=DAY, tokens_in=1, tokens_out=1, cost_usd=1.0)
        record_usage(s, workflow_id=deploy, day=NEXT, tokens_in=7, tokens_out=0, cost_usd=0.0)
    with db.session() as s:
        own = usage_for(s, day=DAY, workflow="deploy")
        total = usage_for(s, day=DAY)
        empty = usage_for(s, day=date(2020, 1, 1), workflow=release)
    assert (own.workflow, own.runs, own.tokens_in, own.tokens_out, own.tokens) == (
        "deploy",
        3,
        110,
        25,
        135,
    )
    assert own.cost_usd == pytest.approx(0.75)
    assert (total.workflow, total.runs, total.tokens) == (None, 4, 137)
    assert total.cost_usd == pytest.approx(1.75)
    assert (empty.runs, empty.tokens, empty.cost_usd) == (0, 0, 0.0)


def test_record_usage_errors(workflows):
    db, deploy, _ = workflows
    with db.session() as s, pytest.raises(InvalidArgumentError, match="tokens_in"):
        record_usage(s, workflow_id=deploy, day=DAY, tokens_in=-1, tokens_out=0, cost_usd=0)
    with db.session() as s, pytest.raises(NotFoundError, match="workflow #999"):
        record_usage(s, workflow_id=999, day=DAY, tokens_in=1, tokens_out=0, cost_usd=0)


def test_concurrent_increments_are_not_lost(workflows):
    db, deploy, _ = workflows

    def record(i: int) -> None:
        with db.session() as s:
            record_usage(s, workflow_id=deploy, day=DAY, tokens_in=i, tokens_out=1, cost_usd=0.5)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(record, range(60)))
    with db.session() as s:
        usage = usage_for(s, day=DAY, workflow=deploy)
    assert (usage.runs, usage.tokens_in, usage.tokens_out) == (60, sum(range(60)), 60)
    assert usage.cost_usd == pytest.approx(30.0)


def test_set_budget_creates_updates_and_clears(workflows):
    db, _, _ = workflows
    with db.session() as s:
        assert get_budget(s) is None
        glob = set_budget(s, daily_tokens=1000, by="U1")
        again = set_budget(s, daily_usd=5.0, by="U2")  # the one global row, limits replaced
        own = set_budget(s, workflow="deploy", daily_tokens=50, by="U3")
        assert get_budget(s) == again and get_budget(s, workflow="deploy") == own
        entries = query_audit(s, action="budget.updated")
    assert again.id == glob.id
    assert (again.workflow, again.daily_tokens, again.daily_usd, again.updated_by) == (
        None,
        None,
        5.0,
        "U2",
    )
    assert (own.workflow, own.daily_tokens, own.daily_usd) == ("deploy", 50, None)
    assert [(e.actor, e.subject_id) for e in entries] == [
        ("U3", "deploy"),
        ("U2", "global"),
        ("U1", "global"),
    ]
    with db.session() as s, pytest.raises(InvalidArgumentError):
        set_budget(s, daily_usd=-1, by="U1")


def test_budget_status_without_budgets(workflows):
    db, deploy, _ = workflows
    with db.session() as s:
        record_usage(s, workflow_id=deploy, day=DAY, tokens_in=10**9, tokens_out=0, cost_usd=1e6)
        status = budget_status(s, workflow="deploy", day=DAY)
    assert status.limits == [] and not status.exceeded and status.reason is None


def test_workflow_token_budget(workflows):
    db, deploy, _ = workflows
    with db.session() as s:
        set_budget(s, workflow="deploy", daily_tokens=1000, by="U1")
        record_usage(s, workflow_id=deploy, day=DAY, tokens_in=900, tokens_out=99, cost_usd=0)
        under = budget_status(s, workflow="deploy", day=DAY)
        record_usage(s, workflow_id=deploy, day=DAY, tokens_in=1, tokens_out=0, cost_usd=0)
        at_limit = budget_status(s, workflow=deploy, day=DAY)
        other_day = budget_status(s, workflow="deploy", day=NEXT)
    [limit] = under.limits
    assert (limit.scope, limit.metric, limit.limit, limit.used, limit.remaining) == (
        "workflow",
        "tokens",
        1000,
        999,
        1,
    )
    assert not under.exceeded
    [limit] = at_limit.limits
    assert at_limit.exceeded and limit.exceeded and limit.remaining == 0
    assert at_limit.exceeded_limits == [limit]
    assert at_limit.reason == "'deploy' daily tokens budget: 1,000 of 1,000 used"
    assert not other_day.exceeded and other_day.limits[0].used == 0


def test_global_budget_counts_every_workflow(workflows):
    db, deploy, release = workflows
    with db.session() as s:
        set_budget(s, daily_usd=1.0, by="U1")
        set_budget(s, workflow="deploy", daily_usd=0.5, daily_tokens=100, by="U1")
        record_usage(s, workflow_id=deploy, day=DAY, tokens_in=10, tokens_out=0, cost_usd=0.3)
        record_usage(s, workflow_id=release, day=DAY, tokens_in=10, tokens_out=0, cost_usd=0.6)
        ok = budget_status(s, workflow="deploy", day=DAY)
        record_usage(s, workflow_id=release, day=DAY, tokens_in=0, tokens_out=0, cost_usd=0.2)
        over = budget_status(s, workflow="deploy", day=DAY)
        release_status = budget_status(s, workflow="release", day=DAY)
    assert [(lim.scope, lim.metric) for lim in ok.limits] == [
        ("workflow", "tokens"),
        ("workflow", "usd"),
        ("global", "usd"),
    ]
    assert not ok.exceeded
    assert ok.limits[2].used == pytest.approx(0.9) and ok.limits[2].remaining == pytest.approx(0.1)
    assert over.exceeded
    assert [(lim.scope, lim.metric) for lim in over.exceeded_limits] == [("global", "usd")]
    assert over.reason == "global daily usd budget: $1.10 of $1.00 used"
    assert over.usage.cost_usd == pytest.approx(0.3) and over.total.cost_usd == pytest.approx(1.1)
    assert release_status.exceeded  # the global budget binds every workflow
    assert [lim.scope for lim in release_status.limits] == ["global"]


def test_zero_limit_allows_nothing(workflows):
    db, _, _ = workflows
    with db.session() as s:
        set_budget(s, workflow="release", daily_tokens=0, by="U1")
        assert budget_status(s, workflow="release", day=DAY).exceeded
