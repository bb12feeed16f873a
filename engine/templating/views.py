"""What templates see of a run: ``steps`` and each ``steps.<id>``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from engine.templating.undefined import NotProduced


class StepView:
    """What a template sees as ``steps.<id>``: ``output``, ``status``, ``error``, ``attempts``."""

    __slots__ = ("_output", "attempts", "duration_ms", "error", "id", "status")

    def __init__(
        self,
        step_id: str,
        status: str,
        output: Any = None,
        error: str | None = None,
        attempts: int = 0,
        duration_ms: float = 0.0,
    ) -> None:
        self.id = step_id
        self.status = status
        self._output = output
        self.error = error
        self.attempts = attempts
        self.duration_ms = duration_ms

    def settle(self, status: str, *, output: Any = None, error: str | None = None) -> None:
        """Record how the step ended (the executor calls this)."""
        self.status = status
        self._output = output
        self.error = error

    @property
    def output(self) -> Any:
        if self.status == "succeeded":
            return self._output
        return NotProduced(self.id, self.status)

    def __repr__(self) -> str:
        return f"<step {self.id}: {self.status}>"


STEP_VIEW_FIELDS = frozenset({"output", "status", "error", "attempts", "duration_ms", "id"})


class StepsView(Mapping[str, StepView]):
    """What a template sees as ``steps``: a read-only mapping of step id to :class:`StepView`."""

    __slots__ = ("_ids", "_lookup")

    def __init__(self, lookup: Callable[[str], StepView | None], ids: Sequence[str]) -> None:
        self._lookup = lookup
        self._ids = ids

    def __getitem__(self, key: str) -> StepView:
        view = self._lookup(key)
        if view is None:
            raise KeyError(key)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


# --------------------------------------------------------------------------------------------
# The sandboxed environment
# --------------------------------------------------------------------------------------------
