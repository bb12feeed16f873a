"""Durable runs: start runs of stored workflow versions, and resume them after a crash.

:class:`DurableRunner` wires the engine's executor to the store. Every run belongs to a
workflow version; its events are committed as they happen (see
:mod:`knowledge.durable.recorder`). A run started twice with the same idempotency key is one
run. On start, :meth:`DurableRunner.recover` finds runs that a dead process left unfinished
and resumes them, or pauses them as ``needs_attention`` (see :mod:`knowledge.durable.recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, CursorResult, insert, or_, select, update

from engine.blueprint import Blueprint
from engine.events import EventSink, FanoutSink
from engine.executor import Executor, RunHandle
from engine.inputs import resolve_inputs
from engine.plan import ExecutionPlan
from engine.records import RunRecord
from engine.tools.base import SideEffect
from engine.tools.registry import ToolRegistry
from knowledge.durable.recorder import RunRecorder
from knowledge.durable.recovery import (
    RecoveryPlan,
    mark_needs_attention,
    mark_rerun,
    plan_recovery,
)
from knowledge.durable.writer import StoreWriter
from knowledge.history.audit import audit
from knowledge.store.database import Database
from knowledge.store.models import CallState, Run, RunState, StepCall, WorkflowVersion
from knowledge.store.redaction import REDACTED, Redactor, storable
from knowledge.store.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 60.0
#: The longest idempotency key (the column's size on every database).
MAX_KEY_LENGTH = 200
#: Compiled plans of this many workflow versions are kept.
PLAN_CACHE_SIZE = 64


class RunTicket(BaseModel):
    """What starting a run gave: its id, whether it is new, and its handle when it runs here."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    created: bool
    """False when the idempotency key matched an earlier run (nothing new was started)."""
    status: RunState
    handle: RunHandle | None = None


class RecoveryReport(BaseModel):
    """What :meth:`DurableRunner.recover` did with each unfinished run it took over."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    resumed: dict[str, RunHandle] = {}
    needs_attention: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    """Runs that cannot resume at all (e.g. their blueprint no longer validates)."""


def process_owner() -> str:
    """``host:pid:start`` — who runs a run; the start time tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer runs."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: only its lease tells
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    if _state(pid) in ("Z", "X"):  # killed, not yet reaped by its parent
        return True
    return start not in ("", "?") and _start_time(pid) != start


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[0]


class DurableRunner:
    """Runs workflow versions with every transition committed to the store."""

    def __init__(
        self,
        db: Database,
        registry: ToolRegistry,
        *,
        redactor: Redactor | None = None,
        sink: EventSink | None = None,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        **executor_options: Any,
    ) -> None:
        self.db = db
        self.registry = registry
        self.owner = owner or process_owner()
        self.lease_s = lease_s
        self.writer = StoreWriter(db.engine)
        self.recorder = RunRecorder(
            self.writer,
            redactor=redactor or Redactor(),
            side_effect_of=self.side_effect_of,
            owner=self.owner,
        )
        sinks: list[EventSink] = [self.recorder] if sink is None else [self.recorder, sink]
        self.executor = Executor(
            registry, sink=sinks[0] if len(sinks) == 1 else FanoutSink(sinks), **executor_options
        )
        self._lease_task: asyncio.Task[None] | None = None
        self._plans: dict[int, tuple[ExecutionPlan, int]] = {}

    def side_effect_of(self, tool: str) -> SideEffect:
        found = self.registry.find(tool)
        return found.spec.side_effect if found is not None else SideEffect.MUTATING

    # ---------------------------------------------------------------- starting

    async def start(
        self,
        version_id: int,
        inputs: Mapping[str, Any] | None = None,
        *,
        started_by: str,
        idempotency_key: str | None = None,
        run_id: str | None = None,
    ) -> RunTicket:
        """Start a run of a stored workflow version. With an ``idempotency_key`` already used,
        no new run starts: the ticket names the earlier run (``created=False``)."""
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
            raise ValueError(
                f"idempotency_key must be 1 to {MAX_KEY_LENGTH} characters, got "
                f"{len(idempotency_key)}"
            )
        plan, workflow_id = await self._plan_of(version_id)  # invalid: raises before any write
        resolved = resolve_inputs(plan.blueprint, inputs)
        stored_inputs, redacted = self.recorder.redactor.redact(resolved)
        hidden = hidden_values(resolved, stored_inputs) if redacted else []
        stored_inputs = storable(stored_inputs)
        run_id = run_id or uuid.uuid4().hex
        now = utcnow()

        def create(connection: Connection) -> tuple[str, bool, str]:
            if idempotency_key is not None:
                earlier = connection.execute(
                    select(Run.id, Run.status).where(Run.idempotency_key == idempotency_key)
                ).one_or_none()
                if earlier is not None:
                    return earlier.id, False, earlier.status
            # Two processes inserting the same key: the loser's batch fails on the unique key,
            # the writer retries this operation alone, and the SELECT above then finds the run.
            connection.execute(
                insert(Run).values(
                    id=run_id,
                    workflow_id=workflow_id,
                    version_id=version_id,
                    idempotency_key=idempotency_key,
                    status=RunState.RUNNING.value,
                    inputs=stored_inputs,
                    inputs_redacted=redacted,
                    issues=[],
                    started_by=started_by,
                    created_at=now,
                    owner=self.owner,
                    lease_expires_at=now + timedelta(seconds=self.lease_s),
                    tokens_in=0,
                    tokens_out=0,
                    cost_usd=0.0,
                    resumes=0,
                )
            )
            audit(
                connection,
                actor=started_by,
                action="run.started",
                subject_type="run",
                subject_id=run_id,
                detail={"version_id": version_id, "idempotency_key": idempotency_key},
            )
            return run_id, True, RunState.RUNNING.value

        stored_id, created, status = await self.writer.write(create)
        if not created:
            handle = None
            with contextlib.suppress(KeyError):
                handle = self.executor.handle(stored_id)
            return RunTicket(
                run_id=stored_id, created=False, status=RunState(status), handle=handle
            )
        self.recorder.add_run_secrets(stored_id, hidden)
        handle = self.executor.start(plan, resolved, run_id=stored_id)
        self._ensure_lease_task()
        return RunTicket(run_id=stored_id, created=True, status=RunState.RUNNING, handle=handle)

    async def run(
        self,
        version_id: int,
        inputs: Mapping[str, Any] | None = None,
        *,
        started_by: str,
        idempotency_key: str | None = None,
    ) -> RunTicket:
        """Start, and wait until the run ends here (or, for a repeated idempotency key, until
        the earlier run ends if it runs in this process)."""
        ticket = await self.start(
            version_id, inputs, started_by=started_by, idempotency_key=idempotency_key
        )
        if ticket.handle is not None:
            record = await ticket.handle.result()
            return ticket.model_copy(update={"status": RunState(record.status.value)})
        return ticket

    async def _plan_of(self, version_id: int) -> tuple[ExecutionPlan, int]:
        """The compiled plan of a version (versions are immutable: compiled once, then kept)."""
        cached = self._plans.get(version_id)
        if cached is None:
            blueprint, workflow_id = await asyncio.to_thread(self._load_version, version_id)
            cached = (self.executor.plan(blueprint), workflow_id)
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.pop(next(iter(self._plans)))
            self._plans[version_id] = cached
        return cached

    def _load_version(self, version_id: int) -> tuple[Blueprint, int]:
        with self.db.reading() as session:
            version = session.get(WorkflowVersion, version_id)
            if version is None:
                raise LookupError(f"workflow version {version_id} not found")
            return Blueprint.model_validate(version.blueprint), version.workflow_id

    # ---------------------------------------------------------------- recovery

    async def recover(self) -> RecoveryReport:
        """Take over the runs that dead processes left unfinished (and runs a person released
        from ``needs_attention``) and resume each, or pause it as ``needs_attention``."""
        report = RecoveryReport()
        for run_id in await asyncio.to_thread(self._claim_unfinished):
            try:
                handle = await self.resume(run_id)
            except NeedsAttentionError as exc:
                report.needs_attention[run_id] = exc.problems
            except SecretInputsError as exc:  # can never resume: its inputs were not stored
                await asyncio.to_thread(self._give_up, run_id, str(exc))
                report.failed[run_id] = str(exc)
            except Exception as exc:  # a tool missing here, an invalid blueprint, the database
                log.exception("could not resume run %s", run_id)
                problem = self.recorder.text(
                    f"Kaizen could not resume this run: {type(exc).__name__}: {exc}. Fix the "
                    "cause, then release it to resume (kaizen runs release), or cancel it."
                )
                await asyncio.to_thread(self._pause, run_id, [problem])
                report.needs_attention[run_id] = [problem]
            else:
                report.resumed[run_id] = handle
        return report

    async def resume(self, run_id: str) -> RunHandle:
        """Resume one unfinished run (see :meth:`recover`). Raises :class:`NeedsAttentionError`
        when a person must decide first, ``ValueError`` when the run is finished or another
        live process runs it."""
        plan, inputs, recovery, cancel = await asyncio.to_thread(self._plan_recovery, run_id)
        if recovery.needs_attention:
            raise NeedsAttentionError(recovery.problems)
        handle = self.executor.start(plan, inputs, run_id=run_id, resume=recovery.resume)
        if cancel is not None:  # asked for before the crash: it stands (nothing new starts)
            handle.cancel(cancel[0], compensate=cancel[1])
        self._ensure_lease_task()
        return handle

    async def cancel(self, run_id: str, reason: str, *, by: str, compensate: bool = False) -> None:
        """Cancel a run this process is running. The request is committed first, so that it
        stands if the process dies before the run has wound up."""
        handle = self.executor.handle(run_id)  # KeyError: not running here

        def remember(connection: Connection) -> None:
            connection.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == RunState.RUNNING.value)
                .values(cancel_reason=reason, cancel_compensate=compensate)
            )
            audit(
                connection,
                actor=by,
                action="run.cancel_requested",
                subject_type="run",
                subject_id=run_id,
                detail={"reason": reason, "compensate": compensate},
            )

        await self.writer.write(remember)
        handle.cancel(reason, compensate=compensate)

    def _plan_recovery(
        self, run_id: str
    ) -> tuple[ExecutionPlan, dict[str, Any], RecoveryPlan, tuple[str, bool] | None]:
        with self.db.session() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"run '{run_id}' not found")
            if run.status != RunState.RUNNING:
                raise ValueError(f"run '{run_id}' is {run.status}: there is nothing to resume")
            now = utcnow()
            taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(Run)
                .where(
                    Run.id == run_id,
                    Run.status == RunState.RUNNING.value,
                    or_(
                        Run.owner.is_(None),
                        Run.owner == self.owner,
                        Run.lease_expires_at.is_(None),
                        Run.lease_expires_at < now,
                    ),
                )
                .values(owner=self.owner, lease_expires_at=now + timedelta(seconds=self.lease_s))
            )
            if not taken.rowcount and not owner_is_dead(run.owner):
                raise ValueError(f"run '{run_id}' is being run by {run.owner}")
            if run.inputs_redacted:
                raise SecretInputsError(
                    "its inputs held secrets, which are never stored; start it again instead"
                )
            version = session.get(WorkflowVersion, run.version_id)
            assert version is not None
            plan = self.executor.plan(Blueprint.model_validate(version.blueprint))
            recovery = plan_recovery(session, run_id, plan)
            cancel = (
                (run.cancel_reason, bool(run.cancel_compensate))
                if run.cancel_reason is not None
                else None
            )
            if cancel is not None:  # the run only winds up: nothing interrupted is made again
                mark_rerun(session, [*recovery.rerun, *recovery.blockers])
                recovery = recovery.model_copy(update={"problems": [], "blockers": []})
            elif recovery.needs_attention:
                mark_needs_attention(session, run_id, recovery.problems)
            else:
                mark_rerun(session, recovery.rerun)
            return plan, dict(run.inputs), recovery, cancel

    def _claim_unfinished(self) -> list[str]:
        """Claim every run left ``running`` by a process that is gone (or whose lease ran
        out); each claim is one conditional UPDATE, so two processes never take the same run."""
        now = utcnow()
        claimed: list[str] = []
        with self.db.session() as session:
            rows = session.execute(
                select(Run.id, Run.owner, Run.lease_expires_at)
                .where(Run.status == RunState.RUNNING.value)
                .order_by(Run.id)  # every process locks rows in the same order: no deadlock
            ).all()
            for row in rows:
                if row.owner == self.owner:
                    continue
                expired = row.lease_expires_at is None or row.lease_expires_at < now
                # a dead owner's runs are taken at once; a live one's only when its lease ran
                # out (it stalled): it is fenced off from then on (see renew_leases)
                if not (expired or owner_is_dead(row.owner)):
                    continue
                owner_test = Run.owner.is_(None) if row.owner is None else Run.owner == row.owner
                taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                    update(Run)
                    .where(Run.id == row.id, Run.status == RunState.RUNNING.value, owner_test)
                    .values(
                        owner=self.owner,
                        lease_expires_at=now + timedelta(seconds=self.lease_s),
                        resumes=Run.resumes + 1,
                    )
                )
                if taken.rowcount:
                    claimed.append(row.id)
        return claimed

    def _pause(self, run_id: str, problems: list[str]) -> None:
        with self.db.session() as session:
            mark_needs_attention(session, run_id, problems)

    def _give_up(self, run_id: str, reason: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(StepCall)
                .where(StepCall.run_id == run_id, StepCall.status == CallState.RUNNING.value)
                .values(status=CallState.INTERRUPTED.value, ended_at=utcnow())
            )
            audit(
                session,
                actor="kaizen",
                action="run.failed_to_resume",
                subject_type="run",
                subject_id=run_id,
                detail={"reason": reason},
            )
            session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    status=RunState.FAILED.value,
                    error=reason,
                    ended_at=utcnow(),
                    owner=None,
                    lease_expires_at=None,
                )
            )

    # ---------------------------------------------------------------- leases

    def _ensure_lease_task(self) -> None:
        if self._lease_task is None or self._lease_task.done():
            self._lease_task = asyncio.get_running_loop().create_task(
                self._renew_leases(), name="kaizen-run-leases"
            )

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew_leases()
            except Exception:  # the database is away: try again next time
                log.warning("could not renew run leases", exc_info=True)

    async def renew_leases(self) -> list[str]:
        """Extend this process's claim on its active runs. A run whose claim another process
        took meanwhile (this one stalled past its lease) is abandoned here at once: it stops,
        compensates nothing, and nothing more of it is written. Returns the abandoned runs."""
        active = self.executor.active_runs()
        if not active:
            return []
        expires = utcnow() + timedelta(seconds=self.lease_s)
        owner = self.owner

        def renew(connection: Connection) -> list[str]:
            connection.execute(
                update(Run)
                .where(Run.id.in_(active), Run.status == RunState.RUNNING.value, Run.owner == owner)
                .values(lease_expires_at=expires)
            )
            taken = connection.execute(
                select(Run.id).where(
                    Run.id.in_(active),
                    Run.status == RunState.RUNNING.value,
                    or_(Run.owner != owner, Run.owner.is_(None)),
                )
            ).scalars()
            return list(taken)

        lost: list[str] = await self.writer.write(renew)
        for run_id in lost:
            self.recorder.fenced.add(run_id)
            with contextlib.suppress(KeyError):
                self.executor.handle(run_id).abandon("another Kaizen process took this run over")
            log.warning("run %s was taken over by another process; stopped here", run_id)
        return lost

    async def close(self) -> None:
        """Stop renewing leases, commit what is queued, release the executor."""
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        await asyncio.to_thread(self.writer.close)
        self.executor.close()

    async def __aenter__(self) -> DurableRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def hidden_values(original: Any, redacted: Any) -> list[str]:
    """The texts of ``original`` that redaction replaced in ``redacted`` (whole values under a
    secret key, as text), so that they can be hidden wherever else they appear."""
    found: list[str] = []
    if isinstance(original, Mapping) and isinstance(redacted, Mapping):
        for key, value in original.items():
            found.extend(hidden_values(value, redacted.get(str(key), redacted.get(key))))
    elif isinstance(original, list | tuple) and isinstance(redacted, list):
        for before, after in zip(original, redacted, strict=False):
            found.extend(hidden_values(before, after))
    elif redacted == REDACTED and original not in (None, "", REDACTED):
        text = original if isinstance(original, str) else json.dumps(original, default=str)
        found.append(text)
    return found


class SecretInputsError(ValueError):
    """A run whose inputs held secrets cannot resume: they were never stored."""


class NeedsAttentionError(Exception):
    """The run cannot resume until a person decides (see :func:`resolve_call`); ``problems``
    says why, one line per interrupted call or missing output."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def stored_run_status(record: RunRecord) -> RunState:
    return RunState(record.status.value)
