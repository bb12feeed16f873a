"""``shell.run``: start an allow-listed executable with an argument list — never a shell string.

The command runs in the workspace with a minimal environment, its output is capped, and on
timeout or cancellation its whole process group is killed.
"""

import asyncio
import contextlib
import os
import shutil
import signal
from typing import Annotated

from pydantic import AfterValidator, Field
from typing_extensions import TypedDict

from engine.errors import PermanentToolError, ToolTimeoutError
from engine.tools.base import Tool, ToolContext
from engine.tools.builtin.config import BuiltinToolsConfig
from engine.tools.builtin.files import WorkspacePath, resolve_in_workspace
from engine.tools.function import tool


class CommandResult(TypedDict):
    exit_code: int
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool


#: How long to wait for a killed command's pipes to close before giving up on them.
KILL_GRACE_S = 5.0


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> tuple[bytes, bool]:
    if stream is None:
        return b"", False
    kept = bytearray()
    truncated = False
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return bytes(kept), truncated
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > max(room, 0):
            truncated = True  # keep draining so the child never blocks on a full pipe


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # Even when the command itself has exited, processes it started in the background may
    # still run (and hold its output pipes open): kill the whole group regardless.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _reap_killed(process: asyncio.subprocess.Process) -> None:
    """Clean up after :func:`_kill_group`: read the pipes to their end and collect the exit
    status, so no transport is left open. A pipe whose reader paused (its buffer was full) only
    sees its end when read, and ``wait()`` waits for every pipe to close; so read, don't just
    wait. Gives up after :data:`KILL_GRACE_S` (a process that left the group may hold a pipe)."""
    if process.stdin is not None:
        process.stdin.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(KILL_GRACE_S):
            await asyncio.gather(_read_capped(process.stdout, 0), _read_capped(process.stderr, 0))
            await process.wait()


#: Variables that make a program load or run other code (the dynamic loader, interpreters'
#: start-up hooks, shells' rc files) or change which program a name means. Setting them would
#: turn an allow-listed executable into anything, so ``env`` may not.
FORBIDDEN_ENV_PREFIXES = ("LD_", "DYLD_", "GIT_")
FORBIDDEN_ENV = frozenset(
    {
        "PATH", "IFS", "BASH_ENV", "ENV", "SHELLOPTS", "PS4", "PROMPT_COMMAND",
        "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PERL5OPT", "PERL5LIB",
        "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS", "GCONV_PATH", "HOSTALIASES", "LOCPATH", "MALLOC_CHECK_",
    }
)  # fmt: skip


def _safe_env(env: dict[str, str] | None) -> dict[str, str] | None:
    for name in env or {}:
        if name.upper() in FORBIDDEN_ENV or name.upper().startswith(FORBIDDEN_ENV_PREFIXES):
            raise ValueError(
                f"env may not set '{name}': it can make the allowed program run other code"
            )
        if not name or "=" in name or "\x00" in name:
            raise ValueError(f"'{name}' is not a valid environment variable name")
    return env


def make_shell_tools(config: BuiltinToolsConfig) -> list[Tool]:
    allowed = tuple(config.shell_allow)

    def _allowed_argv(raw: list[str | int | float]) -> list[str]:
        argv = [str(part) for part in raw]
        if not argv or not argv[0]:
            raise ValueError("argv must start with the executable to run")
        executable = argv[0]
        if any(ch.isspace() for ch in executable) and executable not in allowed:
            raise ValueError(
                f"'{executable}' looks like a shell command line; give the executable and each "
                "argument as separate list items"
            )
        if executable not in allowed:
            shown = ", ".join(allowed) if allowed else "none are allowed"
            raise ValueError(f"'{executable}' is not an allowed executable (allowed: {shown})")
        return argv

    @tool("shell.run", side_effect="mutating", risk="high")
    async def run(
        argv: Annotated[
            list[str | int | float], Field(min_length=1), AfterValidator(_allowed_argv)
        ],
        ctx: ToolContext,
        cwd: WorkspacePath = ".",
        stdin: str | None = None,
        env: Annotated[dict[str, str] | None, AfterValidator(_safe_env)] = None,
        timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0,
        check: bool = True,
    ) -> CommandResult:
        """Run an allow-listed executable with an argument list (no shell is involved).

        Args:
            argv: Executable and arguments, e.g. ["git", "status", "--short"].
            cwd: Working directory, relative to the workspace.
            stdin: Text sent to the command's standard input.
            env: Extra environment variables (the command otherwise gets only PATH, HOME, LANG);
                loader and interpreter hooks such as LD_PRELOAD or PYTHONPATH are refused.
            timeout_s: Kill the command after this many seconds.
            check: Fail the step when the exit code is not 0.
        """
        workspace = config.workspace
        workspace.mkdir(parents=True, exist_ok=True)
        workdir = resolve_in_workspace(workspace, cwd)
        if not workdir.is_dir():
            raise PermanentToolError(f"cwd '{cwd}' is not a directory in the workspace")
        args = [str(part) for part in argv]
        executable = shutil.which(args[0])
        if executable is None:
            raise PermanentToolError(f"executable '{args[0]}' was not found on PATH")
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workspace.resolve()),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **(env or {}),
        }
        process = await asyncio.create_subprocess_exec(
            executable,
            *args[1:],
            cwd=workdir,
            env=child_env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        cap = config.shell_max_output_bytes

        async def feed_stdin() -> None:
            if stdin is None or process.stdin is None:
                return
            try:
                process.stdin.write(stdin.encode())
                await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                process.stdin.close()

        async def communicate() -> tuple[tuple[bytes, bool], tuple[bytes, bool]]:
            # Feed stdin while reading the output: a command that writes as it reads (cat)
            # would otherwise block on a full stdout pipe while we block on its full stdin.
            _, out, err = await asyncio.gather(
                feed_stdin(), _read_capped(process.stdout, cap), _read_capped(process.stderr, cap)
            )
            await process.wait()
            return out, err

        try:
            async with asyncio.timeout(timeout_s):
                (out, out_cut), (err, err_cut) = await communicate()
        except TimeoutError:
            _kill_group(process)
            await _reap_killed(process)
            raise ToolTimeoutError(
                f"{args[0]} did not finish within {timeout_s:g}s; killed"
            ) from None
        except BaseException:
            _kill_group(process)
            await asyncio.shield(_reap_killed(process))
            raise
        result: CommandResult = {
            "exit_code": process.returncode if process.returncode is not None else -1,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
            "stdout_truncated": out_cut,
            "stderr_truncated": err_cut,
        }
        if check and result["exit_code"] != 0:
            tail = result["stderr"].strip()[-500:] or result["stdout"].strip()[-500:]
            raise PermanentToolError(
                f"{args[0]} exited with code {result['exit_code']}" + (f": {tail}" if tail else "")
            )
        return result

    return [run]
