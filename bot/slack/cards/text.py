"""Cards as terminal text, for the local chat console: the same messages and views Slack gets,
rendered readably, with their buttons returned as numbered choices."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Button = tuple[str, str, str]
"""``(label, action_id, value)``."""

RULE_WIDTH = 60
CONTEXT_PREFIX = "  ┆ "
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"
_TOKEN = re.compile(r"<([^<>\n]+)>")


def _token(match: re.Match[str]) -> str:
    """One Slack ``<…>`` token as text: dates, mentions, channels, links."""
    body = match.group(1)
    target, _, label = body.partition("|")
    if target.startswith("!date^"):
        return label or target
    if target.startswith(("@", "#")):
        return ("#" + label) if label and target.startswith("#") else (label or target)
    if target.startswith("!subteam^"):
        return "@" + (label or target.removeprefix("!subteam^"))
    if target.startswith("!"):
        return "@" + target[1:]
    return f"{label} ({target})" if label else target


def plain(text: str) -> str:
    """Slack mrkdwn as terminal text: tokens (``<@U1>``, dates, links) resolved, entities
    unescaped; ``*bold*``, ``_italic_``, `code` and ``` blocks are left as they are."""
    resolved = _TOKEN.sub(_token, text)
    return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: Any) -> str:
    """The text of a text object (plain_text or mrkdwn), or ``""``."""
    if isinstance(obj, dict):
        return plain(str(obj.get("text", "")))
    if isinstance(obj, str):
        return plain(obj)
    return ""


class _Renderer:
    """Renders blocks one by one, numbering buttons as it meets them."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.buttons: list[Button] = []
        self.handlers: dict[str, Callable[[dict[str, Any]], str]] = {
            "header": self.header,
            "section": self.section,
            "context": self.context,
            "divider": lambda _: "─" * RULE_WIDTH,
            "actions": self.actions,
            "input": self.input,
            "image": lambda b: f"[image: {b.get('alt_text', '')}]",
            "markdown": lambda b: plain(str(b.get("text", ""))),
        }

    def block(self, block: dict[str, Any]) -> str:
        kind = str(block.get("type", "?"))
        handler = self.handlers.get(kind)
        return handler(block) if handler else f"[{kind}]"

    def header(self, block: dict[str, Any]) -> str:
        title = _text_of(block.get("text"))
        return f"{title}\n{'═' * min(max(len(title), 3), RULE_WIDTH)}"

    def section(self, block: dict[str, Any]) -> str:
        lines = [_text_of(block.get("text"))] if block.get("text") else []
        lines += [_text_of(field) for field in block.get("fields") or []]
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            lines.append(self.element(accessory))
        return "\n".join(line for line in lines if line)

    def context(self, block: dict[str, Any]) -> str:
        parts = [_text_of(e) or f"[{e.get('type', '?')}]" for e in block.get("elements") or []]
        lines = "  ·  ".join(p for p in parts if p).split("\n")
        text = "\n".join(CONTEXT_PREFIX + line for line in lines)
        return f"{_DIM}{text}{_RESET}" if self.color else text

    def actions(self, block: dict[str, Any]) -> str:
        return "  ".join(self.element(e) for e in block.get("elements") or [])

    def input(self, block: dict[str, Any]) -> str:
        label = _text_of(block.get("label"))
        element = block.get("element") or {}
        value = element.get("initial_value") or ""
        hint = _text_of(block.get("hint"))
        body = "\n".join("  " + line for line in str(value).split("\n")) if value else "  (empty)"
        return f"{label}:\n{body}" + (f"\n{CONTEXT_PREFIX}{hint}" if hint else "")

    def element(self, element: dict[str, Any]) -> str:
        """A button as ``[n] label`` (and remembered); other elements by their kind."""
        if element.get("type") == "button":
            label = _text_of(element.get("text"))
            action_id = str(element.get("action_id", ""))
            self.buttons.append((label, action_id, str(element.get("value", ""))))
            return f"[{len(self.buttons)}] {label}"
        placeholder = _text_of(element.get("placeholder"))
        return f"[{element.get('type', '?')}{': ' + placeholder if placeholder else ''}]"

    def view_buttons(self, view: dict[str, Any]) -> list[str]:
        """A modal's submit and close buttons (action id: the callback id / ``close``)."""
        shown = []
        metadata = str(view.get("private_metadata", ""))
        for key, action_id in (("submit", str(view.get("callback_id", ""))), ("close", "close")):
            if view.get(key):
                self.buttons.append((_text_of(view[key]), action_id, metadata))
                shown.append(f"[{len(self.buttons)}] {_text_of(view[key])}")
        return shown


def render_text(
    message_or_view: dict[str, Any], *, color: bool = False
) -> tuple[str, list[Button]]:
    """A message (``text``/``blocks``) or a view (modal, home) as terminal text, and its buttons
    in order as ``(label, action_id, value)`` — shown in the text as ``[1] Run  [2] Edit …``.

    A modal's submit and close come last, with its callback id (``close`` for close) as action
    id and its ``private_metadata`` as value. ``color`` dims context lines with ANSI codes.
    """
    renderer = _Renderer(color)
    parts: list[str] = []
    if message_or_view.get("type") in ("modal", "home") and message_or_view.get("title"):
        parts.append(renderer.header({"text": message_or_view["title"]}))
    blocks = message_or_view.get("blocks") or []
    parts += [renderer.block(block) for block in blocks if isinstance(block, dict)]
    if not blocks and message_or_view.get("text"):
        parts.append(plain(str(message_or_view["text"])))
    if message_or_view.get("type") == "modal":
        footer = renderer.view_buttons(message_or_view)
        if footer:
            parts.append("  ".join(footer))
    return "\n".join(p for p in parts if p), renderer.buttons
