"""One writer thread per database: group commit for the events of every run.

Async code hands the writer small write operations. The writer takes every operation waiting
in its queue, runs them in ONE transaction and commits, then tells each waiter. While a commit
is in progress (an fsync on SQLite), new operations pile up and go into the next transaction,
so many parallel steps share one commit, and a chain of steps pays one commit per step.

An operation is either *durable* (its ``await`` returns only after the transaction that holds
it is committed) or *deferred* (queued; committed with the next transaction, in order). A
deferred operation that fails makes the next durable one fail, so nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

#: A write: runs inside the writer's transaction, on the writer's connection.
WriteOp = Callable[[Connection], Any]

#: At most this many operations share one transaction.
MAX_BATCH = 512


class WriterClosedError(RuntimeError):
    """The writer was closed; nothing more can be written through it."""


@dataclass(slots=True)
class _Pending:
    op: WriteOp
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None


_STOP = object()


class StoreWriter:
    """A thread that owns one connection and commits queued writes in batches."""

    def __init__(self, engine: Engine, *, name: str = "kaizen-store-writer") -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._closed = False
        self._deferred_error: BaseException | None = None
        self._lock = threading.Lock()
        self.commits = 0
        self.operations = 0
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- submitting

    async def write(self, op: WriteOp) -> Any:
        """Run ``op`` in the writer's next transaction; returns once it is committed (with
        ``op``'s result). Raises what ``op`` raised, or an earlier deferred failure."""
        self._check_open()
        self._raise_deferred()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Pending(op, loop, future))
        return await asyncio.shield(future)

    def defer(self, op: WriteOp) -> None:
        """Queue ``op`` for the next transaction without waiting for its commit."""
        self._check_open()
        self._queue.put(_Pending(op, None, None))

    def write_sync(self, op: WriteOp, timeout_s: float | None = 60.0) -> Any:
        """:meth:`write` for code outside an event loop."""
        self._check_open()
        self._raise_deferred()
        done = threading.Event()
        box: dict[str, Any] = {}

        self._queue.put((_Pending(op, None, None), _SyncResult(done, box)))
        if not done.wait(timeout_s):
            raise TimeoutError(f"the store writer did not commit within {timeout_s}s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosedError("the store writer is closed")

    def _raise_deferred(self) -> None:
        error = self._deferred_error
        if error is not None:
            self._deferred_error = None
            raise RuntimeError(f"an earlier deferred write failed: {error}") from error

    # ---------------------------------------------------------------- the thread

    def _loop(self) -> None:
        try:
            self._serve()
        finally:
            self._drop_connection()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Any] = []
            first = self._queue.get()
            if first is _STOP:
                break
            batch.append(first)
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[Any]) -> None:
        try:
            results = self._run_batch(batch)
        except BaseException:  # one bad operation: find it, commit the others one by one
            for item in batch:
                try:
                    (result,) = self._run_batch([item])
                except BaseException as exc:
                    self._settle(item, error=exc)
                else:
                    self._settle(item, value=result)
            return
        for item, result in zip(batch, results, strict=True):
            self._settle(item, value=result)

    def _run_batch(self, batch: list[Any]) -> list[Any]:
        results: list[Any] = []
        connection = self._connection()
        try:
            with connection.begin():
                for item in batch:
                    pending = item[0] if isinstance(item, tuple) else item
                    results.append(pending.op(connection))
        except BaseException:
            if connection.invalidated or connection.closed:  # lost: open a new one next time
                self._drop_connection()
            raise
        self.commits += 1
        self.operations += len(batch)
        return results

    def _connection(self) -> Connection:
        """The writer's own connection, kept open between batches (no pool round trip)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken
                log.debug("closing a broken store connection failed", exc_info=True)
            self._conn = None

    def _settle(self, item: Any, *, value: Any = None, error: BaseException | None = None) -> None:
        if isinstance(item, tuple):
            _, sync = item
            if error is not None:
                sync.box["error"] = error
            else:
                sync.box["value"] = value
            sync.done.set()
            return
        pending: _Pending = item
        if pending.future is None or pending.loop is None:
            if error is not None:
                log.error("deferred store write failed: %s", error)
                self._deferred_error = error
            return
        future = pending.future
        try:
            if error is not None:
                pending.loop.call_soon_threadsafe(_set_exception, future, error)
            else:
                pending.loop.call_soon_threadsafe(_set_result, future, value)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


@dataclass(slots=True)
class _SyncResult:
    done: threading.Event
    box: dict[str, Any]


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
