"""The store as the engine's event sink: every step transition is written to the database.

What must be committed before the engine goes on (the engine awaits ``emit``):

- a step's final record and output — before any step that depends on it starts;
- the start of a call to a ``mutating`` tool — before the call, so that after a crash Kaizen
  knows the call may have happened and never repeats it silently;
- approvals asked and decided, and the end of the run.

The start of a call to a tool with no side effect (or an idempotent one) and retried attempts
are queued and committed with the next transaction: after a crash such a call is simply made
again. Secrets are redacted and large outputs truncated before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from engine.errors import RunAbandonedError
from engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetried,
    StepSkipped,
    StepStarted,
)
from engine.records import RecordKind, StepRecord, summarize
from engine.tools.base import SideEffect
from knowledge.durable.writer import StoreWriter
from knowledge.history.audit import audit
from knowledge.history.usage import add_usage
from knowledge.store.models import Approval, CallState, Run, RunState, StepCall
from knowledge.store.redaction import Redactor, storable
from knowledge.store.types import utcnow

#: Tells the side effect of a tool by name (unknown tools count as mutating).
SideEffectLookup = Callable[[str], SideEffect]

_CallKey = tuple[str, str, str, int | None, int]

_STEPS = cast(Table, StepCall.__table__)
_RUNS = cast(Table, Run.__table__)
_APPROVALS = cast(Table, Approval.__table__)

# Statements built once: executing a prebuilt statement with a dict of parameters skips
# SQLAlchemy's per-call construction of bind parameters (most of a step's persistence cost).
_INSERT_CALL = insert(_STEPS).returning(_STEPS.c.id)
_INSERT_RECORD = insert(_STEPS)
_SELECT_OWNER = select(_RUNS.c.owner).where(_RUNS.c.id == bindparam("run_id_"))
_UPDATE_BY_ID = update(_STEPS).where(_STEPS.c.id == bindparam("row_id_"))
_UPDATE_RUNNING = update(_STEPS).where(
    _STEPS.c.run_id == bindparam("run_id_"),
    _STEPS.c.step_id == bindparam("step_id_"),
    _STEPS.c.kind == bindparam("kind_"),
    _STEPS.c.item_index == bindparam("item_index_"),
    _STEPS.c.attempt == bindparam("attempt_"),
    _STEPS.c.status == CallState.RUNNING.value,
)
_UPDATE_RUNNING_NO_ITEM = update(_STEPS).where(
    _STEPS.c.run_id == bindparam("run_id_"),
    _STEPS.c.step_id == bindparam("step_id_"),
    _STEPS.c.kind == bindparam("kind_"),
    _STEPS.c.item_index.is_(None),
    _STEPS.c.attempt == bindparam("attempt_"),
    _STEPS.c.status == CallState.RUNNING.value,
)


class RunRecorder:
    """An engine event sink that persists runs through a :class:`StoreWriter`."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        redactor: Redactor,
        side_effect_of: SideEffectLookup,
        owner: str,
    ) -> None:
        self.writer = writer
        self.redactor = redactor
        self._run_redactors: dict[str, Redactor] = {}
        self.fenced: set[str] = set()
        """Runs another process took over: nothing more of them is written from here."""
        self.side_effect_of = side_effect_of
        self.owner = owner
        self._rows: dict[_CallKey, int] = {}
        """Ids of the rows of calls in progress (used by the writer thread only)."""

    async def emit(self, event: RunEvent) -> None:
        if event.run_id in self.fenced:  # another process owns the run now: its history
            return
        if isinstance(event, StepStarted):
            op = self._started(event)
            # a compensation's start is always committed first: when the store cannot record
            # it (the database is away), it does not run at all
            if (
                self.side_effect_of(event.tool) is SideEffect.MUTATING
                or event.kind is RecordKind.COMPENSATION
            ):
                try:
                    await self.writer.write(op)
                except RunAbandonedError:
                    self.fenced.add(event.run_id)
                    raise
            else:
                self.writer.defer(op)
        elif isinstance(event, StepFinished):
            await self.writer.write(self._finished(event.record, event.output, event.final))
        elif isinstance(event, StepRetried):
            self.writer.defer(self._finished(event.record, None, False, retried=True))
        elif isinstance(event, StepSkipped):
            await self.writer.write(self._finished(event.record, None, True))
        elif isinstance(event, RunStarted):
            self.writer.defer(self._run_started(event))
        elif isinstance(event, ApprovalRequested):
            await self.writer.write(self._approval_requested(event))
        elif isinstance(event, ApprovalDecided):
            await self.writer.write(self._approval_decided(event))
        elif isinstance(event, RunFinished):
            await self.writer.write(self._run_finished(event))
            self.forget_run(event.run_id)

    # ---------------------------------------------------------------- operations

    def _started(self, event: StepStarted) -> Callable[[Connection], None]:
        key: _CallKey = (event.run_id, event.step_id, event.kind.value, event.item_index,
                         event.attempt)  # fmt: skip
        side_effect = self.side_effect_of(event.tool).value
        check_owner = side_effect == SideEffect.MUTATING.value

        def op(connection: Connection) -> None:
            if check_owner:  # in the same transaction as the call's start: a fence
                owner = connection.execute(
                    _SELECT_OWNER, {"run_id_": event.run_id}
                ).scalar_one_or_none()
                if owner != self.owner:
                    raise RunAbandonedError(
                        f"run '{event.run_id}' is now run by {owner or 'nobody'}, not by "
                        f"{self.owner}: stopping here without calling '{event.tool}'"
                    )
            row_id = connection.execute(
                _INSERT_CALL,
                {
                    "run_id": event.run_id,
                    "step_id": event.step_id,
                    "tool": event.tool,
                    "kind": event.kind.value,
                    "item_index": event.item_index,
                    "attempt": event.attempt,
                    "status": CallState.RUNNING.value,
                    "final": False,
                    "side_effect": side_effect,
                    "started_at": event.at,
                    "input_hash": event.input_hash,
                    "issues": [],
                    "tokens_in": 0,
                    "tokens_out": 0,
                    "cost_usd": 0.0,
                    "output_truncated": False,
                    "output_redacted": False,
                },
            ).scalar_one()
            self._rows[key] = row_id

        return op

    def _finished(
        self, record: StepRecord, output: Any, final: bool, *, retried: bool = False
    ) -> Callable[[Connection], None]:
        key: _CallKey = (record.run_id, record.step_id, record.kind.value, record.item_index,
                         record.attempt)  # fmt: skip

        def op(connection: Connection) -> None:
            values = self.record_values(record, output, final=final, retried=retried)
            row_id = self._rows.get(key)
            if row_id is not None:
                updated = connection.execute(_UPDATE_BY_ID, {"row_id_": row_id, **values})
            else:  # started in a batch that was retried, or never started (skipped, …)
                where = {
                    "run_id_": record.run_id,
                    "step_id_": record.step_id,
                    "kind_": record.kind.value,
                    "attempt_": record.attempt,
                }
                if record.item_index is None:
                    updated = connection.execute(_UPDATE_RUNNING_NO_ITEM, {**where, **values})
                else:
                    where["item_index_"] = record.item_index
                    updated = connection.execute(_UPDATE_RUNNING, {**where, **values})
            self._rows.pop(key, None)
            if updated.rowcount:
                return
            values.update(
                run_id=record.run_id,
                step_id=record.step_id,
                tool=record.tool,
                kind=record.kind.value,
                item_index=record.item_index,
                attempt=record.attempt,
                side_effect=self.side_effect_of(record.tool).value,
                started_at=record.started_at,
                input_hash=record.input_hash,
            )
            connection.execute(_INSERT_RECORD, values)

        return op

    def record_values(
        self, record: StepRecord, output: Any, *, final: bool, retried: bool = False
    ) -> dict[str, Any]:
        """The columns of a step record's row, redacted (and the output truncated if big)."""
        redactor = self.redactor_for(record.run_id)

        def redact(text: str) -> str:
            return storable(redactor.redact_text(text))

        values: dict[str, Any] = {
            "status": CallState.RETRIED.value if retried else record.status.value,
            "final": final,
            "ended_at": record.ended_at,
            "duration_ms": record.duration_ms,
            "confidence": record.confidence,
            "issues": [redact(issue) for issue in record.issues],
            "tokens_in": record.cost.tokens_in,
            "tokens_out": record.cost.tokens_out,
            "cost_usd": record.cost.usd,
            "output_hash": record.output_hash,
            "output_summary": redact(record.output_summary) if record.output_summary else None,
            "error_class": record.error_class,
            "error_category": record.error_category,
            "error_message": redact(record.error_message) if record.error_message else None,
            "output": None,
            "output_size": None,
            "output_truncated": False,
            "output_redacted": False,
        }
        if record.status == "succeeded" and not retried:
            stored = redactor.prepare(output)
            values.update(
                output=stored.value,
                output_size=stored.size,
                output_truncated=stored.truncated,
                output_redacted=stored.redacted,
            )
            if stored.redacted:  # the engine summarised the output before it was redacted
                hidden, _ = redactor.redact(output)
                values["output_summary"] = redact(summarize(hidden))
        return values

    def text(self, text: str, run_id: str | None = None) -> str:
        """A text as it may be written: redacted, and storable (no NUL characters)."""
        return storable(self.redactor_for(run_id).redact_text(text))

    def redactor_for(self, run_id: str | None) -> Redactor:
        """The redactor of one run: the shared one, plus the run's own secret inputs."""
        if run_id is None:
            return self.redactor
        return self._run_redactors.get(run_id, self.redactor)

    def add_run_secrets(self, run_id: str, secrets: list[str]) -> None:
        """Values of a run's inputs that were hidden when the run was stored: they are hidden
        wherever they show up in its records too."""
        if secrets:
            self._run_redactors[run_id] = self.redactor.with_secrets(secrets)

    def forget_run(self, run_id: str) -> None:
        self._run_redactors.pop(run_id, None)

    def _run_started(self, event: RunStarted) -> Callable[[Connection], None]:
        run_id = event.run_id

        def op(connection: Connection) -> None:
            if event.resumed:  # rows of an earlier execution in this process are settled
                for key in [k for k in self._rows if k[0] == run_id]:
                    del self._rows[key]
            connection.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run_id, _RUNS.c.owner == self.owner)
                .values(status=RunState.RUNNING.value)
            )
            connection.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run_id, _RUNS.c.started_at.is_(None))
                .values(started_at=event.at)
            )

        return op

    def _approval_requested(self, event: ApprovalRequested) -> Callable[[Connection], None]:
        request = event.request

        def op(connection: Connection) -> None:
            values = {
                "tool": request.tool,
                "approvers": list(request.approvers),
                "message": self.text(request.message, request.run_id),
                "requested_at": request.requested_at,
                "timeout_s": request.timeout_s,
                "approved": None,
                "decided_by": None,
                "comment": None,
                "decided_at": None,
            }
            updated = connection.execute(
                update(_APPROVALS)
                .where(
                    _APPROVALS.c.run_id == request.run_id, _APPROVALS.c.step_id == request.step_id
                )
                .values(**values)
            )
            if not updated.rowcount:
                connection.execute(
                    insert(_APPROVALS).values(
                        run_id=request.run_id, step_id=request.step_id, **values
                    )
                )
            audit(
                connection,
                actor="kaizen",
                action="approval.requested",
                subject_type="run",
                subject_id=request.run_id,
                detail={"step": request.step_id, "approvers": list(request.approvers)},
            )

        return op

    def _approval_decided(self, event: ApprovalDecided) -> Callable[[Connection], None]:
        decision = event.decision

        def op(connection: Connection) -> None:
            connection.execute(
                update(_APPROVALS)
                .where(_APPROVALS.c.run_id == event.run_id, _APPROVALS.c.step_id == event.step_id)
                .values(
                    approved=decision.approved,
                    decided_by=decision.by,
                    comment=self.text(decision.comment, event.run_id) if decision.comment else None,
                    decided_at=decision.decided_at,
                )
            )
            audit(
                connection,
                actor=decision.by,
                action="approval.granted" if decision.approved else "approval.denied",
                subject_type="run",
                subject_id=event.run_id,
                detail={
                    "step": event.step_id,
                    "comment": self.text(decision.comment, event.run_id)
                    if decision.comment
                    else None,
                },
            )

        return op

    def _run_finished(self, event: RunFinished) -> Callable[[Connection], None]:
        run = event.run

        def op(connection: Connection) -> None:
            outputs = self.redactor_for(run.run_id).prepare(run.outputs).value
            row = connection.execute(
                select(_RUNS.c.workflow_id, _RUNS.c.started_at).where(_RUNS.c.id == run.run_id)
            ).one_or_none()
            if row is None:
                raise LookupError(f"run '{run.run_id}' is not in the store")
            started_at = row.started_at or run.started_at
            ended_at = run.ended_at or utcnow()
            connection.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run.run_id)
                .values(
                    status=run.status.value,
                    outputs=outputs,
                    error=self.text(run.error, run.run_id) if run.error else None,
                    failed_step=run.failed_step,
                    issues=[self.text(issue, run.run_id) for issue in run.issues],
                    ended_at=ended_at,
                    duration_ms=_elapsed_ms(started_at, ended_at),
                    tokens_in=run.cost.tokens_in,
                    tokens_out=run.cost.tokens_out,
                    cost_usd=run.cost.usd,
                    attention=None,
                    owner=None,
                    lease_expires_at=None,
                )
            )
            # calls whose final record the store refused (the run failed on it) end with it
            connection.execute(
                update(_STEPS)
                .where(_STEPS.c.run_id == run.run_id, _STEPS.c.status == CallState.RUNNING.value)
                .values(
                    status=CallState.INTERRUPTED.value,
                    ended_at=ended_at,
                    issues=["the run ended before this call's record could be stored"],
                )
            )
            add_usage(
                connection,
                workflow_id=row.workflow_id,
                day=ended_at.astimezone(UTC).date(),
                tokens_in=run.cost.tokens_in,
                tokens_out=run.cost.tokens_out,
                cost_usd=run.cost.usd,
            )
            audit(
                connection,
                actor="kaizen",
                action="run.finished",
                subject_type="run",
                subject_id=run.run_id,
                detail={"status": run.status.value, "failed_step": run.failed_step},
            )

        return op


def _elapsed_ms(started_at: Any, ended_at: Any) -> float:
    try:
        return max(0.0, (ended_at - started_at).total_seconds() * 1000)
    except TypeError:
        return 0.0
