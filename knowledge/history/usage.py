"""Spending: tokens and money per day and workflow, daily budgets, and checking a day
against them.

A budget limits tokens (in + out) and/or US dollars per day, for one workflow or, with no
workflow, for all of them together (the global budget, a single row). A limit is exceeded
when nothing is left of it (``used >= limit``). Audit action: ``budget.updated``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.history._lookup import WorkflowRef, workflow_row
from knowledge.history._upsert import dialect_insert
from knowledge.history.audit import audit
from knowledge.history.errors import InvalidArgumentError, NotFoundError
from knowledge.history.views import BudgetInfo, BudgetLimit, BudgetStatus, UsageInfo
from knowledge.store.models import Budget, Usage, Workflow
from knowledge.store.types import utcnow


def record_usage(
    session: Session,
    *,
    workflow_id: int,
    day: date,
    tokens_in: int,
    tokens_out: int,
    cost_usd: float,
    runs: int = 1,
) -> UsageInfo:
    """Add to the workflow's usage of ``day`` (one atomic INSERT … ON CONFLICT DO UPDATE that
    increments, so concurrent recorders never lose an increment); returns the new totals."""
    try:
        add_usage(
            session,
            workflow_id=workflow_id,
            day=day,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost_usd,
            runs=runs,
        )
    except IntegrityError:  # the foreign key: no such workflow
        raise NotFoundError(f"workflow #{workflow_id} not found") from None
    return usage_for(session, day=day, workflow=workflow_id)


def add_usage(
    executor: Session | Connection,
    *,
    workflow_id: int,
    day: date,
    tokens_in: int,
    tokens_out: int,
    cost_usd: float,
    runs: int = 1,
) -> None:
    """:func:`record_usage` without reading the totals back (for the run recorder, which adds
    usage at the end of every run, on its own connection)."""
    for name, value in (
        ("tokens_in", tokens_in),
        ("tokens_out", tokens_out),
        ("cost_usd", cost_usd),
        ("runs", runs),
    ):
        if value < 0:
            raise InvalidArgumentError(f"{name} cannot be negative ({value})")
    # The write comes first: on SQLite it takes the write lock before anything is read, so
    # concurrent recorders queue (busy_timeout) instead of failing on a stale snapshot.
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    executor.execute(
        _increment_statement(bind.dialect.name),
        {
            "day": day,
            "workflow_id": workflow_id,
            "runs": runs,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": float(cost_usd),
        },
    )


_INCREMENTS: dict[str, Any] = {}


def _increment_statement(dialect: str) -> Any:
    """The usage upsert of ``dialect``, built once (building it costs more than running it)."""
    statement = _INCREMENTS.get(dialect)
    if statement is None:
        insert = dialect_insert(dialect, Usage)
        new = insert.excluded
        statement = _INCREMENTS[dialect] = insert.on_conflict_do_update(
            index_elements=["day", "workflow_id"],
            set_={
                "runs": Usage.runs + new.runs,
                "tokens_in": Usage.tokens_in + new.tokens_in,
                "tokens_out": Usage.tokens_out + new.tokens_out,
                "cost_usd": Usage.cost_usd + new.cost_usd,
            },
        )
    return statement


def usage_for(session: Session, *, day: date, workflow: WorkflowRef | None = None) -> UsageInfo:
    """The usage of ``day`` by ``workflow``, or (``None``) by all workflows together."""
    stmt = select(
        func.coalesce(func.sum(Usage.runs), 0),
        func.coalesce(func.sum(Usage.tokens_in), 0),
        func.coalesce(func.sum(Usage.tokens_out), 0),
        func.coalesce(func.sum(Usage.cost_usd), 0.0),
    ).where(Usage.day == day)
    row: Workflow | None = None
    if workflow is not None:
        row = workflow_row(session, workflow)
        stmt = stmt.where(Usage.workflow_id == row.id)
    runs, tokens_in, tokens_out, cost = session.execute(stmt).one()
    return UsageInfo(
        day=day,
        workflow_id=row.id if row is not None else None,
        workflow=row.name if row is not None else None,
        runs=int(runs),
        tokens_in=int(tokens_in),
        tokens_out=int(tokens_out),
        cost_usd=float(cost),
    )


def set_budget(
    session: Session,
    *,
    workflow: WorkflowRef | None = None,
    daily_tokens: int | None = None,
    daily_usd: float | None = None,
    by: str,
) -> BudgetInfo:
    """Set the daily limits of ``workflow`` (``None``: the global budget). A limit given as
    ``None`` is removed (no limit)."""
    if daily_tokens is not None and daily_tokens < 0:
        raise InvalidArgumentError(f"daily_tokens cannot be negative ({daily_tokens})")
    if daily_usd is not None and daily_usd < 0:
        raise InvalidArgumentError(f"daily_usd cannot be negative ({daily_usd})")
    target = workflow_row(session, workflow, lock=True) if workflow is not None else None
    row = _budget_row(session, target.id if target is not None else None, lock=True)
    if row is None:
        row = Budget(workflow_id=target.id if target is not None else None)
        session.add(row)
    row.daily_tokens = daily_tokens
    row.daily_usd = float(daily_usd) if daily_usd is not None else None
    row.updated_by = by
    row.updated_at = utcnow()
    session.flush()
    audit(
        session,
        actor=by,
        action="budget.updated",
        subject_type="budget",
        subject_id=target.name if target is not None else "global",
        detail={"daily_tokens": daily_tokens, "daily_usd": row.daily_usd},
    )
    return _budget_info(row, target.name if target is not None else None)


def get_budget(session: Session, *, workflow: WorkflowRef | None = None) -> BudgetInfo | None:
    """The budget of ``workflow`` (``None``: the global one), if one is set."""
    target = workflow_row(session, workflow) if workflow is not None else None
    row = _budget_row(session, target.id if target is not None else None)
    return _budget_info(row, target.name if target else None) if row is not None else None


def budget_status(session: Session, *, workflow: WorkflowRef, day: date) -> BudgetStatus:
    """``workflow``'s usage of ``day`` against its own budget and the global one (which is
    checked against every workflow's usage together)."""
    target = workflow_row(session, workflow)
    own = usage_for(session, day=day, workflow=target.id)
    total = usage_for(session, day=day)
    limits: list[BudgetLimit] = []
    for scope, budget, used in (
        ("workflow", _budget_row(session, target.id), own),
        ("global", _budget_row(session, None), total),
    ):
        if budget is None:
            continue
        if budget.daily_tokens is not None:
            limits.append(_limit(scope, "tokens", budget.daily_tokens, used.tokens))
        if budget.daily_usd is not None:
            limits.append(_limit(scope, "usd", budget.daily_usd, used.cost_usd))
    return BudgetStatus(workflow=target.name, day=day, usage=own, total=total, limits=limits)


def _limit(scope: str, metric: Literal["tokens", "usd"], limit: float, used: float) -> BudgetLimit:
    return BudgetLimit(
        scope="workflow" if scope == "workflow" else "global",
        metric=metric,
        limit=limit,
        used=used,
        remaining=max(0.0, limit - used),
        exceeded=used >= limit,
    )


def _budget_row(session: Session, workflow_id: int | None, *, lock: bool = False) -> Budget | None:
    stmt = select(Budget)
    if workflow_id is None:
        stmt = stmt.where(Budget.workflow_id.is_(None))
    else:
        stmt = stmt.where(Budget.workflow_id == workflow_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt.order_by(Budget.id).limit(1)).one_or_none()


def _budget_info(row: Budget, workflow: str | None) -> BudgetInfo:
    return BudgetInfo(
        id=row.id,
        workflow_id=row.workflow_id,
        workflow=workflow,
        daily_tokens=row.daily_tokens,
        daily_usd=row.daily_usd,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )
