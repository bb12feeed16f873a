"""Loading blueprints from YAML/JSON, the JSON Schema file, and input resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.blueprint import Blueprint
from engine.errors import BlueprintInvalidError
from engine.inputs import resolve_inputs
from engine.loading import (
    check_blueprint_file,
    dump_blueprint_yaml,
    load_blueprint,
    loads_blueprint,
    parse_blueprint_text,
)
from engine.schema import blueprint_json_schema, blueprint_json_schema_text

ROOT = Path(__file__).resolve().parents[2]

YAML = """
name: release_notes
description: Collect, summarise, post
inputs:
  repo: {type: string}
  channel: {type: string, default: "#dev"}
steps:
  - id: prs
    tool: test.work
    params: {name: "{{ inputs.repo }}"}
    retry: {attempts: 3, backoff_s: 1, multiplier: 2}
    timeout_s: 20
  - id: post
    tool: test.work
    params: {name: "{{ inputs.channel }}", value: "{{ steps.prs.output | tojson }}"}
outputs: {posted: "{{ steps.post.output.name }}"}
"""


def test_yaml_and_json_load_to_the_same_blueprint(registry):
    from_yaml = loads_blueprint(YAML, registry)
    as_json = json.dumps(from_yaml.model_dump(mode="json", by_alias=True))
    from_json = loads_blueprint(as_json, registry)
    assert from_yaml == from_json
    assert from_yaml.steps[0].retry is not None and from_yaml.steps[0].retry.attempts == 3


def test_dump_yaml_round_trips(registry):
    blueprint = loads_blueprint(YAML, registry)
    text = dump_blueprint_yaml(blueprint)
    assert "multiplier: 2" in text and "on_error" not in text  # unset defaults are omitted
    assert loads_blueprint(text, registry) == blueprint


def test_yaml_syntax_error_names_line_and_column():
    with pytest.raises(BlueprintInvalidError) as info:
        parse_blueprint_text("name: x\nsteps:\n  - id: a\n   tool: b\n", source="bp.yaml")
    message = info.value.problems[0].message
    assert message.startswith("bp.yaml: invalid YAML at line 4, column 4")


def test_json_syntax_error_names_line_and_column():
    with pytest.raises(BlueprintInvalidError) as info:
        parse_blueprint_text('{"name": "x",\n "steps": [}', source="bp.json")
    assert "bp.json: invalid JSON at line 2, column 12" in info.value.problems[0].message


def test_files(tmp_path, registry):
    good = tmp_path / "good.yaml"
    good.write_text(YAML)
    assert load_blueprint(good, registry).name == "release_notes"
    missing = check_blueprint_file(tmp_path / "nope.yaml", registry)
    assert not missing.ok and "cannot read" in missing.problems[0].message
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps: [{id: a, tool: nope}]\n")
    report = check_blueprint_file(bad, registry)
    assert [p.loc for p in report.problems] == ["steps[0].tool"]


def test_schema_file_is_current():
    stored = (ROOT / "docs" / "blueprint.schema.json").read_text(encoding="utf-8")
    assert stored == blueprint_json_schema_text(), "run `make schema` to regenerate the schema"


def test_schema_describes_every_step_field():
    step = blueprint_json_schema()["$defs"]["Step"]["properties"]
    for field in (
        "id",
        "tool",
        "params",
        "depends_on",
        "when",
        "retry",
        "timeout_s",
        "on_error",
        "fallback",
        "compensate",
        "for_each",
        "approval",
    ):
        assert field in step, field
    for_each = blueprint_json_schema()["$defs"]["ForEach"]["properties"]
    assert "as" in for_each  # the alias, as written in YAML


def test_example_blueprints_are_valid():
    from engine.tools.builtin import builtin_registry

    registry = builtin_registry()
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        report = check_blueprint_file(path, registry)
        assert report.ok, f"{path.name}: {report.summary()}"


BP = Blueprint.model_validate(
    {
        "name": "inputs",
        "inputs": {
            "repo": {"type": "string"},
            "count": {"type": "integer", "default": 5},
            "ratio": {"type": "number", "default": 0.5},
            "dry_run": {"type": "boolean", "default": False},
            "tags": {"type": "array", "default": []},
            "meta": {"type": "object", "required": False},
            "env": {"type": "string", "enum": ["staging", "prod"], "default": "staging"},
        },
        "steps": [{"id": "a", "tool": "x"}],
    }
)


def test_inputs_are_converted_and_defaulted():
    resolved = resolve_inputs(
        BP, {"repo": "acme/api", "count": "7", "dry_run": "true", "tags": "a, b", "ratio": "2"}
    )
    assert resolved == {
        "repo": "acme/api",
        "count": 7,
        "ratio": 2,
        "dry_run": True,
        "tags": ["a", "b"],
        "meta": None,  # declared but optional: known to templates as None
        "env": "staging",
    }
    assert resolve_inputs(BP, {"repo": 12, "tags": "[x, y]", "meta": '{"k": 1}'})["meta"] == {
        "k": 1
    }


def test_defaults_are_copied_per_run():
    first = resolve_inputs(BP, {"repo": "r"})
    first["tags"].append("mutated")
    assert resolve_inputs(BP, {"repo": "r"})["tags"] == []


def test_every_input_problem_is_reported():
    with pytest.raises(BlueprintInvalidError) as info:
        resolve_inputs(BP, {"count": "many", "env": "dev", "repoo": "x"})
    found = {p.loc: p for p in info.value.problems}
    assert found["inputs.repoo"].hint == "did you mean 'repo'?"
    assert found["inputs.repo"].message == "required input 'repo' (string) was not given"
    assert found["inputs.count"].message.startswith("expected integer, got 'many'")
    assert found["inputs.env"].message == "'dev' is not one of 'staging', 'prod'"
    assert "inputs of 'inputs' is invalid (4 problem(s))" in str(info.value)
