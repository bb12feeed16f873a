"""MCP servers as a tool source: a real FastMCP server over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.blueprint import Blueprint
from engine.errors import PermanentToolError, ToolTimeoutError, TransientToolError
from engine.executor import Executor
from engine.records import RunStatus, StepStatus
from engine.tools.base import RiskLevel, SideEffect, ToolContext
from engine.tools.registry import ToolRegistry
from knowledge.search.index import ToolIndex
from knowledge.sources.config import McpServerConfig
from knowledge.sources.mcp import McpConnection, McpSourceError, connect_mcp_servers

SERVER = str(Path(__file__).with_name("mcp_test_server.py"))
SECRET = "hunter2-very-secret"


def stdio_config(name: str = "demo", **extra) -> McpServerConfig:
    """The test server over stdio; its process is tagged ``tag-<name>`` (see server_children)."""
    fields = {
        "name": name,
        "command": sys.executable,
        "args": [SERVER, "stdio", f"tag-{name}"],
        "env": {"KAIZEN_TEST_SECRET": SECRET},
        "risk": RiskLevel.HIGH,
        "timeout_s": 10,
    }
    return McpServerConfig.model_validate({**fields, **extra})


def server_children(tag: str) -> list[int]:
    """Pids of this process's children whose command line holds ``tag``."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and tag.encode() in cmdline:
            found.append(int(entry))
    return found


def still_there(pids: list[int]) -> list[int]:
    """The pids that still exist, running or as zombies (nobody waited for them)."""
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


@pytest.fixture(scope="module")
def demo() -> Iterator[McpConnection]:
    """One stdio connection shared by the tests that do not change the server's state. Each
    async test runs on its own event loop: the connection serves them all."""
    with McpConnection(stdio_config()) as conn:
        yield conn


@pytest.fixture
def fresh() -> Iterator[McpConnection]:
    """A connection of its own (the counter starts at 0)."""
    with McpConnection(stdio_config("fresh")) as conn:
        yield conn


# ---------------------------------------------------------------------- listing


def test_tools_are_listed_with_prefixed_names_schemas_and_side_effects(demo):
    tools = {tool.name: tool for tool in demo.tools()}
    assert {"demo.add", "demo.echo", "demo.bump", "demo.peek", "demo.fail", "demo.slow"} <= set(
        tools
    )
    add = tools["demo.add"].spec
    assert add.description == "Add two numbers and return their sum."
    assert add.params_schema["required"] == ["a", "b"]
    assert add.params_schema["properties"]["a"]["type"] == "integer"
    assert add.risk == RiskLevel.HIGH
    # annotations win; tools that say nothing get the configured default (mutating)
    assert tools["demo.peek"].spec.side_effect == SideEffect.NONE
    assert tools["demo.bump"].spec.side_effect == SideEffect.IDEMPOTENT
    assert add.side_effect == SideEffect.MUTATING
    # names a Kaizen tool may not have are made valid
    assert "demo.weird_name_with_spaces" in tools
    # params are checked against the server's schema before any call
    issues = tools["demo.add"].check_params({"a": "one"}, frozenset())
    assert sorted((i.param, i.code) for i in issues) == [
        ("a", "invalid_param"),
        ("b", "missing_param"),
    ]


def test_default_side_effect_comes_from_the_config():
    with McpConnection(stdio_config("ro", side_effect=SideEffect.NONE)) as conn:
        effects = {tool.name: tool.spec.side_effect for tool in conn.tools()}
    assert effects["ro.add"] == SideEffect.NONE
    assert effects["ro.bump"] == SideEffect.IDEMPOTENT


def test_registry_and_catalog_entries_are_searchable(demo, tmp_path):
    registry = demo.registry()
    assert isinstance(registry, ToolRegistry)
    assert "demo.add" in registry
    entries = demo.catalog_entries()
    assert {entry.source for entry in entries} == {"mcp:demo"}
    assert {entry.name for entry in entries} == set(registry.names())
    index = ToolIndex(tmp_path / "index")
    index.sync(entries)
    assert index.search("add two numbers", k=3)[0].name == "demo.add"
    assert index.search("read the shared counter", k=3)[0].name == "demo.peek"


# ---------------------------------------------------------------------- calling


async def test_call_returns_structured_content_or_decoded_text(demo):
    assert await demo.call("add", {"a": 2, "b": 3}) == {"result": 5}
    assert await demo.call("demo.add", {"a": 1, "b": 1}) == {"result": 2}  # the Kaizen name
    assert await demo.call("echo_json", {"data": {"x": [1, 2]}}) == {"x": [1, 2]}  # JSON text
    assert await demo.call("two_parts") == ["first", "second"]  # several contents
    assert await demo.call("weird/name with spaces") == {"result": "weird"}
    assert await demo.call("secret_env") == {"result": SECRET}  # env reaches the server


def test_call_sync_from_plain_threads(demo):
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(demo.call_sync("add", {"a": n, "b": 1})))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["result"] for r in results) == [1, 2, 3, 4]


async def test_tools_invoke_through_schema_tool_and_state_is_observable(fresh):
    tools = {tool.name: tool for tool in fresh.tools()}
    ctx = ToolContext(run_id="r", step_id="s")
    bump = tools["fresh.bump"]
    assert await bump.invoke(bump.parse_params({"by": 2}), ctx) == {"counter": 2}
    assert await bump.invoke(bump.parse_params({}), ctx) == {"counter": 3}
    assert await fresh.call("peek") == {"counter": 3}


async def test_blueprint_runs_mcp_tools_through_the_executor(fresh):
    blueprint = Blueprint.model_validate(
        {
            "name": "mcp",
            "steps": [
                {"id": "one", "tool": "fresh.bump", "params": {"by": 2}},
                {"id": "two", "tool": "fresh.bump", "params": {"by": 5}, "depends_on": ["one"]},
                {"id": "read", "tool": "fresh.peek", "depends_on": ["two"]},
                {
                    "id": "sum",
                    "tool": "fresh.add",
                    "params": {"a": "{{ steps.read.output.counter }}", "b": 100},
                },
            ],
            "outputs": {"total": "{{ steps.sum.output.result }}"},
        }
    )
    executor = Executor(fresh.registry())
    try:
        run = await executor.run(blueprint)
    finally:
        executor.close()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"total": 107}


async def test_failing_tool_is_a_permanent_error_and_fails_the_step(fresh):
    with pytest.raises(PermanentToolError, match=r"fresh\.fail") as caught:
        await fresh.call("fail", {"message": f"it broke near {SECRET}"})
    assert "it broke" in str(caught.value)
    assert SECRET not in str(caught.value)  # env values are redacted from messages

    blueprint = Blueprint.model_validate(
        {"name": "fails", "steps": [{"id": "f", "tool": "fresh.fail", "params": {}}]}
    )
    executor = Executor(fresh.registry())
    try:
        run = await executor.run(blueprint)
    finally:
        executor.close()
    assert run.status == RunStatus.FAILED
    assert run.step_status["f"] == StepStatus.FAILED
    record = run.records_for("f")[-1]
    assert record.error_category == "error"
    assert "it broke" in (record.error_message or "")


async def test_slow_tool_times_out_and_the_connection_stays_usable(demo):
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"demo\.slow.*0\.3s"):
        await demo.call("slow", {"seconds": 5}, timeout_s=0.3)
    assert time.monotonic() - started < 2
    assert await demo.call("add", {"a": 1, "b": 2}) == {"result": 3}


async def test_configured_timeout_applies_to_tool_calls():
    with McpConnection(stdio_config("quick", timeout_s=0.5), start_timeout_s=10) as conn:
        slow = next(tool for tool in conn.tools() if tool.name == "quick.slow")
        with pytest.raises(ToolTimeoutError):
            await slow.invoke({"seconds": 5}, ToolContext(run_id="r", step_id="s"))


async def test_lost_connection_is_transient_and_the_next_call_reconnects(fresh):
    await fresh.call("bump", {"by": 4})
    with pytest.raises(TransientToolError, match="connection"):
        await fresh.call("crash")
    # a new server process: its counter starts again
    assert await fresh.call("peek") == {"counter": 0}


# ---------------------------------------------------------------------- starting and stopping


def test_a_command_that_cannot_start_names_the_server_quickly():
    config = McpServerConfig(
        name="broken", command="/no/such/mcp-server", env={"TOKEN": SECRET}, timeout_s=5
    )
    started = time.monotonic()
    with pytest.raises(McpSourceError, match=r"MCP server 'broken'.*/no/such/mcp-server") as caught:
        McpConnection(config).start()
    assert time.monotonic() - started < 2
    assert caught.value.server == "broken"
    assert SECRET not in str(caught.value)


def test_a_server_that_exits_at_once_reports_its_stderr_without_secrets():
    script = f"import sys; print('fatal: bad token {SECRET}', file=sys.stderr); sys.exit(2)"
    config = McpServerConfig(
        name="exits", command=sys.executable, args=["-c", script], env={"TOKEN": SECRET}
    )
    with pytest.raises(McpSourceError, match="exited before it initialized") as caught:
        McpConnection(config).start()
    assert "fatal: bad token ***" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_server_that_never_initializes_times_out():
    config = McpServerConfig(
        name="mute",
        command=sys.executable,
        args=["-c", "import time; time.sleep(60)"],
        timeout_s=0.5,
    )
    started = time.monotonic()
    with pytest.raises(McpSourceError, match=r"'mute'.*initialize.*0\.5s"):
        McpConnection(config).start()
    assert time.monotonic() - started < 6  # the timeout, then at most SIGTERM's grace
    assert server_children("time.sleep(60)") == []


def test_one_failing_server_does_not_stop_the_others():
    configs = [
        stdio_config("good"),
        McpServerConfig(name="bad", command="/no/such/server"),
        McpServerConfig(name="off", command="/no/such/server", enabled=False),
    ]
    with connect_mcp_servers(configs) as mcp:
        assert set(mcp.connections) == {"good"}
        assert set(mcp.errors) == {"bad"}
        assert "MCP server 'bad'" in str(mcp.errors["bad"])
        assert "good.add" in mcp.registry()
        assert {entry.source for entry in mcp.catalog_entries()} == {"mcp:good"}
        pids = server_children("tag-good")
        assert len(pids) == 1
    assert still_there(pids) == []


async def test_close_stops_the_server_and_the_thread():
    conn = McpConnection(stdio_config("closing")).start()
    pids = server_children("tag-closing")
    assert len(pids) == 1
    thread = conn._link.thread if conn._link else None
    pending = asyncio.ensure_future(conn.call("slow", {"seconds": 30}))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await asyncio.to_thread(conn.close)
    assert time.monotonic() - started < 6
    assert still_there(pids) == []  # no process left, not even a zombie
    assert thread is not None and not thread.is_alive()
    with pytest.raises(TransientToolError):
        await pending  # the call in flight ends with the session
    with pytest.raises(PermanentToolError, match="closed"):
        await conn.call("add", {"a": 1, "b": 1})


# ---------------------------------------------------------------------- streamable HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The test server in streamable HTTP mode on a free 127.0.0.1 port: its URL and process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, "the HTTP test server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP test server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_streamable_http_server_lists_and_calls_tools(http_server):
    url, process = http_server
    config = McpServerConfig(name="remote", url=url, headers={"Authorization": f"Bearer {SECRET}"})
    with McpConnection(config) as conn:
        names = {tool.name for tool in conn.tools()}
        assert {"remote.add", "remote.peek"} <= names
        assert await conn.call("add", {"a": 20, "b": 22}) == {"result": 42}
        assert await conn.call("bump", {"by": 3}) == {"counter": 3}
        assert conn.call_sync("peek") == {"counter": 3}
        process.kill()  # the server goes away: calls fail as transient errors, without secrets
        process.wait()
        with pytest.raises(TransientToolError) as caught:
            await conn.call("peek")
        assert SECRET not in str(caught.value)


def test_unreachable_url_is_a_clear_error_without_header_values():
    config = McpServerConfig(
        name="nowhere",
        url=f"http://127.0.0.1:{free_port()}/mcp?key=abc",
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout_s=3,
    )
    started = time.monotonic()
    with pytest.raises(McpSourceError, match=r"'nowhere'.*cannot connect") as caught:
        McpConnection(config).start()
    assert time.monotonic() - started < 3
    assert SECRET not in str(caught.value)
    assert "key=abc" not in str(caught.value)
