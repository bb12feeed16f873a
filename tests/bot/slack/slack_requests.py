"""Build requests exactly as Slack sends them to an app's HTTP endpoint, signed.

Slash commands and interactivity payloads are ``application/x-www-form-urlencoded``
(interactivity as a single ``payload=<json>`` field); Events API requests are
``application/json``.  Every request carries Slack's v0 signature::

    X-Slack-Request-Timestamp: <unix seconds>
    X-Slack-Signature: v0=<hex HMAC-SHA256(signing_secret, "v0:<timestamp>:<raw body>")>

(https://api.slack.com/authentication/verifying-requests-from-slack).  The helpers here
return the raw body *string*; sign exactly that string and send it unchanged::

    body = slash_command_body(text="plan deploy")
    status, text, _ = post(url, body, sign(SECRET, body))
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

__all__ = [
    "DEFAULT_RESPONSE_URL",
    "VERIFICATION_TOKEN",
    "app_home_opened_event",
    "app_mention_event",
    "block_actions_body",
    "event_body",
    "message_event",
    "new_trigger_id",
    "post",
    "reaction_added_event",
    "retry_headers",
    "sign",
    "signature",
    "slash_command_body",
    "url_verification_body",
    "view_submission_body",
]

TEAM_ID = "T0001"
TEAM_DOMAIN = "kaizen-test"
API_APP_ID = "A1"
BOT_USER_ID = "UBOT"
BOT_ID = "B0001"
# The deprecated verification token Slack still puts in every payload.
VERIFICATION_TOKEN = "verification-token"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1234567890/0123456789abcdefABCDEF"
DEFAULT_ACTION_RESPONSE_URL = (
    "https://hooks.slack.com/actions/T0001/1234567890/0123456789abcdefABCDEF"
)
DEFAULT_MESSAGE_TS = "1700000000.000100"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

_ts_counter = itertools.count(1)


def _json(payload: Any) -> str:
    """Serialise compactly, as Slack does."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


_trigger_counter = itertools.count(1)


def new_trigger_id() -> str:
    """A trigger id as Slack makes them: unique for every command, click and submission."""
    return f"1700000000.{next(_trigger_counter):010d}.0123456789abcdef0123456789abcdef"


def _now_ts() -> str:
    """A unique ``"seconds.micros"`` Slack-style timestamp based on the current time."""
    return f"{int(time.time())}.{next(_ts_counter) % 1_000_000:06d}"


def signature(secret: str, body: str | bytes, timestamp: int | str) -> str:
    """Slack's v0 request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + raw
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def sign(
    secret: str,
    body: str,
    timestamp: int | None = None,
    *,
    content_type: str | None = None,
) -> dict[str, str]:
    """Headers Slack sends with ``body``: timestamp, v0 signature, Content-Type, User-Agent.

    ``timestamp`` defaults to now (apps reject requests older than five minutes).  The
    Content-Type is guessed from the body (JSON for Events API bodies, form otherwise)
    unless ``content_type`` is given.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    if content_type is None:
        content_type = JSON_CONTENT_TYPE if body.lstrip().startswith("{") else FORM_CONTENT_TYPE
    return {
        "Content-Type": content_type,
        "User-Agent": SLACK_USER_AGENT,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, body, ts),
    }


def retry_headers(num: int = 1, reason: str = "http_timeout") -> dict[str, str]:
    """Headers Slack adds when it re-delivers an event (``http_timeout``, ``http_error``...)."""
    return {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}


def slash_command_body(
    command: str = "/kaizen",
    text: str = "",
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    channel_name: str = "general",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> str:
    """The form-encoded body of a slash command invocation, fields in Slack's order."""
    return urlencode(
        [
            ("token", token),
            ("team_id", team_id),
            ("team_domain", team_domain),
            ("channel_id", channel_id),
            ("channel_name", channel_name),
            ("user_id", user_id),
            ("user_name", user_name),
            ("command", command),
            ("text", text),
            ("api_app_id", api_app_id),
            ("is_enterprise_install", "false"),
            ("response_url", response_url),
            ("trigger_id", trigger_id or new_trigger_id()),
        ]
    )


def _user(user_id: str, user_name: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _payload_body(payload: dict[str, Any]) -> str:
    """Interactivity requests are form-encoded with one ``payload`` field holding JSON."""
    return urlencode({"payload": _json(payload)})


def block_actions_body(
    action_id: str,
    value: str,
    user_id: str = "U1",
    channel_id: str = "C1",
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    block_id: str = "b1",
    trigger_id: str | None = None,
    *,
    user_name: str = "alice",
    channel_name: str = "general",
    team_id: str = TEAM_ID,
    button_text: str | None = None,
    response_url: str = DEFAULT_ACTION_RESPONSE_URL,
    api_app_id: str = API_APP_ID,
) -> str:
    """A button click (``block_actions``) on a message, form-encoded as ``payload=<json>``.

    ``message`` is the clicked message as Slack echoes it (``ts``, ``text``, ``blocks``...);
    its ``ts`` is used when ``message_ts`` is not given.  Without either, a bot message
    with ts ``1700000000.000100`` is assumed.
    """
    msg: dict[str, Any] = dict(message) if message is not None else {}
    ts = message_ts or msg.get("ts") or DEFAULT_MESSAGE_TS
    msg.setdefault("type", "message")
    msg.setdefault("ts", ts)
    msg.setdefault("text", "")
    msg.setdefault("blocks", [])
    if message is None:
        msg.update({"subtype": "bot_message", "user": BOT_USER_ID, "bot_id": BOT_ID})
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    if msg.get("thread_ts"):
        container["thread_ts"] = msg["thread_ts"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": msg,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text or value, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _now_ts(),
            }
        ],
    }
    return _payload_body(payload)


def _shape_state_values(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{block: {action: "text"}}`` → Slack's ``{block: {action: {type, value}}}``.

    Values that are already dicts (e.g. a pre-shaped ``static_select`` state) pass through.
    """
    shaped: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        shaped[block_id] = {
            action_id: (
                value if isinstance(value, dict) else {"type": "plain_text_input", "value": value}
            )
            for action_id, value in actions.items()
        }
    return shaped


def view_submission_body(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    private_metadata: str = "",
    user_id: str = "U1",
    view_id: str = "V1",
    *,
    user_name: str = "alice",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    view_hash: str = "1700000000.abcdef12",
    api_app_id: str = API_APP_ID,
) -> str:
    """A modal submission (``view_submission``), form-encoded as ``payload=<json>``.

    ``values`` is ``{block_id: {action_id: value}}``; plain strings (or None for an empty
    optional input) become ``plain_text_input`` states.
    """
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": _shape_state_values(values)},
            "hash": view_hash,
            "title": {"type": "plain_text", "text": "Kaizen", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": api_app_id,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload_body(payload)


def event_body(
    event: dict[str, Any],
    event_id: str = "Ev1",
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> str:
    """An Events API ``event_callback`` envelope (JSON) around ``event``."""
    return _json(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "context_team_id": team_id,
            "context_enterprise_id": None,
            "api_app_id": api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{event_id}",
        }
    )


def url_verification_body(challenge: str) -> str:
    """The JSON body Slack sends when an Events API request URL is (re)configured."""
    return _json({"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"})


def _rich_text(text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "rich_text",
            "block_id": "rt1",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


def _channel_type(channel: str) -> str:
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def _user_message(
    kind: str, text: str, user: str, channel: str, ts: str, thread_ts: str | None
) -> dict[str, Any]:
    """The fields Slack sends for a message a person wrote (as ``message`` or ``app_mention``)."""
    event: dict[str, Any] = {
        "type": kind,
        "client_msg_id": f"msg-{ts}",
        "user": user,
        "text": text,
        "ts": ts,
        "team": TEAM_ID,
        "blocks": _rich_text(text),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def app_mention_event(
    text: str,
    user: str = "U1",
    channel: str = "C1",
    ts: str = "1700000001.000100",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """An ``app_mention`` event (``text`` usually starts with ``<@UBOT>``)."""
    return _user_message("app_mention", text, user, channel, ts, thread_ts)


def message_event(
    text: str,
    user: str = "U1",
    channel: str = "C1",
    ts: str = "1700000001.000100",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A plain user ``message`` event (``channel_type`` derived from the channel id)."""
    event = _user_message("message", text, user, channel, ts, thread_ts)
    event["channel_type"] = _channel_type(channel)
    if thread_ts:
        event["parent_user_id"] = BOT_USER_ID
    return event


def reaction_added_event(
    reaction: str,
    user: str = "U1",
    channel: str = "C1",
    item_ts: str = DEFAULT_MESSAGE_TS,
    item_user: str = BOT_USER_ID,
) -> dict[str, Any]:
    """A ``reaction_added`` event on the message ``item_ts`` (by default a bot message)."""
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": item_ts},
        "item_user": item_user,
        "event_ts": _now_ts(),
    }


def app_home_opened_event(user: str = "U1", channel: str = "D0001") -> dict[str, Any]:
    """An ``app_home_opened`` event for the Home tab."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": "home",
        "event_ts": _now_ts(),
    }


def post(
    url: str,
    body: str,
    headers: dict[str, str],
    timeout: float = 5,
) -> tuple[int, str, float]:
    """POST the raw ``body`` with ``headers``; returns ``(status, body_text, elapsed_s)``."""
    started = time.perf_counter()
    response = httpx.post(url, content=body.encode("utf-8"), headers=headers, timeout=timeout)
    return response.status_code, response.text, time.perf_counter() - started
