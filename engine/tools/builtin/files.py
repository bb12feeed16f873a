"""``file.read`` / ``file.write`` / ``file.append``: files inside one workspace directory only.

Paths are relative to the workspace. Absolute paths and ``..`` are refused before anything is
opened; symlinks that lead outside the workspace are refused when the path is resolved, and the
final component is opened with ``O_NOFOLLOW`` so it cannot be swapped for a symlink in between.
Writes are atomic (a temporary file renamed into place): a reader never sees half a file.
"""

import errno
import os
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, Field
from typing_extensions import TypedDict

from engine.errors import PermanentToolError
from engine.tools.base import Tool
from engine.tools.builtin.config import BuiltinToolsConfig
from engine.tools.function import tool

#: Mode of files the tools create (before the umask for file.append).
NEW_FILE_MODE = 0o644


class PathEscapeError(PermanentToolError):
    """A path would leave the workspace."""


def _relative_path(value: str) -> str:
    if not value or not value.strip():
        raise ValueError("path is empty")
    if "\x00" in value:
        raise ValueError("path contains a NUL character")
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        raise ValueError(f"path '{value}' is absolute; paths are relative to the workspace")
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        raise ValueError(f"path '{value}' contains '..'; paths must stay inside the workspace")
    return value


WorkspacePath = Annotated[str, AfterValidator(_relative_path)]


def resolve_in_workspace(workspace: Path, relative: str) -> Path:
    """The absolute path of ``relative`` inside ``workspace``; raises :class:`PathEscapeError`
    when it (through symlinks) points outside."""
    _relative_path(relative)
    root = workspace.resolve()
    candidate = (root / relative).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        raise PathEscapeError(f"path '{relative}' resolves outside the workspace (via a symlink)")
    return candidate


class FileContent(TypedDict):
    path: str
    content: str
    size_bytes: int
    truncated: bool


class FileWritten(TypedDict):
    path: str
    bytes_written: int


def make_file_tools(config: BuiltinToolsConfig) -> list[Tool]:
    def workspace() -> Path:
        root = config.workspace
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _open_nofollow(path: Path, flags: int) -> int:
        try:
            return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), NEW_FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the final component is a symlink
                raise PathEscapeError(f"'{path.name}' is a symlink; refusing to follow it") from exc
            raise

    @tool("file.read", side_effect="none")
    def read(
        path: WorkspacePath,
        encoding: str = "utf-8",
        max_bytes: Annotated[int, Field(ge=1)] = 1024 * 1024,
    ) -> FileContent:
        """Read a text file from the workspace.

        Args:
            path: Path relative to the workspace, e.g. "reports/today.md".
            encoding: Text encoding of the file.
            max_bytes: Read at most this many bytes; the result says if it was truncated.
        """
        target = resolve_in_workspace(workspace(), path)
        try:
            fd = _open_nofollow(target, os.O_RDONLY)
        except FileNotFoundError:
            raise PermanentToolError(f"file '{path}' does not exist in the workspace") from None
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):  # opening a directory read-only succeeds on POSIX
            os.close(fd)
            raise PermanentToolError(f"'{path}' is a directory")
        with os.fdopen(fd, "rb") as handle:
            size = info.st_size
            data = handle.read(min(max_bytes, config.file_max_bytes))
        try:
            text = data.decode(encoding, errors="replace")
        except LookupError:
            raise PermanentToolError(f"unknown encoding '{encoding}'") from None
        return {"path": path, "content": text, "size_bytes": size, "truncated": size > len(data)}

    @tool("file.write", side_effect="idempotent")
    def write(path: WorkspacePath, content: str, encoding: str = "utf-8") -> FileWritten:
        """Write a text file in the workspace, replacing it atomically if it exists.

        Args:
            path: Path relative to the workspace; missing folders are created.
            content: The full text to write.
            encoding: Text encoding to write with.
        """
        data = _encode(content, encoding)
        root = workspace()
        target = resolve_in_workspace(root, path)
        if target == root.resolve():
            raise PermanentToolError("path names the workspace itself, not a file")
        if target.is_symlink():
            raise PathEscapeError(f"'{path}' is a symlink; refusing to replace it")
        if target.is_dir():
            raise PermanentToolError(f"'{path}' is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # keep the mode of the file being replaced; mkstemp would make it 0600
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            mode = NEW_FILE_MODE
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return {"path": path, "bytes_written": len(data)}

    @tool("file.append", side_effect="mutating")
    def append(path: WorkspacePath, content: str, encoding: str = "utf-8") -> FileWritten:
        """Append text to a file in the workspace (created if missing).

        Args:
            path: Path relative to the workspace; missing folders are created.
            content: Text to add at the end (include a trailing newline for line-based files).
            encoding: Text encoding to write with.
        """
        data = _encode(content, encoding)
        target = resolve_in_workspace(workspace(), path)
        if target.is_dir():
            raise PermanentToolError(f"'{path}' is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_nofollow(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return {"path": path, "bytes_written": len(data)}

    def _encode(content: str, encoding: str) -> bytes:
        try:
            data = content.encode(encoding)
        except LookupError:
            raise PermanentToolError(f"unknown encoding '{encoding}'") from None
        if len(data) > config.file_max_bytes:
            raise PermanentToolError(
                f"content is {len(data)} bytes; the limit is {config.file_max_bytes}"
            )
        return data

    return [read, write, append]
