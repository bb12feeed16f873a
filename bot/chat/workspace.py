"""The local workspace: what Slack would keep for the console — messages by (channel, ts) with
their threads and reactions, ephemeral messages, modals (a stack per person), each person's
App Home, uploaded files — and the Web API methods that read and change it.

Every change people would see is announced to the subscribers as a :class:`Change`.
:meth:`LocalWorkspace.call` answers a Web API method as Slack would (a ``dict`` with ``ok``;
``ok: false`` and an ``error`` code when Slack would refuse). Methods it does not know are
answered ``ok`` with no data (and logged at debug level).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.chat import payloads
from bot.chat.payloads import BOT, LOCAL_CHANNEL, LOCAL_USER, Channel, Member

log = logging.getLogger(__name__)

ChangeKind = Literal[
    "posted",
    "updated",
    "deleted",
    "ephemeral",
    "view_opened",
    "view_updated",
    "home_published",
    "file_shared",
    "reaction_added",
    "notice",
]
#: Slack refuses a trigger id older than this (the console opens the modal and warns).
TRIGGER_TTL_S = 3.0
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
#: Parameters slack_sdk sends as JSON text (form and query parameters).
_JSON_PARAMS = frozenset({"blocks", "attachments", "view", "files", "metadata"})
_VIEW_DEFAULTS: dict[str, Any] = {
    "private_metadata": "",
    "callback_id": "",
    "external_id": "",
    "clear_on_close": False,
    "notify_on_close": False,
    "close": None,
    "submit": None,
}


@dataclass(frozen=True)
class Change:
    """Something people would see change: a message posted or updated, an ephemeral message,
    a modal opened, a Home tab published, a file shared, a reaction, a notice."""

    kind: ChangeKind
    channel: str = ""
    ts: str = ""
    thread_ts: str | None = None
    user: str | None = None
    """Who sees it: the ephemeral's recipient, the modal's or the Home tab's owner."""
    data: dict[str, Any] = field(default_factory=dict)
    """The message, view or file (as the Web API returns it), or ``{"text": …}`` of a notice."""


class SlackError(Exception):
    """A Web API error code (``ok: false``)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class StoredFile:
    """A file uploaded through ``files.getUploadURLExternal`` and friends."""

    id: str
    filename: str
    title: str = ""
    content: bytes = b""
    channel: str | None = None
    thread_ts: str | None = None


def decode_params(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call with the JSON-text ones (``blocks``, ``view``…) decoded."""
    decoded = dict(args)
    for key in _JSON_PARAMS & decoded.keys():
        value = decoded[key]
        if isinstance(value, str | bytes):
            with contextlib.suppress(ValueError):
                decoded[key] = json.loads(value)
    return decoded


class LocalWorkspace:
    """One team, its people and channels, and everything the app posted."""

    def __init__(
        self,
        *,
        members: list[Member] | None = None,
        channels: list[Channel] | None = None,
        usergroups: dict[str, list[str]] | None = None,
        bot: Member = BOT,
    ) -> None:
        self.bot = bot
        self.members = {m.id: m for m in [bot, *(members or [LOCAL_USER])]}
        self.channels = {c.id: c for c in [*(channels or [LOCAL_CHANNEL]), payloads.HOME_CHANNEL]}
        self.usergroups = dict(usergroups or {})
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemerals: dict[tuple[str, str], dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.modals: dict[str, list[str]] = {}
        """Each person's open modals, the top one last."""
        self.homes: dict[str, str] = {}
        """Each person's published App Home view id."""
        self.files: dict[str, StoredFile] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """Every call answered, in order: (method, arguments)."""
        self.last_call = time.monotonic()
        self._subscribers: list[Callable[[Change], None]] = []
        self._triggers: dict[str, tuple[str, float]] = {}
        self._ids = itertools.count(1)
        self._last_micros = 0
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.delete": self._delete,
            "chat.getPermalink": self._permalink,
            "conversations.info": self._conversation_info,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "users.info": self._user_info,
            "usergroups.users.list": self._usergroup_users,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    # ------------------------------------------------------------------ subscribers, ids

    def subscribe(self, callback: Callable[[Change], None]) -> None:
        """Call ``callback`` with every :class:`Change`, as it happens."""
        self._subscribers.append(callback)

    def _emit(self, change: Change) -> None:
        for callback in list(self._subscribers):
            try:
                callback(change)
            except Exception:  # a console problem must not fail the app's call
                log.exception("a subscriber failed on %s", change.kind)

    def new_ts(self) -> str:
        """A message timestamp: ``seconds.micros``, unique and increasing."""
        micros = max(self._last_micros + 1, int(time.time() * 1_000_000))
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}LOCAL{next(self._ids):04d}"

    def issue_trigger(self, user: str) -> str:
        """A new trigger id for an interaction of ``user`` (good once, for 3 seconds)."""
        trigger_id = payloads.new_trigger_id()
        self._triggers[trigger_id] = (user, time.monotonic())
        return trigger_id

    # ------------------------------------------------------------------ reading

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message as it is now (after updates), or ``None``."""
        return self.messages.get((channel, ts)) or self.ephemerals.get((channel, ts))

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The thread's parent and replies, oldest first."""
        found = [
            m
            for (c, ts), m in self.messages.items()
            if c == channel and (ts == thread_ts or m.get("thread_ts") == thread_ts)
        ]
        return sorted(found, key=lambda m: float(m["ts"]))

    def open_modal(self, user: str) -> dict[str, Any] | None:
        """The top modal ``user`` has open, or ``None``."""
        stack = self.modals.get(user) or []
        return self.views.get(stack[-1]) if stack else None

    def home(self, user: str) -> dict[str, Any] | None:
        view_id = self.homes.get(user)
        return self.views.get(view_id) if view_id else None

    # ------------------------------------------------------------------ what people do

    def add_user_message(
        self, text: str, *, user: Member, channel: Channel, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store a message a person wrote (announced to no one: they typed it)."""
        ts = self.new_ts()
        message: dict[str, Any] = {"type": "message", "user": user.id, "text": text, "ts": ts}
        if thread_ts:
            message["thread_ts"] = thread_ts
            self._count_reply(channel.id, thread_ts, ts)
        self.messages[(channel.id, ts)] = message
        return message

    def add_reaction(self, channel: str, ts: str, name: str, user: str) -> dict[str, Any]:
        """Record ``user``'s reaction ``name`` on a message (``SlackError`` as Slack would)."""
        message = self.messages.get((channel, ts))
        if message is None:
            raise SlackError("message_not_found")
        name = name.strip().strip(":")
        if not name:
            raise SlackError("invalid_name")
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if user in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(user)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [user], "count": 1})
        return message

    def close_modal(self, user: str, *, all_views: bool = False) -> dict[str, Any] | None:
        """Close ``user``'s top modal (or all of them); the closed top view, if any."""
        stack = self.modals.get(user) or []
        if not stack:
            return None
        closed = self.views.get(stack[-1])
        del stack[(0 if all_views else -1) :]
        return closed

    def replace_modal(self, user: str, view: dict[str, Any]) -> dict[str, Any]:
        """``response_action: update``: the top modal shows ``view`` (same id, new hash)."""
        top = self.open_modal(user)
        if top is None:
            raise SlackError("not_found")
        return self._store_view({**view, "id": top["id"]}, user=user, previous=top)

    def push_modal(self, user: str, view: dict[str, Any]) -> dict[str, Any]:
        """``response_action: push`` (and ``views.push``): a new modal on top of the stack."""
        stack = self.modals.setdefault(user, [])
        root = stack[0] if stack else None
        stored = self._store_view(view, user=user, root_id=root)
        stack.append(stored["id"])
        return stored

    # ------------------------------------------------------------------ the Web API

    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Answer the Web API ``method`` with ``args`` (JSON-text parameters decoded)."""
        args = decode_params({k: v for k, v in args.items() if v is not None})
        self.calls.append((method, args))
        self.last_call = time.monotonic()
        handler = self._methods.get(method)
        if handler is None:
            log.debug("%s is not emulated; answered ok with no data", method)
            return {"ok": True}
        try:
            return {"ok": True, **handler(args)}
        except SlackError as exc:
            return {"ok": False, "error": exc.error}

    def upload(self, file_id: str, content: bytes) -> None:
        """The bytes sent to an upload URL of ``files.getUploadURLExternal``."""
        stored = self.files.get(file_id)
        if stored is None:
            raise SlackError("file_not_found")
        stored.content = content
        self.last_call = time.monotonic()

    # ------------------------------------------------------------------ methods

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://local.invalid/",
            "team": payloads.TEAM_DOMAIN,
            "user": self.bot.name,
            "team_id": payloads.TEAM_ID,
            "user_id": self.bot.id,
            "bot_id": payloads.BOT_ID,
            "is_enterprise_install": False,
        }

    def _bot_message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackError("no_text")
        blocks = args.get("blocks") or []
        if not isinstance(blocks, list) or len(blocks) > MAX_MESSAGE_BLOCKS:
            raise SlackError("invalid_blocks")
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "user": self.bot.id,
            "bot_id": payloads.BOT_ID,
            "app_id": payloads.API_APP_ID,
            "team": payloads.TEAM_ID,
            "text": str(args.get("text") or ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key):
                message[key] = args[key]
        return message

    def _channel(self, args: dict[str, Any], key: str = "channel") -> str:
        channel = str(args.get(key) or "")
        if not channel:
            raise SlackError("channel_not_found")
        by_name = {c.name: c.id for c in self.channels.values()}
        return by_name.get(channel.lstrip("#"), channel)

    def _count_reply(self, channel: str, thread_ts: str, ts: str) -> None:
        parent = self.messages.get((channel, thread_ts))
        if parent is not None:
            parent["thread_ts"] = thread_ts
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            parent["latest_reply"] = ts

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = self.new_ts()
        message = self._bot_message(args, ts)
        thread_ts = args.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            self._count_reply(channel, str(thread_ts), ts)
        self.messages[(channel, ts)] = message
        self._emit(Change("posted", channel, ts, message.get("thread_ts"), data=message))
        return {"channel": channel, "ts": ts, "message": message}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args.get("ts") or "")
        message = self.messages.get((channel, ts))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot.id:
            raise SlackError("cant_update_message")
        fresh = self._bot_message({**message, **args}, ts)
        for key in ("thread_ts", "reply_count", "latest_reply", "reactions"):
            if key in message:
                fresh[key] = message[key]
        if "blocks" in args and not args["blocks"]:
            fresh.pop("blocks", None)
        fresh["edited"] = {"user": self.bot.id, "ts": self.new_ts()}
        self.messages[(channel, ts)] = fresh
        self._emit(Change("updated", channel, ts, fresh.get("thread_ts"), data=fresh))
        return {"channel": channel, "ts": ts, "text": fresh["text"], "message": fresh}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, user = self._channel(args), str(args.get("user") or "")
        if user not in self.members:
            raise SlackError("user_not_in_channel")
        ts = self.new_ts()
        message = self._bot_message(args, ts)
        thread_ts = args.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
        self.ephemerals[(channel, ts)] = message
        self._emit(Change("ephemeral", channel, ts, message.get("thread_ts"), user, message))
        return {"message_ts": ts}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args.get("ts") or "")
        message = self.messages.pop((channel, ts), None)
        if message is None:
            raise SlackError("message_not_found")
        self._emit(Change("deleted", channel, ts, message.get("thread_ts"), data=message))
        return {"channel": channel, "ts": ts}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args.get("message_ts") or "")
        if (channel, ts) not in self.messages:
            raise SlackError("message_not_found")
        link = f"https://local.invalid/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _conversation_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel(args)
        channel = self.channels.get(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        is_im = channel_id.startswith("D")
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not is_im,
                "is_im": is_im,
                "is_private": False,
                "is_member": True,
                "is_archived": False,
            }
        }

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        found = [
            m
            for (c, ts), m in self.messages.items()
            if c == channel and m.get("thread_ts", ts) == ts
        ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {"messages": found[: int(args.get("limit") or 100)], "has_more": False}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args.get("ts") or "")
        if (channel, ts) not in self.messages:
            raise SlackError("thread_not_found")
        parent = self.messages[(channel, ts)]
        return {"messages": self.thread(channel, parent.get("thread_ts") or ts), "has_more": False}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        member = self.members.get(str(args.get("user") or ""))
        if member is None:
            raise SlackError("user_not_found")
        profile = {"display_name": member.name, "real_name": member.name}
        return {
            "user": {
                "id": member.id,
                "team_id": payloads.TEAM_ID,
                "name": member.name,
                "real_name": member.name,
                "is_bot": member.id == self.bot.id,
                "tz": time.strftime("%Z") or "UTC",
                "profile": profile,
            }
        }

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"users": list(self.usergroups.get(str(args.get("usergroup") or ""), []))}

    # ------------------------------------------------------------------ views

    def _store_view(
        self,
        view: dict[str, Any],
        *,
        user: str,
        previous: dict[str, Any] | None = None,
        root_id: str | None = None,
    ) -> dict[str, Any]:
        blocks = view.get("blocks") or []
        if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
            raise SlackError("invalid_blocks")
        if view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        view_id = str(view.get("id") or self._new_id("V"))
        stored: dict[str, Any] = {
            **_VIEW_DEFAULTS,
            **view,
            "id": view_id,
            "team_id": payloads.TEAM_ID,
            "blocks": blocks,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "previous_view_id": previous.get("previous_view_id") if previous else None,
            "root_view_id": (previous or {}).get("root_view_id") or root_id or view_id,
            "app_id": payloads.API_APP_ID,
            "app_installed_team_id": payloads.TEAM_ID,
            "bot_id": payloads.BOT_ID,
        }
        self.views[view_id] = stored
        return stored

    def _trigger_user(self, args: dict[str, Any]) -> str:
        trigger_id = str(args.get("trigger_id") or "")
        issued = self._triggers.pop(trigger_id, None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        user, at = issued
        late = time.monotonic() - at
        if late > TRIGGER_TTL_S:
            note = (
                f"Slack would refuse this modal (expired_trigger_id): it opened {late:.1f} s "
                f"after the click, and trigger ids expire after {TRIGGER_TTL_S:.0f} s."
            )
            self._emit(Change("notice", user=user, data={"text": note}))
        return user

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._trigger_user(args)
        if not isinstance(args.get("view"), dict):
            raise SlackError("invalid_arguments")
        self.modals[user] = []
        stored = self.push_modal(user, args["view"])
        self._emit(Change("view_opened", user=user, data=stored))
        return {"view": stored}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._trigger_user(args)
        if not isinstance(args.get("view"), dict):
            raise SlackError("invalid_arguments")
        if not self.modals.get(user):
            raise SlackError("not_found")
        stored = self.push_modal(user, args["view"])
        self._emit(Change("view_opened", user=user, data=stored))
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = str(args.get("view_id") or "")
        if not view_id and args.get("external_id"):
            found = [v for v in self.views.values() if v.get("external_id") == args["external_id"]]
            view_id = found[0]["id"] if found else ""
        current = self.views.get(view_id)
        if current is None or not isinstance(args.get("view"), dict):
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        owner = next((u for u, s in self.modals.items() if view_id in s), None)
        home_owner = next((u for u, v in self.homes.items() if v == view_id), None)
        if owner is None and home_owner is None:
            raise SlackError("not_found")  # closed: Slack no longer has it
        stored = self._store_view(
            {**args["view"], "id": view_id}, user=owner or home_owner or "", previous=current
        )
        kind: ChangeKind = "view_updated" if owner else "home_published"
        self._emit(Change(kind, user=owner or home_owner, data=stored))
        return {"view": stored}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id") or "")
        if user not in self.members:
            raise SlackError("user_not_found")
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        current = self.home(user)
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(
            {**view, "id": current["id"] if current else None}, user=user, previous=current
        )
        self.homes[user] = stored["id"]
        self._emit(Change("home_published", user=user, data=stored))
        return {"view": stored}

    # ------------------------------------------------------------------ reactions, files

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args.get("timestamp") or "")
        name = str(args.get("name") or "")
        message = self.add_reaction(channel, ts, name, self.bot.id)
        self._emit(
            Change("reaction_added", channel, ts, message.get("thread_ts"), data={"name": name})
        )
        return {}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self._channel(args), str(args.get("timestamp") or "")
        message = self.messages.get((channel, ts))
        name = str(args.get("name") or "").strip(":")
        for reaction in (message or {}).get("reactions", []):
            if reaction["name"] == name and self.bot.id in reaction["users"]:
                reaction["users"].remove(self.bot.id)
                reaction["count"] -= 1
                return {}
        raise SlackError("no_reaction")

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        if not filename or not str(args.get("length") or "").isdigit():
            raise SlackError("invalid_arguments")
        file_id = self._new_id("F")
        self.files[file_id] = StoredFile(id=file_id, filename=filename)
        return {"file_id": file_id, "upload_url": f"{UPLOAD_URL_BASE}{file_id}"}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        channel = str(args.get("channel_id") or "") or None
        thread_ts = str(args.get("thread_ts") or "") or None
        shared = []
        for entry in entries:
            stored = self.files.get(str(entry.get("id")))
            if stored is None:
                raise SlackError("file_not_found")
            stored.title = str(entry.get("title") or stored.filename)
            stored.channel, stored.thread_ts = channel, thread_ts
            info = {
                "id": stored.id,
                "name": stored.filename,
                "title": stored.title,
                "size": len(stored.content),
                "channels": [channel] if channel else [],
            }
            shared.append(info)
            if channel:
                self._emit(Change("file_shared", channel, "", thread_ts, data=info))
        return {"files": shared}


#: Where ``files.getUploadURLExternal`` tells clients to send the bytes (answered locally).
UPLOAD_URL_BASE = "https://files.local.invalid/upload/v1/"
