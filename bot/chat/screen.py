"""What the console prints: the app's messages and views as text (``render_text``, the same
rendering the cards module gives the terminal), with their buttons numbered session-wide.

Buttons keep their number for the whole session, so an older card's button can still be
pressed; a button seen again (a card printed again) keeps the number it had.

:class:`Feed` collects the workspace's changes and prints them when asked (the console asks
once the app has gone quiet): a message changed many times — a live run card — is printed
once, as it is at the end, and marked "updated" if it was printed before.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from bot.chat.activity import RunMonitor
from bot.chat.workspace import Change, LocalWorkspace
from bot.slack.cards.run_card import RunProgress, step_line
from bot.slack.cards.text import Button, plain, render_text

THREAD_TITLE_MAX = 40
_MENTION = re.compile(r"<([@#])([A-Z][A-Z0-9_]+)>")


@dataclass(frozen=True)
class Clickable:
    """A button on the screen: where it is, and the element as the app sent it."""

    number: int
    label: str
    action_id: str
    value: str
    block_id: str
    element: dict[str, Any]
    channel: str | None = None
    ts: str | None = None
    view_id: str | None = None
    ephemeral: bool = False

    @property
    def where(self) -> tuple[str, str] | None:
        """(channel, ts) of the message it is on; ``None`` on a view."""
        return (self.channel, self.ts) if self.channel and self.ts else None


def button_elements(blocks: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(block id, element) of every button, in the order ``render_text`` numbers them."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "section":
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                yield block_id, accessory
        elif block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("type") == "button":
                    yield block_id, element


def renumber(text: str, buttons: list[Button], numbers: list[int]) -> str:
    """``text`` with each ``[k] label`` (k counted from 1, in order) shown as its session-wide
    number instead."""
    parts: list[str] = []
    pos = 0
    for local, ((label, _, _), number) in enumerate(zip(buttons, numbers, strict=True), start=1):
        token = f"[{local}] {label}"
        at = text.find(token, pos)
        if at < 0:
            continue
        parts += [text[pos:at], f"[{number}] {label}"]
        pos = at + len(token)
    return "".join(parts) + text[pos:]


def named(obj: Any, names: dict[str, str]) -> Any:
    """``obj`` with ``<@U…>`` and ``<#C…>`` given the names people know: ``<@U1|@you>``
    (``render_text`` shows a user mention's label as it is, a channel's after ``#``)."""
    if isinstance(obj, str):
        return _MENTION.sub(lambda m: _named(m, names), obj)
    if isinstance(obj, list):
        return [named(item, names) for item in obj]
    if isinstance(obj, dict):
        return {key: named(value, names) for key, value in obj.items()}
    return obj


def _named(match: re.Match[str], names: dict[str, str]) -> str:
    sigil, target = match[1], match[2]
    if target not in names:
        return match[0]
    label = f"@{names[target]}" if sigil == "@" else names[target]  # shown as Slack shows it
    return f"<{sigil}{target}|{label}>"


class Buttons:
    """Every button shown this session, by number."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[Any, ...], Clickable] = {}
        self._by_number: dict[int, Clickable] = {}
        self._numbers = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_number)

    def get(self, number: int) -> Clickable | None:
        return self._by_number.get(number)

    def add(
        self,
        button: Button,
        block_id: str,
        element: dict[str, Any],
        *,
        channel: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
        ephemeral: bool = False,
    ) -> Clickable:
        """The button's number: the one it had, or the next."""
        label, action_id, value = button
        key = (channel, ts, view_id, block_id, action_id, value, label)
        found = self._by_key.get(key)
        if found is not None:
            return found
        clickable = Clickable(
            number=next(self._numbers),
            label=label,
            action_id=action_id,
            value=value,
            block_id=block_id,
            element=element,
            channel=channel,
            ts=ts,
            view_id=view_id,
            ephemeral=ephemeral,
        )
        self._by_key[key] = clickable
        self._by_number[clickable.number] = clickable
        return clickable


class Screen:
    """Prints cards and lines to the console's output."""

    def __init__(
        self, out: TextIO, *, names: dict[str, str] | None = None, color: bool = False
    ) -> None:
        self.out = out
        self.names = dict(names or {})
        self.color = color
        self.buttons = Buttons()

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def dim(self, text: str) -> None:
        self.line(f"\x1b[2m{text}\x1b[0m" if self.color else text)

    def write(self, text: str) -> None:
        """Text without a newline (a prompt)."""
        self.out.write(text)
        self.out.flush()

    def text(self, message_or_view: dict[str, Any]) -> tuple[str, list[Button]]:
        """The rendering of a message or view, mentions named."""
        return render_text(named(message_or_view, self.names), color=self.color)

    def card(
        self,
        title: str,
        message_or_view: dict[str, Any],
        *,
        channel: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
        ephemeral: bool = False,
    ) -> list[Clickable]:
        """Print ``title`` and the card, its buttons numbered; the buttons."""
        text, buttons = self.text(message_or_view)
        elements = list(button_elements(message_or_view.get("blocks") or []))
        if len(elements) != len(buttons):  # a layout render_text numbers differently
            elements = [("", {"action_id": a, "value": v}) for _, a, v in buttons]
        clickables = [
            self.buttons.add(
                button,
                block_id,
                element,
                channel=channel,
                ts=ts,
                view_id=view_id,
                ephemeral=ephemeral,
            )
            for button, (block_id, element) in zip(buttons, elements, strict=True)
        ]
        text = renumber(text, buttons, [c.number for c in clickables])
        self.line(f"╭─ {title}")
        for row in text.split("\n"):
            self.line(f"│ {row}")
        self.line("╰─")
        return clickables


@dataclass
class _Pending:
    change: Change
    updated: bool


class Feed:
    """The workspace's changes the console's user would see, printed when :meth:`flush` is
    called: in the order they first happened, each message once, as it is last."""

    def __init__(self, screen: Screen, workspace: LocalWorkspace, *, user: str) -> None:
        self.screen = screen
        self.workspace = workspace
        self.user = user
        self._pending: dict[tuple[str, ...], _Pending] = {}
        self._printed: set[tuple[str, ...]] = set()
        self._notices = itertools.count()
        self.latest_card: tuple[str, str] | None = None
        """(channel, ts) of the card (a message with blocks) the app posted or updated last,
        in the channel or a thread: after a run, its run card."""

    def __call__(self, change: Change) -> None:
        """Take a change (subscribe this to the workspace)."""
        if change.user is not None and change.user != self.user:
            return  # someone else's ephemeral message, modal or Home tab
        if change.kind in ("view_opened", "view_updated"):
            return  # modals are filled in at the prompt: see bot.chat.dialog
        key = self._key(change)
        if change.kind in ("posted", "updated") and change.data.get("blocks"):
            self.latest_card = (change.channel, change.ts)
        pending = self._pending.get(key)
        if change.kind == "deleted" and pending is not None and key not in self._printed:
            del self._pending[key]
            return
        updated = key in self._printed or (pending is not None and pending.updated)
        if pending is not None and change.kind == "updated" and pending.change.kind == "posted":
            change = Change("posted", change.channel, change.ts, change.thread_ts, data=change.data)
        self._pending.pop(key, None)  # an update moves the message to the end
        self._pending[key] = _Pending(change, updated)

    def _key(self, change: Change) -> tuple[str, ...]:
        if change.kind in ("posted", "updated", "deleted"):
            return ("message", change.channel, change.ts)
        if change.kind == "ephemeral":
            return ("ephemeral", change.channel, change.ts)
        if change.kind == "home_published":
            return ("home", change.user or "")
        if change.kind == "file_shared":
            return ("file", str(change.data.get("id")))
        if change.kind == "reaction_added":
            return ("reaction", change.channel, change.ts, str(change.data.get("name")))
        return ("notice", str(next(self._notices)))

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> int:
        """Print what changed; how many items were printed."""
        items = list(self._pending.items())
        self._pending.clear()
        for key, pending in items:
            self._show(pending)
            self._printed.add(key)
        return len(items)

    def message_title(self, channel: str, thread_ts: str) -> str:
        """The start of a message's first line (a thread is named after its first message)."""
        parent = self.workspace.messages.get((channel, thread_ts)) or {}
        first = plain(str(parent.get("text") or "")).split("\n")[0].strip()
        return first if len(first) <= THREAD_TITLE_MAX else first[: THREAD_TITLE_MAX - 1] + "…"

    def _show(self, pending: _Pending) -> None:
        change, screen = pending.change, self.screen
        where = f"#{_channel_name(change.channel, screen.names)}"
        if change.thread_ts:
            parent = self.message_title(change.channel, change.thread_ts)
            where += f" › thread{' of “' + parent + '”' if parent else ''}"
        if change.kind in ("posted", "updated"):
            mark = " (updated)" if pending.updated else ""
            screen.card(
                f"Kaizen · {where}{mark}", change.data, channel=change.channel, ts=change.ts
            )
        elif change.kind == "ephemeral":
            screen.card(
                f"Kaizen · {where} · only you can see this",
                change.data,
                channel=change.channel,
                ts=change.ts,
                ephemeral=True,
            )
        elif change.kind == "deleted":
            screen.dim(f"  (Kaizen deleted a message in {where})")
        elif change.kind == "home_published":
            screen.card("Kaizen · Home tab", change.data, view_id=str(change.data.get("id")))
        elif change.kind == "file_shared":
            data = change.data
            screen.line(
                f"📎 Kaizen shared a file in {where}: {data.get('title')} "
                f"({data.get('name')}, {int(data.get('size') or 0):,} bytes)"
            )
        elif change.kind == "reaction_added":
            message = self.workspace.messages.get((change.channel, change.ts)) or {}
            mine = message.get("user") == self.user
            what = "your message" if mine else f"“{self.message_title(change.channel, change.ts)}”"
            screen.dim(f"  Kaizen reacted :{change.data.get('name')}: to {what} in {where}")
        else:
            screen.line(f"⚠ {plain(str(change.data.get('text', '')))}")


def _channel_name(channel: str, names: dict[str, str]) -> str:
    return names.get(channel, channel)


class StepLines:
    """One line per step whose status changed, for the runs going on (asked while the console
    waits): the compact progress of a run, whose card is printed once it has ended."""

    def __init__(
        self,
        screen: Screen,
        runs: RunMonitor | None,
        progress: Callable[[str], RunProgress | None] | None,
    ) -> None:
        self.screen = screen
        self.runs = runs
        self.progress = progress
        self._steps: dict[tuple[str, str], str] = {}
        self._runs: set[str] = set()

    def show(self) -> None:
        if self.runs is None or self.progress is None:
            return
        for run_id in self.runs.active_runs():
            progress = self.progress(run_id)
            if progress is None:
                continue
            if run_id not in self._runs:
                self._runs.add(run_id)
                version = f" v{progress.version}" if progress.version is not None else ""
                self.screen.dim(f"  ▶ running {progress.workflow}{version} (run {run_id[:8]})")
            for step in progress.steps:
                key = (run_id, step.step_id)
                if step.status != "waiting" and self._steps.get(key) != step.status:
                    self._steps[key] = step.status
                    self.screen.dim(f"    {plain(step_line(step))}")
