"""Plain replies: help, the workflow list, a workflow's version history, and short notices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.slack.cards.home import EMPTY_WORKFLOWS, workflow_line
from bot.slack.cards.limits import (
    MAX_MESSAGE_BLOCKS,
    MESSAGE_CHARS_MAX,
    SECTION_TEXT_MAX,
    BlockDict,
    code_block,
    context,
    escape,
    escape_clip,
    fit_blocks,
    fmt_time,
    header,
    line_sections,
    mention,
    plural,
    section,
    text_size,
)
from bot.slack.cards.limits import message as message_payload

if TYPE_CHECKING:
    from knowledge.history.views import VersionInfo

VERSION_DIFF_MAX = 800
"""Characters of diff shown per version."""

COMMANDS = (
    ("/kaizen <request>", "plan a request in plain words, preview it, then run it"),
    ("/kaizen run <workflow> [key=value …]", "run a saved workflow with inputs"),
    ("/kaizen workflows", "list saved workflows"),
    ("/kaizen history <workflow>", "show a workflow's versions and what changed"),
    ("/kaizen rollback <workflow> <version>", "make an earlier version the production one"),
    ("/kaizen help", "show this help"),
    ("/improve <text>", "tell Kaizen how a workflow should get better"),
)
REACTIONS = (
    "React to a run's message: :+1: :white_check_mark: :tada: :rocket: mean it went well, "
    ":-1: :x: :warning: :confused: that it did not. Kaizen learns from both."
)


def help_message() -> dict[str, Any]:
    """The ``/kaizen help`` reply: every command and how reactions count."""
    lines = [f"• `{escape(command)}` — {escape(what)}" for command, what in COMMANDS]
    blocks = [
        header("Kaizen commands"),
        section("\n".join(lines)),
        section(f"*Feedback*\n{REACTIONS}"),
        context("Plans are shown before anything runs: *Run*, *Edit*, *Save* or *Cancel*."),
    ]
    return message_payload("Kaizen commands: /kaizen <request>, /kaizen help", blocks)


def workflows_message(workflows: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``/kaizen workflows`` reply: one line per workflow (same dicts as the App Home)."""
    head = [header("Workflows")]
    if not workflows:
        return message_payload(EMPTY_WORKFLOWS, [*head, section(EMPTY_WORKFLOWS)])
    note = "… {count} more workflows not shown — `kaizen workflows list`"
    body = line_sections(
        [workflow_line(w) for w in workflows],
        MAX_MESSAGE_BLOCKS - len(head),
        note,
        max_chars=MESSAGE_CHARS_MAX - text_size(head),
    )
    return message_payload(plural(len(workflows), "workflow"), [*head, *body])


def _version_title(version: VersionInfo) -> str:
    """``*v3* (production) · by <@U1> · planner · <time> · restores v1``."""
    title = f"*v{version.number}*" + (" (production)" if version.is_production else "")
    parts = [
        title,
        f"by {mention(version.author)}",
        escape(str(version.origin)),
        fmt_time(version.created_at),
    ]
    if version.restores_number is not None:
        parts.append(f"restores v{version.restores_number}")
    return " · ".join(parts)


def _version_change(version: VersionInfo, diff: str | None) -> str:
    """The readable diff from the parent, clipped; or why there is none."""
    if diff and diff.strip():
        return code_block(diff, VERSION_DIFF_MAX)
    if version.parent_number is None:
        return "_First version._"
    return f"_{plural(version.patch_ops, 'change')} from v{version.parent_number}._"


def version_block(version: VersionInfo, diff: str | None) -> BlockDict:
    """One version: who made it, how and when, its note, and what changed."""
    lines = [_version_title(version)]
    if version.note.strip():
        lines.append(f"> {escape_clip(' '.join(version.note.split()), 300)}")
    head = "\n".join(lines) + "\n"
    change = _version_change(version, diff)
    if len(head) + len(change) > SECTION_TEXT_MAX:
        change = code_block(diff or "", SECTION_TEXT_MAX - len(head))
    return section(head + change)


def history_message(
    workflow: str, versions: list[VersionInfo], diffs: dict[int, str]
) -> dict[str, Any]:
    """The ``/kaizen history <workflow>`` reply: one block per version (``diffs`` maps a version
    number to its diff from the parent), at most 50 blocks."""
    head = [header(f"History of {workflow}")]
    if not versions:
        text = f"{workflow} has no versions."
        return message_payload(text, [*head, section(escape(text))])
    blocks = [version_block(v, diffs.get(v.number)) for v in versions]
    note = f"… {{count}} more versions — `kaizen workflows history {escape_clip(workflow, 120)}`"
    max_chars = MESSAGE_CHARS_MAX - text_size(head)
    body = fit_blocks(blocks, MAX_MESSAGE_BLOCKS - len(head), note, max_chars=max_chars)
    text = f"History of {workflow}: {plural(len(versions), 'version')}"
    return message_payload(text, [*head, *body])


def notice(text: str, *, plain: bool = False) -> dict[str, Any]:
    """A one-section message (ephemeral replies, errors). ``text`` is mrkdwn, or with
    ``plain=True`` text to show as it is (escaped); long text is clipped."""
    body = escape(text) if plain else text
    return message_payload(body, [section(body)], mrkdwn=True)
