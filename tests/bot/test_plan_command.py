"""``kaizen plan``: a request in, a blueprint and how it was made out; --save and --run remember
the request as an exemplar; tool sources from kaizen.toml; the LLM path against a local stub.

Every test has its own data dir (database, tool index, workspace) and its own KAIZEN_CONFIG
path, and no OpenAI setting unless it sets one, so nothing from the developer's environment
leaks in. The CLI runs in-process through click's runner (the MiniLM model loads once).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli import main
from bot.console.live import terminal_user
from engine.tools.builtin import BuiltinToolsConfig, builtin_registry
from engine.validation import validate_blueprint
from knowledge.history import history, list_exemplars, list_workflows, query_audit
from knowledge.history.views import AuditInfo, ExemplarInfo
from knowledge.store import Database
from knowledge.store.models import VersionOrigin
from tests.knowledge.planner.openai_stub import OpenAIStub, serve_stub

ROOT = Path(__file__).resolve().parents[2]
MCP_SERVER = ROOT / "tests" / "knowledge" / "sources" / "mcp_test_server.py"

FETCH = "fetch https://example.com/status and save it to status.json"
WRITE = 'write "hello" to notes.txt'


class Kaizen:
    """The ``kaizen`` command in an isolated data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.config = root / "kaizen.toml"  # does not exist unless a test writes it

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args))

    @property
    def workspace(self) -> Path:
        return self.data_dir / "workspace"

    def read(self) -> Database:
        return Database(f"sqlite:///{self.data_dir / 'kaizen.db'}")

    def exemplars(self) -> list[ExemplarInfo]:
        db = self.read()
        try:
            with db.reading() as session:
                return list_exemplars(session)
        finally:
            db.dispose()

    def plans_audited(self) -> list[AuditInfo]:
        """The ``plan.made`` entries, oldest first."""
        db = self.read()
        try:
            with db.reading() as session:
                return list(reversed(query_audit(session, action="plan.made")))
        finally:
            db.dispose()


@pytest.fixture
def kaizen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kaizen:
    for name in list(os.environ):
        if name.startswith(("KAIZEN_", "OPENAI_")):
            monkeypatch.delenv(name)
    cli = Kaizen(tmp_path)
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(cli.data_dir))
    monkeypatch.setenv("KAIZEN_CONFIG", str(cli.config))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps nothing
    monkeypatch.chdir(tmp_path)  # no .env or kaizen.toml of the developer's
    return cli


def split_plan(output: str) -> tuple[dict[str, Any], list[str]]:
    """The blueprint YAML printed before ``---``, and the lines after it."""
    document, sep, rest = output.partition("\n---\n")
    assert sep, output
    return yaml.safe_load(document), rest.splitlines()


def how_line(lines: list[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert found, f"no line starting with {prefix!r} in {lines}"
    return found[0]


def builtins() -> Any:
    return builtin_registry(BuiltinToolsConfig(workspace=Path("workspace")))


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# ---------------------------------------------------------------------- offline plans


def test_plan_prints_a_valid_blueprint_and_how_it_was_made(kaizen):
    result = kaizen("plan", FETCH)
    assert result.exit_code == 0, result.output
    document, how = split_plan(result.stdout)
    report = validate_blueprint(document, builtins())
    assert report.ok, report.summary()
    assert document["description"] == FETCH
    fetch = document["steps"][0]
    assert fetch["tool"] == "http.request"
    assert fetch["params"]["url"] == "https://example.com/status"
    assert re.match(r"path: offline\s+confidence: (0\.\d\d|1\.00)\s+\d+ ms$", how[0]), how
    assert how_line(how, "how: ").startswith("how: offline planner: ")
    assert "http.request" in how_line(how, "tools considered: ")
    assert how_line(how, "LLM not used: ") == "LLM not used: no LLM configured"
    assert not any(line.startswith("tokens:") for line in how)
    # Every plan is audited, with what it cost.
    [entry] = kaizen.plans_audited()
    assert entry.actor == terminal_user()
    detail = entry.detail
    assert detail["request"] == FETCH
    assert (detail["path"], detail["ok"]) == ("offline", True)
    assert (detail["tokens_in"], detail["tokens_out"]) == (0, 0)
    assert detail["latency_ms"] > 0
    assert detail["fallback_reason"] == "no LLM configured"
    assert detail["tools"] == [step["tool"] for step in document["steps"]]


def test_plan_json_is_the_whole_result(kaizen):
    result = kaizen("plan", "--json", WRITE)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)  # nothing else on stdout
    assert plan["path"] == "offline"
    assert 0 < plan["confidence"] <= 1
    assert plan["request"] == WRITE
    assert plan["fallback_reason"] == "no LLM configured"
    assert validate_blueprint(plan["blueprint"], builtins()).ok
    [step] = plan["blueprint"]["steps"]
    assert step["tool"] == "file.write"
    assert step["params"] == {"path": "notes.txt", "content": "hello"}
    assert not (kaizen.workspace / "notes.txt").exists()  # planned, not run


def test_an_unrelated_request_asks_instead_of_planning(kaizen):
    result = kaizen("plan", "what a lovely day")
    assert result.exit_code == 2, result.output
    assert "question: I could not tell which tool this needs" in result.output
    assert "steps:" not in result.output and "---" not in result.output
    assert "path: offline   confidence: 0.00" in result.output
    [entry] = kaizen.plans_audited()
    assert (entry.detail["ok"], entry.detail["tools"]) == (False, [])


def test_an_empty_request_is_a_usage_error(kaizen):
    result = kaizen("plan", "   ")
    assert result.exit_code == 2
    assert "nothing to plan" in result.output
    assert kaizen.plans_audited() == []


# ---------------------------------------------------------------------- remembering


def test_save_stores_a_version_and_an_exemplar_that_the_next_plan_adapts(kaizen):
    saved = kaizen("plan", "--save", FETCH)
    assert saved.exit_code == 0, saved.output
    document, _ = split_plan(saved.stdout)
    [exemplar] = kaizen.exemplars()
    assert (exemplar.request, exemplar.accepted_how) == (FETCH, "saved")
    assert exemplar.accepted_by == terminal_user()
    assert exemplar.blueprint["steps"] == document["steps"]
    db = kaizen.read()
    try:
        with db.reading() as session:
            [workflow] = list_workflows(session)
            [version] = history(session, workflow.name)
    finally:
        db.dispose()
    assert workflow.name == document["name"]
    assert (version.id, version.origin) == (exemplar.version_id, VersionOrigin.PLANNER)
    assert f"saved as {workflow.name} v1; remembered as exemplar #{exemplar.id}" in saved.output
    # The same request again: the accepted blueprint is adapted.
    again = kaizen("plan", FETCH)
    assert again.exit_code == 0, again.output
    document_again, how = split_plan(again.stdout)
    assert how[0].startswith("path: exemplar   confidence: 1.00"), how
    assert how_line(how, "exemplars: ") == f"exemplars: #{exemplar.id}"
    assert document_again["steps"] == document["steps"]
    assert [e.detail["path"] for e in kaizen.plans_audited()] == ["offline", "exemplar"]
    assert len(kaizen.exemplars()) == 1  # planning alone remembers nothing


def test_run_remembers_a_plan_whose_run_succeeded_and_not_one_that_failed(kaizen):
    ran = kaizen("plan", "--run", "--yes", WRITE)
    assert ran.exit_code == 0, ran.output
    assert (kaizen.workspace / "notes.txt").read_text() == "hello"
    assert re.search(r"run [0-9a-f]{32} succeeded; remembered as exemplar #\d+", ran.output)
    [exemplar] = kaizen.exemplars()
    assert (exemplar.request, exemplar.accepted_how) == (WRITE, "ran")
    failed = kaizen("plan", "--run", "--yes", "read the file missing.txt")
    assert failed.exit_code == 1, failed.output
    assert "the run did not succeed: not remembered" in failed.output
    assert [e.id for e in kaizen.exemplars()] == [exemplar.id]
    assert len(kaizen.plans_audited()) == 2


def test_a_plan_that_was_run_is_stored_as_made_by_the_planner(kaizen):
    ran = kaizen("plan", "--run", "--yes", WRITE)
    assert ran.exit_code == 0, ran.output
    [exemplar] = kaizen.exemplars()
    db = kaizen.read()
    try:
        with db.reading() as session:
            [workflow] = list_workflows(session)
            versions = history(session, workflow.name)
    finally:
        db.dispose()
    assert [(v.id, v.origin) for v in versions] == [(exemplar.version_id, VersionOrigin.PLANNER)]


# ---------------------------------------------------------------------- tool sources


def mcp_server_toml(name: str) -> str:
    return (
        f'[[mcp_servers]]\nname = "{name}"\ncommand = {json.dumps(sys.executable)}\n'
        f'args = [{json.dumps(str(MCP_SERVER))}, "stdio"]\n'
    )


BROKEN_SERVER = '[[mcp_servers]]\nname = "broken"\ncommand = "/nonexistent/kaizen-test-server"\n'


def test_tools_search_finds_the_configured_mcp_tools(kaizen):
    kaizen.config.write_text(mcp_server_toml("demo") + BROKEN_SERVER)
    result = kaizen("tools", "search", "add two numbers")
    assert result.exit_code == 0, result.output
    ranked = [line for line in result.output.splitlines() if re.match(r"\d+\. ", line)]
    assert ranked and ranked[0].startswith("1. demo.add "), result.output
    assert "tool source skipped" in result.output and "broken" in result.output


def test_plan_uses_mcp_tools_and_skips_a_broken_source(kaizen):
    kaizen.config.write_text(mcp_server_toml("demo") + BROKEN_SERVER)
    result = kaizen("plan", "add two numbers")
    assert result.exit_code == 0, result.output
    # the warning goes to stderr, so the YAML on stdout stays clean
    assert "tool source skipped: MCP server 'broken': cannot start" in result.stderr
    assert "tool source skipped" not in result.stdout
    document, how = split_plan(result.stdout)
    assert [step["tool"] for step in document["steps"]] == ["demo.add"]
    assert "demo.add" in how_line(how, "tools considered: ")


# ---------------------------------------------------------------------- the LLM path


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with serve_stub() as server:
        yield server


LLM_BLUEPRINT = {
    "name": "hello_note",
    "description": "Write hello to notes.txt.",
    "steps": [
        {
            "id": "note",
            "tool": "file.write",
            "params": {"path": "notes.txt", "content": "hello"},
        }
    ],
}


def test_an_llm_endpoint_plans_when_configured(kaizen, stub, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-kaizen")
    stub.add({"explanation": "one write", **LLM_BLUEPRINT})
    result = kaizen("plan", WRITE)
    assert result.exit_code == 0, result.output
    document, how = split_plan(result.stdout)
    assert document["name"] == "hello_note"
    assert validate_blueprint(document, builtins()).ok
    assert how[0].startswith("path: llm   confidence: 0.90"), how
    assert how_line(how, "how: ").startswith("how: gpt-4o-mini planned 1 step from ")
    assert "file.write" in how_line(how, "tools considered: ")
    assert how_line(how, "tokens: ") == "tokens: 100 in, 20 out; repair rounds: 0"
    assert not any(line.startswith("LLM not used") for line in how)
    [body] = stub.requests
    assert body["model"] == "gpt-4o-mini"
    assert "file.write" in body["messages"][0]["content"]
    assert WRITE in body["messages"][-1]["content"]
    [entry] = kaizen.plans_audited()
    assert (entry.detail["path"], entry.detail["tokens_in"], entry.detail["tokens_out"]) == (
        "llm",
        100,
        20,
    )
    assert entry.detail["prompt_id"] is not None
    assert "sk-test-kaizen" not in json.dumps(entry.detail) + result.output


def test_an_unreachable_llm_falls_back_to_offline_quickly(kaizen, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
    monkeypatch.setenv("KAIZEN_PLANNER_TIMEOUT_S", "1")
    started = time.monotonic()
    result = kaizen("plan", WRITE)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    document, how = split_plan(result.stdout)
    assert [step["tool"] for step in document["steps"]] == ["file.write"]
    match = re.match(r"path: offline\s+confidence: [\d.]+\s+(\d+) ms$", how[0])
    assert match, how
    assert int(match.group(1)) < 3000
    assert how_line(how, "LLM not used: ").startswith("LLM not used: LLM failed (unreachable): ")
    assert elapsed < 20  # index building included
    [entry] = kaizen.plans_audited()
    assert entry.detail["fallback_reason"].startswith("LLM failed (unreachable)")
