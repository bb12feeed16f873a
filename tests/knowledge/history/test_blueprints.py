"""The stored blueprint document: round trip, hash, patches, YAML rendering."""

from __future__ import annotations

import pytest

from engine.blueprint import Blueprint
from knowledge.history import (
    InvalidPatchError,
    apply_patch,
    blueprint_document,
    blueprint_hash,
    make_patch,
    render_yaml,
)
from tests.knowledge.history.factories import blueprint


def test_document_round_trips_and_keeps_only_what_was_set():
    data = blueprint()
    data["steps"][0]["for_each"] = {"items": ["a", "b"], "as": "svc"}
    data["inputs"]["channel"] = {"type": "string", "default": None}  # explicit: optional
    model = Blueprint.model_validate(data)
    document = blueprint_document(model)
    assert document == data
    assert blueprint_document(Blueprint.model_validate(document)) == document
    assert not Blueprint.model_validate(document).inputs["channel"].is_required


def test_hash_ignores_key_order_but_not_content():
    data = blueprint()
    reordered = dict(reversed(list(data.items())))
    assert blueprint_hash(data) == blueprint_hash(reordered)
    assert blueprint_hash(data) == blueprint_hash(Blueprint.model_validate(data))
    assert blueprint_hash(data) != blueprint_hash(blueprint(description="x"))


def test_apply_patch_leaves_its_input_alone():
    data = blueprint()
    patched = apply_patch(data, [{"op": "remove", "path": "/steps/2"}])
    assert len(patched["steps"]) == 2 and len(data["steps"]) == 3
    assert apply_patch(data, make_patch(data, patched)) == patched


def test_apply_patch_reports_the_failing_operation():
    with pytest.raises(InvalidPatchError) as caught:
        apply_patch(
            blueprint(),
            [
                {"op": "add", "path": "/outputs/x", "value": 1},
                {"op": "move", "from": "/steps/7", "path": "/steps/0"},
            ],
        )
    assert (caught.value.index, caught.value.op, caught.value.path) == (1, "move", "/steps/0")
    assert str(caught.value).startswith("patch[1] (move /steps/0): ")


def test_render_yaml_order_is_readable_and_stable():
    data = blueprint()
    text = render_yaml(data)
    assert text.startswith("name: deploy\ndescription: ")
    assert text.index("inputs:") < text.index("steps:") < text.index("outputs:")
    assert "- id: deploy\n  tool: svc.deploy\n  params:" in text
    shuffled = dict(reversed(list(data.items())))
    shuffled["steps"] = [dict(reversed(list(step.items()))) for step in data["steps"]]
    assert render_yaml(shuffled) == text


def test_secrets_written_into_a_blueprint_are_refused_with_their_places():
    from engine.blueprint import Blueprint
    from knowledge.history.blueprints import check_blueprint
    from knowledge.history.errors import InvalidBlueprintError

    document = {
        "name": "leaky",
        "inputs": {"token": {"type": "string"}},
        "steps": [
            {
                "id": "call",
                "tool": "svc.deploy",
                "params": {
                    "service": "api",
                    "url": "https://deploy:hunter2hunter2@ci.example.com/hook",
                    "headers": {"Authorization": "Bearer ghp_abcdefghijklmnopqrstuvwxyz0123"},
                    "token": "{{ inputs.token }}",
                    "max_tokens": 5,
                },
            }
        ],
    }
    with pytest.raises(InvalidBlueprintError) as raised:
        check_blueprint(Blueprint.model_validate(document), None)
    assert {p.code for p in raised.value.problems} == {"literal_secret"}
    secret_locs = sorted(p.loc for p in raised.value.problems)
    assert secret_locs == ["steps[0].params.headers.Authorization", "steps[0].params.url"]
