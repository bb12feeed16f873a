"""The tables of Kaizen's database, as typed SQLAlchemy 2 models.

Every change to these models needs an Alembic migration in ``migrations/versions`` (the test
suite fails while ``alembic`` would autogenerate anything).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from knowledge.store.types import ExactJSON, JSONDocument, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
    }


# ---------------------------------------------------------------------------- vocabularies


class VersionOrigin(StrEnum):
    """Who or what made a workflow version."""

    USER = "user"
    PLANNER = "planner"
    FEEDBACK = "feedback"
    OPTIMIZER = "optimizer"
    ROLLBACK = "rollback"


class RunState(StrEnum):
    """Where a stored run stands: the engine's run statuses plus ``needs_attention``."""

    RUNNING = "running"
    NEEDS_ATTENTION = "needs_attention"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


class CallState(StrEnum):
    """Where a stored step record stands: the engine's step statuses plus ``interrupted``
    (the process died during the call)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class FeedbackKind(StrEnum):
    REACTION = "reaction"
    IMPROVE = "improve"


class ProposalState(StrEnum):
    """draft → evaluated → candidate → approved | rejected → production (or rolled_back)."""

    DRAFT = "draft"
    EVALUATED = "evaluated"
    CANDIDATE = "candidate"
    APPROVED = "approved"
    REJECTED = "rejected"
    PRODUCTION = "production"
    ROLLED_BACK = "rolled_back"


# ---------------------------------------------------------------------------- workflows


class Workflow(Base):
    """A named blueprint with a history of immutable versions; one of them is production."""

    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    production_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_versions.id", use_alter=True, ondelete="SET NULL")
    )

    versions: Mapped[list[WorkflowVersion]] = relationship(
        back_populates="workflow",
        foreign_keys="WorkflowVersion.workflow_id",
        order_by="WorkflowVersion.number",
    )


class WorkflowVersion(Base):
    """One immutable version of a workflow's blueprint, and how it came to be."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer, comment="1, 2, 3… within the workflow")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_versions.id"))
    blueprint: Mapped[dict[str, Any]] = mapped_column()
    blueprint_hash: Mapped[str] = mapped_column(String(64), index=True)
    patch: Mapped[list[Any] | None] = mapped_column(
        JSONDocument, comment="RFC 6902 JSON Patch from the parent version's blueprint"
    )
    origin: Mapped[str] = mapped_column(String(20), comment="user, planner, feedback, …")
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    restores_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_versions.id"), comment="for rollbacks: the version restored"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    workflow: Mapped[Workflow] = relationship(back_populates="versions", foreign_keys=[workflow_id])


# ---------------------------------------------------------------------------- runs


class Run(Base):
    """One execution of one workflow version with concrete inputs."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(ExactJSON)
    inputs_redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(ExactJSON)
    error: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(String(200))
    attention: Mapped[str | None] = mapped_column(
        Text, comment="why the run needs a person (needs_attention)"
    )
    issues: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    started_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[float | None] = mapped_column(Float)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    owner: Mapped[str | None] = mapped_column(
        String(200), comment="host:pid of the process running it"
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str | None] = mapped_column(
        Text, comment="a cancel asked for (and why): it stands after a crash"
    )
    cancel_compensate: Mapped[bool | None] = mapped_column(Boolean)

    steps: Mapped[list[StepCall]] = relationship(
        back_populates="run", order_by="StepCall.id", cascade="all, delete-orphan"
    )


class StepCall(Base):
    """The trace of one step attempt (or fallback, or compensation): a step record."""

    __tablename__ = "step_records"
    __table_args__ = (Index("ix_step_records_run_step", "run_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), comment="action, fallback or compensation")
    item_index: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    final: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="settles the step's status and output"
    )
    side_effect: Mapped[str] = mapped_column(String(20), comment="none, idempotent, mutating")
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    issues: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    output: Mapped[Any] = mapped_column(
        ExactJSON, nullable=True, comment="redacted, truncated when large"
    )
    output_hash: Mapped[str | None] = mapped_column(String(64))
    output_summary: Mapped[str | None] = mapped_column(Text)
    output_size: Mapped[int | None] = mapped_column(Integer)
    output_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    output_redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    error_class: Mapped[str | None] = mapped_column(String(200))
    error_category: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(
        String(200), comment="who settled an interrupted call by hand"
    )

    run: Mapped[Run] = relationship(back_populates="steps")


class Approval(Base):
    """A human gate of a step: asked, and (once) decided."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("run_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(200))
    approvers: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    message: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column()
    timeout_s: Mapped[float | None] = mapped_column(Float)
    approved: Mapped[bool | None] = mapped_column(Boolean)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column()


# ---------------------------------------------------------------------------- learning


class Feedback(Base):
    """A reaction or ``/improve`` text about a run (and, when known, a step and a version)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), comment="reaction or improve")
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    step_id: Mapped[str | None] = mapped_column(String(200))
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflows.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_versions.id"))
    user: Mapped[str] = mapped_column(String(200))
    reaction: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int] = mapped_column(Integer, default=0, comment="+1 good, -1 bad, 0 neutral")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Proposal(Base):
    """A JSON Patch against a workflow version, with its rationale, evidence and state."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id"), index=True)
    base_version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"))
    patch: Mapped[list[Any]] = mapped_column(JSONDocument)
    rationale: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str | None] = mapped_column(String(200))
    review_comment: Mapped[str | None] = mapped_column(Text)
    result_version_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_versions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Prompt(Base):
    """One version of a prompt (the planner's, or an LLM step's), with lineage and fitness."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id"))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    fitness: Mapped[float | None] = mapped_column(Float, comment="measured score, higher is better")
    fitness_samples: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pattern(Base):
    """A frequent sequence of tools across sessions."""

    __tablename__ = "patterns"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, comment="hash of the sequence")
    tools: Mapped[list[Any]] = mapped_column(JSONDocument)
    support: Mapped[int] = mapped_column(Integer, comment="sessions it appeared in")
    success_rate: Mapped[float] = mapped_column(Float)
    example_runs: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    state: Mapped[str] = mapped_column(String(20), default="new")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class Exemplar(Base):
    """A request and the workflow version a person accepted for it (ran it successfully,
    approved it, or saved it): what the planner adapts when a similar request comes."""

    __tablename__ = "exemplars"
    __table_args__ = (UniqueConstraint("request_hash", "version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(String(64), comment="sha256 of the request text")
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id", ondelete="CASCADE"))
    accepted_how: Mapped[str] = mapped_column(String(20), comment="ran, approved or saved")
    accepted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    """A plan shown to people as a preview card before anyone runs it, and what became of it:
    previewed, then running, saved, cancelled, or superseded by a re-plan."""

    __tablename__ = "drafts"
    __table_args__ = (
        Index("ix_drafts_channel_message_ts", "channel", "message_ts"),
        Index("ix_drafts_channel_thread_ts", "channel", "thread_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request: Mapped[str] = mapped_column(Text)
    blueprint: Mapped[dict[str, Any] | None] = mapped_column(
        JSONDocument, comment="none for a clarifying question"
    )
    plan: Mapped[dict[str, Any]] = mapped_column(JSONDocument, comment="the planner's result")
    state: Mapped[str] = mapped_column(
        String(20), index=True, comment="previewed, running, saved, cancelled or superseded"
    )
    requested_by: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(100))
    thread_ts: Mapped[str | None] = mapped_column(String(40))
    message_ts: Mapped[str | None] = mapped_column(String(40), comment="the preview card")
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    workflow_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_versions.id", ondelete="SET NULL"),
        comment="the version saved or run",
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("drafts.id", ondelete="SET NULL"), comment="the draft this one replaces"
    )
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------------------- accounting


class AuditEntry(Base):
    """Who did what: runs started, approvals, rejections, version changes, denials."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Usage(Base):
    """Tokens and money spent per day and workflow."""

    __tablename__ = "usage"
    __table_args__ = (UniqueConstraint("day", "workflow_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class Budget(Base):
    """A daily limit of tokens and money, for one workflow or (``workflow_id`` empty) all."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), unique=True
    )
    daily_tokens: Mapped[int | None] = mapped_column(Integer)
    daily_usd: Mapped[float | None] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """An inbound delivery (a Slack event, interaction or command) already handled: a retry
    of it is recognised by its key and not acted on twice."""

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), comment="event, action, command, …")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
