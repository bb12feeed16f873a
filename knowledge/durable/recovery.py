"""After a crash: what an unfinished run had done, what may run again, and what needs a person.

For each call that was in progress when the process died:

- a tool with no side effect, or an idempotent one, is simply called again;
- a ``mutating`` tool may or may not have acted: the run pauses as ``needs_attention`` with an
  explanation, until a person decides — *retry* (call it again) or *done* (it happened; go on,
  optionally with its output).

A settled step whose stored output is incomplete (truncated or redacted) while a step still to
run needs it is run again when that is safe, and otherwise also needs a person.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.approvals import ApprovalDecision
from engine.plan import ExecutionPlan
from engine.records import RecordKind, StepRecord, StepStatus, fingerprint
from engine.resume import CallKey, PriorCall, Resume
from engine.templating.references import iter_template_strings
from engine.tools.base import ZERO_COST, Cost
from knowledge.history.audit import audit
from knowledge.store.models import Approval, CallState, Run, RunState, StepCall
from knowledge.store.types import utcnow

Decision = Literal["retry", "done"]


class InterruptedCall(BaseModel):
    """A call that was running when the process stopped."""

    model_config = ConfigDict(frozen=True)

    row_id: int
    step_id: str
    tool: str
    kind: str
    item_index: int | None
    attempt: int
    side_effect: str
    started_at: Any

    @property
    def label(self) -> str:
        label = self.step_id if self.item_index is None else f"{self.step_id}[{self.item_index}]"
        return label if self.kind == RecordKind.ACTION else f"{label} ({self.kind})"


class RecoveryPlan(BaseModel):
    """What to do with one unfinished run."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    resume: Resume
    rerun: list[InterruptedCall]
    """Interrupted calls that are safe to make again."""
    blockers: list[InterruptedCall]
    """Interrupted calls of mutating tools: a person decides."""
    problems: list[str]
    """Why the run needs a person (empty: it can resume)."""

    @property
    def needs_attention(self) -> bool:
        return bool(self.problems)


def _stored_record(row: StepCall) -> StepRecord:
    status = row.status
    if status == CallState.RETRIED:
        status = StepStatus.FAILED
    return StepRecord(
        run_id=row.run_id,
        step_id=row.step_id,
        tool=row.tool,
        kind=RecordKind(row.kind),
        item_index=row.item_index,
        attempt=row.attempt,
        status=StepStatus(status),
        started_at=row.started_at,
        ended_at=row.ended_at or row.started_at,
        duration_ms=row.duration_ms or 0.0,
        confidence=row.confidence if row.confidence is not None else 0.0,
        issues=list(row.issues or []),
        cost=Cost(tokens_in=row.tokens_in, tokens_out=row.tokens_out, usd=row.cost_usd)
        if (row.tokens_in or row.tokens_out or row.cost_usd)
        else ZERO_COST,
        input_hash=row.input_hash,
        output_hash=row.output_hash,
        output_summary=row.output_summary,
        error_class=row.error_class,
        error_category=row.error_category,
        error_message=row.error_message,
    )


def _interrupted(row: StepCall) -> InterruptedCall:
    return InterruptedCall(
        row_id=row.id,
        step_id=row.step_id,
        tool=row.tool,
        kind=row.kind,
        item_index=row.item_index,
        attempt=row.attempt,
        side_effect=row.side_effect,
        started_at=row.started_at,
    )


def plan_recovery(session: Session, run_id: str, plan: ExecutionPlan) -> RecoveryPlan:
    """Read what the run did and decide how it continues."""
    rows = list(
        session.scalars(select(StepCall).where(StepCall.run_id == run_id).order_by(StepCall.id))
    )
    steps: dict[str, PriorCall] = {}
    items: dict[str, dict[int, PriorCall]] = defaultdict(dict)
    incomplete: dict[CallKey, StepCall] = {}
    incomplete_items: dict[str, list[StepCall]] = defaultdict(list)
    successes: list[tuple[Any, int, CallKey]] = []
    compensated: list[CallKey] = []
    records: list[StepRecord] = []
    rerun: list[InterruptedCall] = []
    blockers: list[InterruptedCall] = []
    for row in rows:
        if row.step_id not in plan.steps:
            continue  # a step of another version cannot be resumed; its record stays
        if row.status == CallState.RUNNING:
            call = _interrupted(row)
            (blockers if row.side_effect == "mutating" else rerun).append(call)
            continue
        if _cut_short(row):  # a cancel stopped it mid-call, then the process died
            blockers.append(_interrupted(row))
            continue
        if row.status == CallState.INTERRUPTED:
            continue
        record = _stored_record(row)
        records.append(record)
        key: CallKey = (row.step_id, row.item_index)
        succeeded = row.status == CallState.SUCCEEDED
        if row.kind == RecordKind.COMPENSATION:
            # tried once already (succeeded or failed): a resumed run does not try again,
            # just as a run that never stopped would not
            if succeeded or row.status == CallState.FAILED:
                compensated.append(key)
            continue
        prior = PriorCall(record=record, output=row.output)
        if row.item_index is not None:
            if succeeded:
                items[row.step_id][row.item_index] = prior
                successes.append((row.ended_at or row.started_at, row.id, key))
                if row.output_truncated or row.output_redacted:
                    incomplete_items[row.step_id].append(row)
            continue
        if row.final and row.status in (
            CallState.SUCCEEDED,
            CallState.FAILED,
            CallState.SKIPPED,
        ):
            steps[row.step_id] = prior
            if row.output_truncated or row.output_redacted:
                incomplete[key] = row
            if succeeded and plan.steps[row.step_id].step.for_each is None:
                successes.append((row.ended_at or row.started_at, row.id, key))

    problems: list[str] = []
    for call in blockers:
        problems.append(
            f"'{call.label}' ({call.tool}, a mutating tool) was running when Kaizen stopped "
            f"(attempt {call.attempt}, started {call.started_at:%Y-%m-%d %H:%M:%S} UTC): it may "
            "or may not have taken effect. Check, then retry it or mark it done."
        )
    # A settled step whose stored output is incomplete is needed whole when a step that still
    # runs depends on it. Making it again makes its own upstream needed in turn: repeat until
    # nothing changes.
    rerun_ids = _rerun_ids(rerun)
    readers, output_readers = output_readers_of(plan)
    decided: set[str] = set()
    changed = True
    while changed:
        changed = False
        for (sid, _), row in incomplete.items():
            if sid in decided:
                continue
            waiting = [d for d in readers[sid] if d not in steps or d in rerun_ids]
            in_outputs = sid in output_readers and row.side_effect != "mutating"
            if not waiting and not in_outputs:
                continue
            decided.add(sid)
            if row.side_effect == "mutating":
                problems.append(_incomplete_problem(sid, row, waiting))
            else:  # safe to call again for its full output
                del steps[sid]
                successes = [s for s in successes if s[2] != (sid, None)]
                changed = True
    # Items of a for_each step that runs (again) are restored into its output: they too must be
    # whole if anything depends on that output.
    for sid, rows_ in incomplete_items.items():
        waiting = readers[sid]
        if sid in steps or not waiting:
            continue
        for row in rows_:
            if row.side_effect == "mutating":
                problems.append(_incomplete_problem(f"{sid}[{row.item_index}]", row, waiting))
            else:
                items[sid].pop(row.item_index, None)  # type: ignore[arg-type]
                successes = [s for s in successes if s[2] != (sid, row.item_index)]
    approvals = {
        a.step_id: ApprovalDecision(
            approved=True,
            by=a.decided_by or "unknown",
            comment=a.comment,
            decided_at=a.decided_at or utcnow(),
        )
        for a in session.scalars(
            select(Approval).where(Approval.run_id == run_id, Approval.approved.is_(True))
        )
        if a.step_id in plan.steps
    }
    successes.sort(key=lambda s: (s[0], s[1]))
    resume = Resume(
        steps=steps,
        items=dict(items),
        completed=[key for _, _, key in successes],
        compensated=compensated,
        approvals=approvals,
        records=records,
    )
    return RecoveryPlan(
        run_id=run_id, resume=resume, rerun=rerun, blockers=blockers, problems=problems
    )


def _incomplete_problem(label: str, row: StepCall, waiting: list[str]) -> str:
    return (
        f"'{label}' ({row.tool}) finished, but its output was stored "
        f"{'truncated' if row.output_truncated else 'redacted'} and "
        f"{', '.join(repr(d) for d in waiting)} still need it; it is a mutating tool, so "
        "Kaizen will not call it again by itself. Retry it, or mark it done with its output."
    )


def _cut_short(row: StepCall) -> bool:
    """A call of a mutating tool that a cancel interrupted (attempt 0 records are of steps
    that never called their tool) and that nobody has decided about: it may have acted."""
    return (
        row.status == CallState.CANCELLED
        and row.attempt >= 1
        and row.side_effect == "mutating"
        and row.decided_by is None
    )


_STEP_REFERENCE = re.compile(r"""steps\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*['"]([^'"]+)['"]\s*\])""")


def output_readers_of(plan: ExecutionPlan) -> tuple[dict[str, list[str]], set[str]]:
    """Which steps read each step's output (through their params, condition, items, approval
    message or fallback — not ``depends_on``, which orders without data), and which steps the
    run's ``outputs`` read."""
    readers: dict[str, list[str]] = {sid: [] for sid in plan.steps}
    for sid, planned in plan.steps.items():
        step = planned.step
        sources: list[Any] = [step.params, step.when]
        if step.for_each is not None:
            sources.append(step.for_each.items)
        if step.approval is not None:
            sources.append(step.approval.message)
        if step.fallback is not None:
            sources.append(step.fallback.params)
        referenced = _referenced_steps(sources)
        if step.when is not None:  # conditions may be bare expressions, without {{ }}
            referenced |= {
                dotted or quoted for dotted, quoted in _STEP_REFERENCE.findall(step.when)
            }
        for read in referenced & set(plan.steps):
            if read != sid:
                readers[read].append(sid)
    outputs = _referenced_steps(list(plan.blueprint.outputs.values())) & set(plan.steps)
    return readers, outputs


def _referenced_steps(values: list[Any]) -> set[str]:
    found: set[str] = set()
    for value in values:
        for text in iter_template_strings(value):
            for dotted, quoted in _STEP_REFERENCE.findall(text):
                found.add(dotted or quoted)
    return found


def _rerun_ids(calls: list[InterruptedCall]) -> set[str]:
    return {c.step_id for c in calls}


def mark_rerun(session: Session, calls: list[InterruptedCall]) -> None:
    """Interrupted calls that will be made again keep their row, as ``interrupted``."""
    if calls:
        session.execute(
            update(StepCall)
            .where(StepCall.id.in_([c.row_id for c in calls]))
            .values(status=CallState.INTERRUPTED.value, ended_at=utcnow())
        )


def mark_needs_attention(session: Session, run_id: str, problems: list[str]) -> None:
    """Pause the run until a person decides; the explanation is stored with it."""
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(
            status=RunState.NEEDS_ATTENTION.value,
            attention="\n".join(problems),
            owner=None,
            lease_expires_at=None,
        )
    )
    audit(
        session,
        actor="kaizen",
        action="run.needs_attention",
        subject_type="run",
        subject_id=run_id,
        detail={"problems": problems},
    )


class ResolutionError(Exception):
    """A decision about an interrupted call could not be applied."""


def resolve_call(
    session: Session,
    run_id: str,
    step_id: str,
    decision: Decision,
    *,
    by: str,
    item_index: int | None = None,
    output: Any = None,
) -> list[str]:
    """A person's decision about an interrupted call of a run that needs attention: ``retry``
    calls it again, ``done`` records that it happened (with ``output``). Returns the calls
    still waiting for a decision; when none is left the run can resume."""
    run = session.get(Run, run_id)
    if run is None:
        raise ResolutionError(f"run '{run_id}' not found")
    if run.status != RunState.NEEDS_ATTENTION:
        raise ResolutionError(f"run '{run_id}' is {run.status}, not needs_attention")
    waiting = [
        row
        for row in session.scalars(
            select(StepCall).where(
                StepCall.run_id == run_id,
                StepCall.status.in_([CallState.RUNNING.value, CallState.CANCELLED.value]),
                StepCall.side_effect == "mutating",
            )
        )
        if row.status == CallState.RUNNING or _cut_short(row)
    ]
    matches = [r for r in waiting if r.step_id == step_id and r.item_index == item_index]
    if not matches:  # a finished mutating call whose stored output is incomplete
        matches = list(
            session.scalars(
                select(StepCall).where(
                    StepCall.run_id == run_id,
                    StepCall.step_id == step_id,
                    StepCall.item_index.is_(None)
                    if item_index is None
                    else StepCall.item_index == item_index,
                    StepCall.status == CallState.SUCCEEDED.value,
                    StepCall.side_effect == "mutating",
                    or_(StepCall.output_truncated.is_(True), StepCall.output_redacted.is_(True)),
                )
            )
        )
    if not matches:
        labels = [_label(r) for r in waiting]
        raise ResolutionError(
            f"run '{run_id}' has no interrupted call of step '{step_id}'"
            + (f" item {item_index}" if item_index is not None else "")
            + f"; waiting for a decision: {', '.join(labels) or 'nothing'}"
        )
    now = utcnow()
    for row in matches:
        row.decided_by = by
        row.ended_at = now
        if decision == "retry":
            row.status = CallState.INTERRUPTED.value
        else:
            row.status = CallState.SUCCEEDED.value
            row.final = row.item_index is None and row.kind != RecordKind.COMPENSATION
            row.output = output
            row.output_hash, row.output_summary = fingerprint(output)
            row.output_truncated = row.output_redacted = False
            row.confidence = 1.0
            row.issues = [*list(row.issues or []), f"marked done by {by} after an interruption"]
    left = [r for r in waiting if r not in matches]
    audit(
        session,
        actor=by,
        action="run.resolved",
        subject_type="run",
        subject_id=run_id,
        detail={"step": step_id, "item": item_index, "decision": decision},
    )
    if not left:
        run.status = RunState.RUNNING.value
        run.attention = None
    return [_label(r) for r in left]


def _label(row: StepCall) -> str:
    return row.step_id if row.item_index is None else f"{row.step_id}[{row.item_index}]"


def release_run(session: Session, run_id: str, *, by: str) -> None:
    """Put a run that needs attention back in line to resume (after a person fixed what
    stopped it, e.g. a tool missing from this process). Refused while an interrupted mutating
    call still waits for a decision (:func:`resolve_call`)."""
    run = _needing_attention(session, run_id)
    waiting = [
        _label(row)
        for row in session.scalars(
            select(StepCall).where(
                StepCall.run_id == run_id,
                StepCall.status.in_([CallState.RUNNING.value, CallState.CANCELLED.value]),
                StepCall.side_effect == "mutating",
            )
        )
        if row.status == CallState.RUNNING or _cut_short(row)
    ]
    if waiting:
        raise ResolutionError(
            f"run '{run_id}' still waits for a decision about {', '.join(waiting)}: "
            "retry or mark each done first"
        )
    run.status = RunState.RUNNING.value
    run.attention = None
    run.owner = None
    run.lease_expires_at = None
    audit(session, actor=by, action="run.released", subject_type="run", subject_id=run_id)


def cancel_stopped_run(session: Session, run_id: str, *, by: str, reason: str) -> None:
    """Give up a run that needs attention: it ends ``cancelled`` as it stands (nothing more is
    called, nothing is compensated); calls it left open are closed as interrupted."""
    run = _needing_attention(session, run_id)
    now = utcnow()
    session.execute(
        update(StepCall)
        .where(StepCall.run_id == run_id, StepCall.status == CallState.RUNNING.value)
        .values(status=CallState.INTERRUPTED.value, ended_at=now, decided_by=by)
    )
    run.status = RunState.CANCELLED.value
    run.error = f"cancelled by {by}: {reason}"
    run.ended_at = now
    run.owner = None
    run.lease_expires_at = None
    audit(
        session,
        actor=by,
        action="run.cancelled",
        subject_type="run",
        subject_id=run_id,
        detail={"reason": reason, "attention": run.attention},
    )


def _needing_attention(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise ResolutionError(f"run '{run_id}' not found")
    if run.status != RunState.NEEDS_ATTENTION:
        raise ResolutionError(f"run '{run_id}' is {run.status}, not needs_attention")
    return run
