"""Slack's Block Kit limits, text clipping and chunking, and limit-safe block constructors.

Every card is assembled from the constructors here (:func:`section`, :func:`context`,
:func:`header`, :func:`button`, …): they build ``slack_sdk`` block models, which validate
themselves, after clipping their text to Slack's limits, and return plain dicts for the Web API.
Text that comes from users or tools goes through :func:`escape` (Slack's mrkdwn needs ``&``,
``<`` and ``>`` escaped) before it is clipped with :func:`escape_clip`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

BlockDict = dict[str, Any]
"""One block, as the Web API takes it."""

# ---------------------------------------------------------------------------- Slack's limits

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 2000
"""Slack does not document one; 2,000 is what the other element texts allow."""
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTION_ID_MAX = 255
ACTIONS_ELEMENTS_MAX = 25
MESSAGE_TEXT_MAX = 40000
MESSAGE_CHARS_MAX = 10000
"""Our cap on the text of all of a message's blocks together. Not documented: chat.postMessage
answers ``msg_blocks_too_long`` past about 12,000 characters of block text in all (see
slackapi/bolt-js#2509 and #2867); 2,000 are kept spare for what Slack counts besides."""
FALLBACK_TEXT_MAX = 300
"""Our own cap on a message's ``text`` fallback (notifications show only the start)."""
PLAIN_TEXT_INPUT_MAX = 3000
INPUT_LABEL_MAX = 2000
INPUT_ERROR_MAX = 2000
VIEW_TITLE_MAX = 24
VIEW_BUTTON_MAX = 24
PRIVATE_METADATA_MAX = 3000
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30

ELLIPSIS = "…"
FENCE = "```"
_FENCE_CLOSE = f"{ELLIPSIS}\n{FENCE}"
_ENTITIES = ("&amp;", "&lt;", "&gt;")
_PARTIAL_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?(?=…(?:\n```)?$)")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


# ---------------------------------------------------------------------------- text


def _is_pair(text: str, index: int) -> bool:
    """Whether ``text[index - 1 : index + 1]`` is a UTF-16 surrogate pair."""
    return (
        0 < index < len(text)
        and "\ud800" <= text[index - 1] <= "\udbff"
        and "\udc00" <= text[index] <= "\udfff"
    )


def _safe_cut(text: str, index: int) -> int:
    """``index`` moved back so that cutting there splits no surrogate pair and no entity."""
    index = max(0, min(index, len(text)))
    if _is_pair(text, index):
        index -= 1
    start = text.rfind("&", max(0, index - 4), index)
    if start != -1:
        for entity in _ENTITIES:
            if text.startswith(entity, start) and start + len(entity) > index:
                return start
    return index


def _open_fence(text: str) -> bool:
    """Whether ``text`` leaves a ``` code block open."""
    return text.count(FENCE) % 2 == 1


def clip(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start ending with "…".

    A cut never splits a surrogate pair or an HTML entity; a ``` code block left open by the
    cut is closed (the result still fits).
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    if len(text) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    head = text[: _safe_cut(text, limit - len(ELLIPSIS))]
    if _open_fence(head) and limit >= len(_FENCE_CLOSE):
        head = text[: _safe_cut(text, limit - len(_FENCE_CLOSE))]
        if _open_fence(head):
            return head + _FENCE_CLOSE
    return head + ELLIPSIS


def escape(text: str) -> str:
    """``text`` with Slack's mrkdwn control characters (``& < >``) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_clip(text: str, limit: int) -> str:
    """:func:`escape` then :func:`clip`, without leaving half an entity before the "…"."""
    return _PARTIAL_ENTITY.sub("", clip(escape(text), limit))


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) turned into one space."""
    return " ".join(text.split())


def _split_long(line: str, limit: int) -> list[str]:
    """``line`` cut into pieces of at most ``limit`` characters, at spaces when possible."""
    pieces: list[str] = []
    while len(line) > limit:
        cut = _safe_cut(line, limit) or limit
        space = line.rfind(" ", 0, cut)
        if space >= limit // 2:
            cut = space + 1
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def chunk_text(text: str, limit: int) -> list[str]:
    """``text`` split into pieces of at most ``limit`` characters, on line boundaries.

    Lines are kept whole when they fit; a longer line is cut (at a space when one is near).
    Joining the pieces with newlines gives back ``text`` apart from those cuts. Empty text gives
    no pieces.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    if not text:
        return []
    chunks: list[str] = []
    parts: list[str] = []
    size = 0
    for line in text.split("\n"):
        for piece in _split_long(line, limit):
            extra = len(piece) + (1 if parts else 0)
            if parts and size + extra > limit:
                chunks.append("\n".join(parts))
                parts, size, extra = [], 0, len(piece)
            parts.append(piece)
            size += extra
    chunks.append("\n".join(parts))
    return chunks


def fallback_text(text: str, *, mrkdwn: bool = False) -> str:
    """A message's short ``text`` fallback: one line of at most 300 characters, escaped unless
    it is ``mrkdwn`` already."""
    line = one_line(text)
    short = clip(line, FALLBACK_TEXT_MAX) if mrkdwn else escape_clip(line, FALLBACK_TEXT_MAX)
    return short or "Kaizen"


def inline_code(text: str, limit: int = 80) -> str:
    """``text`` as one line of inline code, at most ``limit`` characters inside the backticks."""
    inner = escape_clip(one_line(text).replace("`", "'"), limit)
    return f"`{inner or ' '}`"


def code_block(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    """``text`` escaped in a ``` block, the whole at most ``limit`` characters."""
    body = escape(text.strip("\n").replace(FENCE, "``\u200b`"))
    return _PARTIAL_ENTITY.sub("", clip(f"{FENCE}\n{body}\n{FENCE}", limit))


def code_chunks(text: str, limit: int = SECTION_TEXT_MAX) -> list[str]:
    """``text`` escaped and split on lines into ``` blocks of at most ``limit`` characters."""
    body = escape(text.strip("\n").replace(FENCE, "``\u200b`"))
    overhead = 2 * len(FENCE) + 2
    return [f"{FENCE}\n{piece}\n{FENCE}" for piece in chunk_text(body, limit - overhead)]


def short_value(value: Any, limit: int = 40) -> str:
    """A param or output value as one short unescaped line: strings as they are, others as JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
        except ValueError:  # circular data
            text = repr(value)
    return clip(one_line(text), limit)


# ---------------------------------------------------------------------------- formatting


def mention(user: str) -> str:
    """``<@U123>`` for a Slack user id, ``<!subteam^S1>`` for a group id, else the escaped name."""
    if _SLACK_ID.match(user):
        return f"<@{user}>"
    if _GROUP_ID.match(user):
        return f"<!subteam^{user}>"
    return escape_clip(user, 80)


def fmt_duration(ms: float | None) -> str:
    """``0.4 ms``, ``12 ms``, ``3.2 s``, ``2 m 5 s``, ``1 h 2 m``; empty for ``None``."""
    if ms is None:
        return ""
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} m"


def fmt_cost(usd: float | None) -> str:
    """``$0.0042``, ``$0.015``, ``$1.25``; empty for ``None``."""
    if usd is None:
        return ""
    if usd == 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    if usd < 1:
        return f"${usd:.3g}"
    return f"${usd:,.2f}"


def fmt_percent(fraction: float | None) -> str:
    """``92%`` (``—`` for ``None``)."""
    return "—" if fraction is None else f"{fraction * 100:.0f}%"


def fmt_time(at: datetime) -> str:
    """A time Slack shows in the reader's time zone, with a UTC fallback (naive means UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    stamp = int(utc.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{utc:%Y-%m-%d %H:%M} UTC>"


def plural(count: int, word: str) -> str:
    """``1 step``, ``3 steps`` (with thousands separators)."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------------------- blocks


def section(text: str) -> BlockDict:
    """A mrkdwn section; ``text`` (already escaped) is clipped to 3,000 characters."""
    body = clip(text, SECTION_TEXT_MAX) or " "
    return SectionBlock(text=MarkdownTextObject(text=body)).to_dict()


def header(text: str) -> BlockDict:
    """A header block; plain ``text`` is clipped to 150 characters."""
    body = clip(one_line(text), HEADER_TEXT_MAX) or "Kaizen"
    return HeaderBlock(text=PlainTextObject(text=body, emoji=True)).to_dict()


def context(*texts: str) -> BlockDict:
    """A context block of up to 10 mrkdwn elements (already escaped), each clipped."""
    kept = [clip(t, CONTEXT_TEXT_MAX) for t in texts if t][:CONTEXT_ELEMENTS_MAX] or [" "]
    return ContextBlock(elements=[MarkdownTextObject(text=t) for t in kept]).to_dict()


def divider() -> BlockDict:
    """A divider block."""
    return DividerBlock().to_dict()


def confirm(title: str, text: str, yes: str, no: str) -> ConfirmObject:
    """A confirmation dialog for a dangerous button, its texts clipped to Slack's limits."""
    return ConfirmObject(
        title=PlainTextObject(text=clip(title, CONFIRM_TITLE_MAX)),
        text=MarkdownTextObject(text=clip(text, CONFIRM_TEXT_MAX)),
        confirm=PlainTextObject(text=clip(yes, CONFIRM_BUTTON_MAX)),
        deny=PlainTextObject(text=clip(no, CONFIRM_BUTTON_MAX)),
        style="danger",
    )


def button(
    label: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirmation: ConfirmObject | None = None,
) -> ButtonElement:
    """A button; the label is clipped, but an action id or value over its limit is an error
    (``ValueError``): clipping them would break the handler that parses them."""
    if len(action_id) > ACTION_ID_MAX:
        raise ValueError(f"action_id is longer than {ACTION_ID_MAX} characters")
    if len(value) > BUTTON_VALUE_MAX:
        raise ValueError(f"button value is longer than {BUTTON_VALUE_MAX} characters")
    return ButtonElement(
        text=PlainTextObject(text=clip(label, BUTTON_TEXT_MAX), emoji=True),
        action_id=action_id,
        value=value,
        style=style,
        confirm=confirmation,
    )


def actions(buttons: Sequence[ButtonElement], block_id: str | None = None) -> BlockDict:
    """An actions block with the first 25 of ``buttons``."""
    return ActionsBlock(elements=list(buttons[:ACTIONS_ELEMENTS_MAX]), block_id=block_id).to_dict()


def text_sections(text: str) -> list[BlockDict]:
    """``text`` (already escaped mrkdwn, one item a line) as sections of ≤ 3,000 characters."""
    return [section(piece) for piece in chunk_text(text, SECTION_TEXT_MAX)]


def line_counts(blocks: Sequence[BlockDict]) -> list[int]:
    """How many lines each section's text has (for :func:`fit_blocks`' ``items_per_block``)."""
    return [block.get("text", {}).get("text", "").count("\n") + 1 for block in blocks]


def text_size(blocks: Sequence[BlockDict]) -> int:
    """How many characters of text the blocks hold (every ``text`` string, labels included)."""

    def size(value: Any) -> int:
        if isinstance(value, dict):
            own = len(value["text"]) if isinstance(value.get("text"), str) else 0
            return own + sum(size(v) for v in value.values())
        if isinstance(value, list):
            return sum(size(v) for v in value)
        return 0

    return size(list(blocks))


def _overflow(overflow_note: str, left: int) -> BlockDict:
    """The context block saying ``left`` items were left out."""
    if "{count}" in overflow_note:
        return context(overflow_note.replace("{count}", f"{left:,}"))
    return context(f"{ELLIPSIS} {left:,} more not shown — {overflow_note}")


def _note_size(overflow_note: str) -> int:
    return len(overflow_note) + 30


def fit_blocks(
    blocks: Sequence[BlockDict],
    max_blocks: int,
    overflow_note: str,
    *,
    items_per_block: Sequence[int] | None = None,
    max_chars: int | None = None,
) -> list[BlockDict]:
    """``blocks`` if there are at most ``max_blocks`` (holding at most ``max_chars`` characters
    of text), else the first ones that fit with room for a context block saying how many were
    left out (so at most ``max_blocks - 1`` of them).

    ``overflow_note`` may hold ``{count}``, replaced by the number left out: blocks, or items
    when ``items_per_block`` says how many items (lines, steps) each block shows. Without it the
    note reads "… <count> more not shown — <overflow_note>".
    """
    if max_blocks < 1:
        raise ValueError("max_blocks must be at least 1")
    sizes = [text_size([block]) for block in blocks]
    if len(blocks) <= max_blocks and (max_chars is None or sum(sizes) <= max_chars):
        return list(blocks)
    budget = None if max_chars is None else max_chars - _note_size(overflow_note)
    kept: list[BlockDict] = []
    used = 0
    for block, size in zip(blocks, sizes, strict=True):
        if len(kept) == max_blocks - 1 or (budget is not None and used + size > budget):
            break
        kept.append(block)
        used += size
    counts = items_per_block if items_per_block is not None else [1] * len(blocks)
    return [*kept, _overflow(overflow_note, sum(counts[len(kept) :]))]


def take_lines(lines: Sequence[str], max_chars: int | None) -> list[str]:
    """The first of ``lines`` that fit in ``max_chars`` characters, newlines counted (all of
    them when ``max_chars`` is ``None``)."""
    if max_chars is None:
        return list(lines)
    kept: list[str] = []
    used = 0
    for line in lines:
        used += len(line) + (1 if kept else 0)
        if used > max_chars:
            break
        kept.append(line)
    return kept


def line_sections(
    lines: Sequence[str],
    max_blocks: int,
    overflow_note: str,
    *,
    max_chars: int | None = None,
) -> list[BlockDict]:
    """One-line mrkdwn items (already escaped) in sections of ≤ 3,000 characters, at most
    ``max_blocks`` blocks and ``max_chars`` characters; the items left out are counted in a
    closing context note (see :func:`fit_blocks` for ``overflow_note``)."""
    if max_blocks < 1:
        raise ValueError("max_blocks must be at least 1")
    kept = take_lines(lines, max_chars)
    if len(kept) < len(lines) and max_chars is not None:
        kept = take_lines(lines, max_chars - _note_size(overflow_note))
    sections = text_sections("\n".join(kept))
    if len(kept) == len(lines):
        counts = line_counts(sections)
        return fit_blocks(sections, max_blocks, overflow_note, items_per_block=counts)
    sections = sections[: max_blocks - 1]
    shown = sum(line_counts(sections))
    return [*sections, _overflow(overflow_note, len(lines) - shown)]


def code_sections(
    text: str,
    overflow_note: str,
    *,
    max_blocks: int,
    max_chars: int,
    title: str = "",
) -> list[BlockDict]:
    """``text`` escaped in ``` blocks, one section each (≤ 3,000 characters, the first headed by
    ``title``), at most ``max_blocks`` blocks and ``max_chars`` characters; the lines left out
    are counted in a closing context note (see :func:`fit_blocks` for ``overflow_note``)."""
    lines = escape(text.strip("\n").replace(FENCE, "``\u200b`")).split("\n")
    per_section = SECTION_TEXT_MAX - len(title) - 2 * len(FENCE) - 2
    overhead = len(title) + (2 * len(FENCE) + 2) * (max_chars // per_section + 1)
    budget = max_chars - overhead
    kept = take_lines(lines, budget)
    if len(kept) < len(lines):
        kept = take_lines(lines, budget - _note_size(overflow_note))
    pieces = chunk_text("\n".join(kept), per_section) if kept else []
    left = len(lines) - len(kept)
    if len(pieces) > max_blocks - (1 if left else 0):
        pieces = pieces[: max(0, max_blocks - 1)]
        left = max(1, len(lines) - sum(piece.count("\n") + 1 for piece in pieces))
    blocks = [
        section(f"{title if index == 0 else ''}{FENCE}\n{piece}\n{FENCE}")
        for index, piece in enumerate(pieces)
    ]
    if left:
        blocks.append(_overflow(overflow_note, left))
    return blocks


def message(text: str, blocks: Sequence[BlockDict], *, mrkdwn: bool = False) -> dict[str, Any]:
    """A message payload: the short ``text`` fallback (plain text, or ``mrkdwn``) and at most
    50 blocks.

    Cards budget their blocks and text themselves (see :data:`MESSAGE_CHARS_MAX`); should one
    not, the last blocks give way to a note.
    """
    fitted = fit_blocks(blocks, MAX_MESSAGE_BLOCKS, "see the thread.", max_chars=MESSAGE_CHARS_MAX)
    return {"text": fallback_text(text, mrkdwn=mrkdwn), "blocks": fitted}
