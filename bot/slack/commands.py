"""What a ``/kaizen`` command asks for: a request to plan, or one of the subcommands."""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CommandKind = Literal["plan", "run", "workflows", "history", "rollback", "help"]


class CommandError(ValueError):
    """A subcommand given wrongly; the message says how to write it."""


class KaizenCommand(BaseModel):
    """One parsed ``/kaizen`` command."""

    model_config = ConfigDict(frozen=True)

    kind: CommandKind
    request: str = ""
    """The request to plan (``plan``)."""
    workflow: str | None = None
    version: int | None = None
    inputs: dict[str, str] = Field(default_factory=dict)


USAGE = {
    "run": "/kaizen run <workflow> [key=value …]",
    "history": "/kaizen history <workflow>",
    "rollback": "/kaizen rollback <workflow> <version>",
}


def parse_command(text: str) -> KaizenCommand:
    """Parse the text after ``/kaizen``. Anything that is not a subcommand is a request to
    plan; an empty text asks for help."""
    text = text.strip()
    if not text:
        return KaizenCommand(kind="help")
    first, _, rest = text.partition(" ")
    word = first.lower()
    rest = rest.strip()
    if word in ("help", "-h", "--help", "?"):
        return KaizenCommand(kind="help")
    if word in ("workflows", "list") and not rest:
        return KaizenCommand(kind="workflows")
    if word == "history":
        return _history(rest)
    if word == "rollback":
        return _rollback(rest)
    if word == "run":
        return _run(text, rest)
    return KaizenCommand(kind="plan", request=text)


def _words(rest: str, usage: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise CommandError(f"{exc} — usage: `{usage}`") from None


def _history(rest: str) -> KaizenCommand:
    words = _words(rest, USAGE["history"])
    if len(words) != 1:
        raise CommandError(f"name one workflow — usage: `{USAGE['history']}`")
    return KaizenCommand(kind="history", workflow=words[0])


def _rollback(rest: str) -> KaizenCommand:
    words = _words(rest, USAGE["rollback"])
    if len(words) != 2:
        raise CommandError(f"name a workflow and a version — usage: `{USAGE['rollback']}`")
    workflow, number = words
    try:
        version = int(number.lstrip("v"))
    except ValueError:
        raise CommandError(
            f"'{number}' is not a version number — usage: `{USAGE['rollback']}`"
        ) from None
    if version < 1:
        raise CommandError(f"versions start at 1, got {version}")
    return KaizenCommand(kind="rollback", workflow=workflow, version=version)


def _run(text: str, rest: str) -> KaizenCommand:
    """``run <workflow> [key=value …]``; a sentence that merely starts with "run" ("run the
    tests on staging") is a request to plan."""
    try:
        words = shlex.split(rest)
    except ValueError:  # an apostrophe in a sentence: "run Bob's report"
        return KaizenCommand(kind="plan", request=text)
    if not words:
        raise CommandError(f"name the workflow to run — usage: `{USAGE['run']}`")
    workflow, *pairs = words
    if any("=" not in pair or pair.startswith("=") for pair in pairs):
        return KaizenCommand(kind="plan", request=text)
    inputs: dict[str, str] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in inputs:
            raise CommandError(f"input '{key}' is given twice")
        inputs[key] = value
    return KaizenCommand(kind="run", workflow=workflow, inputs=inputs)
