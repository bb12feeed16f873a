"""The tool contract: what a step can call, how it describes itself, and what it returns."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from engine.clock import Clock, SystemClock

T = TypeVar("T")

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")


class SideEffect(StrEnum):
    """What calling a tool does to the world. Drives crash recovery and approvals."""

    NONE = "none"
    """Reads only; safe to call any number of times."""
    IDEMPOTENT = "idempotent"
    """Changes something, but calling it again with the same params changes nothing more."""
    MUTATING = "mutating"
    """Each call changes something (posts a message, appends, deploys)."""


class RiskLevel(StrEnum):
    """How bad a wrong call is; high-risk tools may require an approver."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Cost(BaseModel):
    """What one call cost: LLM tokens and money."""

    model_config = ConfigDict(frozen=True)

    tokens_in: int = Field(0, ge=0)
    tokens_out: int = Field(0, ge=0)
    usd: float = Field(0.0, ge=0)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            usd=self.usd + other.usd,
        )

    @property
    def is_zero(self) -> bool:
        return not (self.tokens_in or self.tokens_out or self.usd)


ZERO_COST = Cost()


class CostModel(BaseModel):
    """Estimated cost of a call when the tool does not report one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd_per_call: float = Field(0.0, ge=0)
    usd_per_second: float = Field(0.0, ge=0)

    def estimate(self, duration_s: float) -> Cost:
        """The cost of one call that took ``duration_s`` seconds."""
        return Cost(usd=self.usd_per_call + self.usd_per_second * duration_s)


class ToolSpec(BaseModel):
    """Everything known about a tool without calling it (indexed for search, shown to LLMs)."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    params_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    side_effect: SideEffect = SideEffect.NONE
    risk: RiskLevel = RiskLevel.LOW
    cost_model: CostModel | None = None
    max_concurrency: int | None = Field(None, ge=1)
    template_params: frozenset[str] = Field(
        default_factory=frozenset,
        description="Params the engine passes through unrendered (the tool renders them itself).",
    )


class ToolResult(BaseModel):
    """What a tool may return instead of a bare value, to report more than the output."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    output: Any = None
    confidence: float | None = Field(None, ge=0, le=1)
    issues: list[str] = Field(default_factory=list)
    cost: Cost | None = None


@dataclass(slots=True)
class ToolContext:
    """Passed to tools that ask for it: which run and step called, the clock, a thread pool."""

    run_id: str
    step_id: str
    attempt: int = 1
    item_index: int | None = None
    kind: str = "action"
    """``action``, ``fallback`` or ``compensation``."""
    clock: Clock = field(default_factory=SystemClock)
    thread_pool: Executor | None = None
    threads: list[concurrent.futures.Future[Any]] = field(default_factory=list)
    """Work handed to threads by :meth:`run_sync`; a thread cannot be stopped, so the executor
    keeps the call's concurrency slots until it really ends, even after a timeout."""

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this call, in this execution of the run and in any
        resumed one: hand it to services that deduplicate requests."""
        key = f"{self.run_id}:{self.step_id}"
        if self.item_index is not None:
            key += f"[{self.item_index}]"
        if self.kind != "action":
            key += f":{self.kind}"
        return key

    async def run_sync(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` in the executor's thread pool without blocking the event loop."""
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        if self.thread_pool is None:
            return await asyncio.get_running_loop().run_in_executor(None, call)
        work = self.thread_pool.submit(call)
        self.threads.append(work)
        return await asyncio.wrap_future(work)


@dataclass(frozen=True, slots=True)
class ParamIssue:
    """A problem with one param of a tool call, found before the call is made."""

    param: str
    code: str
    message: str
    hint: str | None = None


class Tool(ABC):
    """Something a step can call. Subclass it, or build one from a function with ``@tool``."""

    spec: ToolSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def check_params(
        self, params: Mapping[str, Any], templated: frozenset[str]
    ) -> list[ParamIssue]:
        """Problems with ``params`` as written in a blueprint.

        ``templated`` names the params whose values contain templates: they count as present
        but their values cannot be checked until they are rendered.
        """

    @abstractmethod
    def parse_params(self, params: Mapping[str, Any]) -> Any:
        """Validate rendered params; raise :class:`~engine.errors.ToolInputError` if they are bad.
        Returns whatever :meth:`invoke` expects."""

    @abstractmethod
    async def invoke(self, params: Any, ctx: ToolContext) -> Any:
        """Call the tool with params returned by :meth:`parse_params`.

        Return the output (JSON-like data or a pydantic model) or a :class:`ToolResult`. Raise
        :class:`~engine.errors.TransientToolError` for failures worth retrying.
        """

    def check_output(self, output: Any) -> str | None:
        """Why ``output`` does not fit the tool's output schema, or ``None`` if it does."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name} ({self.spec.side_effect})>"
