"""The console's loop against a toy Bolt app: every kind of request the console sends (slash
commands, clicks with and without confirmation, modal submissions with errors, reactions,
thread replies, the Home tab) checked end to end, in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp

from bot.chat.payloads import LOCAL_CHANNEL, LOCAL_USER
from bot.chat.web_api import LocalWebApi
from tests.bot.chat.conftest import converse, new_app

C = LOCAL_CHANNEL.id


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(label: str, action_id: str, value: str = "7", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
        **extra,
    }


CONFIRM = {
    "title": {"type": "plain_text", "text": "Drop it?"},
    "text": {"type": "plain_text", "text": "Nothing has run."},
    "confirm": {"type": "plain_text", "text": "Drop"},
    "deny": {"type": "plain_text", "text": "Keep"},
}
CARD = [
    _text("A toy card for <@U0LOCAL>"),
    {
        "type": "actions",
        "block_id": "toy.buttons",
        "elements": [
            _button("Open", "toy.open"),
            _button("Drop", "toy.drop", style="danger", confirm=CONFIRM),
        ],
    },
]
MODAL = {
    "type": "modal",
    "callback_id": "toy.edit",
    "private_metadata": "7",
    "title": {"type": "plain_text", "text": "Edit toy"},
    "submit": {"type": "plain_text", "text": "Save"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "yaml",
            "label": {"type": "plain_text", "text": "YAML"},
            "element": {
                "type": "plain_text_input",
                "action_id": "yaml_input",
                "multiline": True,
                "initial_value": "name: toy\nsteps: []",
            },
        },
        {
            "type": "input",
            "block_id": "why",
            "optional": True,
            "label": {"type": "plain_text", "text": "Why"},
            "element": {"type": "plain_text_input", "action_id": "why_input"},
        },
    ],
}


def toy_app(api: LocalWebApi, submissions: list[dict[str, Any]]) -> AsyncApp:
    app = new_app(api)

    @app.command("/kaizen")
    async def kaizen(ack: Any, command: dict[str, Any], client: Any, respond: Any) -> None:
        await ack()
        text = command["text"]
        if text == "card":
            await client.chat_postMessage(channel=command["channel_id"], text="card", blocks=CARD)
        elif text == "whisper":
            await respond("psst")
        elif text == "slow":
            await asyncio.sleep(0.4)
            await client.chat_postMessage(channel=C, text="slow done")
        else:
            await client.chat_postMessage(channel=C, text=f"echo: {text}")

    @app.command("/improve")
    async def improve(ack: Any) -> None:
        await ack("Noted, thanks")

    @app.action("toy.open")
    async def open_modal(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.action("toy.drop")
    async def drop(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        container = body["container"]
        await client.chat_update(
            channel=container["channel_id"],
            ts=container["message_ts"],
            text="dropped",
            blocks=[_text("dropped")],
        )

    @app.view("toy.edit")
    async def submitted(ack: Any, view: dict[str, Any], client: Any) -> None:
        values = view["state"]["values"]
        submissions.append(values)
        yaml = values["yaml"]["yaml_input"]["value"]
        if "steps: []" in yaml:
            await ack(response_action="errors", errors={"yaml": "add a step"})
            return
        await ack()
        await client.chat_postMessage(
            channel=C, text=f"saved draft {view['private_metadata']}:\n{yaml}"
        )

    @app.event("reaction_added")
    async def reacted(event: dict[str, Any], client: Any) -> None:
        item = event["item"]
        await client.chat_postMessage(
            channel=item["channel"], thread_ts=item["ts"], text=f"thanks for :{event['reaction']}:"
        )

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: Any) -> None:
        view = {
            "type": "home",
            "blocks": [
                _text("Toy home"),
                {"type": "actions", "elements": [_button("Refresh", "toy.refresh")]},
            ],
        }
        await client.views_publish(user_id=event["user"], view=view)

    @app.action("toy.refresh")
    async def refresh(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        view = {"type": "home", "blocks": [_text("refreshed home")]}
        await client.views_publish(user_id=body["user"]["id"], view=view)

    @app.event("message")
    async def replied(event: dict[str, Any], client: Any) -> None:
        if event.get("thread_ts"):
            await client.chat_postMessage(
                channel=event["channel"],
                thread_ts=event["thread_ts"],
                text=f"re-planned: {event['text']}",
            )

    return app


@pytest.fixture
def api() -> LocalWebApi:
    return LocalWebApi()


@pytest.fixture
def submissions() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def app(api: LocalWebApi, submissions: list[dict[str, Any]]) -> AsyncApp:
    return toy_app(api, submissions)


async def test_buttons_are_numbered_and_mentions_named(app, api) -> None:
    out = await converse(app, api, ["/kaizen card", "/kaizen card"])
    assert "[1] Open  [2] Drop" in out
    assert "[3] Open  [4] Drop" in out  # a second card: new buttons, new numbers
    assert "A toy card for @you" in out
    assert out.rstrip().endswith("bye")


async def test_plain_text_is_a_kaizen_request(app, api) -> None:
    out = await converse(app, api, ["hello there"])
    assert "echo: hello there" in out


async def test_modal_errors_are_shown_and_fixed(app, api, submissions) -> None:
    lines = [
        "/kaizen card",
        "1",  # Open: the modal
        "",  # keep the YAML shown (it has no steps: refused)
        "",  # Why: optional, left empty
        "name: toy",  # now type a new YAML
        "steps: [x]",
        ".",
        "because",
    ]
    out = await converse(app, api, lines)
    assert "Kaizen · modal\n│ Edit toy" in out
    assert "name: toy" in out
    assert "✗ Kaizen did not accept that." in out
    assert "✗ YAML: add a step" in out
    assert "saved draft 7:" in out
    first, second = submissions
    assert first["yaml"]["yaml_input"] == {
        "type": "plain_text_input",
        "value": "name: toy\nsteps: []",
    }
    assert first["why"]["why_input"] == {"type": "plain_text_input", "value": None}
    assert second["yaml"]["yaml_input"]["value"] == "name: toy\nsteps: [x]"
    assert second["why"]["why_input"]["value"] == "because"
    assert api.workspace.open_modal(LOCAL_USER.id) is None


async def test_cancel_closes_the_modal(app, api, submissions) -> None:
    out = await converse(app, api, ["/kaizen card", "1", "/cancel", "/kaizen after"])
    assert "(modal closed)" in out
    assert "echo: after" in out
    assert submissions == []
    assert api.workspace.open_modal(LOCAL_USER.id) is None


async def test_eof_in_a_modal_ends_cleanly(app, api) -> None:
    out = await converse(app, api, ["/kaizen card", "1"])
    assert "Kaizen · modal\n│ Edit toy" in out
    assert out.rstrip().endswith("bye")


async def test_confirmation_is_asked_and_a_no_sends_nothing(app, api) -> None:
    out = await converse(app, api, ["/kaizen card", "2", "n", "2", "y"])
    assert "Drop it? Nothing has run." in out
    assert "(not pressed)" in out
    assert "Kaizen · #local (updated)" in out
    assert "dropped" in out
    calls = [method for method, _ in api.workspace.calls]
    assert calls.count("chat.update") == 1


async def test_an_old_button_can_still_be_pressed(app, api) -> None:
    out = await converse(app, api, ["/kaizen card", "2", "y", "1", "/cancel"])
    assert "no longer on its message" in out
    assert "Kaizen · modal\n│ Edit toy" in out  # the app still answered the click


async def test_reactions_go_to_the_latest_card_or_button_n(app, api) -> None:
    out = await converse(app, api, ["/kaizen card", "/kaizen card", "/react :tada:", "/react 1 +1"])
    assert "thanks for :tada:" in out
    assert "thanks for :+1:" in out
    cards = [m for m in api.workspace.messages.values() if m.get("blocks") == CARD]
    first, second = sorted(cards, key=lambda m: float(m["ts"]))
    assert [r["name"] for r in first["reactions"]] == ["+1"]
    assert [r["name"] for r in second["reactions"]] == ["tada"]
    assert "#local › thread of “card”" in out


async def test_thread_replies_are_message_events(app, api) -> None:
    out = await converse(app, api, ["/kaizen card", "/thread make it blue"])
    assert "re-planned: make it blue" in out
    (card,) = [m for m in api.workspace.messages.values() if m.get("blocks") == CARD]
    thread = api.workspace.thread(C, card["ts"])
    assert [m["text"] for m in thread] == ["card", "make it blue", "re-planned: make it blue"]


async def test_home_tab_is_published_and_its_buttons_work(app, api) -> None:
    out = await converse(app, api, ["/home", "1", "/home"])
    assert "Kaizen · Home tab" in out
    assert "Toy home" in out
    assert "[1] Refresh" in out
    assert "refreshed home" in out


async def test_respond_and_ack_replies_are_shown(app, api) -> None:
    out = await converse(app, api, ["/kaizen whisper", "/improve faster please"])
    assert "only you can see this" in out
    assert "psst" in out
    assert "Noted, thanks" in out


async def test_waits_for_slow_listeners_before_prompting(app, api) -> None:
    out = await converse(app, api, ["/kaizen slow", "/kaizen after"])
    assert out.index("slow done") < out.index("you> /kaizen after")


async def test_console_commands_and_mistakes(app, api) -> None:
    out = await converse(
        app, api, ["/help", "   ", "/foo bar", "9", "/click x", "/react", "/quit", "/kaizen never"]
    )
    assert "Console commands" in out
    assert "Unknown command /foo." in out
    assert "There is no button 9 — no buttons yet." in out
    assert "Usage: /click N" in out
    assert "Usage: /react" in out
    assert "echo: never" not in out  # /quit stopped the session
    assert not [call for call in api.workspace.calls if call[0] != "auth.test"]


async def test_requests_nothing_listens_to_are_reported(api, caplog) -> None:
    caplog.set_level("WARNING")
    out = await converse(new_app(api), api, ["/home", "/improve x", "/kaizen card"])
    assert "The app has no listener for app_home_opened events (the Home tab)." in out
    assert "The app has no listener for /improve." in out
    assert "The app has no listener for /kaizen." in out
    assert "Unhandled request" not in caplog.text  # Bolt's long warning: said in one line
