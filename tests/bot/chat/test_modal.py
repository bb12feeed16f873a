"""Filling in a modal's inputs at the prompt: defaults, checks Slack's client makes, choices."""

from __future__ import annotations

import io

import pytest

from bot.chat.modal import Cancelled, ModalForm, fields_of
from bot.chat.screen import Screen


def _input(block_id: str, element: dict, *, optional: bool = False) -> dict:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": block_id.title()},
        "element": {"action_id": f"{block_id}_input", **element},
    }


VIEW = {
    "type": "modal",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "not an input"}},
        _input("name", {"type": "plain_text_input", "initial_value": "deploy", "max_length": 8}),
        _input("count", {"type": "number_input", "is_decimal_allowed": False, "min_value": "1"}),
        _input(
            "mode",
            {
                "type": "static_select",
                "options": [
                    {"text": {"type": "plain_text", "text": "Fast"}, "value": "fast"},
                    {"text": {"type": "plain_text", "text": "Safe"}, "value": "safe"},
                ],
            },
        ),
        _input("why", {"type": "plain_text_input", "multiline": True}, optional=True),
    ],
}


def form(answers: list[str]) -> tuple[ModalForm, io.StringIO]:
    out = io.StringIO()
    pending = list(answers)

    async def ask(prompt: str) -> str:
        out.write(prompt)
        return pending.pop(0)

    return ModalForm(Screen(out), ask), out


async def test_answers_become_state_values() -> None:
    modal, out = form(["", "zero", "0", "3", "5", "2", "first", "second", "."])
    values, _ = await modal.fill(VIEW)
    assert [f.block_id for f in fields_of(VIEW)] == ["name", "count", "mode", "why"]
    assert values["name"]["name_input"] == {"type": "plain_text_input", "value": "deploy"}
    assert values["count"]["count_input"] == {"type": "number_input", "value": "3"}
    assert values["mode"]["mode_input"]["selected_option"]["value"] == "safe"
    assert values["why"]["why_input"]["value"] == "first\nsecond"
    printed = out.getvalue()
    assert "Count must be a number" in printed
    assert "Count must be between 1 and None" in printed
    assert "type a number from 1 to 2" in printed


async def test_length_limits_and_required_fields_are_checked() -> None:
    modal, out = form(["much too long", "ok", "1", "1", ""])
    values, _ = await modal.fill(VIEW)
    assert values["name"]["name_input"]["value"] == "ok"
    assert values["why"]["why_input"]["value"] is None  # optional, left empty
    assert "Name holds at most 8 characters" in out.getvalue()


async def test_cancel_at_any_question() -> None:
    modal, _ = form(["", "/cancel"])
    with pytest.raises(Cancelled):
        await modal.fill(VIEW)
