"""Kaizen's history: typed repository functions over the database.

Every function takes an SQLAlchemy ``Session`` first (the caller owns the transaction:
``with db.session() as s:`` commits on success) and returns frozen pydantic views, never ORM
objects. Errors are :class:`HistoryError` subclasses with messages fit for Slack.

Modules, one job each:

- :mod:`~knowledge.history.workflows` — workflows and their immutable versions: create, add
  (whole or as a JSON Patch), production pointer, rollback, diff, history.
- :mod:`~knowledge.history.runs` — reading runs and step records; per-tool statistics.
- :mod:`~knowledge.history.feedback` — reactions (scored) and ``/improve`` texts.
- :mod:`~knowledge.history.proposals` — proposed patches and their review state machine.
- :mod:`~knowledge.history.prompts` — the versioned prompt registry, lineage and fitness.
- :mod:`~knowledge.history.patterns` — frequent tool sequences and what became of them.
- :mod:`~knowledge.history.audit` — the audit log (the only writer of entries) and queries.
- :mod:`~knowledge.history.usage` — tokens and money per day and workflow; budgets.
- :mod:`~knowledge.history.drafts` — plans previewed in chat before they run, and the atomic
  claim that lets one click (of many) run, save or cancel one.
- :mod:`~knowledge.history.deliveries` — inbound chat deliveries already handled, so retries
  never act twice.
- :mod:`~knowledge.history.blueprints` — the stored blueprint document, its hash, JSON
  Patches, validation, YAML diffs.
- :mod:`~knowledge.history.views` — the returned models; :mod:`~knowledge.history.errors` —
  the errors.
"""

from knowledge.history.audit import audit, query_audit
from knowledge.history.blueprints import (
    apply_patch,
    blueprint_document,
    blueprint_hash,
    make_patch,
    render_yaml,
)
from knowledge.history.deliveries import claim_delivery, forget_deliveries
from knowledge.history.drafts import (
    attach_message,
    claim_draft,
    create_draft,
    find_draft_by_message,
    get_draft,
    latest_draft_in_thread,
    recent_drafts,
    set_draft_run,
    update_draft_blueprint,
)
from knowledge.history.errors import (
    ConflictError,
    HistoryError,
    InvalidArgumentError,
    InvalidBlueprintError,
    InvalidPatchError,
    NotFoundError,
)
from knowledge.history.exemplars import list_exemplars, record_exemplar
from knowledge.history.feedback import (
    feedback_for,
    normalize_reaction,
    reaction_score,
    record_feedback,
)
from knowledge.history.patterns import list_patterns, pattern_key, set_pattern_state, upsert_pattern
from knowledge.history.prompts import (
    activate_prompt,
    active_prompt,
    add_prompt,
    get_prompt,
    prompt_lineage,
    record_fitness,
)
from knowledge.history.proposals import (
    TRANSITIONS,
    advance_proposal,
    create_proposal,
    get_proposal,
    list_proposals,
)
from knowledge.history.runs import get_run, query_runs, query_step_records, step_stats
from knowledge.history.usage import (
    budget_status,
    get_budget,
    record_usage,
    set_budget,
    usage_for,
)
from knowledge.history.views import (
    AuditInfo,
    BudgetInfo,
    BudgetLimit,
    BudgetStatus,
    DraftInfo,
    DraftState,
    ExemplarInfo,
    FeedbackInfo,
    PatternInfo,
    PatternState,
    PromptInfo,
    ProposalInfo,
    RunInfo,
    StepRecordInfo,
    ToolStats,
    UsageInfo,
    VersionDiff,
    VersionInfo,
    WorkflowInfo,
)
from knowledge.history.workflows import (
    add_version,
    add_version_from_patch,
    create_workflow,
    diff_versions,
    find_or_add_version,
    get_version,
    get_version_by_id,
    history,
    list_workflows,
    rollback,
    set_production,
)

__all__ = [
    "TRANSITIONS",
    "AuditInfo",
    "BudgetInfo",
    "BudgetLimit",
    "BudgetStatus",
    "ConflictError",
    "DraftInfo",
    "DraftState",
    "ExemplarInfo",
    "FeedbackInfo",
    "HistoryError",
    "InvalidArgumentError",
    "InvalidBlueprintError",
    "InvalidPatchError",
    "NotFoundError",
    "PatternInfo",
    "PatternState",
    "PromptInfo",
    "ProposalInfo",
    "RunInfo",
    "StepRecordInfo",
    "ToolStats",
    "UsageInfo",
    "VersionDiff",
    "VersionInfo",
    "WorkflowInfo",
    "activate_prompt",
    "active_prompt",
    "add_prompt",
    "add_version",
    "add_version_from_patch",
    "advance_proposal",
    "apply_patch",
    "attach_message",
    "audit",
    "blueprint_document",
    "blueprint_hash",
    "budget_status",
    "claim_delivery",
    "claim_draft",
    "create_draft",
    "create_proposal",
    "create_workflow",
    "diff_versions",
    "feedback_for",
    "find_draft_by_message",
    "find_or_add_version",
    "forget_deliveries",
    "get_budget",
    "get_draft",
    "get_prompt",
    "get_proposal",
    "get_run",
    "get_version",
    "get_version_by_id",
    "history",
    "latest_draft_in_thread",
    "list_exemplars",
    "list_patterns",
    "list_proposals",
    "list_workflows",
    "make_patch",
    "normalize_reaction",
    "pattern_key",
    "prompt_lineage",
    "query_audit",
    "query_runs",
    "query_step_records",
    "reaction_score",
    "recent_drafts",
    "record_exemplar",
    "record_feedback",
    "record_fitness",
    "record_usage",
    "render_yaml",
    "rollback",
    "set_budget",
    "set_draft_run",
    "set_pattern_state",
    "set_production",
    "step_stats",
    "update_draft_blueprint",
    "upsert_pattern",
    "usage_for",
]
