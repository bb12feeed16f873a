"""The payloads Slack would send the app, as dicts: Socket Mode delivers each as a JSON object,
and Bolt dispatches it the same way (``AsyncBoltRequest(body=payload, mode="socket_mode")``).

- slash commands: https://api.slack.com/interactivity/slash-commands#app_command_handling
- ``block_actions``: https://api.slack.com/reference/interaction-payloads/block-actions
- ``view_submission`` / ``view_closed``: https://api.slack.com/reference/interaction-payloads/views
- Events API envelopes and events: https://api.slack.com/apis/events-api#callback-field

Every trigger id and event id is new: Slack never repeats them (apps dedupe events by id).
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

# Ids are shaped like Slack's (a letter, then capitals and digits): the cards show ``<@U…>``
# as a mention (``@you``) only for ids of that shape.
TEAM_ID = "T0LOCAL"
TEAM_DOMAIN = "local"
API_APP_ID = "A0KAIZEN"
BOT_USER_ID = "U0KAIZEN"
BOT_ID = "B0KAIZEN"
#: The deprecated verification token Slack still puts in payloads (nothing checks it here).
VERIFICATION_TOKEN = "local-console"
RESPONSE_URL_BASE = "https://hooks.local.invalid/"

_counter = itertools.count(1)


@dataclass(frozen=True)
class Member:
    """A person (or the bot) in the local workspace."""

    id: str
    name: str


@dataclass(frozen=True)
class Channel:
    """A conversation in the local workspace."""

    id: str
    name: str


#: Who types at the console, and where.
LOCAL_USER = Member("U0LOCAL", "you")
LOCAL_CHANNEL = Channel("C0LOCAL", "local")
#: The direct-message channel of the App Home.
HOME_CHANNEL = Channel("D0LOCAL", "kaizen")
BOT = Member(BOT_USER_ID, "kaizen")


def new_trigger_id() -> str:
    """A trigger id as Slack makes them (``views.open`` takes it; each is good once)."""
    return f"{int(time.time())}.{next(_counter)}.{secrets.token_hex(16)}"


def new_event_id() -> str:
    """An Events API event id: ``Ev`` and letters, unique."""
    return f"Ev{next(_counter):06d}{secrets.token_hex(4).upper()}"


def response_url(kind: str) -> str:
    """A response URL (only the console's own ``respond`` answers it)."""
    return f"{RESPONSE_URL_BASE}{kind}/{TEAM_ID}/{next(_counter)}/{secrets.token_hex(12)}"


def _user(member: Member) -> dict[str, Any]:
    return {"id": member.id, "username": member.name, "name": member.name, "team_id": TEAM_ID}


def _team() -> dict[str, Any]:
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def slash_command(
    command: str,
    text: str,
    *,
    user: Member = LOCAL_USER,
    channel: Channel = LOCAL_CHANNEL,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A slash command invocation (in Socket Mode its fields arrive as a JSON object)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel.id,
        "channel_name": channel.name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url("commands"),
        "trigger_id": trigger_id or new_trigger_id(),
    }


def button_action(element: dict[str, Any], *, block_id: str) -> dict[str, Any]:
    """``actions[0]`` of a ``block_actions`` payload for a click on the button ``element``."""
    action: dict[str, Any] = {
        "action_id": element.get("action_id", ""),
        "block_id": block_id,
        "text": element.get("text") or {"type": "plain_text", "text": ""},
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if "value" in element:
        action["value"] = element["value"]
    if element.get("style"):
        action["style"] = element["style"]
    return action


def message_block_actions(
    action: dict[str, Any],
    *,
    message: dict[str, Any],
    channel: Channel = LOCAL_CHANNEL,
    user: Member = LOCAL_USER,
    trigger_id: str | None = None,
    is_ephemeral: bool = False,
) -> dict[str, Any]:
    """A click on a message's button: the clicked message is echoed with its blocks (not for
    an ephemeral message: Slack sends only its ts then)."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel.id,
        "is_ephemeral": is_ephemeral,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url("actions"),
        "actions": [action],
    }
    if is_ephemeral:
        del payload["message"]
    return payload


def view_block_actions(
    action: dict[str, Any],
    *,
    view: dict[str, Any],
    user: Member = LOCAL_USER,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A click on a button in a view (a modal or the App Home): no channel, no message."""
    return {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view.get("id", "")},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "state": view.get("state") or {"values": {}},
        "actions": [action],
    }


def view_submission(
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    *,
    user: Member = LOCAL_USER,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A modal submitted with ``values`` (``{block_id: {action_id: {type, value…}}}``): the
    view as stored, its ``state.values`` set."""
    submitted = {**view, "state": {"values": values}}
    return {
        "type": "view_submission",
        "team": _team(),
        "user": _user(user),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(view: dict[str, Any], *, user: Member = LOCAL_USER) -> dict[str, Any]:
    """A modal closed with its close button (sent only when it asked: ``notify_on_close``)."""
    return {
        "type": "view_closed",
        "team": _team(),
        "user": _user(user),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "view": view,
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """An Events API ``event_callback`` envelope around ``event``, with a new event id."""
    event_id = new_event_id()
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "context_enterprise_id": None,
        "api_app_id": API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }


def message_event(
    text: str,
    *,
    ts: str,
    thread_ts: str | None = None,
    user: Member = LOCAL_USER,
    channel: Channel = LOCAL_CHANNEL,
    parent_user_id: str | None = BOT_USER_ID,
) -> dict[str, Any]:
    """A person's ``message`` (``message.channels``); in a thread when ``thread_ts`` is set."""
    event: dict[str, Any] = {
        "type": "message",
        "client_msg_id": f"local-{ts}",
        "user": user.id,
        "text": text,
        "ts": ts,
        "team": TEAM_ID,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "local",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
        "channel": channel.id,
        "event_ts": ts,
        "channel_type": {"D": "im", "G": "group"}.get(channel.id[:1], "channel"),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
        if parent_user_id:
            event["parent_user_id"] = parent_user_id
    return event


def reaction_added_event(
    reaction: str,
    *,
    item_ts: str,
    item_user: str = BOT_USER_ID,
    user: Member = LOCAL_USER,
    channel: Channel = LOCAL_CHANNEL,
) -> dict[str, Any]:
    """A ``reaction_added`` event: ``reaction`` (no colons) on the message ``item_ts``."""
    return {
        "type": "reaction_added",
        "user": user.id,
        "reaction": reaction.strip().strip(":"),
        "item": {"type": "message", "channel": channel.id, "ts": item_ts},
        "item_user": item_user,
        "event_ts": f"{time.time():.6f}",
    }


def app_home_opened_event(
    *,
    user: Member = LOCAL_USER,
    channel: Channel = HOME_CHANNEL,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``app_home_opened`` event for the Home tab (``view``: the one published before)."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": channel.id,
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return event
