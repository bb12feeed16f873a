"""Drafts: plans shown to people as preview cards before anyone runs them.

::

    previewed → running | saved | cancelled
              ↘ superseded (a re-plan from a thread reply or an edit replaced it)

A draft remembers the request, the planned blueprint (none for a clarifying question), the
planner's whole result, and where its card is in Slack (channel, thread, message). Buttons
move it out of ``previewed`` with :func:`claim_draft`, an atomic compare-and-set: of two clicks
on Run (or two processes handling the same click) exactly one wins and starts the run.

Audit actions: ``draft.<state>`` (when a claim moves a draft), ``draft.edited``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, Update, or_, select, update
from sqlalchemy.orm import Session

from knowledge.history.audit import audit
from knowledge.history.errors import ConflictError, InvalidArgumentError, NotFoundError
from knowledge.history.views import DraftInfo, DraftState
from knowledge.store.models import Draft, Run, WorkflowVersion
from knowledge.store.types import utcnow

#: The most drafts :func:`recent_drafts` returns at once.
MAX_RECENT = 500


def create_draft(
    session: Session,
    *,
    request: str,
    blueprint: dict[str, Any] | None,
    plan: dict[str, Any],
    requested_by: str,
    channel: str | None = None,
    thread_ts: str | None = None,
    parent_id: int | None = None,
) -> DraftInfo:
    """A ``previewed`` draft of ``plan`` (the planner's result as JSON: ``model_dump(
    mode="json")``) for ``request``; ``blueprint`` is ``None`` for a clarifying question.

    ``parent_id`` names the draft this re-plan replaces: if that one is still ``previewed``
    it becomes ``superseded`` (decided by ``requested_by``), so its buttons no longer act.
    Attach the card once it is posted with :func:`attach_message`.
    """
    request = request.strip()
    if not request:
        raise InvalidArgumentError("a draft needs the request's text")
    if not requested_by:
        raise InvalidArgumentError("a draft needs who asked for it (requested_by=…)")
    now = utcnow()
    if parent_id is not None:
        # The write comes first: on SQLite it takes the write lock before anything is read.
        superseded = _execute_update(
            session,
            update(Draft)
            .where(Draft.id == parent_id, Draft.state == DraftState.PREVIEWED.value)
            .values(
                state=DraftState.SUPERSEDED.value,
                decided_by=requested_by,
                decided_at=now,
                updated_at=now,
            ),
        )
        if not superseded:
            _row(session, parent_id)  # it exists (in another state), or NotFoundError
    draft = Draft(
        request=request,
        plan=copy.deepcopy(dict(plan)),
        state=DraftState.PREVIEWED.value,
        requested_by=requested_by,
        channel=channel,
        thread_ts=thread_ts,
        parent_id=parent_id,
        created_at=now,
        updated_at=now,
    )
    if blueprint is not None:  # left unset, the column is SQL NULL rather than JSON null
        draft.blueprint = copy.deepcopy(dict(blueprint))
    session.add(draft)
    session.flush()
    return _info(draft)


def attach_message(session: Session, draft_id: int, *, channel: str, message_ts: str) -> DraftInfo:
    """Remember the message of the draft's preview card (``chat.postMessage``'s ``ts``)."""
    if not channel or not message_ts:
        raise InvalidArgumentError("a draft's card needs its channel and message ts")
    changed = _execute_update(
        session,
        update(Draft)
        .where(Draft.id == draft_id)
        .values(channel=channel, message_ts=message_ts, updated_at=utcnow()),
    )
    if not changed:
        raise NotFoundError(_not_found(draft_id))
    return get_draft(session, draft_id)


def get_draft(session: Session, draft_id: int) -> DraftInfo:
    """The draft ``draft_id``, as stored now."""
    return _info(_row(session, draft_id))


def find_draft_by_message(session: Session, channel: str, message_ts: str) -> DraftInfo | None:
    """The draft whose preview card is message ``message_ts`` of ``channel`` (the newest, if
    the card was updated in place for a re-plan)."""
    row = session.scalars(
        select(Draft)
        .where(Draft.channel == channel, Draft.message_ts == message_ts)
        .order_by(Draft.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).first()
    return _info(row) if row is not None else None


def latest_draft_in_thread(session: Session, channel: str, thread_ts: str) -> DraftInfo | None:
    """The newest draft of the thread ``thread_ts`` in ``channel``: made in that thread, or
    whose card started it (its ``message_ts`` is ``thread_ts``)."""
    row = session.scalars(
        select(Draft)
        .where(
            Draft.channel == channel,
            or_(Draft.thread_ts == thread_ts, Draft.message_ts == thread_ts),
        )
        .order_by(Draft.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).first()
    return _info(row) if row is not None else None


def claim_draft(
    session: Session,
    draft_id: int,
    to_state: DraftState | str,
    *,
    by: str,
    expected: Iterable[DraftState | str] = (DraftState.PREVIEWED,),
    run_id: str | None = None,
    version_id: int | None = None,
    blueprint: dict[str, Any] | None = None,
) -> DraftInfo | None:
    """Move the draft to ``to_state`` if, and only if, it is in one of the ``expected`` states
    now: one ``UPDATE … WHERE id = :id AND state IN (…)``, so of concurrent claims (a
    double-clicked Run button, two processes handling one click) exactly one wins.

    The winner gets the draft as it is now, with ``by`` and the time recorded as its decision,
    and ``run_id``, ``version_id`` (the version saved or run) and ``blueprint`` stored when
    given. Everyone else, and a claim of a draft that does not exist, gets ``None``: do
    nothing (the draft was decided already).
    """
    if not by:
        raise InvalidArgumentError("say who claims the draft (by=…)")
    target = _state(to_state)
    states = [_state(state) for state in ((expected,) if isinstance(expected, str) else expected)]
    if not states:
        raise InvalidArgumentError("expected names no state: a claim could never succeed")
    if run_id is not None and session.get(Run, run_id) is None:
        raise NotFoundError(f"run {run_id} not found")
    if version_id is not None and session.get(WorkflowVersion, version_id) is None:
        raise NotFoundError(f"workflow version #{version_id} not found")
    now = utcnow()
    values: dict[str, Any] = {
        "state": target.value,
        "decided_by": by,
        "decided_at": now,
        "updated_at": now,
    }
    if run_id is not None:
        values["run_id"] = run_id
    if version_id is not None:
        values["workflow_version_id"] = version_id
    if blueprint is not None:
        values["blueprint"] = copy.deepcopy(dict(blueprint))
    claimed = _execute_update(
        session,
        update(Draft)
        .where(Draft.id == draft_id, Draft.state.in_([state.value for state in states]))
        .values(**values),
    )
    if claimed != 1:
        return None
    info = get_draft(session, draft_id)
    detail: dict[str, Any] = {"from": sorted(state.value for state in states)}
    if run_id is not None:
        detail["run_id"] = run_id
    if version_id is not None:
        detail["version_id"] = version_id
    audit(
        session,
        actor=by,
        action=f"draft.{target.value}",
        subject_type="draft",
        subject_id=draft_id,
        detail=detail,
    )
    return info


def update_draft_blueprint(
    session: Session, draft_id: int, blueprint: dict[str, Any], *, by: str
) -> DraftInfo:
    """Replace the draft's blueprint (the Edit modal). Only a ``previewed`` draft can be
    edited (:class:`ConflictError` otherwise); the planner's ``plan`` is kept as it was."""
    if not by:
        raise InvalidArgumentError("say who edits the draft (by=…)")
    changed = _execute_update(
        session,
        update(Draft)
        .where(Draft.id == draft_id, Draft.state == DraftState.PREVIEWED.value)
        .values(blueprint=copy.deepcopy(dict(blueprint)), updated_at=utcnow()),
    )
    if not changed:
        row = _row(session, draft_id)
        raise ConflictError(
            f"draft #{draft_id} is {row.state}: only a previewed draft can be edited"
        )
    audit(session, actor=by, action="draft.edited", subject_type="draft", subject_id=draft_id)
    return get_draft(session, draft_id)


def set_draft_run(session: Session, draft_id: int, run_id: str) -> DraftInfo:
    """Remember the run started from the draft (once its id is known, after the claim)."""
    if session.get(Run, run_id) is None:
        raise NotFoundError(f"run {run_id} not found")
    changed = _execute_update(
        session,
        update(Draft).where(Draft.id == draft_id).values(run_id=run_id, updated_at=utcnow()),
    )
    if not changed:
        raise NotFoundError(_not_found(draft_id))
    return get_draft(session, draft_id)


def recent_drafts(
    session: Session, *, channel: str | None = None, limit: int = 20
) -> list[DraftInfo]:
    """The newest drafts (of ``channel``, when given), newest first."""
    if not 1 <= limit <= MAX_RECENT:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_RECENT}, not {limit}")
    stmt = select(Draft)
    if channel is not None:
        stmt = stmt.where(Draft.channel == channel)
    stmt = stmt.order_by(Draft.id.desc()).limit(limit).execution_options(populate_existing=True)
    return [_info(row) for row in session.scalars(stmt)]


# ---------------------------------------------------------------------------- internals


def _state(value: DraftState | str) -> DraftState:
    try:
        return DraftState(value)
    except ValueError:
        known = ", ".join(state.value for state in DraftState)
        raise InvalidArgumentError(f"a draft state is one of {known}, not {value!r}") from None


def _execute_update(session: Session, statement: Update) -> int:
    """Run ``statement`` without touching the objects in the session; how many rows changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount


def _not_found(draft_id: int) -> str:
    return f"draft #{draft_id} not found"


def _row(session: Session, draft_id: int) -> Draft:
    row = session.get(Draft, draft_id, populate_existing=True)
    if row is None:
        raise NotFoundError(_not_found(draft_id))
    return row


def _info(row: Draft) -> DraftInfo:
    return DraftInfo(
        id=row.id,
        request=row.request,
        blueprint=copy.deepcopy(dict(row.blueprint)) if row.blueprint is not None else None,
        plan=copy.deepcopy(dict(row.plan)),
        state=DraftState(row.state),
        requested_by=row.requested_by,
        channel=row.channel,
        thread_ts=row.thread_ts,
        message_ts=row.message_ts,
        run_id=row.run_id,
        workflow_version_id=row.workflow_version_id,
        parent_id=row.parent_id,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
