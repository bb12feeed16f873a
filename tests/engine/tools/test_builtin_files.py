"""``file.read`` / ``file.write`` / ``file.append``: confined to one workspace directory."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

import pytest

from engine.errors import PermanentToolError, ToolInputError, error_category
from engine.records import RunStatus, StepStatus
from engine.tools.base import Tool
from engine.tools.builtin import BuiltinToolsConfig
from engine.tools.builtin import files as files_module
from engine.tools.builtin.files import PathEscapeError, make_file_tools, resolve_in_workspace
from tests.engine.tools.conftest import call, run_blueprint, tree

MIN_LIMIT = 1024  # the smallest file_max_bytes the config allows


def file_tools(workspace: Path, **config: int) -> dict[str, Tool]:
    return {t.name: t for t in make_file_tools(BuiltinToolsConfig(workspace=workspace, **config))}


@pytest.fixture
def ft(workspace: Path) -> dict[str, Tool]:
    return file_tools(workspace)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, with a secret file in it."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("top secret")
    return path


# ------------------------------------------------------------------------------ happy paths


async def test_write_then_read_roundtrip(ft: dict[str, Tool], workspace: Path):
    text = "# Report\nAll good ✓\n"
    written = await call(ft["file.write"], {"path": "report.md", "content": text})
    assert written == {"path": "report.md", "bytes_written": len(text.encode())}
    assert (workspace / "report.md").read_text() == text

    result = await call(ft["file.read"], {"path": "report.md"})
    assert result == {
        "path": "report.md",
        "content": text,
        "size_bytes": len(text.encode()),
        "truncated": False,
    }
    assert ft["file.read"].check_output(result) is None
    assert ft["file.write"].check_output(written) is None


async def test_write_creates_nested_directories(ft: dict[str, Tool], workspace: Path):
    await call(ft["file.write"], {"path": "a/b/c/deep.txt", "content": "deep"})
    assert (workspace / "a" / "b" / "c" / "deep.txt").read_text() == "deep"
    result = await call(ft["file.read"], {"path": "./a/b/c/deep.txt"})
    assert result["content"] == "deep"


async def test_write_replaces_the_whole_file(ft: dict[str, Tool], workspace: Path):
    await call(ft["file.write"], {"path": "f.txt", "content": "a much longer first version"})
    await call(ft["file.write"], {"path": "f.txt", "content": "short"})
    assert (workspace / "f.txt").read_text() == "short"


async def test_atomic_write_leaves_no_temporary_files(ft: dict[str, Tool], workspace: Path):
    for i in range(3):
        await call(ft["file.write"], {"path": "dir/out.txt", "content": f"version {i}"})
    assert tree(workspace) == ["dir", "dir/out.txt"]


async def test_failed_write_cleans_up_its_temporary_file(
    ft: dict[str, Tool], workspace: Path, monkeypatch: pytest.MonkeyPatch
):
    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(files_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        await call(ft["file.write"], {"path": "out.txt", "content": "x"})
    assert tree(workspace) == []


async def test_write_keeps_the_mode_of_the_file_it_replaces(ft: dict[str, Tool], workspace: Path):
    await call(ft["file.write"], {"path": "new.txt", "content": "x"})
    assert stat.S_IMODE((workspace / "new.txt").stat().st_mode) == 0o644
    script = workspace / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    await call(ft["file.write"], {"path": "run.sh", "content": "new"})
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert script.read_text() == "new"


async def test_append_creates_then_appends(ft: dict[str, Tool], workspace: Path):
    first = await call(ft["file.append"], {"path": "logs/run.log", "content": "one\n"})
    assert first == {"path": "logs/run.log", "bytes_written": 4}
    await call(ft["file.append"], {"path": "logs/run.log", "content": "two\n"})
    assert (workspace / "logs" / "run.log").read_text() == "one\ntwo\n"


async def test_write_and_read_with_another_encoding(ft: dict[str, Tool], workspace: Path):
    written = await call(
        ft["file.write"], {"path": "latin.txt", "content": "café", "encoding": "latin-1"}
    )
    assert written["bytes_written"] == 4
    assert (workspace / "latin.txt").read_bytes() == b"caf\xe9"
    result = await call(ft["file.read"], {"path": "latin.txt", "encoding": "latin-1"})
    assert result["content"] == "café"


async def test_read_with_max_bytes_truncates(ft: dict[str, Tool], workspace: Path):
    (workspace / "big.txt").write_text("0123456789" * 10)
    result = await call(ft["file.read"], {"path": "big.txt", "max_bytes": 25})
    assert result["content"] == "0123456789012345678901234"
    assert result["size_bytes"] == 100
    assert result["truncated"] is True
    full = await call(ft["file.read"], {"path": "big.txt", "max_bytes": 100})
    assert full["truncated"] is False


async def test_read_is_capped_by_file_max_bytes(workspace: Path):
    ft = file_tools(workspace, file_max_bytes=MIN_LIMIT)
    (workspace / "big.txt").write_bytes(b"z" * (MIN_LIMIT * 3))
    result = await call(ft["file.read"], {"path": "big.txt"})
    assert len(result["content"]) == MIN_LIMIT
    assert result["truncated"] is True


# ------------------------------------------------------------------------------ errors


async def test_reading_a_missing_file_is_a_permanent_error(ft: dict[str, Tool]):
    with pytest.raises(PermanentToolError) as info:
        await call(ft["file.read"], {"path": "nope/missing.txt"})
    assert str(info.value) == "file 'nope/missing.txt' does not exist in the workspace"
    assert error_category(info.value) == "error"


async def test_reading_a_directory_is_a_clear_error(ft: dict[str, Tool], workspace: Path):
    (workspace / "folder").mkdir(parents=True)
    with pytest.raises(PermanentToolError, match=r"^'folder' is a directory$"):
        await call(ft["file.read"], {"path": "folder"})


@pytest.mark.parametrize("name", ["file.write", "file.append"])
async def test_writing_over_a_directory_is_a_clear_error(
    ft: dict[str, Tool], workspace: Path, name: str
):
    (workspace / "folder").mkdir(parents=True)
    with pytest.raises(PermanentToolError, match=r"^'folder' is a directory$"):
        await call(ft[name], {"path": "folder", "content": "x"})
    assert (workspace / "folder").is_dir()


async def test_writing_the_workspace_itself_is_refused(ft: dict[str, Tool]):
    with pytest.raises(PermanentToolError, match="names the workspace itself"):
        await call(ft["file.write"], {"path": ".", "content": "x"})


@pytest.mark.parametrize("name", ["file.write", "file.append"])
async def test_size_limit_is_enforced_on_write(workspace: Path, name: str):
    ft = file_tools(workspace, file_max_bytes=MIN_LIMIT)
    with pytest.raises(PermanentToolError) as info:
        await call(ft[name], {"path": "big.txt", "content": "x" * (MIN_LIMIT + 1)})
    assert str(info.value) == f"content is {MIN_LIMIT + 1} bytes; the limit is {MIN_LIMIT}"
    assert not (workspace / "big.txt").exists()
    ok = await call(ft[name], {"path": "ok.txt", "content": "x" * MIN_LIMIT})
    assert ok["bytes_written"] == MIN_LIMIT


async def test_size_limit_counts_encoded_bytes(workspace: Path):
    ft = file_tools(workspace, file_max_bytes=MIN_LIMIT)
    with pytest.raises(PermanentToolError, match=f"content is {MIN_LIMIT + 2} bytes"):
        await call(ft["file.write"], {"path": "u.txt", "content": "é" * (MIN_LIMIT // 2 + 1)})


@pytest.mark.parametrize("name", ["file.write", "file.append"])
async def test_unknown_encoding_on_write(ft: dict[str, Tool], workspace: Path, name: str):
    with pytest.raises(PermanentToolError, match=r"^unknown encoding 'klingon-8'$"):
        await call(ft[name], {"path": "x.txt", "content": "x", "encoding": "klingon-8"})
    assert not (workspace / "x.txt").exists()


async def test_unknown_encoding_on_read(ft: dict[str, Tool]):
    await call(ft["file.write"], {"path": "x.txt", "content": "x"})
    with pytest.raises(PermanentToolError, match=r"^unknown encoding 'klingon-8'$"):
        await call(ft["file.read"], {"path": "x.txt", "encoding": "klingon-8"})


# ------------------------------------------------------------------------------ confinement


@pytest.mark.parametrize("name", ["file.read", "file.write", "file.append"])
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../escape.txt", "contains '..'"),
        ("a/../../escape.txt", "contains '..'"),
        ("a\\..\\..\\escape.txt", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("\\windows\\system.ini", "is absolute"),
        ("C:/data.txt", "is absolute"),
        ("", "path is empty"),
        ("   ", "path is empty"),
        ("nul\x00byte", "NUL character"),
    ],
)
def test_paths_leaving_the_workspace_are_refused_at_param_validation(
    ft: dict[str, Tool], name: str, path: str, message: str
):
    params = {"path": path, "content": "x"} if name != "file.read" else {"path": path}
    with pytest.raises(ToolInputError, match=re.escape(message)):
        ft[name].parse_params(params)
    (issue,) = ft[name].check_params(params, frozenset())
    assert issue.param == "path"
    assert issue.code == "invalid_param"
    assert message in issue.message


def test_templated_path_is_checked_only_after_rendering(ft: dict[str, Tool]):
    assert ft["file.read"].check_params({"path": "{{ inputs.p }}"}, frozenset({"path"})) == []


async def test_symlinked_directory_leading_outside_is_refused_for_read(
    ft: dict[str, Tool], workspace: Path, outside: Path
):
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscapeError, match="resolves outside the workspace"):
        await call(ft["file.read"], {"path": "link/secret.txt"})


@pytest.mark.parametrize("name", ["file.write", "file.append"])
async def test_symlinked_directory_leading_outside_is_refused_for_writes(
    ft: dict[str, Tool], workspace: Path, outside: Path, name: str
):
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscapeError, match="resolves outside the workspace"):
        await call(ft[name], {"path": "link/secret.txt", "content": "pwned"})
    with pytest.raises(PathEscapeError):
        await call(ft[name], {"path": "link/new.txt", "content": "pwned"})
    assert (outside / "secret.txt").read_text() == "top secret"
    assert tree(outside) == ["secret.txt"]


@pytest.mark.parametrize("name", ["file.read", "file.write", "file.append"])
async def test_symlinked_file_leading_outside_is_refused(
    ft: dict[str, Tool], workspace: Path, outside: Path, name: str
):
    (workspace / "secret.txt").symlink_to(outside / "secret.txt")
    (workspace / "dangling.txt").symlink_to(outside / "does-not-exist-yet.txt")
    params = {} if name == "file.read" else {"content": "pwned"}
    for path in ("secret.txt", "dangling.txt"):
        with pytest.raises(PathEscapeError, match=f"path '{path}' resolves outside"):
            await call(ft[name], {"path": path, **params})
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not (outside / "does-not-exist-yet.txt").exists()


@pytest.mark.parametrize("name", ["file.read", "file.write", "file.append"])
async def test_final_component_swapped_for_a_symlink_is_refused(
    ft: dict[str, Tool],
    workspace: Path,
    outside: Path,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
):
    """A symlink that appears after the path was resolved (a race) is not followed either."""
    link = workspace / "report.txt"
    link.symlink_to(outside / "secret.txt")

    def resolved_before_the_swap(root: Path, relative: str) -> Path:
        return root.resolve() / relative  # what resolve_in_workspace saw a moment earlier

    monkeypatch.setattr(files_module, "resolve_in_workspace", resolved_before_the_swap)
    params = {} if name == "file.read" else {"content": "pwned"}
    with pytest.raises(PathEscapeError, match="is a symlink; refusing to"):
        await call(ft[name], {"path": "report.txt", **params})
    assert (outside / "secret.txt").read_text() == "top secret"
    assert link.is_symlink()


async def test_symlink_inside_the_workspace_is_followed(ft: dict[str, Tool], workspace: Path):
    await call(ft["file.write"], {"path": "real/data.txt", "content": "inside"})
    (workspace / "alias").symlink_to(workspace / "real", target_is_directory=True)
    result = await call(ft["file.read"], {"path": "alias/data.txt"})
    assert result["content"] == "inside"


def test_resolve_in_workspace(tmp_path: Path, outside: Path):
    root = tmp_path / "ws"
    root.mkdir()
    assert resolve_in_workspace(root, "a/b.txt") == root.resolve() / "a" / "b.txt"
    assert resolve_in_workspace(root, ".") == root.resolve()
    (root / "out").symlink_to(outside)
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(root, "out/x")
    with pytest.raises(ValueError, match=r"contains '\.\.'"):
        resolve_in_workspace(root, "../x")


def test_workspace_is_created_on_demand(tmp_path: Path):
    fresh = tmp_path / "fresh" / "workspace"
    ft = file_tools(fresh)
    assert not fresh.exists()
    with pytest.raises(PermanentToolError, match="does not exist"):
        asyncio.run(call(ft["file.read"], {"path": "x.txt"}))
    assert fresh.is_dir()


# -------------------------------------------------------------------------- through the executor


async def test_file_tools_through_the_executor(ft: dict[str, Tool], workspace: Path):
    run = await run_blueprint(
        ft.values(),
        [
            {
                "id": "write",
                "tool": "file.write",
                "params": {
                    "path": "reports/{{ inputs.day }}.md",
                    "content": "# {{ inputs.day }}\n",
                },
            },
            {
                "id": "append",
                "tool": "file.append",
                "depends_on": ["write"],
                "params": {"path": "{{ steps.write.output.path }}", "content": "- line\n"},
            },
            {
                "id": "read",
                "tool": "file.read",
                "depends_on": ["append"],
                "params": {"path": "{{ steps.write.output.path }}"},
            },
        ],
        declared_inputs={"day": {"type": "string"}},
        inputs={"day": "2026-01-01"},
        outputs={"text": "{{ steps.read.output.content }}"},
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"text": "# 2026-01-01\n- line\n"}
    assert [r.step_id for r in run.records] == ["write", "append", "read"]
    assert (workspace / "reports" / "2026-01-01.md").read_text() == "# 2026-01-01\n- line\n"


async def test_escaping_path_fails_the_step_in_the_executor(ft: dict[str, Tool], tmp_path: Path):
    run = await run_blueprint(
        ft.values(),
        [{"id": "read", "tool": "file.read", "params": {"path": "{{ inputs.p }}"}}],
        declared_inputs={"p": {"type": "string"}},
        inputs={"p": "../secret"},
    )
    assert run.status is RunStatus.FAILED
    (record,) = run.records
    assert record.status is StepStatus.FAILED
    assert record.error_category == "invalid_params"
    assert record.error_message is not None
    assert "contains '..'" in record.error_message
