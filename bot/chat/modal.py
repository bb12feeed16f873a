"""Filling in a modal at the prompt: each ``input`` block is asked for in turn, and the
answers become the ``view.state.values`` of the ``view_submission`` Slack would send.

- one-line text: type the value; an empty line keeps the value shown (the initial one);
- several lines (``multiline``): type the lines, then a line holding only ``.``; an empty
  first line keeps the text shown;
- a choice (``static_select``, ``radio_buttons``): type the number of an option;
- ``/cancel`` at any question closes the modal.

Slack's own client checks required fields and lengths before it submits; so does this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.chat.screen import Screen
from bot.slack.cards.text import plain

#: Ask one question, get the line typed (raises :class:`EndOfInput` at the end of input).
Ask = Callable[[str], Awaitable[str]]
END_OF_TEXT = "."
CANCEL = "/cancel"
TEXT_TYPES = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})
CHOICE_TYPES = frozenset({"static_select", "radio_buttons"})
#: State values: ``{block_id: {action_id: {"type": …, "value": …}}}``.
StateValues = dict[str, dict[str, dict[str, Any]]]


class EndOfInput(Exception):
    """The input ended (EOF) while a question was open."""


class Cancelled(Exception):
    """``/cancel`` was typed."""


@dataclass(frozen=True)
class Field:
    """One input of a modal."""

    block_id: str
    action_id: str
    kind: str
    label: str
    optional: bool
    element: dict[str, Any]
    options: list[dict[str, Any]] = field(default_factory=list)

    @property
    def multiline(self) -> bool:
        return bool(self.element.get("multiline"))

    def initial(self) -> Any:
        """The value the modal shows at first (text, or an option)."""
        if self.kind in CHOICE_TYPES:
            return self.element.get("initial_option")
        value = self.element.get("initial_value")
        return None if value is None else str(value)


def fields_of(view: dict[str, Any]) -> list[Field]:
    """The inputs of ``view``, in order."""
    found = []
    for index, block in enumerate(view.get("blocks") or []):
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element") or {}
        label = block.get("label") or {}
        found.append(
            Field(
                block_id=str(block.get("block_id") or f"input-{index}"),
                action_id=str(element.get("action_id") or f"input-{index}"),
                kind=str(element.get("type", "?")),
                label=plain(str(label.get("text", "") if isinstance(label, dict) else label)),
                optional=bool(block.get("optional")),
                element=element,
                options=list(element.get("options") or []),
            )
        )
    return found


def state_entry(field: Field, value: Any) -> dict[str, Any]:
    """How Slack reports one input's value in ``state.values``."""
    if field.kind in CHOICE_TYPES:
        return {"type": field.kind, "selected_option": value}
    if field.kind in TEXT_TYPES:
        return {"type": field.kind, "value": value}
    return {"type": field.kind}


class ModalForm:
    """Asks for a modal's inputs at the prompt."""

    def __init__(self, screen: Screen, ask: Ask) -> None:
        self.screen = screen
        self.ask = ask

    async def fill(
        self,
        view: dict[str, Any],
        *,
        previous: dict[tuple[str, str], Any] | None = None,
        errors: dict[str, str] | None = None,
    ) -> tuple[StateValues, dict[tuple[str, str], Any]]:
        """Ask every input of ``view``; the state values and the answers by (block, action).
        ``previous`` answers (a resubmission) are the defaults; ``errors`` (by block id) are
        shown with their input. Raises :class:`Cancelled` or :class:`EndOfInput`."""
        previous = previous or {}
        errors = errors or {}
        values: StateValues = {}
        answers: dict[tuple[str, str], Any] = {}
        for field_ in fields_of(view):
            key = (field_.block_id, field_.action_id)
            if field_.block_id in errors:
                self.screen.line(f"  ✗ {field_.label}: {plain(errors[field_.block_id])}")
            default = previous.get(key, field_.initial())
            value = await self._answer(field_, default)
            answers[key] = value
            values.setdefault(field_.block_id, {})[field_.action_id] = state_entry(field_, value)
        return values, answers

    async def _question(self, prompt: str) -> str:
        line = await self.ask(prompt)
        if line.strip() == CANCEL:
            raise Cancelled
        return line

    async def _answer(self, field_: Field, default: Any) -> Any:
        if field_.kind in CHOICE_TYPES:
            return await self._choice(field_, default)
        if field_.kind not in TEXT_TYPES:
            self.screen.line(f"  ({field_.label}: a {field_.kind} cannot be set here; left as is)")
            return None
        while True:
            value = await (
                self._lines(field_, default) if field_.multiline else self._line(field_, default)
            )
            problem = _check(field_, value)
            if problem is None:
                return value
            self.screen.line(f"  ✗ {problem}")

    async def _line(self, field_: Field, default: str | None) -> str | None:
        shown = f" [{default}]" if default else ""
        typed = await self._question(f"{field_.label}{shown}: ")
        return typed.strip() or default or None

    async def _lines(self, field_: Field, default: str | None) -> str | None:
        keep = "; an empty first line keeps the text shown above" if default else ""
        self.screen.line(f"{field_.label} — type the lines, then a line with only “.”{keep}:")
        first = await self._question("… ")
        if first == "":
            return default or None
        lines: list[str] = []
        line = first
        while line.strip() != END_OF_TEXT:
            lines.append(line)
            line = await self._question("… ")
        return "\n".join(lines) or None

    async def _choice(self, field_: Field, default: Any) -> Any:
        if not field_.options:
            self.screen.line(f"  ({field_.label}: no options to choose from)")
            return default
        shown = "  ".join(
            f"({n}) {plain(str((o.get('text') or {}).get('text', o.get('value'))))}"
            for n, o in enumerate(field_.options, start=1)
        )
        self.screen.line(f"{field_.label}: {shown}")
        while True:
            typed = (await self._question("choose a number: ")).strip()
            if not typed and (default is not None or field_.optional):
                return default
            if typed.isdigit() and 1 <= int(typed) <= len(field_.options):
                return field_.options[int(typed) - 1]
            self.screen.line(f"  ✗ type a number from 1 to {len(field_.options)}")


def _check(field_: Field, value: str | None) -> str | None:
    """What Slack's client would say before submitting, or ``None``."""
    element = field_.element
    if value is None:
        return None if field_.optional else f"{field_.label} is required"
    if field_.kind == "number_input":
        try:
            number = float(value) if element.get("is_decimal_allowed") else int(value)
        except ValueError:
            return f"{field_.label} must be a number"
        low, high = element.get("min_value"), element.get("max_value")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            return f"{field_.label} must be between {low} and {high}"
        return None
    low, high = element.get("min_length"), element.get("max_length")
    if low is not None and len(value) < int(low):
        return f"{field_.label} needs at least {low} characters"
    if high is not None and len(value) > int(high):
        return f"{field_.label} holds at most {high} characters (this has {len(value)})"
    return None
