"""The errors of the history layer: what was not found, what conflicts, what is invalid.

Every error is a :class:`HistoryError`, so the bot can catch one class and show its message,
which is written for a person reading it in Slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.problems import Problem


class HistoryError(Exception):
    """Base class of every error raised on purpose by :mod:`knowledge.history`."""


class NotFoundError(HistoryError, LookupError):
    """A workflow, version, run, proposal, prompt or pattern does not exist."""


class ConflictError(HistoryError):
    """The request contradicts what is stored: a name already taken, an illegal proposal
    transition, a proposal whose base is no longer the newest version."""


class InvalidArgumentError(HistoryError, ValueError):
    """An argument is unusable: empty ``/improve`` text, a version number without a
    workflow, a naive datetime, a negative amount."""


class InvalidBlueprintError(HistoryError, ValueError):
    """A blueprint (given, or made by applying a patch) failed the engine's validation.

    ``problems`` lists every problem found, each with its location (``steps[2].tool``).
    """

    def __init__(self, problems: Sequence[Problem], what: str = "blueprint") -> None:
        self.problems: list[Problem] = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{what} is invalid ({len(self.problems)} problem(s)):\n{lines}")


class InvalidPatchError(HistoryError, ValueError):
    """A JSON Patch is malformed or one of its operations cannot be applied.

    ``index`` is the failing operation's position in the patch (``None`` when the patch as a
    whole is unusable), ``op`` and ``path`` are that operation's, ``reason`` says why.
    """

    def __init__(
        self,
        reason: str,
        *,
        index: int | None = None,
        op: str | None = None,
        path: str | None = None,
        operation: Any = None,
    ) -> None:
        self.reason = reason
        self.index = index
        self.op = op
        self.path = path
        self.operation = operation
        if index is None:
            where = "patch"
        else:
            what = " ".join(part for part in (op, path) if part is not None)
            where = f"patch[{index}]" + (f" ({what})" if what else "")
        super().__init__(f"{where}: {reason}")
