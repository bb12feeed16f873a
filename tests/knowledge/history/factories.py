"""Test data: blueprints on the test registry's tools, and runs/step records inserted as ORM
rows (the history layer only reads them)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from knowledge.history.views import VersionInfo
from knowledge.store.models import CallState, Run, RunState, StepCall

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

DEPLOY: dict[str, Any] = {
    "name": "deploy",
    "description": "Deploy a service and check it",
    "inputs": {"service": {"type": "string"}},
    "steps": [
        {"id": "deploy", "tool": "svc.deploy", "params": {"service": "{{ inputs.service }}"}},
        {
            "id": "check",
            "tool": "svc.health",
            "params": {"service": "{{ inputs.service }}"},
            "depends_on": ["deploy"],
        },
        {
            "id": "post",
            "tool": "chat.post",
            "params": {"channel": "#ops", "text": "{{ steps.check.output.ok }}"},
        },
    ],
    "outputs": {"ok": "{{ steps.check.output.ok }}"},
}


def blueprint(name: str = "deploy", **changes: Any) -> dict[str, Any]:
    """A copy of :data:`DEPLOY` named ``name`` with top-level ``changes``."""
    data = copy.deepcopy(DEPLOY)
    data["name"] = name
    data.update(changes)
    return data


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def add_run(
    session: Session,
    version: VersionInfo,
    run_id: str,
    *,
    status: RunState = RunState.SUCCEEDED,
    created: float = 0,
    **extra: Any,
) -> Run:
    run = Run(
        id=run_id,
        workflow_id=version.workflow_id,
        version_id=version.id,
        status=status.value,
        inputs={"service": "api"},
        started_by="U1",
        created_at=at(created),
        started_at=at(created),
        **extra,
    )
    session.add(run)
    session.flush()
    return run


def add_step(
    session: Session,
    run_id: str,
    step_id: str,
    tool: str,
    *,
    status: CallState = CallState.SUCCEEDED,
    started: float = 0,
    duration_ms: float | None = 100.0,
    attempt: int = 1,
    cost_usd: float = 0.0,
    tokens_in: int = 0,
    tokens_out: int = 0,
) -> StepCall:
    record = StepCall(
        run_id=run_id,
        step_id=step_id,
        tool=tool,
        kind="action",
        attempt=attempt,
        status=status.value,
        final=status is not CallState.RETRIED,
        side_effect="none",
        started_at=at(started),
        duration_ms=duration_ms,
        cost_usd=cost_usd,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
    )
    session.add(record)
    session.flush()
    return record
