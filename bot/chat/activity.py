"""When the app has gone quiet after a request, so the console prompts again only once
everything the request caused has been printed, in order.

Bolt acknowledges a request first and runs the listener after it, as a background task
(``process_before_response=False``). :class:`Activity` installs an event-loop task factory
that records every task created *directly by a dispatch* (:meth:`Activity.capture`): those are
exactly the listener tasks Bolt started for it. The app is quiet when:

- no captured listener task is still running — unless every run it may be waiting for is
  waiting for a person (an approval), and has been for ``human_settle_s``;
- no run is working (an active run is working unless it has a pending approval);
- the Web API has not been called for ``settle_s`` (what a listener or a run card started
  in the background, after it was done, gets printed too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Generator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from bot.chat.workspace import LocalWorkspace
from engine.approvals import ApprovalRequest


class RunMonitor(Protocol):
    """What the console asks about runs (the engine's executor answers)."""

    def active_runs(self) -> list[str]: ...

    def pending_approvals(self) -> list[ApprovalRequest]: ...


class Activity:
    """Knows whether the app is still busy with what the console asked."""

    def __init__(
        self,
        workspace: LocalWorkspace,
        runs: RunMonitor | None = None,
        *,
        settle_s: float = 0.05,
        human_settle_s: float = 0.3,
        poll_s: float = 0.01,
    ) -> None:
        self.workspace = workspace
        self.runs = runs
        self.settle_s = settle_s
        self.human_settle_s = human_settle_s
        self.poll_s = poll_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._capturing: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None

    # ------------------------------------------------------------------ capturing

    def install(self) -> None:
        """Start recording the tasks dispatches create (call inside the running loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._previous = loop.get_task_factory()
        loop.set_task_factory(self._factory)

    def uninstall(self) -> None:
        """Restore the loop's task factory."""
        if self._loop is not None:
            self._loop.set_task_factory(self._previous)
            self._loop = None

    def _factory(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        if self._previous is not None:
            task = self._previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        capturing = self._capturing
        if capturing is not None and asyncio.current_task(loop) is capturing:
            self._tasks.add(task)
        return task

    @contextmanager
    def capture(self) -> Iterator[None]:
        """Record the tasks the current task creates while the block runs (a dispatch)."""
        self._capturing = asyncio.current_task()
        try:
            yield
        finally:
            self._capturing = None

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count ``task`` as a listener task too."""
        self._tasks.add(task)

    # ------------------------------------------------------------------ deciding

    @property
    def listeners(self) -> list[asyncio.Task[Any]]:
        """The captured tasks still running."""
        self._tasks = {t for t in self._tasks if not t.done()}
        return list(self._tasks)

    def working_runs(self) -> list[str]:
        """Active runs not waiting for an approval."""
        if self.runs is None:
            return []
        waiting = {request.run_id for request in self.runs.pending_approvals()}
        return [run_id for run_id in self.runs.active_runs() if run_id not in waiting]

    def waiting_for_people(self) -> bool:
        """Whether some run waits for an approval and nothing else happened for a while."""
        if self.runs is None or not self.runs.pending_approvals():
            return False
        return self.since_last_call() >= self.human_settle_s

    def since_last_call(self) -> float:
        return time.monotonic() - self.workspace.last_call

    def quiet(self) -> bool:
        """Whether everything the console's requests started has settled (see the module)."""
        if self.working_runs():
            return False
        if self.listeners and not self.waiting_for_people():
            return False
        return self.since_last_call() >= self.settle_s

    async def until_quiet(
        self,
        *,
        tick: Callable[[], None] | None = None,
        patience_s: float | None = None,
    ) -> bool:
        """Wait until :meth:`quiet`, calling ``tick`` while waiting. False when ``patience_s``
        ran out first."""
        started = time.monotonic()
        while not self.quiet():
            if tick is not None:
                tick()
            if patience_s is not None and time.monotonic() - started >= patience_s:
                return False
            await asyncio.sleep(self.poll_s)
        if tick is not None:
            tick()
        return True
