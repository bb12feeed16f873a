"""Workflows and versions: the version chain, patches, validation, production, rollback."""

from __future__ import annotations

import hashlib
import json

import jsonpatch
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.blueprint import Blueprint
from knowledge.history import (
    ConflictError,
    InvalidArgumentError,
    InvalidBlueprintError,
    InvalidPatchError,
    NotFoundError,
    add_version,
    add_version_from_patch,
    create_workflow,
    diff_versions,
    find_or_add_version,
    get_version,
    get_version_by_id,
    history,
    list_workflows,
    query_audit,
    rollback,
    set_production,
)
from knowledge.store.models import AuditEntry, VersionOrigin, Workflow, WorkflowVersion
from tests.knowledge.history.factories import blueprint

USER = VersionOrigin.USER


def counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Workflow)) or 0,
        session.scalar(select(func.count()).select_from(WorkflowVersion)) or 0,
        session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


def actions(session: Session) -> list[str]:
    return [entry.action for entry in reversed(query_audit(session))]


def test_create_workflow_makes_version_one_production(db, registry):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1", note="first", registry=registry)
    assert (v1.workflow, v1.number, v1.origin, v1.author, v1.note) == (
        "deploy",
        1,
        VersionOrigin.USER,
        "U1",
        "first",
    )
    assert v1.is_production
    assert v1.parent_id is None and v1.patch is None and v1.patch_ops == 0
    assert v1.blueprint() == Blueprint.model_validate(blueprint())
    with db.session() as s:
        assert get_version(s, "deploy").id == v1.id
        assert actions(s) == ["version.created", "version.production"]
        [info] = list_workflows(s)
    assert (info.name, info.description, info.production_version, info.latest_version) == (
        "deploy",
        "Deploy a service and check it",
        1,
        1,
    )


def test_create_workflow_refuses_a_taken_name(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
    with db.session() as s, pytest.raises(ConflictError, match="'deploy' already exists"):
        create_workflow(s, blueprint(), author="U2")


def test_blueprint_hash_is_sha256_of_canonical_json(db):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
    canonical = json.dumps(
        v1.blueprint_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert v1.blueprint_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert v1.blueprint_json == blueprint()  # the document is what was given, nothing added


def test_version_chain_stores_patches_from_each_parent(db, registry):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1", registry=registry)
        add_version(s, "deploy", blueprint(description="v2"), author="U1", origin=USER)
        add_version_from_patch(
            s,
            "deploy",
            [{"op": "replace", "path": "/steps/1/tool", "value": "svc.rollback"}],
            author="bot",
            origin=VersionOrigin.FEEDBACK,
            registry=registry,
        )
        # v4 branches from v2, not from the newest
        add_version(s, "deploy", blueprint(description="v4"), author="U2", origin=USER, parent=2)
        versions = history(s, "deploy")
    assert [v.number for v in versions] == [4, 3, 2, 1]
    assert [v.parent_number for v in versions] == [2, 2, 1, None]
    by_id = {v.id: v for v in versions}
    for version in versions:
        if version.parent_id is None:
            continue
        parent = by_id[version.parent_id]
        rebuilt = jsonpatch.apply_patch(parent.blueprint_json, version.patch)
        assert rebuilt == version.blueprint_json
        assert version.patch_ops == len(version.patch or [])
    assert versions[1].patch == [
        {"op": "replace", "path": "/steps/1/tool", "value": "svc.rollback"}
    ]
    assert [v.origin for v in versions] == [USER, VersionOrigin.FEEDBACK, USER, USER]
    assert [v.is_production for v in versions] == [False, False, False, True]


def test_add_version_by_id_and_make_production(db):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
        v2 = add_version(
            s,
            v1.workflow_id,
            blueprint(description="new"),
            author="U1",
            origin=VersionOrigin.PLANNER,
            make_production=True,
        )
        assert v2.is_production and v2.parent_number == 1
        assert get_version(s, "deploy").number == 2
        assert list_workflows(s)[0].description == "new"
        assert actions(s)[-2:] == ["version.created", "version.production"]


def test_add_version_requires_the_workflow_name(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        before = counts(s)
        with pytest.raises(InvalidBlueprintError) as caught:
            add_version(s, "deploy", blueprint("other"), author="U1", origin=USER)
        assert [p.loc for p in caught.value.problems] == ["name"]
        assert "named 'other' but the workflow is 'deploy'" in str(caught.value)
        assert counts(s) == before


def test_add_version_refuses_rollback_origin(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        with pytest.raises(InvalidArgumentError, match="rollback"):
            add_version(s, "deploy", blueprint(), author="U1", origin=VersionOrigin.ROLLBACK)


def test_validation_with_registry_lists_every_problem_and_stores_nothing(db, registry):
    bad = blueprint()
    bad["steps"][0]["tool"] = "svc.deplyo"
    bad["steps"][2]["params"] = {"channel": "#ops"}  # text missing
    with db.session() as s:
        before = counts(s)
        with pytest.raises(InvalidBlueprintError) as caught:
            create_workflow(s, bad, author="U1", registry=registry)
        assert counts(s) == before == (0, 0, 0)
    problems = {p.loc: p for p in caught.value.problems}
    assert "steps[0].tool" in problems
    assert "svc.deploy" in (problems["steps[0].tool"].hint or "")
    assert any(loc.startswith("steps[2].params") for loc in problems)


def test_without_registry_validation_is_structural(db):
    unknown_tool = blueprint()
    unknown_tool["steps"][0]["tool"] = "no.such_tool"
    cyclic = blueprint("cyclic")
    cyclic["steps"][0]["depends_on"] = ["post"]
    with db.session() as s:
        create_workflow(s, unknown_tool, author="U1")  # tools are not checked
        with pytest.raises(InvalidBlueprintError) as caught:
            create_workflow(s, cyclic, author="U1")
        assert [p.code for p in caught.value.problems] == ["cycle"]
        assert counts(s)[0] == 1


def test_patch_errors_name_the_operation(db, registry):
    good = {"op": "replace", "path": "/description", "value": "x"}
    cases = [
        ({"op": "replace", "path": "/description"}, "is a list of operations", None, None, None),
        ([good, "remove /steps/0"], "object with 'op'", 1, None, None),
        ([good, {"op": "frobnicate", "path": "/name"}], "unknown op", 1, "frobnicate", "/name"),
        ([{"op": "remove"}], "JSON Pointer", 0, "remove", None),
        (
            [good, {"op": "replace", "path": "/steps/9/tool", "value": "svc.health"}],
            "",
            1,
            "replace",
            "/steps/9/tool",
        ),
        ([{"op": "add", "path": "/steps/0/x/y", "value": 1}], "", 0, "add", "/steps/0/x/y"),
        ([{"op": "test", "path": "/name", "value": "nope"}], "test failed", 0, "test", "/name"),
        ([{"op": "replace", "path": "/description"}], "value", 0, "replace", "/description"),
    ]
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        before = counts(s)
        for patch, reason, index, op, path in cases:
            with pytest.raises(InvalidPatchError) as caught:
                add_version_from_patch(
                    s, "deploy", patch, author="U1", origin=USER, registry=registry
                )
            error = caught.value
            assert (error.index, error.op, error.path) == (index, op, path), patch
            assert reason in str(error)
            if index is not None:
                assert str(error).startswith(f"patch[{index}]")
                if path is not None:
                    assert path in str(error)
        assert counts(s) == before


def test_patch_with_invalid_result_lists_problems_with_locations(db, registry):
    patch = [
        {"op": "replace", "path": "/steps/0/tool", "value": "svc.deplyo"},
        {"op": "add", "path": "/steps/-", "value": {"id": "notify"}},
        {"op": "replace", "path": "/steps/1/depends_on/0", "value": "nowhere"},
    ]
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        before = counts(s)
        with pytest.raises(InvalidBlueprintError) as caught:
            add_version_from_patch(s, "deploy", patch, author="U1", origin=USER, registry=registry)
        assert counts(s) == before
    locs = {p.loc for p in caught.value.problems}
    assert {"steps[0].tool", "steps[3].tool", "steps[1].depends_on[0]"} <= locs
    assert "patched blueprint is invalid" in str(caught.value)


def test_patch_may_not_rename_the_workflow(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        with pytest.raises(InvalidBlueprintError, match="named 'renamed'"):
            add_version_from_patch(
                s,
                "deploy",
                [{"op": "replace", "path": "/name", "value": "renamed"}],
                author="U1",
                origin=USER,
            )


def test_patch_applies_to_an_explicit_base(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="two"), author="U1", origin=USER)
        v3 = add_version_from_patch(
            s,
            "deploy",
            [{"op": "replace", "path": "/steps/0/params/service", "value": "web"}],
            author="U1",
            origin=USER,
            base=1,
        )
    assert v3.parent_number == 1
    assert v3.blueprint_json["description"] == "Deploy a service and check it"
    assert v3.blueprint().steps[0].params == {"service": "web"}


def test_diff_versions_gives_patch_and_readable_text(db):
    changed = blueprint()
    changed["steps"][1]["tool"] = "svc.rollback"
    changed["steps"][0]["params"]["version"] = "1.2.3"
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="middle"), author="U1", origin=USER)
        v3 = add_version(s, "deploy", changed, author="U1", origin=USER)
        diff = diff_versions(s, "deploy", 1, 3)
        same = diff_versions(s, "deploy", 2, 2)
    assert jsonpatch.apply_patch(v1.blueprint_json, diff.patch) == v3.blueprint_json
    lines = diff.text.splitlines()
    assert lines[:2] == ["--- v1", "+++ v3"]
    assert "-  tool: svc.health" in lines
    assert "+  tool: svc.rollback" in lines
    assert "+    version: 1.2.3" in lines
    # readable order: a step's id comes before its tool and params
    assert diff.text.index("- id: check") < diff.text.index("+  tool: svc.rollback")
    assert diff.changed and not same.changed
    assert same.patch == [] and same.text == "no changes between v2 and v2\n"


def test_set_production_moves_the_pointer(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="two"), author="U1", origin=USER)
        add_version(s, "deploy", blueprint(description="three"), author="U1", origin=USER)
        moved = set_production(s, "deploy", 2, by="U9")
        assert moved.is_production and moved.number == 2
        assert [v.is_production for v in history(s, "deploy")] == [False, True, False]
        assert get_version(s, "deploy").number == 2
        entries = query_audit(s, action="version.production")
        assert entries[0].actor == "U9"
        assert entries[0].detail["version"] == 2 and entries[0].detail["previous"] == 1
        audit_count = counts(s)[2]
        set_production(s, "deploy", 2, by="U9")  # already production: nothing to audit
        assert counts(s)[2] == audit_count
        with pytest.raises(NotFoundError, match="has no version 7 \\(it has versions 1–3\\)"):
            set_production(s, "deploy", 7, by="U9")


def test_rollback_adds_a_version_restoring_the_old_one(db):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="two"), author="U1", origin=USER)
        add_version(
            s,
            "deploy",
            blueprint(description="bad"),
            author="U1",
            origin=USER,
            make_production=True,
        )
        restored = rollback(s, "deploy", 1, by="U7", note="v3 broke deploys")
        versions = history(s, "deploy")
        entries = query_audit(s, subject_type="workflow", subject_id="deploy", limit=2)
    assert restored.number == 4
    assert restored.origin is VersionOrigin.ROLLBACK
    assert restored.restores_version_id == v1.id and restored.restores_number == 1
    assert restored.parent_number == 3
    assert restored.blueprint_json == v1.blueprint_json
    assert restored.blueprint_hash == v1.blueprint_hash
    assert restored.is_production and restored.author == "U7"
    assert restored.note == "v3 broke deploys"
    assert jsonpatch.apply_patch(versions[1].blueprint_json, restored.patch) == v1.blueprint_json
    assert [v.number for v in versions] == [4, 3, 2, 1]  # nothing changed or deleted
    assert [v.blueprint_json["description"] for v in versions[1:3]] == ["bad", "two"]
    assert [e.action for e in entries] == ["version.production", "version.rollback"]
    assert entries[1].detail["restores"] == 1


def test_rollback_to_the_newest_version_is_refused(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="two"), author="U1", origin=USER)
        with pytest.raises(ConflictError, match="v2 is the newest version"):
            rollback(s, "deploy", 2, by="U1")


def test_history_newest_first_with_limit(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        for n in range(2, 6):
            add_version(s, "deploy", blueprint(description=f"v{n}"), author="U1", origin=USER)
        assert [v.number for v in history(s, "deploy", limit=2)] == [5, 4]
        assert [v.number for v in history(s, "deploy")] == [5, 4, 3, 2, 1]


def test_get_version_and_by_id(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        v2 = add_version(s, "deploy", blueprint(description="two"), author="U1", origin=USER)
        assert get_version(s, "deploy", 2) == v2
        assert get_version_by_id(s, v2.id) == v2
        assert get_version(s, "deploy").number == 1  # production, not newest
        bp = get_version(s, "deploy", 2).blueprint()
        assert isinstance(bp, Blueprint) and bp.description == "two"
        with pytest.raises(NotFoundError, match="#999"):
            get_version_by_id(s, 999)


def test_not_found_names_the_known_workflows(db):
    with db.session() as s:
        with pytest.raises(NotFoundError, match="no workflows yet"):
            get_version(s, "deploy")
        create_workflow(s, blueprint(), author="U1")
        create_workflow(s, blueprint("release"), author="U1")
        with pytest.raises(NotFoundError) as caught:
            history(s, "deplyo")
    message = str(caught.value)
    assert message.startswith("workflow 'deplyo' not found")
    assert "did you mean 'deploy'" in message
    assert "known: deploy, release" in message


def test_list_workflows(db):
    with db.session() as s:
        create_workflow(s, blueprint("zeta"), author="U1")
        create_workflow(s, blueprint("alpha"), author="U2")
        add_version(s, "alpha", blueprint("alpha", description="2"), author="U2", origin=USER)
        infos = list_workflows(s)
    assert [(w.name, w.production_version, w.latest_version, w.version_count) for w in infos] == [
        ("alpha", 1, 2, 2),
        ("zeta", 1, 1, 1),
    ]
    assert infos[0].created_by == "U2"


def test_find_or_add_version_dedups_on_the_blueprint_hash(db, registry):
    with db.session() as s:
        first = find_or_add_version(s, blueprint(), author="U1", origin=USER, registry=registry)
        assert first.number == 1 and first.is_production
    reordered = dict(reversed(list(blueprint().items())))  # same content, other key order
    with db.session() as s:
        again = find_or_add_version(
            s, Blueprint.model_validate(reordered), author="U2", origin=USER
        )
        assert again == first
        assert counts(s)[1] == 1
        changed = find_or_add_version(s, blueprint(description="edited"), author="U2", origin=USER)
        assert (changed.number, changed.parent_number, changed.is_production) == (2, 1, False)
        back = find_or_add_version(s, blueprint(), author="U2", origin=USER)
        assert back.number == 3  # only the newest version is compared
        promoted = find_or_add_version(
            s, blueprint(description="p"), author="U2", origin=USER, make_production=True
        )
        assert promoted.is_production


def test_versions_are_immutable_values(db):
    with db.session() as s:
        v1 = create_workflow(s, blueprint(), author="U1")
        v1.blueprint_json["steps"][0]["tool"] = "mutated"  # a copy: the store is untouched
        assert get_version(s, "deploy", 1).blueprint_json == blueprint()
    with pytest.raises(ValueError, match="frozen"):
        v1.number = 9  # type: ignore[misc]


def test_every_version_change_is_audited(db):
    with db.session() as s:
        create_workflow(s, blueprint(), author="U1")
        add_version(s, "deploy", blueprint(description="2"), author="U2", origin=USER)
        add_version_from_patch(
            s,
            "deploy",
            [{"op": "replace", "path": "/description", "value": "3"}],
            author="U3",
            origin=USER,
            make_production=True,
        )
        set_production(s, "deploy", 2, by="U4")
        rollback(s, "deploy", 1, by="U5")
        find_or_add_version(s, blueprint(description="6"), author="U6", origin=USER)
        entries = list(reversed(query_audit(s, subject_type="workflow", subject_id="deploy")))
    assert [(e.action, e.actor, e.detail["version"]) for e in entries] == [
        ("version.created", "U1", 1),
        ("version.production", "U1", 1),
        ("version.created", "U2", 2),
        ("version.created", "U3", 3),
        ("version.production", "U3", 3),
        ("version.production", "U4", 2),
        ("version.rollback", "U5", 4),
        ("version.production", "U5", 4),
        ("version.created", "U6", 5),
    ]
    assert entries[3].detail["parent"] == 2 and entries[3].detail["ops"] == 1
