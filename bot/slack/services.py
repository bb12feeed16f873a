"""What the Slack app works with: the store, the tool catalog, the planner and a durable runner
whose events keep run cards live. Opened once per process by :func:`open_services`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.planning import ToolCatalog, make_planner, open_tool_catalog
from bot.settings import Settings
from bot.slack.live_runs import LiveRunCards
from bot.store import make_runner
from engine.approvals import ApproverCheck
from engine.blueprint import Blueprint
from knowledge.durable.runner import DurableRunner
from knowledge.history.exemplars import AcceptedHow
from knowledge.history.views import ExemplarInfo, VersionInfo
from knowledge.planner.memory import accept_plan
from knowledge.planner.planner import Planner
from knowledge.planner.result import PlanResult
from knowledge.store import Database, open_database

T = TypeVar("T")


@dataclass
class Services:
    """The parts of Kaizen the Slack handlers use. Blocking work (database, planning) goes
    through :meth:`blocking` so the event loop stays free to acknowledge Slack at once."""

    settings: Settings
    db: Database
    catalog: ToolCatalog
    planner: Planner
    runner: DurableRunner
    live: LiveRunCards
    _planning: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` in a worker thread."""
        return await asyncio.to_thread(function, *args, **kwargs)

    async def plan(self, request: str) -> PlanResult:
        """Plan ``request`` in a worker thread (one plan at a time: the planner's indexes are
        not shared between threads)."""
        async with self._planning:
            return await asyncio.to_thread(self.planner.plan, request)

    async def accept(
        self, request: str, blueprint: Blueprint, *, how: AcceptedHow, by: str
    ) -> tuple[VersionInfo, ExemplarInfo]:
        """Store an accepted plan as a workflow version and an exemplar (see
        :func:`~knowledge.planner.memory.accept_plan`), and add it to the running planner's
        memory: the next request already plans with it, no restart needed."""
        version, exemplar = await self.in_session(
            accept_plan, request, blueprint, how=how, by=by, registry=self.catalog.registry
        )
        async with self._planning:
            await asyncio.to_thread(self.planner.remember, exemplar)
        return version, exemplar

    def with_session(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``function(session, *args, **kwargs)`` in a committed transaction."""
        with self.db.session() as session:
            return function(session, *args, **kwargs)

    async def in_session(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """:meth:`with_session` in a worker thread."""
        return await asyncio.to_thread(self.with_session, function, *args, **kwargs)


@asynccontextmanager
async def open_services(
    settings: Settings,
    live: LiveRunCards,
    *,
    db: Database | None = None,
    catalog: ToolCatalog | None = None,
    approver_check: ApproverCheck | None = None,
) -> AsyncIterator[Services]:
    """Open the store, the tool catalog (unless given), the planner and the runner (its events
    go to ``live``; ``approver_check`` says who counts as an approver — the Slack side resolves
    user groups); close them all when the block ends. Call inside the event loop the app
    serves on."""
    async with AsyncExitStack() as stack:
        if db is None:
            db = await asyncio.to_thread(open_database, settings.database)
            stack.callback(db.dispose)
        if catalog is None:
            catalog = stack.enter_context(open_tool_catalog(settings))
        planner = await asyncio.to_thread(make_planner, settings, catalog, db)
        options = {"approver_check": approver_check} if approver_check is not None else {}
        runner = make_runner(settings, db, catalog.registry, sink=live, **options)
        stack.push_async_callback(runner.close)
        yield Services(
            settings=settings,
            db=db,
            catalog=catalog,
            planner=planner,
            runner=runner,
            live=live,
        )
