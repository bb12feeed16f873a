"""What the history functions return: frozen pydantic models, never ORM objects.

They are plain values: safe to keep after the session has closed, to send to another thread,
or to render in Slack.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from engine.blueprint import Blueprint
from knowledge.store.models import (
    CallState,
    FeedbackKind,
    ProposalState,
    RunState,
    VersionOrigin,
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class PatternState(StrEnum):
    """What became of a discovered tool sequence."""

    NEW = "new"
    POSTED = "posted"
    SAVED = "saved"
    DISMISSED = "dismissed"


class DraftState(StrEnum):
    """Where a previewed plan stands: ``previewed`` until someone runs, saves or cancels it,
    or a re-plan (a thread reply, an edit) replaces it (``superseded``)."""

    PREVIEWED = "previewed"
    RUNNING = "running"
    SAVED = "saved"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


# ---------------------------------------------------------------------------- workflows


class WorkflowInfo(_View):
    """A workflow and where its versions stand."""

    id: int
    name: str
    description: str
    created_at: datetime
    created_by: str
    production_version: int | None
    """Number of the production version (``None`` only if it was deleted)."""
    latest_version: int | None
    version_count: int


class VersionInfo(_View):
    """One immutable workflow version: its blueprint and how it came to be."""

    id: int
    workflow_id: int
    workflow: str
    number: int
    parent_id: int | None
    parent_number: int | None
    origin: VersionOrigin
    author: str
    note: str
    created_at: datetime
    blueprint_hash: str
    blueprint_json: dict[str, Any]
    """The blueprint as stored (JSON, aliases, fields left unset omitted)."""
    patch: list[dict[str, Any]] | None
    """RFC 6902 JSON Patch from the parent's blueprint (``None`` for a first version)."""
    restores_version_id: int | None
    restores_number: int | None
    is_production: bool

    @computed_field  # type: ignore[prop-decorator]
    @property
    def patch_ops(self) -> int:
        """How many operations the patch from the parent has."""
        return len(self.patch) if self.patch else 0

    @property
    def label(self) -> str:
        """``deploy v3``."""
        return f"{self.workflow} v{self.number}"

    def blueprint(self) -> Blueprint:
        """The engine's model of this version's blueprint."""
        return Blueprint.model_validate(self.blueprint_json)


class VersionDiff(_View):
    """What changed from version ``a`` to version ``b`` of a workflow."""

    workflow: str
    a: int
    b: int
    patch: list[dict[str, Any]]
    """RFC 6902 JSON Patch turning ``a``'s blueprint into ``b``'s."""
    text: str
    """A unified diff of the two blueprints as YAML, headed ``--- v<a>`` / ``+++ v<b>``."""

    @property
    def changed(self) -> bool:
        return bool(self.patch)


# ---------------------------------------------------------------------------- runs


class RunInfo(_View):
    """One execution of one workflow version."""

    id: str
    workflow_id: int
    workflow: str
    version_id: int
    version: int
    status: RunState
    idempotency_key: str | None
    inputs: dict[str, Any]
    inputs_redacted: bool
    outputs: dict[str, Any] | None
    error: str | None
    failed_step: str | None
    attention: str | None
    issues: list[Any]
    started_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    owner: str | None
    lease_expires_at: datetime | None
    resumes: int


class StepRecordInfo(_View):
    """The trace of one step attempt (or fallback, or compensation)."""

    id: int
    run_id: str
    step_id: str
    tool: str
    kind: str
    item_index: int | None
    attempt: int
    status: CallState
    final: bool
    side_effect: str
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    confidence: float | None
    issues: list[Any]
    tokens_in: int
    tokens_out: int
    cost_usd: float
    input_hash: str | None
    output: Any
    output_hash: str | None
    output_summary: str | None
    output_size: int | None
    output_truncated: bool
    output_redacted: bool
    error_class: str | None
    error_category: str | None
    error_message: str | None
    decided_by: str | None


class ToolStats(_View):
    """How one tool's calls went.

    ``calls`` counts every record except skipped ones (a skipped step never called its tool);
    ``successes`` are ``succeeded`` records, ``failures`` are ``failed`` and ``retried`` ones
    (a retried attempt failed). Durations are over the records that have one, in
    milliseconds; percentiles interpolate linearly between the closest ranks.
    """

    tool: str
    calls: int
    successes: int
    failures: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    tokens_in: int
    tokens_out: int
    total_cost_usd: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_rate(self) -> float | None:
        """Successes over settled calls (successes + failures); ``None`` when none settled."""
        settled = self.successes + self.failures
        return self.successes / settled if settled else None


# ---------------------------------------------------------------------------- learning


class FeedbackInfo(_View):
    """A reaction or ``/improve`` text, with what it is about."""

    id: int
    kind: FeedbackKind
    run_id: str | None
    step_id: str | None
    workflow_id: int | None
    workflow: str | None
    version_id: int | None
    version: int | None
    user: str
    reaction: str | None
    text: str | None
    score: int
    created_at: datetime


class ProposalInfo(_View):
    """A proposed JSON Patch against a workflow version, and where it stands."""

    id: int
    workflow_id: int
    workflow: str
    base_version_id: int
    base_version: int
    patch: list[dict[str, Any]]
    rationale: str
    evidence: dict[str, Any]
    state: ProposalState
    created_by: str
    reviewer: str | None
    review_comment: str | None
    result_version_id: int | None
    result_version: int | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


class PromptInfo(_View):
    """One version of a named prompt, with its lineage and measured fitness."""

    id: int
    name: str
    version: int
    parent_id: int | None
    text: str
    author: str
    note: str
    fitness: float | None
    fitness_samples: int
    active: bool
    created_at: datetime


class PatternInfo(_View):
    """A frequent sequence of tools across sessions."""

    id: int
    key: str
    tools: list[str]
    support: int
    success_rate: float
    example_runs: list[str]
    state: PatternState
    first_seen: datetime
    last_seen: datetime


# ---------------------------------------------------------------------------- accounting


class AuditInfo(_View):
    """Who did what, when, to what."""

    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]


class UsageInfo(_View):
    """Tokens and money spent on one day, by one workflow or (``workflow`` empty) by all."""

    day: date
    workflow_id: int | None
    workflow: str | None
    runs: int
    tokens_in: int
    tokens_out: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class BudgetInfo(_View):
    """A daily limit for one workflow or (``workflow`` empty) for all of them together.

    A limit left empty is no limit.
    """

    id: int
    workflow_id: int | None
    workflow: str | None
    daily_tokens: int | None
    daily_usd: float | None
    updated_by: str
    updated_at: datetime


class BudgetLimit(_View):
    """One limit checked against one day's usage."""

    scope: Literal["workflow", "global"]
    metric: Literal["tokens", "usd"]
    limit: float
    used: float
    remaining: float
    exceeded: bool
    """True when nothing is left: ``used >= limit`` (a limit of 0 allows nothing)."""

    def describe(self, workflow: str) -> str:
        """``global daily usd budget: 12.50 of 10.00 used``."""
        who = f"'{workflow}'" if self.scope == "workflow" else "global"
        if self.metric == "usd":
            amounts = f"${self.used:,.2f} of ${self.limit:,.2f}"
        else:
            amounts = f"{self.used:,.0f} of {self.limit:,.0f}"
        return f"{who} daily {self.metric} budget: {amounts} used"


class BudgetStatus(_View):
    """A workflow's day checked against its own budget and the global one."""

    workflow: str
    day: date
    usage: UsageInfo
    """The workflow's own usage that day."""
    total: UsageInfo
    """Every workflow's usage that day (what the global budget is checked against)."""
    limits: list[BudgetLimit]
    """Every limit that is set, workflow limits first."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exceeded(self) -> bool:
        return any(limit.exceeded for limit in self.limits)

    @property
    def exceeded_limits(self) -> list[BudgetLimit]:
        return [limit for limit in self.limits if limit.exceeded]

    @property
    def reason(self) -> str | None:
        """Why no more can be spent (``None`` when within budget), for a Slack message."""
        hit = self.exceeded_limits
        if not hit:
            return None
        return "; ".join(limit.describe(self.workflow) for limit in hit)


class ExemplarInfo(_View):
    """A request and the workflow version a person accepted for it."""

    id: int
    request: str
    blueprint: dict[str, Any]
    """The accepted version's blueprint (what the planner adapts)."""
    workflow_id: int
    version_id: int
    accepted_how: str
    accepted_by: str
    created_at: datetime


# ---------------------------------------------------------------------------- chat


class DraftInfo(_View):
    """A plan shown as a preview card before anyone runs it, and what became of it."""

    id: int
    request: str
    blueprint: dict[str, Any] | None
    """The planned blueprint (``None`` when the planner asked a clarifying question)."""
    plan: dict[str, Any]
    """The planner's result as JSON (path, confidence, explanation, question, …)."""
    state: DraftState
    requested_by: str
    channel: str | None
    thread_ts: str | None
    message_ts: str | None
    """The preview card's message, once posted."""
    run_id: str | None
    workflow_version_id: int | None
    """The version saved or run."""
    parent_id: int | None
    """The draft this one replaces (a re-plan from a thread reply or an edit)."""
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime
