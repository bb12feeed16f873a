"""MCP servers as a tool source, through the official ``mcp`` Python SDK.

Each configured server gets one :class:`McpConnection`: one live client session (stdio or
streamable HTTP) held open on a dedicated background thread with its own asyncio event loop.
Calls are handed to that loop, so tools can be called from any event loop (the engine's) or from
plain threads, and nothing about the session (anyio task groups, the subprocess) is tied to the
caller's loop.

Every tool the server lists becomes a :class:`~engine.tools.schema.SchemaTool` named
``<server>.<tool>``::

    with connect_mcp_servers(sources.mcp_servers) as mcp:
        registry = base_registry.merged(mcp.registry())
        index.sync([*python_entries, *mcp.catalog_entries()])
        for name, error in mcp.errors.items():
            log.warning("%s", error)

How results come back: a tool's ``structuredContent`` when it sends one, else its text content
(JSON-decoded when it is JSON; a list when there are several contents). ``isError`` results raise
:class:`~engine.errors.PermanentToolError`, a call that does not answer in time raises
:class:`~engine.errors.ToolTimeoutError` and a lost connection raises
:class:`~engine.errors.TransientToolError` (the next call starts the server again, so a retry can
help). Values of the configured ``env`` and ``headers`` never appear in error messages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.abc
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession, McpError, StdioServerParameters
from mcp import types as mcp_types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage

from engine.errors import (
    KaizenError,
    PermanentToolError,
    ToolDefinitionError,
    ToolTimeoutError,
    TransientToolError,
)
from engine.tools.base import SideEffect, ToolContext, ToolSpec
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool, ToolCallable
from knowledge.search.catalog import CatalogEntry, entry_from_spec
from knowledge.sources.config import McpServerConfig

logger = logging.getLogger(__name__)

#: Extra wait, on top of the configured timeout, before the caller gives up on a start that the
#: session thread itself should already have given up on.
_START_GRACE_S = 5.0
#: How long :meth:`McpConnection.close` waits for the session thread (the SDK gives a stdio
#: server 2 s to exit after its stdin closes, then 2 s more after SIGTERM before SIGKILL).
_CLOSE_WAIT_S = 10.0
#: Lines of a stdio server's stderr kept to explain a failed start.
_STDERR_TAIL = 20
#: Secrets shorter than this are not redacted (they would mangle messages and hide nothing).
_MIN_SECRET_LEN = 4
_SEGMENT_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-]+")


class McpSourceError(KaizenError):
    """An MCP server could not be started, reached or initialized."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"MCP server '{server}': {reason}")


@dataclass(eq=False)
class _Link:
    """One session attempt: the thread, its loop and (once initialized) the session."""

    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set (from any thread, via the loop) to end the session gracefully."""
    ended: threading.Event = field(default_factory=threading.Event)
    """Set once the session is over, for whatever reason."""
    ended_async: asyncio.Event = field(default_factory=asyncio.Event)
    """Like ``ended``, for calls waiting in the session's loop."""
    thread: threading.Thread | None = None
    main_task: asyncio.Task[None] | None = None
    session: ClientSession | None = None
    lost: str | None = None
    """Why the session ended while it was still wanted."""
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_TAIL))
    stderr_reader: threading.Thread | None = None
    calls: set[concurrent.futures.Future[Any]] = field(default_factory=set)
    """Calls handed to the loop and not finished yet."""
    submit_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while handing a call to the loop, and while closing the loop."""


class McpConnection:
    """One live MCP client session to one configured server.

    :meth:`start` connects, initializes and lists the tools; :meth:`tools` returns them as
    Kaizen tools; :meth:`call` (async, any event loop) and :meth:`call_sync` call one;
    :meth:`close` ends the session and the server process. Also a context manager (``with
    McpConnection(config) as conn:`` starts and closes it).
    """

    def __init__(self, config: McpServerConfig, *, start_timeout_s: float | None = None) -> None:
        self.config = config
        self.start_timeout_s = config.timeout_s if start_timeout_s is None else start_timeout_s
        """Longest wait for the server to start and list its tools (default: ``timeout_s``)."""
        self.skipped: dict[str, str] = {}
        """MCP tools that could not be turned into Kaizen tools, with the reason."""
        self._lock = threading.RLock()
        self._link: _Link | None = None
        self._closed = False
        self._mcp_tools: list[mcp_types.Tool] = []
        self._tools: list[SchemaTool] = []
        self._mcp_names: dict[str, str] = {}
        self._secrets = _secrets_of(config)

    # ------------------------------------------------------------------ lifecycle

    @property
    def name(self) -> str:
        """The server's configured name (the prefix of its tools' names)."""
        return self.config.name

    @property
    def source(self) -> str:
        """The catalog source of this server's tools: ``mcp:<name>``."""
        return f"mcp:{self.config.name}"

    @property
    def connected(self) -> bool:
        """Whether a session is open right now."""
        link = self._link
        return link is not None and link.session is not None and not link.ended.is_set()

    def start(self) -> McpConnection:
        """Start (or reach) the server, initialize the session and list its tools.

        Raises :class:`McpSourceError` naming the server and the cause when the command cannot
        start, the URL cannot be reached or the server does not initialize within
        ``start_timeout_s`` (by default the configured ``timeout_s``).
        """
        with self._lock:
            if self._closed:
                raise McpSourceError(self.name, "the connection was closed")
            if self._link is not None:
                return self
            link, tools = self._connect()
            self._link = link
            self._mcp_tools = tools
            self._tools = self._make_tools(tools)
        return self

    def close(self) -> None:
        """End the session and stop the server process; waits for the session thread."""
        with self._lock:
            self._closed = True
            link, self._link = self._link, None
        if link is not None:
            self._shutdown(link)

    def __enter__(self) -> McpConnection:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ tools

    def tools(self) -> list[SchemaTool]:
        """The server's tools as Kaizen tools named ``<server>.<tool>`` (after :meth:`start`)."""
        return list(self._tools)

    def mcp_tools(self) -> list[mcp_types.Tool]:
        """The tools exactly as the server listed them."""
        return list(self._mcp_tools)

    def registry(self) -> ToolRegistry:
        """A registry holding this server's tools."""
        return ToolRegistry(self._tools)

    def catalog_entries(self) -> list[CatalogEntry]:
        """This server's tools as catalog entries (source ``mcp:<name>``)."""
        return [entry_from_spec(tool.spec, self.source) for tool in self._tools]

    async def call(
        self, name: str, arguments: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> Any:
        """Call a tool (its MCP name or its Kaizen name) from any event loop.

        ``timeout_s`` defaults to the configured ``timeout_s``. Returns the structured content,
        else the (JSON-decoded) text content. Raises :class:`PermanentToolError` when the tool
        reports an error, :class:`ToolTimeoutError` when it does not answer in time and
        :class:`TransientToolError` when the connection is lost (the next call reconnects).
        """
        link = self._live_link()
        if link.ended.is_set():
            link = await asyncio.to_thread(self._reconnect, link)
        future = self._submit(link, name, arguments, timeout_s)
        return await asyncio.wrap_future(future)

    def call_sync(
        self, name: str, arguments: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> Any:
        """:meth:`call` for code without an event loop (blocks the calling thread)."""
        link = self._live_link()
        if link.ended.is_set():
            link = self._reconnect(link)
        return self._submit(link, name, arguments, timeout_s).result()

    # ------------------------------------------------------------------ internals: calls

    def _live_link(self) -> _Link:
        link = self._link
        if link is None:
            state = "was closed" if self._closed else "was not started"
            raise PermanentToolError(f"the connection to MCP server '{self.name}' {state}")
        return link

    def _reconnect(self, old: _Link) -> _Link:
        """Replace a lost session with a new one (once, however many callers noticed)."""
        with self._lock:
            if self._closed or self._link is None:
                raise PermanentToolError(f"the connection to MCP server '{self.name}' was closed")
            if self._link is not old:
                return self._link
            self._shutdown(old)
            try:
                link, tools = self._connect()
            except McpSourceError as exc:
                raise TransientToolError(
                    f"the connection to MCP server '{self.name}' was lost and could not be opened "
                    f"again: {exc.reason}"
                ) from None
            logger.info("MCP server '%s': reconnected after the connection was lost", self.name)
            self._link = link
            self._mcp_tools = tools
            return link

    def _submit(
        self,
        link: _Link,
        name: str,
        arguments: dict[str, Any] | None,
        timeout_s: float | None,
    ) -> concurrent.futures.Future[Any]:
        mcp_name = self._mcp_names.get(name, name)
        wait = self.config.timeout_s if timeout_s is None else timeout_s
        coro = self._call_in_loop(link, mcp_name, dict(arguments or {}), wait)
        with link.submit_lock:
            try:
                future = asyncio.run_coroutine_threadsafe(coro, link.loop)
            except RuntimeError:  # the loop is closed: the session is gone
                coro.close()
                raise TransientToolError(
                    f"the connection to MCP server '{self.name}' is closed"
                ) from None
            link.calls.add(future)
            future.add_done_callback(link.calls.discard)
        return future

    async def _call_in_loop(
        self, link: _Link, mcp_name: str, arguments: dict[str, Any], wait_s: float
    ) -> Any:
        """Runs in the session's loop."""
        label = f"{self.name}.{mcp_name}"
        session = link.session
        if session is None or link.ended_async.is_set():
            raise TransientToolError(self._lost_message(link, label))
        request = asyncio.ensure_future(
            session.call_tool(
                mcp_name, arguments, read_timeout_seconds=timedelta(seconds=wait_s + 1)
            )
        )
        ended = asyncio.ensure_future(link.ended_async.wait())
        try:
            done, _ = await asyncio.wait(
                {request, ended}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            if not request.done():
                request.cancel()
                with contextlib.suppress(BaseException):
                    await request
        if request in done:
            try:
                result = request.result()
            except Exception as exc:
                raise self._call_error(exc, label, wait_s, link) from None
            return self._output_of(result, label)
        if ended in done:
            raise TransientToolError(self._lost_message(link, label))
        raise ToolTimeoutError(f"MCP tool '{label}' did not answer within {wait_s:g}s")

    def _lost_message(self, link: _Link, label: str) -> str:
        why = f": {link.lost}" if link.lost else ""
        return self._redact(f"MCP tool '{label}': the connection to the server was lost{why}")

    def _call_error(self, exc: Exception, label: str, wait_s: float, link: _Link) -> Exception:
        """The Kaizen error for a failed call. Errors that mean the session is gone also end the
        session, so the next call opens a new one."""
        if isinstance(exc, McpError):
            code, message = exc.error.code, exc.error.message
            if code == httpx.codes.REQUEST_TIMEOUT:
                return ToolTimeoutError(f"MCP tool '{label}' did not answer within {wait_s:g}s")
            if code == mcp_types.CONNECTION_CLOSED or "session terminated" in message.lower():
                return self._session_gone(link, label, f"the server ended the session ({message})")
            return PermanentToolError(self._redact(f"MCP tool '{label}' failed: {message}"))
        if isinstance(
            exc,
            anyio.ClosedResourceError
            | anyio.BrokenResourceError
            | anyio.EndOfStream
            | httpx.TransportError
            | ConnectionError,
        ):
            return self._session_gone(link, label, f"the connection failed ({_describe(exc)})")
        return PermanentToolError(self._redact(f"MCP tool '{label}' failed: {_describe(exc)}"))

    def _session_gone(self, link: _Link, label: str, reason: str) -> TransientToolError:
        """Runs in the session's loop: mark the session lost and end it."""
        if not link.stop.is_set():
            link.lost = reason
            logger.warning("MCP server '%s': connection lost: %s", self.name, reason)
            link.stop.set()
        return TransientToolError(self._redact(f"MCP tool '{label}': {reason}"))

    def _output_of(self, result: mcp_types.CallToolResult, label: str) -> Any:
        if result.isError:
            text = "\n".join(
                block.text for block in result.content if isinstance(block, mcp_types.TextContent)
            )
            raise PermanentToolError(
                self._redact(f"MCP tool '{label}' failed: {text or 'the server reported an error'}")
            )
        if result.structuredContent is not None:
            return result.structuredContent
        outputs = [_content_value(block) for block in result.content]
        if not outputs:
            return None
        return outputs[0] if len(outputs) == 1 else outputs

    # ------------------------------------------------------------------ internals: tools

    def _make_tools(self, listed: list[mcp_types.Tool]) -> list[SchemaTool]:
        tools: list[SchemaTool] = []
        names: dict[str, str] = {}
        self.skipped = {}
        for item in listed:
            name = _unique(_tool_name(self.name, item.name), names)
            spec = ToolSpec(
                name=name,
                description=item.description or item.title or "",
                params_schema=item.inputSchema or {"type": "object"},
                output_schema=item.outputSchema,
                side_effect=_side_effect(item.annotations, self.config.side_effect),
                risk=self.config.risk,
            )
            try:
                tools.append(SchemaTool(spec, self._tool_callable(item.name)))
            except ToolDefinitionError as exc:
                self.skipped[item.name] = str(exc)
                logger.warning("MCP server '%s': skipping tool '%s': %s", self.name, item.name, exc)
                continue
            names[name] = item.name
        self._mcp_names = names
        return tools

    def _tool_callable(self, mcp_name: str) -> ToolCallable:
        async def call(params: dict[str, Any], ctx: ToolContext) -> Any:
            return await self.call(mcp_name, params)

        return call

    # ------------------------------------------------------------------ internals: session

    def _connect(self) -> tuple[_Link, list[mcp_types.Tool]]:
        """Open a session on a new thread; returns once its tools are listed (or raises)."""
        loop = asyncio.new_event_loop()
        link = _Link(loop)
        ready: concurrent.futures.Future[list[mcp_types.Tool]] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._thread_main,
            args=(link, ready),
            name=f"kaizen-mcp-{self.name}",
            daemon=True,
        )
        link.thread = thread
        thread.start()
        try:
            tools = ready.result(timeout=self.start_timeout_s + _START_GRACE_S)
        except concurrent.futures.TimeoutError:
            self._shutdown(link)
            raise McpSourceError(
                self.name, f"did not finish starting within {self.start_timeout_s:g}s"
            ) from None
        except McpSourceError:
            self._shutdown(link)
            raise
        return link, tools

    def _thread_main(
        self, link: _Link, ready: concurrent.futures.Future[list[mcp_types.Tool]]
    ) -> None:
        loop = link.loop
        asyncio.set_event_loop(loop)
        try:
            link.main_task = loop.create_task(self._session_main(link, ready))
            loop.run_until_complete(link.main_task)
        except BaseException as exc:  # cancelled from outside, or a bug: never leave ready open
            if not ready.done():
                ready.set_exception(McpSourceError(self.name, self._redact(_describe(exc))))
        finally:
            link.ended.set()
            try:
                _finish_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                with link.submit_lock:
                    loop.close()
                    stranded = [f for f in link.calls if not f.done()]
                for future in stranded:  # submitted, but the loop never ran them
                    with contextlib.suppress(concurrent.futures.InvalidStateError):
                        future.set_exception(
                            TransientToolError(f"the connection to MCP server '{self.name}' ended")
                        )

    async def _session_main(
        self, link: _Link, ready: concurrent.futures.Future[list[mcp_types.Tool]]
    ) -> None:
        timeout = self.start_timeout_s
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._open_transport(stack, link)
                relay = await stack.enter_async_context(anyio.create_task_group())
                stack.callback(relay.cancel_scope.cancel)  # runs before the group is awaited
                incoming = await relay.start(self._relay, read, link)
                session = await stack.enter_async_context(ClientSession(incoming, write))
                with anyio.fail_after(timeout):
                    await session.initialize()
                    tools = await _list_all_tools(session)
                link.session = session
                ready.set_result(tools)
                await link.stop.wait()
        except BaseException as exc:
            reason = self._failure_reason(exc, link)
            if not ready.done():
                ready.set_exception(McpSourceError(self.name, reason))
            elif not link.stop.is_set():
                link.lost = reason
                logger.warning("MCP server '%s': connection lost: %s", self.name, reason)
            if isinstance(exc, asyncio.CancelledError) and not link.stop.is_set():
                raise
        finally:
            link.ended_async.set()
            link.ended.set()

    async def _relay(
        self,
        read: MemoryObjectReceiveStream[SessionMessage | Exception],
        link: _Link,
        *,
        task_status: anyio.abc.TaskStatus[MemoryObjectReceiveStream[SessionMessage | Exception]],
    ) -> None:
        """Pass the transport's messages on to the session, and notice when they end: the
        server exited or closed the connection, so the session is over (the next call opens a
        new one)."""
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        task_status.started(receive)
        async with send, read:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                async for message in read:
                    await send.send(message)
        if not link.stop.is_set():
            if link.session is not None:
                link.lost = "the server closed the connection"
                logger.warning("MCP server '%s': connection lost: %s", self.name, link.lost)
            link.stop.set()

    async def _open_transport(
        self, stack: contextlib.AsyncExitStack, link: _Link
    ) -> tuple[
        MemoryObjectReceiveStream[SessionMessage | Exception],
        MemoryObjectSendStream[SessionMessage],
    ]:
        config = self.config
        if config.command is not None:
            params = StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env=dict(config.env) or None,
                cwd=config.cwd,
            )
            errlog = self._stderr_pipe(link)
            try:
                read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
            finally:
                errlog.close()  # the server holds its own copy
            return read, write
        assert config.url is not None  # guaranteed by McpServerConfig
        client = create_mcp_http_client(
            headers=dict(config.headers) or None,
            timeout=httpx.Timeout(
                max(config.timeout_s, self.start_timeout_s),
                read=max(300.0, 2 * config.timeout_s),
            ),
        )
        await stack.enter_async_context(client)
        read, write, _ = await stack.enter_async_context(
            streamable_http_client(config.url, http_client=client)
        )
        return read, write

    def _stderr_pipe(self, link: _Link) -> TextIO:
        """A pipe for the server's stderr: each line is logged (debug) and the last few kept."""
        read_fd, write_fd = os.pipe()
        reader = os.fdopen(read_fd, "r", encoding="utf-8", errors="replace")

        def pump() -> None:
            with reader:
                for line in reader:
                    text = self._redact(line.rstrip())
                    if text:
                        link.stderr_tail.append(text)
                        logger.debug("MCP server '%s' stderr: %s", self.name, text)

        link.stderr_reader = threading.Thread(
            target=pump, name=f"kaizen-mcp-{self.name}-stderr", daemon=True
        )
        link.stderr_reader.start()
        return os.fdopen(write_fd, "w")

    def _failure_reason(self, exc: BaseException, link: _Link) -> str:
        config = self.config
        cause = _root_cause(exc)
        if isinstance(cause, FileNotFoundError) and config.command is not None:
            reason = f"cannot start: command '{config.command}' was not found"
            if config.cwd is not None and not os.path.isdir(config.cwd):
                reason = f"cannot start: working directory '{config.cwd}' does not exist"
        elif isinstance(cause, PermissionError) and config.command is not None:
            reason = f"cannot start: command '{config.command}' is not executable"
        elif isinstance(cause, TimeoutError) and link.session is None:
            reason = f"did not answer 'initialize' within {self.start_timeout_s:g}s"
        elif isinstance(cause, OSError) and config.command is not None and link.session is None:
            reason = f"cannot start command '{config.command}': {_describe(cause)}"
        elif isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            reason = f"cannot connect to {_safe_url(config.url)} ({_describe(cause)})"
        elif isinstance(cause, httpx.HTTPStatusError):
            reason = (
                f"{_safe_url(config.url)} answered HTTP {cause.response.status_code} "
                f"{cause.response.reason_phrase}"
            )
        elif isinstance(cause, McpError) and cause.error.code == mcp_types.CONNECTION_CLOSED:
            reason = "the server closed the connection"
            if link.session is None and config.command is not None:
                reason = "the server exited before it initialized"
        elif isinstance(cause, asyncio.CancelledError):
            reason = "the session was cancelled"
        else:
            reason = _describe(cause)
        if config.command is not None and link.session is None:
            if link.stderr_reader is not None:
                link.stderr_reader.join(timeout=0.5)  # let the last lines arrive
            tail = list(link.stderr_tail)[-5:]
            if tail:
                reason += "; its stderr ended with: " + " | ".join(tail)
        return self._redact(reason)

    def _shutdown(self, link: _Link) -> None:
        """End one session: ask it to stop, wait, cancel it if it does not, join the thread."""

        def stop() -> None:
            link.stop.set()
            if link.session is None and link.main_task is not None:
                link.main_task.cancel()  # still starting: nothing to wait for

        with contextlib.suppress(RuntimeError):  # the loop is already closed
            link.loop.call_soon_threadsafe(stop)
        thread = link.thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout=_CLOSE_WAIT_S)
        if thread.is_alive() and link.main_task is not None:
            with contextlib.suppress(RuntimeError):
                link.loop.call_soon_threadsafe(link.main_task.cancel)
            thread.join(timeout=_CLOSE_WAIT_S)
        if thread.is_alive():
            logger.warning("MCP server '%s': the session thread did not stop", self.name)
        if link.stderr_reader is not None:
            link.stderr_reader.join(timeout=1.0)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class McpTools:
    """The tools of every MCP server that started, and why the others did not."""

    def __init__(
        self,
        connections: Iterable[McpConnection] = (),
        errors: dict[str, McpSourceError] | None = None,
    ) -> None:
        self.connections: dict[str, McpConnection] = {c.name: c for c in connections}
        self.errors: dict[str, McpSourceError] = dict(errors or {})
        """Servers that failed to start: name → error (its message names server and cause)."""

    def tools(self) -> list[SchemaTool]:
        """Every connected server's tools."""
        return [tool for conn in self.connections.values() for tool in conn.tools()]

    def registry(self) -> ToolRegistry:
        """A registry of every connected server's tools."""
        return ToolRegistry(self.tools())

    def catalog_entries(self) -> list[CatalogEntry]:
        """Every connected server's tools as catalog entries (source ``mcp:<server>``)."""
        return [entry for conn in self.connections.values() for entry in conn.catalog_entries()]

    def close(self) -> None:
        """Close every connection (in parallel: each may wait for its server to exit)."""
        connections = list(self.connections.values())
        if not connections:
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(connections)) as pool:
            for future in [pool.submit(conn.close) for conn in connections]:
                future.result()

    def __enter__(self) -> McpTools:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect_mcp_servers(
    configs: Iterable[McpServerConfig], *, start_timeout_s: float | None = None
) -> McpTools:
    """Start every enabled server (in parallel). A server that fails is reported in
    :attr:`McpTools.errors` (and logged); it does not stop the others. ``start_timeout_s``
    overrides each server's ``timeout_s`` as the longest wait for it to start."""
    wanted = [config for config in configs if config.enabled]
    connections: list[McpConnection] = []
    errors: dict[str, McpSourceError] = {}
    if not wanted:
        return McpTools()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        started = [
            (config, pool.submit(McpConnection(config, start_timeout_s=start_timeout_s).start))
            for config in wanted
        ]
        for config, future in started:
            try:
                connections.append(future.result())
            except McpSourceError as exc:
                errors[config.name] = exc
                logger.warning("%s", exc)
    return McpTools(connections, errors)


# ---------------------------------------------------------------------- helpers


def _finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Let the calls still running in ``loop`` end (the session is over, so they fail fast with
    a clear error); cancel whatever is left after a while."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    loop.run_until_complete(asyncio.wait(pending, timeout=_CLOSE_WAIT_S / 2))
    left = [task for task in pending if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))


async def _list_all_tools(session: ClientSession) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    while True:
        if cursor is None:
            page = await session.list_tools()
        else:
            page = await session.list_tools(params=mcp_types.PaginatedRequestParams(cursor=cursor))
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return tools


def _tool_name(server: str, mcp_name: str) -> str:
    """``<server>.<mcp name>`` with characters a tool name may not hold replaced by ``_``."""
    segments = [_SEGMENT_BAD_CHARS.sub("_", part) for part in mcp_name.split(".")]
    kept = [segment for segment in segments if segment.strip("_")]
    return ".".join([server, *kept]) if kept else f"{server}.tool"


def _unique(name: str, taken: dict[str, str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _side_effect(annotations: mcp_types.ToolAnnotations | None, default: SideEffect) -> SideEffect:
    """readOnlyHint → none, idempotentHint → idempotent, destructiveHint → mutating; a tool
    that says nothing gets the server's configured default."""
    if annotations is None:
        return default
    if annotations.readOnlyHint:
        return SideEffect.NONE
    if annotations.idempotentHint:
        return SideEffect.IDEMPOTENT
    if annotations.destructiveHint:
        return SideEffect.MUTATING
    return default


def _content_value(block: mcp_types.ContentBlock) -> Any:
    if isinstance(block, mcp_types.TextContent):
        try:
            return json.loads(block.text)
        except ValueError:
            return block.text
    return block.model_dump(mode="json", by_alias=True, exclude_none=True)


def _root_cause(exc: BaseException) -> BaseException:
    """The most telling exception inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_root_cause(inner) for inner in exc.exceptions]
        telling = [e for e in leaves if not isinstance(e, asyncio.CancelledError)]
        return (telling or leaves or [exc])[0]
    return exc


def _describe(exc: BaseException) -> str:
    cause = _root_cause(exc)
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def _safe_url(url: str | None) -> str:
    """The URL without credentials, query or fragment (they may hold secrets)."""
    if not url:
        return "''"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _secrets_of(config: McpServerConfig) -> list[str]:
    """Values that must not appear in messages: env and header values (and their words, so a
    ``Bearer <token>`` header's token is caught on its own), longest first."""
    found: set[str] = set()
    for value in [*config.env.values(), *config.headers.values()]:
        found.add(value)
        found.update(value.split())
    return sorted((s for s in found if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True)
