"""``shell.run``: allow-listed executables, argument lists, limits, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from engine.errors import (
    BlueprintInvalidError,
    PermanentToolError,
    ToolInputError,
    ToolTimeoutError,
    error_category,
)
from engine.records import RunStatus, StepStatus
from engine.tools.base import Tool
from engine.tools.builtin import DEFAULT_SHELL_ALLOW, BuiltinToolsConfig
from engine.tools.builtin.files import PathEscapeError
from engine.tools.builtin.shell import make_shell_tools
from tests.engine.tools.conftest import call, make_ctx, run_blueprint

TEST_ALLOW = ("echo", "cat", "printenv", "seq", "sleep", "sh", "false", "pwd")
MIN_CAP = 1024  # the smallest shell_max_output_bytes the config allows


def shell_tool(workspace: Path, **config: object) -> Tool:
    settings = {"shell_allow": TEST_ALLOW, **config}
    (run,) = make_shell_tools(BuiltinToolsConfig(workspace=workspace, **settings))
    return run


@pytest.fixture
def shell(workspace: Path) -> Tool:
    return shell_tool(workspace)


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphaned zombie waits for whoever reaps it, not for us)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


async def wait_until(predicate, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def pid_in(path: Path) -> int | None:
    """The pid a script wrote to ``path``, once it has been written completely."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None


async def read_pid(path: Path) -> int:
    assert await wait_until(lambda: pid_in(path) is not None)
    pid = pid_in(path)
    assert pid is not None
    return pid


# ------------------------------------------------------------------------------ running


async def test_allow_listed_echo_returns_stdout(shell: Tool):
    result = await call(shell, {"argv": ["echo", "hello", "world"]})
    assert result == {
        "exit_code": 0,
        "stdout": "hello world\n",
        "stderr": "",
        "stdout_truncated": False,
        "stderr_truncated": False,
    }
    assert shell.check_output(result) is None


async def test_default_allow_list_runs_echo(workspace: Path):
    (shell,) = make_shell_tools(BuiltinToolsConfig(workspace=workspace))
    assert "echo" in DEFAULT_SHELL_ALLOW
    result = await call(shell, {"argv": ["echo", "default"]})
    assert result["stdout"] == "default\n"


async def test_arguments_are_not_interpreted_by_a_shell(shell: Tool):
    result = await call(shell, {"argv": ["echo", "$HOME", "*", "a;b", "`id`"]})
    assert result["stdout"] == "$HOME * a;b `id`\n"


async def test_numbers_in_argv_are_stringified(shell: Tool):
    parsed = shell.parse_params({"argv": ["seq", 2, 3.5]})
    assert parsed["argv"] == ["seq", "2", "3.5"]
    result = await shell.invoke(parsed, make_ctx())
    assert result["stdout"] == "2\n3\n"


async def test_stdin_is_passed(shell: Tool):
    result = await call(shell, {"argv": ["cat"], "stdin": "line one\nline två\n"})
    assert result["stdout"] == "line one\nline två\n"


async def test_without_stdin_the_command_reads_nothing(shell: Tool):
    result = await call(shell, {"argv": ["cat"], "timeout_s": 5})
    assert result["stdout"] == ""
    assert result["exit_code"] == 0


async def test_command_runs_in_the_workspace_by_default(shell: Tool, workspace: Path):
    result = await call(shell, {"argv": ["pwd"]})
    assert Path(result["stdout"].strip()) == workspace


async def test_cwd_inside_the_workspace(shell: Tool, workspace: Path):
    (workspace / "sub" / "dir").mkdir(parents=True)
    result = await call(shell, {"argv": ["pwd"], "cwd": "sub/dir"})
    assert Path(result["stdout"].strip()) == workspace / "sub" / "dir"


async def test_cwd_that_does_not_exist_is_an_error(shell: Tool, workspace: Path):
    with pytest.raises(PermanentToolError, match="cwd 'missing' is not a directory"):
        await call(shell, {"argv": ["pwd"], "cwd": "missing"})


async def test_cwd_symlink_leading_outside_is_refused(shell: Tool, workspace: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "escape").symlink_to(outside)
    with pytest.raises(PathEscapeError, match="resolves outside the workspace"):
        await call(shell, {"argv": ["pwd"], "cwd": "escape"})


async def test_environment_is_minimal(
    shell: Tool, workspace: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KAIZEN_TEST_SECRET", "hunter2")
    result = await call(shell, {"argv": ["printenv"]})
    names = {line.split("=", 1)[0] for line in result["stdout"].splitlines()}
    assert names == {"PATH", "HOME", "LANG"}
    assert "hunter2" not in result["stdout"]
    home = await call(shell, {"argv": ["printenv", "HOME"]})
    assert Path(home["stdout"].strip()) == workspace


async def test_env_param_adds_variables(shell: Tool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAIZEN_TEST_SECRET", "hunter2")
    result = await call(
        shell, {"argv": ["printenv", "KAIZEN_TEST_SECRET"], "env": {"KAIZEN_TEST_SECRET": "given"}}
    )
    assert result["stdout"] == "given\n"


async def test_parent_variable_is_not_visible(shell: Tool, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAIZEN_TEST_SECRET", "hunter2")
    with pytest.raises(PermanentToolError, match="printenv exited with code 1"):
        await call(shell, {"argv": ["printenv", "KAIZEN_TEST_SECRET"]})


# ------------------------------------------------------------------------------ exit codes


async def test_non_zero_exit_with_check_is_a_permanent_error(shell: Tool):
    with pytest.raises(PermanentToolError) as info:
        await call(shell, {"argv": ["sh", "-c", "echo partial; echo it broke >&2; exit 7"]})
    assert str(info.value) == "sh exited with code 7: it broke"
    assert error_category(info.value) == "error"


async def test_non_zero_exit_message_falls_back_to_stdout(shell: Tool):
    with pytest.raises(PermanentToolError, match="exited with code 3: only stdout"):
        await call(shell, {"argv": ["sh", "-c", "echo only stdout; exit 3"]})


async def test_false_exits_with_code_1(shell: Tool):
    with pytest.raises(PermanentToolError, match=r"^false exited with code 1$"):
        await call(shell, {"argv": ["false"]})


async def test_check_false_returns_the_exit_code(shell: Tool):
    result = await call(
        shell, {"argv": ["sh", "-c", "echo out; echo err >&2; exit 7"], "check": False}
    )
    assert result["exit_code"] == 7
    assert result["stdout"] == "out\n"
    assert result["stderr"] == "err\n"


async def test_executable_missing_from_path(workspace: Path):
    shell = shell_tool(workspace, shell_allow=("kaizen-no-such-executable",))
    with pytest.raises(
        PermanentToolError, match="'kaizen-no-such-executable' was not found on PATH"
    ):
        await call(shell, {"argv": ["kaizen-no-such-executable"]})


# ------------------------------------------------------------------------------ limits


async def test_large_stdout_is_truncated_and_the_child_still_exits(workspace: Path):
    shell = shell_tool(workspace, shell_max_output_bytes=MIN_CAP)
    started = time.monotonic()
    result = await call(shell, {"argv": ["seq", 1, 200000], "timeout_s": 5})
    assert time.monotonic() - started < 2
    assert result["exit_code"] == 0  # the pipe was drained, so seq finished normally
    assert result["stdout_truncated"] is True
    assert len(result["stdout"]) == MIN_CAP
    assert result["stdout"].startswith("1\n2\n3\n")
    assert result["stderr_truncated"] is False


async def test_large_stderr_is_truncated_separately(workspace: Path):
    shell = shell_tool(workspace, shell_max_output_bytes=MIN_CAP)
    result = await call(shell, {"argv": ["sh", "-c", "echo small; seq 1 100000 >&2"]})
    assert result["exit_code"] == 0
    assert result["stdout"] == "small\n"
    assert result["stdout_truncated"] is False
    assert result["stderr_truncated"] is True
    assert len(result["stderr"]) == MIN_CAP


async def test_output_exactly_at_the_cap_is_not_truncated(workspace: Path):
    shell = shell_tool(workspace, shell_max_output_bytes=MIN_CAP)
    text = "y" * (MIN_CAP - 1)  # plus echo's newline
    result = await call(shell, {"argv": ["echo", text]})
    assert result["stdout"] == text + "\n"
    assert result["stdout_truncated"] is False


async def test_timeout_kills_the_process_quickly(shell: Tool, workspace: Path):
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError) as info:
        await call(
            shell,
            {"argv": ["sh", "-c", "echo $$ > pid; exec sleep 30"], "timeout_s": 0.3},
        )
    assert time.monotonic() - started < 1.5
    assert str(info.value) == "sh did not finish within 0.3s; killed"
    assert error_category(info.value) == "timeout"
    pid = pid_in(workspace / "pid")
    assert pid is not None
    assert is_gone(pid)


async def test_timeout_of_plain_sleep(shell: Tool):
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"sleep did not finish within 0\.2s"):
        await call(shell, {"argv": ["sleep", 20], "timeout_s": 0.2})
    assert time.monotonic() - started < 1.5


async def test_timeout_of_a_command_that_never_stops_writing(workspace: Path):
    """`yes` fills its pipe faster than anyone reads it: the timeout must still end the call."""
    shell = shell_tool(workspace, shell_allow=("yes",), shell_max_output_bytes=MIN_CAP)
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"yes did not finish within 0\.3s; killed"):
        await asyncio.wait_for(call(shell, {"argv": ["yes"], "timeout_s": 0.3}), 5)
    assert time.monotonic() - started < 1.5


async def test_timeout_kills_background_processes_holding_the_output(shell: Tool, workspace: Path):
    """The command exits at once, but a process it left in the background keeps its stdout."""
    script = "sleep 30 & echo $! > bg.pid; echo started"
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError):
        await asyncio.wait_for(call(shell, {"argv": ["sh", "-c", script], "timeout_s": 0.3}), 5)
    assert time.monotonic() - started < 1.5
    background = pid_in(workspace / "bg.pid")
    assert background is not None
    assert await wait_until(lambda: not is_running(background)), "the background sleep survived"


async def test_large_stdin_to_a_command_that_echoes_it(workspace: Path):
    """Stdin is fed while the output is read: `cat` with megabytes of input must not deadlock."""
    shell = shell_tool(workspace, shell_max_output_bytes=MIN_CAP)
    data = "0123456789abcdef" * 128 * 1024  # 2 MiB, far more than a pipe buffer
    result = await asyncio.wait_for(
        call(shell, {"argv": ["cat"], "stdin": data, "timeout_s": 5}), 5
    )
    assert result["exit_code"] == 0
    assert result["stdout_truncated"] is True
    assert result["stdout"] == data[:MIN_CAP]


async def test_stdin_ignored_by_the_command_is_fine(shell: Tool):
    result = await call(shell, {"argv": ["echo", "done"], "stdin": "x" * 1_000_000})
    assert result["exit_code"] == 0
    assert result["stdout"] == "done\n"


async def test_cancellation_kills_the_child_and_its_process_group(shell: Tool, workspace: Path):
    script = "sleep 30 & echo $! > grandchild.pid; echo $$ > child.pid; wait"
    task = asyncio.create_task(call(shell, {"argv": ["sh", "-c", script], "timeout_s": 60}))
    child = await read_pid(workspace / "child.pid")
    grandchild = await read_pid(workspace / "grandchild.pid")
    assert is_running(child)
    assert is_running(grandchild)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await wait_until(lambda: is_gone(child)), "the direct child was not killed"
    assert await wait_until(lambda: not is_running(grandchild)), "the grandchild survived"


# ------------------------------------------------------------------------------ param validation


@pytest.mark.parametrize("executable", ["rm", "sh", "bash", "python3", "/bin/echo"])
def test_executable_not_on_the_allow_list_is_refused(workspace: Path, executable: str):
    (shell,) = make_shell_tools(BuiltinToolsConfig(workspace=workspace))
    params = {"argv": [executable, "-c", "true"]}
    with pytest.raises(ToolInputError) as info:
        shell.parse_params(params)
    assert f"'{executable}' is not an allowed executable (allowed: echo, date," in str(info.value)
    (issue,) = shell.check_params(params, frozenset())
    assert issue.param == "argv"
    assert issue.code == "invalid_param"
    assert f"'{executable}' is not an allowed executable" in issue.message


def test_empty_allow_list_says_none_are_allowed(workspace: Path):
    shell = shell_tool(workspace, shell_allow=())
    with pytest.raises(ToolInputError, match=r"\(allowed: none are allowed\)"):
        shell.parse_params({"argv": ["echo"]})


def test_shell_string_is_refused_with_a_hint(shell: Tool):
    with pytest.raises(ToolInputError) as info:
        shell.parse_params({"argv": ["echo hi"]})
    message = str(info.value)
    assert "'echo hi' looks like a shell command line" in message
    assert "give the executable and each argument as separate list items" in message


@pytest.mark.parametrize("argv", [[], [""]])
def test_empty_argv_is_refused(shell: Tool, argv: list[str]):
    with pytest.raises(ToolInputError, match="argv"):
        shell.parse_params({"argv": argv})


@pytest.mark.parametrize(
    ("cwd", "message"),
    [
        ("..", "contains '..'"),
        ("sub/../..", "contains '..'"),
        ("/tmp", "is absolute"),
        ("/", "is absolute"),
    ],
)
def test_cwd_outside_the_workspace_is_refused(shell: Tool, cwd: str, message: str):
    with pytest.raises(ToolInputError, match=re.escape(message)):
        shell.parse_params({"argv": ["pwd"], "cwd": cwd})
    (issue,) = shell.check_params({"argv": ["pwd"], "cwd": cwd}, frozenset())
    assert issue.param == "cwd"


@pytest.mark.parametrize("timeout", [0, -1, 3601])
def test_timeout_out_of_range_is_refused(shell: Tool, timeout: float):
    with pytest.raises(ToolInputError, match="timeout_s"):
        shell.parse_params({"argv": ["echo"], "timeout_s": timeout})


# -------------------------------------------------------------------------- through the executor


async def test_shell_run_through_the_executor(shell: Tool):
    run = await run_blueprint(
        [shell],
        [
            {"id": "hello", "tool": "shell.run", "params": {"argv": ["echo", "{{ inputs.who }}"]}},
            {
                "id": "upper",
                "tool": "shell.run",
                "params": {"argv": ["cat"], "stdin": "got: {{ steps.hello.output.stdout }}"},
            },
        ],
        declared_inputs={"who": {"type": "string"}},
        inputs={"who": "kaizen"},
        outputs={"said": "{{ steps.upper.output.stdout }}"},
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"said": "got: kaizen\n"}


async def test_failing_command_through_the_executor(shell: Tool):
    run = await run_blueprint(
        [shell],
        [{"id": "fail", "tool": "shell.run", "params": {"argv": ["sh", "-c", "exit 4"]}}],
    )
    assert run.status is RunStatus.FAILED
    (record,) = run.records
    assert record.status is StepStatus.FAILED
    assert record.error_class == "PermanentToolError"
    assert record.error_message == "sh exited with code 4"


async def test_disallowed_executable_fails_blueprint_validation(shell: Tool):
    with pytest.raises(BlueprintInvalidError, match="'rm' is not an allowed executable"):
        await run_blueprint(
            [shell], [{"id": "bad", "tool": "shell.run", "params": {"argv": ["rm", "-rf", "x"]}}]
        )


@pytest.mark.parametrize(
    "name",
    [
        "LD_PRELOAD",
        "ld_library_path",
        "DYLD_INSERT_LIBRARIES",
        "PATH",
        "BASH_ENV",
        "PYTHONPATH",
        "NODE_OPTIONS",
        "GIT_SSH_COMMAND",
    ],
)
def test_env_cannot_inject_code_into_the_allowed_program(name):
    (run,) = make_shell_tools(BuiltinToolsConfig())
    issues = run.check_params({"argv": ["echo"], "env": {name: "/tmp/evil.so"}}, frozenset())
    assert [i.param for i in issues] == ["env"]
    assert f"env may not set '{name}'" in issues[0].message
    assert run.check_params({"argv": ["echo"], "env": {"GREETING": "hi"}}, frozenset()) == []
