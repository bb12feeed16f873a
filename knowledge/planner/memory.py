"""Accepting a plan: store it as a workflow version and remember the request that made it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.blueprint import Blueprint
from engine.tools.registry import ToolRegistry
from knowledge.history.audit import audit
from knowledge.history.exemplars import AcceptedHow, record_exemplar
from knowledge.history.views import ExemplarInfo, VersionInfo
from knowledge.history.workflows import find_or_add_version
from knowledge.planner.result import PlanResult
from knowledge.store.models import VersionOrigin


def accept_plan(
    session: Session,
    request: str,
    blueprint: Blueprint,
    *,
    how: AcceptedHow,
    by: str,
    registry: ToolRegistry | None = None,
) -> tuple[VersionInfo, ExemplarInfo]:
    """Store ``blueprint`` as a version of its workflow (origin ``planner``) and record
    ``request`` → that version in exemplar memory, so similar requests find it."""
    version = find_or_add_version(
        session, blueprint, author=by, origin=VersionOrigin.PLANNER, registry=registry
    )
    return version, record_exemplar(session, request, version.id, how=how, by=by)


def record_plan(session: Session, result: PlanResult, *, by: str) -> None:
    """Audit one planning: path, confidence, tokens, latency and why the LLM was not used."""
    detail: dict[str, Any] = {
        "request": result.request[:500],
        "path": result.path.value,
        "ok": result.ok,
        "confidence": result.confidence,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "latency_ms": result.latency_ms,
        "repair_rounds": result.repair_rounds,
        "fallback_reason": result.fallback_reason,
        "prompt_id": result.prompt_id,
        "exemplar_ids": result.exemplar_ids,
        "tools": [s.tool for s in result.blueprint.steps] if result.blueprint else [],
    }
    audit(
        session, actor=by, action="plan.made", subject_type="request", subject_id="-", detail=detail
    )
