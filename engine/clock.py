"""Time for the engine: a real clock, and a virtual one for tests that must not sleep."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Where the executor gets time from. Inject a :class:`VirtualClock` for deterministic tests."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; only differences are meaningful."""
        ...

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (retry backoff and the ``time.sleep`` tool use this)."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """A clock whose sleeps return at once and move virtual time forward.

    Every call to :meth:`sleep` is recorded in :attr:`sleeps`, so tests can assert the exact
    backoff schedule without waiting for it. Virtual time only moves forward; concurrent sleepers
    each advance it by their own duration.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._origin = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward without sleeping."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance by {seconds})")
        self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
