"""The ``kaizen`` command line, through click's runner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet_snapshot.yaml"


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_run_example_prints_trace_and_writes_report(runner, tmp_path):
    result = runner.invoke(main, ["run", str(EXAMPLE), "-i", "services=[api, web]"])
    assert result.exit_code == 0, result.output
    assert "fleet_snapshot: succeeded" in result.output
    for step in ("host", "clock", "probe[0]", "probe[1]", "report", "save"):
        assert step in result.output
    assert "big_fleet_note" in result.output and "skipped" in result.output
    report = (tmp_path / "data" / "workspace" / "reports" / "fleet.md").read_text()
    assert "| api |" in report and "| web |" in report


def test_run_json_output_is_a_run_record(runner):
    result = runner.invoke(main, ["run", str(EXAMPLE), "--json", "-i", "services=[db]"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded"
    assert record["outputs"]["report"] == "reports/fleet.md"
    assert {r["step_id"] for r in record["records"]} >= {"host", "probe", "save"}


def test_invalid_blueprint_lists_every_problem_and_exits_2(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nsteps:\n"
        "  - {id: a, tool: shell.rnu, params: {argv: [echo]}}\n"
        "  - {id: b, tool: file.write, params: {path: ../x, content: '{{ steps.zz.output }}'}}\n"
    )
    result = runner.invoke(main, ["run", str(bad)])
    assert result.exit_code == 2
    assert "steps[0].tool: unknown tool 'shell.rnu'" in result.output
    assert "did you mean 'shell.run'?" in result.output
    assert "steps[1].params.path" in result.output and "contains '..'" in result.output
    assert "steps[1].params.content" in result.output and "step 'zz'" in result.output
    validate = runner.invoke(main, ["validate", str(bad), "--json"])
    assert validate.exit_code == 2
    assert {p["code"] for p in json.loads(validate.output)} == {
        "unknown_tool",
        "invalid_param",
        "unknown_step",
    }


def test_bad_inputs_exit_2(runner):
    result = runner.invoke(main, ["run", str(EXAMPLE), "-i", "nope=1"])
    assert result.exit_code == 2
    assert "inputs.nope" in result.output
    result = runner.invoke(main, ["run", str(EXAMPLE), "-i", "missing_equals"])
    assert result.exit_code == 2
    assert "is not key=value" in result.output


def test_failed_run_exits_1(runner, tmp_path):
    failing = tmp_path / "fail.yaml"
    failing.write_text("name: f\nsteps:\n  - {id: x, tool: shell.run, params: {argv: ['false']}}\n")
    result = runner.invoke(main, ["run", str(failing)])
    assert result.exit_code == 1
    assert "false exited with code 1" in result.output


def test_approval_steps_ask_or_use_yes(runner, tmp_path):
    gated = tmp_path / "gated.yaml"
    gated.write_text(
        "name: g\nsteps:\n"
        "  - id: x\n    tool: shell.run\n    params: {argv: [echo, hi]}\n"
        "    approval: {approvers: [U_LEAD], message: 'Say hi?'}\n"
    )
    denied = runner.invoke(main, ["run", str(gated)])  # no terminal: denied, with a hint
    assert denied.exit_code == 1
    assert "approval needed for 'x': Say hi?" in denied.output
    assert "rerun with --yes" in denied.output
    approved = runner.invoke(main, ["run", str(gated), "--yes"])
    assert approved.exit_code == 0, approved.output


def test_validate_ok_and_tools_list(runner):
    result = runner.invoke(main, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0 and "is valid" in result.output
    tools = runner.invoke(main, ["tools", "--json"])
    names = {t["name"] for t in json.loads(tools.output)}
    assert {
        "http.request",
        "shell.run",
        "data.transform",
        "text.render",
        "time.sleep",
        "file.read",
        "file.write",
    } <= names


def test_schema_check(runner, tmp_path):
    target = tmp_path / "schema.json"
    assert runner.invoke(main, ["schema", "--output", str(target), "--check"]).exit_code == 1
    assert runner.invoke(main, ["schema", "--output", str(target)]).exit_code == 0
    assert runner.invoke(main, ["schema", "--output", str(target), "--check"]).exit_code == 0
    stored = ROOT / "docs" / "blueprint.schema.json"
    assert runner.invoke(main, ["schema", "--output", str(stored), "--check"]).exit_code == 0


def test_installed_console_script_runs_the_example(tmp_path):
    """`kaizen` as installed by `make`, in a fresh process, as a newcomer would run it."""
    kaizen = Path(sys.executable).with_name("kaizen")
    env = {**os.environ, "KAIZEN_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120"}
    done = subprocess.run(
        [str(kaizen), "run", str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
