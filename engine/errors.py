"""Exceptions raised by the engine and by tools, and how failures are classified.

Every failure a step can have falls into one *error category*. Retry policies name the
categories (or exception class names) they retry; step records store both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.problems import Problem

#: Categories a retry policy may name. ``error`` matches every tool failure.
ERROR_CATEGORIES: frozenset[str] = frozenset(
    {"transient", "timeout", "error", "invalid_params", "template", "denied", "upstream"}
)
#: What a step retries when its policy does not say.
DEFAULT_RETRY_ON: tuple[str, ...] = ("transient", "timeout")


class KaizenError(Exception):
    """Base class of every error the engine raises on purpose."""


class BlueprintInvalidError(KaizenError):
    """A blueprint (or its inputs) failed validation; ``problems`` lists every issue found."""

    def __init__(self, problems: Sequence[Problem], what: str = "blueprint") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what} is invalid ({len(self.problems)} problem(s)):\n{lines}")


class ToolDefinitionError(KaizenError):
    """A Python function cannot be turned into a tool (missing type hints, bad name, …)."""


class UnknownToolError(KaizenError):
    """A registry lookup named a tool that is not registered."""


class ToolError(KaizenError):
    """A tool failed. Tools raise subclasses to say whether a retry can help."""

    category: str = "error"


class TransientToolError(ToolError):
    """A failure that may go away on retry (connection reset, 503, rate limit, lock held)."""

    category = "transient"


class PermanentToolError(ToolError):
    """A failure a retry will not fix (404, non-zero exit, bad data)."""

    category = "error"


class ToolTimeoutError(ToolError):
    """A tool gave up waiting on something (an HTTP server, a subprocess)."""

    category = "timeout"


class ToolInputError(ToolError):
    """The rendered params do not fit the tool's parameter schema."""

    category = "invalid_params"


class StepTimeoutError(KaizenError):
    """A step attempt ran longer than its ``timeout_s``."""

    category = "timeout"


class TemplateError(KaizenError):
    """A template failed to compile or render."""

    category = "template"


class TemplateUndefinedError(TemplateError):
    """A template referred to something that does not exist (a missing key, input or step)."""


class UnsafeTemplateError(TemplateError):
    """A template tried to reach Python internals; the sandbox refused it."""


class UpstreamOutputMissingError(TemplateError):
    """A template needs the output of a step that did not succeed (skipped or failed)."""

    category = "upstream"

    def __init__(self, step_id: str, status: str) -> None:
        self.step_id = step_id
        self.status = status
        super().__init__(f"needs the output of step '{step_id}', which {status_phrase(status)}")


class ApprovalDeniedError(KaizenError):
    """A human denied (or did not answer in time) an approval gate."""

    category = "denied"


class ApprovalError(KaizenError):
    """An approval decision could not be accepted (nothing pending, not an approver, …)."""


class RunCancelledError(KaizenError):
    """Raised inside a run when it is cancelled."""


def status_phrase(status: str) -> str:
    """A short phrase for a step status, for messages: ``'was skipped'``."""
    return {
        "skipped": "was skipped",
        "failed": "failed",
        "cancelled": "was cancelled",
        "pending": "has not run",
        "running": "is still running",
    }.get(status, f"ended as {status}")


def error_category(exc: BaseException) -> str:
    """Classify an exception into one of :data:`ERROR_CATEGORIES`."""
    category = getattr(exc, "category", None)
    if isinstance(category, str):
        return category
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError):
        return "transient"
    return "error"


def is_retryable(exc: BaseException, retry_on: Sequence[str]) -> bool:
    """Whether ``exc`` matches a retry policy's ``on`` list (categories or class names)."""
    category = error_category(exc)
    if (
        category in ("template", "upstream", "denied", "invalid_params")
        and category not in retry_on
    ):
        return False
    names = {cls.__name__ for cls in type(exc).__mro__}
    for entry in retry_on:
        if entry == category or entry in names:
            return True
        if entry == "error" and category not in ("template", "upstream", "denied"):
            return True
    return False


class EventSinkError(KaizenError):
    """The event sink could not record an event; the run stops rather than lose history."""


class RunAbandonedError(KaizenError):
    """Raised by an event sink: this process no longer owns the run (another one took it
    over). The run stops at once — the call about to start does not happen, nothing more is
    started, nothing is compensated — and leaves the rest to the new owner."""


def _exception_names() -> frozenset[str]:
    import builtins

    names = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    names |= {
        name
        for name, value in globals().items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    return frozenset(names)


#: Exception class names a retry policy may name besides categories (Python's and Kaizen's).
KNOWN_EXCEPTION_NAMES: frozenset[str] = _exception_names()
