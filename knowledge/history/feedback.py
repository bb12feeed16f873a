"""Feedback on runs: Slack reactions (scored) and ``/improve`` texts.

Reactions are scored with a small table; the reaction name is normalized first (``:+1:`` and
``+1::skin-tone-3`` are ``+1``):

==========  ======================================================================
score       reactions
==========  ======================================================================
+1          ``+1`` ``thumbsup`` ``white_check_mark`` ``heavy_check_mark`` ``tada``
            ``rocket``
-1          ``-1`` ``thumbsdown`` ``x`` ``warning`` ``rotating_light`` ``confused``
0           anything else, and every ``/improve`` text (its words carry the meaning)
==========  ======================================================================

Audit action: ``feedback.recorded``.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from knowledge.history._lookup import WorkflowRef, version_id_for, workflow_row
from knowledge.history.audit import audit
from knowledge.history.errors import InvalidArgumentError, NotFoundError
from knowledge.history.views import FeedbackInfo
from knowledge.store.models import Feedback, FeedbackKind, Run, Workflow, WorkflowVersion
from knowledge.store.types import utcnow

POSITIVE_REACTIONS = frozenset(
    {"+1", "thumbsup", "white_check_mark", "heavy_check_mark", "tada", "rocket"}
)
NEGATIVE_REACTIONS = frozenset({"-1", "thumbsdown", "x", "warning", "rotating_light", "confused"})


def normalize_reaction(reaction: str) -> str:
    """Slack's reaction name without colons or skin tone: ``:+1::skin-tone-2:`` → ``+1``."""
    return reaction.strip().strip(":").split("::", 1)[0]


def reaction_score(reaction: str) -> int:
    """+1, -1 or 0 for a reaction name (see the module's table)."""
    name = normalize_reaction(reaction)
    if name in POSITIVE_REACTIONS:
        return 1
    if name in NEGATIVE_REACTIONS:
        return -1
    return 0


def record_feedback(
    session: Session,
    *,
    user: str,
    run_id: str | None = None,
    step_id: str | None = None,
    kind: FeedbackKind,
    reaction: str | None = None,
    text: str | None = None,
    version_id: int | None = None,
) -> FeedbackInfo:
    """Store a reaction (``kind=reaction``, ``reaction`` required) or an ``/improve`` text
    (``kind=improve``, non-empty ``text`` required).

    With ``run_id`` the workflow and version are taken from the run (a different
    ``version_id`` is refused); with only ``version_id``, the workflow is that version's.
    """
    kind = FeedbackKind(kind)
    if not user:
        raise InvalidArgumentError("feedback needs the user who gave it")
    score = 0
    if kind is FeedbackKind.REACTION:
        if not reaction or not normalize_reaction(reaction):
            raise InvalidArgumentError("a reaction feedback needs the reaction's name")
        reaction = normalize_reaction(reaction)
        score = reaction_score(reaction)
    elif not text or not text.strip():
        raise InvalidArgumentError("/improve needs a text saying what to improve")
    workflow_id: int | None = None
    if run_id is not None:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"run '{run_id}' not found")
        if version_id is not None and version_id != run.version_id:
            raise InvalidArgumentError(
                f"run '{run_id}' ran version #{run.version_id}, not #{version_id}"
            )
        workflow_id, version_id = run.workflow_id, run.version_id
    elif version_id is not None:
        version = session.get(WorkflowVersion, version_id)
        if version is None:
            raise NotFoundError(f"workflow version #{version_id} not found")
        workflow_id = version.workflow_id
    row = Feedback(
        kind=kind.value,
        run_id=run_id,
        step_id=step_id,
        workflow_id=workflow_id,
        version_id=version_id,
        user=user,
        reaction=reaction if kind is FeedbackKind.REACTION else None,
        text=text.strip() if text else None,
        score=score,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    info = _info(session, row)
    audit(
        session,
        actor=user,
        action="feedback.recorded",
        subject_type="feedback",
        subject_id=row.id,
        detail={
            "kind": kind.value,
            "run_id": run_id,
            "step_id": step_id,
            "workflow": info.workflow,
            "version": info.version,
            "reaction": info.reaction,
            "score": score,
        },
    )
    return info


def feedback_for(
    session: Session,
    *,
    run_id: str | None = None,
    workflow: WorkflowRef | None = None,
    version: int | None = None,
) -> list[FeedbackInfo]:
    """Feedback matching every filter given (``version`` is a number of ``workflow``),
    newest first."""
    stmt = _select()
    if run_id is not None:
        stmt = stmt.where(Feedback.run_id == run_id)
    version_id = version_id_for(session, workflow, version)
    if version_id is not None:
        stmt = stmt.where(Feedback.version_id == version_id)
    elif workflow is not None:
        stmt = stmt.where(Feedback.workflow_id == workflow_row(session, workflow).id)
    stmt = stmt.order_by(Feedback.created_at.desc(), Feedback.id.desc())
    return [_view(row, name, number) for row, name, number in session.execute(stmt)]


_Version = aliased(WorkflowVersion)


def _select() -> Select[Feedback, str | None, int | None]:
    return (
        select(Feedback, Workflow.name, _Version.number)
        .outerjoin(Workflow, Workflow.id == Feedback.workflow_id)
        .outerjoin(_Version, _Version.id == Feedback.version_id)
    )


def _info(session: Session, row: Feedback) -> FeedbackInfo:
    workflow = session.get(Workflow, row.workflow_id) if row.workflow_id is not None else None
    version = session.get(WorkflowVersion, row.version_id) if row.version_id is not None else None
    return _view(
        row,
        workflow.name if workflow is not None else None,
        version.number if version is not None else None,
    )


def _view(row: Feedback, workflow: str | None, version: int | None) -> FeedbackInfo:
    return FeedbackInfo(
        id=row.id,
        kind=FeedbackKind(row.kind),
        run_id=row.run_id,
        step_id=row.step_id,
        workflow_id=row.workflow_id,
        workflow=workflow,
        version_id=row.version_id,
        version=version,
        user=row.user,
        reaction=row.reaction,
        text=row.text,
        score=row.score,
        created_at=row.created_at,
    )
