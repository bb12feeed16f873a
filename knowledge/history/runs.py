"""Reading runs and step records (they are written by :mod:`knowledge.durable`), and
per-tool statistics over step records.

Filters combine with AND. ``version`` is a version number and needs ``workflow``. Time
windows are ``since`` (inclusive) to ``until`` (exclusive): on ``created_at`` for runs, on
``started_at`` for step records. Results come newest first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from knowledge.history._lookup import WorkflowRef, require_aware, version_id_for, workflow_row
from knowledge.history.errors import NotFoundError
from knowledge.history.views import RunInfo, StepRecordInfo, ToolStats
from knowledge.store.models import CallState, Run, RunState, StepCall, Workflow, WorkflowVersion

#: Statuses of step records that count as a success / a failure in :func:`step_stats`.
SUCCESS_STATES = frozenset({CallState.SUCCEEDED})
FAILURE_STATES = frozenset({CallState.FAILED, CallState.RETRIED})


def _states(value: str | Collection[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [str(value)]
    return [str(item) for item in value]


def _run_filters(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    workflow: WorkflowRef | None,
    version: int | None,
) -> Select[*tuple[Any, ...]]:
    version_id = version_id_for(session, workflow, version)
    if version_id is not None:
        return stmt.where(Run.version_id == version_id)
    if workflow is not None:
        stmt = stmt.where(Run.workflow_id == workflow_row(session, workflow).id)
    return stmt


def query_runs(
    session: Session,
    *,
    workflow: WorkflowRef | None = None,
    version: int | None = None,
    status: RunState | Collection[RunState] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[RunInfo]:
    """Runs matching every filter given, newest first. ``status`` may be one state or
    several (``{RunState.FAILED, RunState.NEEDS_ATTENTION}``)."""
    stmt = _run_select()
    stmt = _run_filters(session, stmt, workflow, version)
    states = _states(status)
    if states is not None:
        stmt = stmt.where(Run.status.in_(states))
    if require_aware(since, "since") is not None:
        stmt = stmt.where(Run.created_at >= since)
    if require_aware(until, "until") is not None:
        stmt = stmt.where(Run.created_at < until)
    stmt = stmt.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit)
    return [_run_info(run, name, number) for run, name, number in session.execute(stmt)]


def get_run(session: Session, run_id: str) -> RunInfo:
    """The run ``run_id``; :class:`NotFoundError` if there is none."""
    found = session.execute(_run_select().where(Run.id == run_id)).one_or_none()
    if found is None:
        raise NotFoundError(f"run '{run_id}' not found")
    run, name, number = found
    return _run_info(run, name, number)


def query_step_records(
    session: Session,
    *,
    run_id: str | None = None,
    workflow: WorkflowRef | None = None,
    version: int | None = None,
    tool: str | None = None,
    status: CallState | Collection[CallState] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[StepRecordInfo]:
    """Step records matching every filter given, newest (by ``started_at``) first."""
    stmt = _step_filters(session, select(StepCall), run_id, workflow, version, since, until)
    if tool is not None:
        stmt = stmt.where(StepCall.tool == tool)
    states = _states(status)
    if states is not None:
        stmt = stmt.where(StepCall.status.in_(states))
    stmt = stmt.order_by(StepCall.started_at.desc(), StepCall.id.desc()).limit(limit)
    return [_step_info(row) for row in session.scalars(stmt)]


def step_stats(
    session: Session,
    *,
    workflow: WorkflowRef | None = None,
    version: int | None = None,
    since: datetime | None = None,
) -> list[ToolStats]:
    """Per tool (sorted by name): calls, successes, failures, mean/p50/p95 duration, tokens
    and cost, over the step records matching the filters (see :class:`ToolStats`).

    Percentiles are computed here rather than in SQL, so SQLite and PostgreSQL agree.
    """
    columns = select(
        StepCall.tool,
        StepCall.status,
        StepCall.duration_ms,
        StepCall.tokens_in,
        StepCall.tokens_out,
        StepCall.cost_usd,
    )
    stmt = _step_filters(session, columns, None, workflow, version, since, None)
    stmt = stmt.where(StepCall.status != CallState.SKIPPED.value)
    calls: dict[str, int] = defaultdict(int)
    successes: dict[str, int] = defaultdict(int)
    failures: dict[str, int] = defaultdict(int)
    durations: dict[str, list[float]] = defaultdict(list)
    tokens_in: dict[str, int] = defaultdict(int)
    tokens_out: dict[str, int] = defaultdict(int)
    cost: dict[str, float] = defaultdict(float)
    for tool, status, duration, t_in, t_out, usd in session.execute(stmt):
        calls[tool] += 1
        successes[tool] += status in SUCCESS_STATES
        failures[tool] += status in FAILURE_STATES
        if duration is not None:
            durations[tool].append(float(duration))
        tokens_in[tool] += t_in or 0
        tokens_out[tool] += t_out or 0
        cost[tool] += usd or 0.0
    stats = []
    for tool in sorted(calls):
        values = sorted(durations[tool])
        stats.append(
            ToolStats(
                tool=tool,
                calls=calls[tool],
                successes=successes[tool],
                failures=failures[tool],
                mean_ms=math.fsum(values) / len(values) if values else None,
                p50_ms=percentile(values, 50),
                p95_ms=percentile(values, 95),
                tokens_in=tokens_in[tool],
                tokens_out=tokens_out[tool],
                total_cost_usd=cost[tool],
            )
        )
    return stats


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of sorted values, interpolating linearly between the
    closest ranks (NumPy's default); ``None`` for no values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---------------------------------------------------------------------------- internals


def _run_select() -> Select[Run, str, int]:
    return (
        select(Run, Workflow.name, WorkflowVersion.number)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .join(WorkflowVersion, WorkflowVersion.id == Run.version_id)
    )


def _step_filters(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    run_id: str | None,
    workflow: WorkflowRef | None,
    version: int | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[*tuple[Any, ...]]:
    if run_id is not None:
        stmt = stmt.where(StepCall.run_id == run_id)
    if workflow is not None or version is not None:
        stmt = _run_filters(session, stmt.join(Run, Run.id == StepCall.run_id), workflow, version)
    if require_aware(since, "since") is not None:
        stmt = stmt.where(StepCall.started_at >= since)
    if require_aware(until, "until") is not None:
        stmt = stmt.where(StepCall.started_at < until)
    return stmt


def _run_info(run: Run, workflow: str, version: int) -> RunInfo:
    return RunInfo(
        id=run.id,
        workflow_id=run.workflow_id,
        workflow=workflow,
        version_id=run.version_id,
        version=version,
        status=RunState(run.status),
        idempotency_key=run.idempotency_key,
        inputs=dict(run.inputs or {}),
        inputs_redacted=run.inputs_redacted,
        outputs=dict(run.outputs) if run.outputs is not None else None,
        error=run.error,
        failed_step=run.failed_step,
        attention=run.attention,
        issues=list(run.issues or []),
        started_by=run.started_by,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_ms=run.duration_ms,
        tokens_in=run.tokens_in,
        tokens_out=run.tokens_out,
        cost_usd=run.cost_usd,
        owner=run.owner,
        lease_expires_at=run.lease_expires_at,
        resumes=run.resumes,
    )


def _step_info(row: StepCall) -> StepRecordInfo:
    return StepRecordInfo(
        id=row.id,
        run_id=row.run_id,
        step_id=row.step_id,
        tool=row.tool,
        kind=row.kind,
        item_index=row.item_index,
        attempt=row.attempt,
        status=CallState(row.status),
        final=row.final,
        side_effect=row.side_effect,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_ms=row.duration_ms,
        confidence=row.confidence,
        issues=list(row.issues or []),
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        cost_usd=row.cost_usd,
        input_hash=row.input_hash,
        output=row.output,
        output_hash=row.output_hash,
        output_summary=row.output_summary,
        output_size=row.output_size,
        output_truncated=row.output_truncated,
        output_redacted=row.output_redacted,
        error_class=row.error_class,
        error_category=row.error_category,
        error_message=row.error_message,
        decided_by=row.decided_by,
    )
