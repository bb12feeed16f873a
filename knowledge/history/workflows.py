"""Workflows and their immutable versions: create, add (whole or as a JSON Patch), move the
production pointer, roll back, diff, and read the history.

Every stored blueprint is validated with the engine first. With a ``registry`` that includes
tool names and params; without one the check is structural (fields, the graph, templates),
which is what :func:`engine.validation.validate_blueprint` does when it has no registry.
Callers that know the tools (the bot, the optimizer) should pass the registry. Rollbacks are
not validated: they restore exactly what was stored before.

Audit actions: ``version.created`` (a new version), ``version.rollback`` (a new version that
restores an old one), ``version.production`` (the production pointer moved).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from engine.blueprint import Blueprint
from engine.tools.registry import ToolRegistry
from knowledge.history._lookup import (
    WorkflowRef,
    newest_version_row,
    version_row,
    workflow_row,
)
from knowledge.history.audit import audit
from knowledge.history.blueprints import (
    Document,
    blueprint_document,
    blueprint_hash,
    check_blueprint,
    make_patch,
    patched_blueprint,
    unified_diff,
)
from knowledge.history.errors import ConflictError, InvalidArgumentError, NotFoundError
from knowledge.history.views import VersionDiff, VersionInfo, WorkflowInfo
from knowledge.store.models import VersionOrigin, Workflow, WorkflowVersion
from knowledge.store.types import utcnow

BlueprintInput = Blueprint | Mapping[str, Any]


# ---------------------------------------------------------------------------- writing


def create_workflow(
    session: Session,
    blueprint: BlueprintInput,
    *,
    author: str,
    origin: VersionOrigin = VersionOrigin.USER,
    note: str = "",
    registry: ToolRegistry | None = None,
) -> VersionInfo:
    """Create the workflow named like ``blueprint`` with it as version 1, in production.

    Raises :class:`ConflictError` if the name is taken, :class:`InvalidBlueprintError` if the
    blueprint does not validate.
    """
    _refuse_rollback_origin(origin)
    model = check_blueprint(blueprint, registry)
    if session.scalar(select(Workflow.id).where(Workflow.name == model.name)) is not None:
        raise ConflictError(f"a workflow named '{model.name}' already exists")
    workflow = Workflow(
        name=model.name, description=model.description, created_at=utcnow(), created_by=author
    )
    session.add(workflow)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"a workflow named '{model.name}' already exists") from None
    return _store(
        session,
        workflow,
        blueprint_document(model),
        parent=None,
        origin=origin,
        author=author,
        note=note,
        make_production=True,
    )


def add_version(
    session: Session,
    workflow: WorkflowRef,
    blueprint: BlueprintInput,
    *,
    author: str,
    origin: VersionOrigin,
    note: str = "",
    parent: int | None = None,
    registry: ToolRegistry | None = None,
    make_production: bool = False,
) -> VersionInfo:
    """Add ``blueprint`` as the next version of ``workflow`` (a name or id).

    ``parent`` (a version number, default the newest) is what the stored JSON Patch starts
    from. The blueprint must carry the workflow's name and validate.
    """
    _refuse_rollback_origin(origin)
    row = workflow_row(session, workflow, lock=True)
    model = check_blueprint(blueprint, registry, name=row.name)
    parent_row = _parent(session, row, parent)
    return _store(
        session,
        row,
        blueprint_document(model),
        parent=parent_row,
        origin=origin,
        author=author,
        note=note,
        make_production=make_production,
    )


def add_version_from_patch(
    session: Session,
    workflow: WorkflowRef,
    patch: Any,
    *,
    author: str,
    origin: VersionOrigin,
    note: str = "",
    base: int | None = None,
    registry: ToolRegistry | None = None,
    make_production: bool = False,
) -> VersionInfo:
    """Apply a JSON Patch (a list of RFC 6902 operations) to version ``base`` (default the
    newest) and store the result as the next version, whose parent is ``base``.

    Raises :class:`InvalidPatchError` naming the failing operation, or
    :class:`InvalidBlueprintError` listing every problem of the result; nothing is stored
    then.
    """
    _refuse_rollback_origin(origin)
    row = workflow_row(session, workflow, lock=True)
    base_row = _parent(session, row, base)
    _, document = patched_blueprint(base_row.blueprint, patch, registry, name=row.name)
    return _store(
        session,
        row,
        document,
        parent=base_row,
        origin=origin,
        author=author,
        note=note,
        make_production=make_production,
    )


def set_production(
    session: Session, workflow: WorkflowRef, version_number: int, *, by: str
) -> VersionInfo:
    """Make version ``version_number`` the production version (audited unless it already
    is)."""
    row = workflow_row(session, workflow, lock=True)
    version = version_row(session, row, version_number)
    if row.production_version_id != version.id:
        _move_production(session, row, version, by=by)
    return _info(session, row, version)


def rollback(
    session: Session, workflow: WorkflowRef, to_version: int, *, by: str, note: str = ""
) -> VersionInfo:
    """Add a new version restoring ``to_version``'s blueprint (origin ``rollback``, parent the
    newest version) and make it production. Versions are never changed or deleted."""
    row = workflow_row(session, workflow, lock=True)
    target = version_row(session, row, to_version)
    newest = newest_version_row(session, row)
    if newest.id == target.id:
        raise ConflictError(
            f"v{to_version} is the newest version of '{row.name}': nothing to roll back to "
            f"(use set_production to make it production)"
        )
    return _store(
        session,
        row,
        dict(target.blueprint),
        parent=newest,
        origin=VersionOrigin.ROLLBACK,
        author=by,
        note=note or f"rollback to v{to_version}",
        make_production=True,
        restores=target,
    )


def find_or_add_version(
    session: Session,
    blueprint: BlueprintInput,
    *,
    author: str,
    origin: VersionOrigin,
    note: str = "",
    registry: ToolRegistry | None = None,
    make_production: bool = False,
) -> VersionInfo:
    """The version to run ``blueprint`` as (what ``kaizen run file.yaml`` uses).

    Creates the workflow named like the blueprint when there is none (version 1, production);
    returns the newest version when its blueprint is the same (same hash); else adds a
    version (made production only with ``make_production``).
    """
    model = check_blueprint(blueprint, registry)
    document = blueprint_document(model)
    row = session.scalars(
        select(Workflow).where(Workflow.name == model.name).with_for_update()
    ).one_or_none()
    if row is None:
        return create_workflow(
            session, model, author=author, origin=origin, note=note, registry=registry
        )
    newest = newest_version_row(session, row)
    if newest.blueprint_hash == blueprint_hash(document):
        return _info(session, row, newest)
    _refuse_rollback_origin(origin)
    return _store(
        session,
        row,
        document,
        parent=newest,
        origin=origin,
        author=author,
        note=note,
        make_production=make_production,
    )


# ---------------------------------------------------------------------------- reading


def get_version(session: Session, workflow: WorkflowRef, number: int | None = None) -> VersionInfo:
    """Version ``number`` of ``workflow`` (``None``: the production version, or the newest if
    none is production)."""
    row = workflow_row(session, workflow)
    if number is not None:
        return _info(session, row, version_row(session, row, number))
    if row.production_version_id is not None:
        version = session.get(WorkflowVersion, row.production_version_id)
        if version is not None:
            return _info(session, row, version)
    return _info(session, row, newest_version_row(session, row))


def get_version_by_id(session: Session, version_id: int) -> VersionInfo:
    """The version with database id ``version_id``."""
    version = session.get(WorkflowVersion, version_id)
    if version is None:
        raise NotFoundError(f"workflow version #{version_id} not found")
    return _info(session, version.workflow, version)


def history(
    session: Session, workflow: WorkflowRef, *, limit: int | None = None
) -> list[VersionInfo]:
    """The workflow's versions, newest first (at most ``limit``)."""
    row = workflow_row(session, workflow)
    numbers = _numbers(session, row.id)
    stmt = (
        select(WorkflowVersion)
        .where(WorkflowVersion.workflow_id == row.id)
        .order_by(WorkflowVersion.number.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_info(session, row, version, numbers) for version in session.scalars(stmt)]


def list_workflows(session: Session) -> list[WorkflowInfo]:
    """Every workflow, by name, with its production and newest version numbers."""
    counts = (
        select(
            WorkflowVersion.workflow_id.label("workflow_id"),
            func.max(WorkflowVersion.number).label("latest"),
            func.count(WorkflowVersion.id).label("count"),
        )
        .group_by(WorkflowVersion.workflow_id)
        .subquery()
    )
    production = aliased(WorkflowVersion)
    stmt = (
        select(Workflow, production.number, counts.c.latest, counts.c["count"])
        .outerjoin(production, production.id == Workflow.production_version_id)
        .outerjoin(counts, counts.c.workflow_id == Workflow.id)
        .order_by(Workflow.name)
    )
    return [
        WorkflowInfo(
            id=row.id,
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            created_by=row.created_by,
            production_version=production_number,
            latest_version=latest,
            version_count=count or 0,
        )
        for row, production_number, latest, count in session.execute(stmt)
    ]


def diff_versions(session: Session, workflow: WorkflowRef, a: int, b: int) -> VersionDiff:
    """What changed from version ``a`` to version ``b``: a JSON Patch and a unified diff of
    the two blueprints as YAML (``--- v<a>`` / ``+++ v<b>``)."""
    row = workflow_row(session, workflow)
    doc_a = version_row(session, row, a).blueprint
    doc_b = version_row(session, row, b).blueprint
    patch = make_patch(doc_a, doc_b)
    text = unified_diff(doc_a, doc_b, f"v{a}", f"v{b}") if patch else ""
    return VersionDiff(
        workflow=row.name,
        a=a,
        b=b,
        patch=patch,
        text=text or f"no changes between v{a} and v{b}\n",
    )


# ---------------------------------------------------------------------------- internals


def _refuse_rollback_origin(origin: VersionOrigin) -> None:
    if VersionOrigin(origin) is VersionOrigin.ROLLBACK:
        raise InvalidArgumentError("use rollback() to add a version that restores an old one")


def _parent(session: Session, workflow: Workflow, number: int | None) -> WorkflowVersion:
    if number is None:
        return newest_version_row(session, workflow)
    return version_row(session, workflow, number)


def _store(
    session: Session,
    workflow: Workflow,
    document: Document,
    *,
    parent: WorkflowVersion | None,
    origin: VersionOrigin,
    author: str,
    note: str,
    make_production: bool,
    restores: WorkflowVersion | None = None,
) -> VersionInfo:
    """Insert the next version of ``workflow`` (the caller holds the workflow's row lock)."""
    if not author:
        raise InvalidArgumentError("a version needs an author")
    latest = session.scalar(
        select(func.max(WorkflowVersion.number)).where(WorkflowVersion.workflow_id == workflow.id)
    )
    patch = make_patch(parent.blueprint, document) if parent is not None else None
    version = WorkflowVersion(
        workflow_id=workflow.id,
        number=(latest or 0) + 1,
        parent_id=parent.id if parent is not None else None,
        blueprint=document,
        blueprint_hash=blueprint_hash(document),
        patch=patch,
        origin=VersionOrigin(origin).value,
        author=author,
        note=note,
        restores_version_id=restores.id if restores is not None else None,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    detail: dict[str, Any] = {
        "workflow": workflow.name,
        "version": version.number,
        "version_id": version.id,
        "origin": version.origin,
        "parent": parent.number if parent is not None else None,
        "hash": version.blueprint_hash,
        "ops": len(patch) if patch is not None else None,
    }
    if note:
        detail["note"] = note
    if restores is not None:
        detail["restores"] = restores.number
    action = "version.rollback" if restores is not None else "version.created"
    audit(
        session,
        actor=author,
        action=action,
        subject_type="workflow",
        subject_id=workflow.name,
        detail=detail,
    )
    if make_production:
        _move_production(session, workflow, version, by=author)
    return _info(session, workflow, version)


def _move_production(
    session: Session, workflow: Workflow, version: WorkflowVersion, *, by: str
) -> None:
    previous = workflow.production_version_id
    previous_number = (
        session.scalar(select(WorkflowVersion.number).where(WorkflowVersion.id == previous))
        if previous is not None
        else None
    )
    workflow.production_version_id = version.id
    description = version.blueprint.get("description")
    workflow.description = description if isinstance(description, str) else ""
    session.flush()
    audit(
        session,
        actor=by,
        action="version.production",
        subject_type="workflow",
        subject_id=workflow.name,
        detail={
            "workflow": workflow.name,
            "version": version.number,
            "version_id": version.id,
            "previous": previous_number,
        },
    )


def _numbers(session: Session, workflow_id: int) -> dict[int, int]:
    rows = session.execute(
        select(WorkflowVersion.id, WorkflowVersion.number).where(
            WorkflowVersion.workflow_id == workflow_id
        )
    )
    return {row.id: row.number for row in rows}


def _numbers_of(session: Session, ids: Iterable[int | None]) -> dict[int, int]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(WorkflowVersion.id, WorkflowVersion.number).where(WorkflowVersion.id.in_(wanted))
    )
    return {row.id: row.number for row in rows}


def _info(
    session: Session,
    workflow: Workflow,
    version: WorkflowVersion,
    numbers: dict[int, int] | None = None,
) -> VersionInfo:
    if numbers is None:
        numbers = _numbers_of(session, (version.parent_id, version.restores_version_id))
    return VersionInfo(
        id=version.id,
        workflow_id=workflow.id,
        workflow=workflow.name,
        number=version.number,
        parent_id=version.parent_id,
        parent_number=numbers.get(version.parent_id) if version.parent_id else None,
        origin=VersionOrigin(version.origin),
        author=version.author,
        note=version.note,
        created_at=version.created_at,
        blueprint_hash=version.blueprint_hash,
        blueprint_json=copy.deepcopy(dict(version.blueprint)),
        patch=copy.deepcopy(list(version.patch)) if version.patch is not None else None,
        restores_version_id=version.restores_version_id,
        restores_number=(
            numbers.get(version.restores_version_id) if version.restores_version_id else None
        ),
        is_production=workflow.production_version_id == version.id,
    )
