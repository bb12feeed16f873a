"""Clipping, chunking and block fitting never exceed Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import HeaderBlock, MarkdownTextObject, SectionBlock

from bot.slack.cards.limits import (
    ELLIPSIS,
    FENCE,
    MAX_MESSAGE_BLOCKS,
    MESSAGE_CHARS_MAX,
    button,
    chunk_text,
    clip,
    code_block,
    code_chunks,
    code_sections,
    context,
    escape_clip,
    fallback_text,
    fit_blocks,
    fmt_cost,
    fmt_duration,
    fmt_time,
    header,
    line_sections,
    mention,
    message,
    section,
    text_size,
)
from tests.bot.slack.cards.support import check_block, check_message

PAIR = "\ud83d\ude00"  # 😀 as a UTF-16 surrogate pair (two code points in a str)


def test_clip_leaves_short_text_alone():
    assert clip("hello", 5) == "hello"
    assert clip("", 0) == ""


def test_clip_cuts_with_an_ellipsis():
    assert clip("hello world", 8) == "hello w" + ELLIPSIS
    assert clip("hello", 1) == ELLIPSIS
    assert clip("hello", 0) == ""
    with pytest.raises(ValueError, match="negative"):
        clip("x", -1)


def test_clip_never_splits_a_surrogate_pair():
    text = "ab" + PAIR * 10
    for limit in range(1, len(text)):
        clipped = clip(text, limit)
        assert len(clipped) <= limit
        body = clipped.removesuffix(ELLIPSIS)
        assert body.count("\ud83d") == body.count("\ude00")


def test_clip_closes_a_code_block_it_cut():
    text = FENCE + "\n" + "line of code\n" * 500 + FENCE
    clipped = clip(text, 100)
    assert len(clipped) <= 100
    assert clipped.endswith(ELLIPSIS + "\n" + FENCE)
    assert clipped.count(FENCE) == 2


def test_clip_does_not_add_a_fence_when_the_block_was_closed():
    text = f"{FENCE}\ncode\n{FENCE}\n" + "prose " * 100
    clipped = clip(text, 50)
    assert clipped.count(FENCE) == 2
    assert clipped.endswith(ELLIPSIS)


def test_escape_clip_never_leaves_half_an_entity():
    for limit in range(1, 40):
        clipped = escape_clip("a<b>&c" * 20, limit)
        assert len(clipped) <= limit
        body = clipped.removesuffix(ELLIPSIS)
        assert body.count("&") == body.count(";")


@given(st.text(max_size=400), st.integers(min_value=0, max_value=300))
def test_clip_always_fits(text, limit):
    clipped = clip(text, limit)
    assert len(clipped) <= limit
    if len(text) <= limit:
        assert clipped == text


def test_chunk_text_keeps_lines_whole():
    lines = [f"line {i} " + "x" * (i % 50) for i in range(500)]
    text = "\n".join(lines)
    chunks = chunk_text(text, 300)
    assert all(len(chunk) <= 300 for chunk in chunks)
    assert "\n".join(chunks) == text
    assert all(line in lines for chunk in chunks for line in chunk.split("\n"))


def test_chunk_text_cuts_long_lines_without_losing_text():
    text = "word " * 2000
    chunks = chunk_text(text, 100)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert "".join(chunks) == text


def test_chunk_text_of_nothing_is_nothing():
    assert chunk_text("", 10) == []
    with pytest.raises(ValueError, match="at least 2"):
        chunk_text("x", 1)


@given(st.text(max_size=600), st.integers(min_value=2, max_value=120))
def test_chunk_text_always_fits_and_loses_nothing(text, limit):
    chunks = chunk_text(text, limit)
    assert all(len(chunk) <= limit for chunk in chunks)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")


def test_fit_blocks_keeps_blocks_that_fit():
    blocks = [section(str(i)) for i in range(5)]
    assert fit_blocks(blocks, 5, "more") == blocks


def test_fit_blocks_says_how_many_were_left_out():
    blocks = [section(str(i)) for i in range(200)]
    fitted = fit_blocks(blocks, 50, "… {count} more steps not shown — see the thread")
    assert len(fitted) == 50
    assert fitted[:49] == blocks[:49]
    assert fitted[-1]["type"] == "context"
    assert fitted[-1]["elements"][0]["text"] == "… 151 more steps not shown — see the thread"
    check_block(fitted[-1])


def test_fit_blocks_counts_items_and_writes_a_default_note():
    blocks = [section("a\nb\nc") for _ in range(10)]
    fitted = fit_blocks(blocks, 4, "see the thread", items_per_block=[3] * 10)
    assert fitted[-1]["elements"][0]["text"] == "… 21 more not shown — see the thread"
    with pytest.raises(ValueError, match="at least 1"):
        fit_blocks(blocks, 0, "x")


def test_slack_sdk_rejects_what_the_constructors_clip():
    with pytest.raises(SlackObjectFormationError):
        SectionBlock(text=MarkdownTextObject(text="x" * 3001)).to_dict()
    with pytest.raises(SlackObjectFormationError):
        HeaderBlock(text="x" * 151).to_dict()
    check_block(section("x" * 10_000))
    check_block(header("y" * 1000))
    check_block(context(*["z" * 5000] * 20))
    assert len(context(*["z"] * 20)["elements"]) == 10


def test_button_clips_its_label_but_refuses_a_long_value():
    element = button("x" * 200, "kaizen.test", "1").to_dict()
    assert len(element["text"]["text"]) == 75
    with pytest.raises(ValueError, match="value"):
        button("ok", "kaizen.test", "v" * 2001)
    with pytest.raises(ValueError, match="action_id"):
        button("ok", "a" * 256, "1")


def test_code_blocks_stay_closed_and_within_limits():
    text = "\n".join(f"{i}: <tag> & {FENCE}" for i in range(5000))
    block = code_block(text, 3000)
    assert len(block) <= 3000
    assert block.startswith(FENCE)
    assert block.endswith(FENCE)
    assert block.count(FENCE) == 2
    chunks = code_chunks(text, 3000)
    assert all(len(c) <= 3000 and c.count(FENCE) == 2 for c in chunks)
    assert "&lt;tag&gt; &amp;" in chunks[0]


def test_message_fits_text_and_blocks():
    payload = message("x" * 100_000, [section(str(i)) for i in range(80)])
    blocks = check_message(payload)
    assert len(blocks) == MAX_MESSAGE_BLOCKS
    heavy = check_message(message("t", [section("y" * 3000) for _ in range(10)]))
    assert len(heavy) == 4  # three sections and the note: the text of all blocks is capped
    assert fallback_text("a <b>\n c") == "a &lt;b&gt; c"


def test_formatting_helpers():
    assert fmt_duration(None) == ""
    assert fmt_duration(0.42) == "0.4 ms"
    assert fmt_duration(314.2) == "314 ms"
    assert fmt_duration(3200) == "3.2 s"
    assert fmt_duration(125_000) == "2 m 5 s"
    assert fmt_duration(3_720_000) == "1 h 2 m"
    assert fmt_cost(None) == ""
    assert fmt_cost(0) == "$0"
    assert fmt_cost(0.0042) == "$0.0042"
    assert fmt_cost(0.015) == "$0.015"
    assert fmt_cost(0.00001) == "<$0.0001"
    assert fmt_cost(1234.5) == "$1,234.50"
    assert mention("U123ABC") == "<@U123ABC>"
    assert mention("S0ABC") == "<!subteam^S0ABC>"
    assert mention("ops <team>") == "ops &lt;team&gt;"
    at = datetime(2024, 3, 10, 12, 3, tzinfo=UTC)
    assert fmt_time(at).endswith("|2024-03-10 12:03 UTC>")
    assert fmt_time(at.replace(tzinfo=None)) == fmt_time(at)
    assert fmt_time(at.astimezone(timezone(timedelta(hours=2)))) == fmt_time(at)


def test_text_size_counts_every_text():
    blocks = [header("abc"), section("12345"), context("x", "yz")]
    assert text_size(blocks) == 3 + 5 + 3


def test_fit_blocks_keeps_to_a_character_budget():
    blocks = [section("x" * 1000) for _ in range(20)]
    fitted = fit_blocks(blocks, 50, "… {count} more", max_chars=5000)
    assert text_size(fitted) <= 5000
    assert len(fitted) == 5
    assert fitted[-1]["elements"][0]["text"] == "… 16 more"


def test_line_sections_keep_to_both_budgets():
    lines = [f"{i}. " + "x" * 95 for i in range(1, 1001)]
    blocks = line_sections(lines, 50, "… {count} more lines", max_chars=MESSAGE_CHARS_MAX)
    assert text_size(blocks) <= MESSAGE_CHARS_MAX
    shown = sum(block["text"]["text"].count("\n") + 1 for block in blocks[:-1])
    assert blocks[-1]["elements"][0]["text"] == f"… {1000 - shown} more lines"
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks[:-1])
    few = line_sections(lines, 3, "… {count} more lines")
    assert len(few) == 3
    assert few[-1]["elements"][0]["text"] == f"… {1000 - 2 * 30} more lines"
    assert line_sections(lines[:5], 3, "more") == [section("\n".join(lines[:5]))]


def test_code_sections_stay_closed_and_count_what_is_left_out():
    text = "\n".join(f"+ line {i} <x>" for i in range(100_000))
    blocks = code_sections(
        text, "… {count} more lines", max_blocks=10, max_chars=8000, title="*D*\n"
    )
    assert text_size(blocks) <= 8000
    assert blocks[0]["text"]["text"].startswith("*D*\n```\n+ line 0 &lt;x&gt;")
    for block in blocks[:-1]:
        body = block["text"]["text"]
        assert body.count(FENCE) == 2
        assert body.endswith(FENCE)
    shown = sum(b["text"]["text"].count("\n") - 1 for b in blocks[:-1]) - 1  # title's newline
    assert blocks[-1]["elements"][0]["text"] == f"… {100_000 - shown:,} more lines"
    small = code_sections("a\nb", "more", max_blocks=10, max_chars=8000)
    assert small == [section("```\na\nb\n```")]
