"""The payloads the console sends are shaped as Slack sends them, and never repeat ids."""

from __future__ import annotations

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.chat import payloads
from bot.chat.payloads import LOCAL_CHANNEL, LOCAL_USER


def test_slash_commands_get_new_trigger_ids_and_bolt_reads_them() -> None:
    first = payloads.slash_command("/kaizen", "help")
    second = payloads.slash_command("/kaizen", "help")
    assert first["trigger_id"] != second["trigger_id"]
    assert first["response_url"] != second["response_url"]
    request = AsyncBoltRequest(body=first, mode="socket_mode")
    assert request.context.user_id == LOCAL_USER.id
    assert request.context.channel_id == LOCAL_CHANNEL.id


def test_block_actions_echo_the_message_and_name_the_container() -> None:
    element = {"type": "button", "action_id": "a", "value": "7", "text": {"text": "Run"}}
    message = {"ts": "1.5", "text": "card", "blocks": [], "thread_ts": "1.1"}
    body = payloads.message_block_actions(
        payloads.button_action(element, block_id="b"), message=message
    )
    assert body["container"] == {
        "type": "message",
        "message_ts": "1.5",
        "channel_id": LOCAL_CHANNEL.id,
        "is_ephemeral": False,
        "thread_ts": "1.1",
    }
    assert body["message"] == message
    assert body["actions"][0]["action_id"] == "a"
    assert body["actions"][0]["value"] == "7"
    assert body["actions"][0]["block_id"] == "b"
    ephemeral = payloads.message_block_actions(
        body["actions"][0], message=message, is_ephemeral=True
    )
    assert "message" not in ephemeral
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    assert request.context.channel_id == LOCAL_CHANNEL.id


def test_view_submission_carries_the_state_values() -> None:
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": "cb",
        "private_metadata": "7",
        "state": {"values": {}},
    }
    values = {"b": {"a": {"type": "plain_text_input", "value": "x"}}}
    body = payloads.view_submission(view, values)
    assert body["type"] == "view_submission"
    assert body["view"]["state"] == {"values": values}
    assert body["view"]["private_metadata"] == "7"
    assert view["state"] == {"values": {}}  # the stored view is left alone


def test_events_come_in_envelopes_with_new_ids() -> None:
    event = payloads.reaction_added_event(":+1:", item_ts="1.5")
    assert event["reaction"] == "+1"
    assert event["item"] == {"type": "message", "channel": LOCAL_CHANNEL.id, "ts": "1.5"}
    first, second = payloads.event_callback(event), payloads.event_callback(event)
    assert first["type"] == "event_callback"
    assert first["event_id"] != second["event_id"]
    reply = payloads.message_event("hi", ts="1.6", thread_ts="1.5")
    assert reply["thread_ts"] == "1.5"
    assert reply["channel_type"] == "channel"
    assert payloads.app_home_opened_event()["tab"] == "home"
