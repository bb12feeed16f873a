"""A local stand-in for the Slack Web API, for end-to-end tests of the Slack bot.

The stub is a small ``http.server.ThreadingHTTPServer`` running in a daemon thread on
``127.0.0.1`` (random free port).  Point ``slack_sdk.WebClient`` /
``slack_sdk.web.async_client.AsyncWebClient`` at it with ``base_url=stub.base_url``::

    with SlackApiStub() as stub:
        client = WebClient(token="xoxb-test", base_url=stub.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        [call] = stub.wait_for("chat.postMessage")
        assert call.params["text"] == "hi"

Every request is recorded as a :class:`Call` (method, decoded params, request headers,
monotonic time).  Form bodies, JSON bodies, multipart bodies and query strings are all
decoded; nested params that slack_sdk sends as JSON strings in form bodies (``blocks``,
``view``, ``files`` ...) are decoded into Python objects.  Posted messages are kept by
``(channel, ts)`` so tests can inspect the latest state with :meth:`SlackApiStub.message`
and :meth:`SlackApiStub.thread`.
"""

from __future__ import annotations

import contextlib
import copy
import email.parser
import email.policy
import hashlib
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "SlackApiStub"]

TEAM_ID = "T0001"
TEAM_NAME = "Kaizen Test"
TEAM_DOMAIN = "kaizen-test"
BOT_USER_ID = "UBOT"
BOT_ID = "B0001"
BOT_NAME = "kaizen"
APP_ID = "A1"
INVALID_TOKEN = "xoxb-invalid"
UPLOAD_CONTENT_METHOD = "files.upload_content"

# Params that slack_sdk serialises to JSON strings when it sends a form body.
_JSON_PARAMS = frozenset(
    {
        "attachments",
        "blocks",
        "files",
        "input_blocks",
        "metadata",
        "outputs",
        "unfurls",
        "user_auth_blocks",
        "view",
    }
)
_TS_BASE_MICROS = 1_700_000_000_000_000
_TS_STEP_MICROS = 100

JsonDict = dict[str, Any]
Handler = Callable[[JsonDict], JsonDict]


@dataclass(frozen=True)
class Call:
    """One request received by the stub."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """Return a request header, looked up case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def token(self) -> str | None:
        """The Bearer token from the ``Authorization`` header, if any."""
        auth = self.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None


@dataclass(frozen=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: JsonDict, status: int = 200) -> _Reply:
        return cls(status=status, body=json.dumps(payload).encode("utf-8"))


class _SlackError(Exception):
    """Raised by method handlers to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _ts_from_micros(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Decode JSON-string values of the params slack_sdk serialises (blocks, view, ...)."""
    decoded = dict(params)
    for key in _JSON_PARAMS & decoded.keys():
        value = decoded[key]
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):
                decoded[key] = json.loads(value)
    return decoded


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    raw = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if part.get_filename():
            params[name] = payload
        else:
            params[name] = payload.decode("utf-8", errors="replace")
    return params


def _parse_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Decode query string + body (JSON, multipart or form) into one params dict."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.lower()
    if body:
        parsed: dict[str, Any] | None = None
        if "multipart/form-data" in ctype:
            parsed = _parse_multipart(content_type, body)
        elif "json" in ctype or body.lstrip()[:1] == b"{":
            try:
                loaded = json.loads(body)
            except ValueError:
                loaded = None
            if loaded is not None:
                parsed = loaded if isinstance(loaded, dict) else {"_body": loaded}
        if parsed is None:
            parsed = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params.update(parsed)
    return _decode_json_params(params)


class _StubServer(ThreadingHTTPServer):
    # A benchmark's hundreds of concurrent calls must queue, not be refused.
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, stub: SlackApiStub) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.stub = stub


class _RequestHandler(BaseHTTPRequestHandler):
    server: _StubServer
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.stub._handle_http(
            path=self.path,
            headers=dict(self.headers.items()),
            body=body,
        )
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class SlackApiStub:
    """An in-process fake of the Slack Web API (``/api/<method>``) plus file upload URLs.

    Configure before or during a test:

    * ``usergroups``: ``{"S123": ["U1", "U2"]}`` for ``usergroups.users.list``;
    * ``users``: ``{"U1": {"name": "alice", "is_admin": True}}`` overrides for ``users.info``;
    * ``channels``: ``{"C1": "general"}`` channel names for ``conversations.info``.
    """

    def __init__(self) -> None:
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, str] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], JsonDict] = {}
        self._views: dict[str, JsonDict] = {}
        self._home_views: dict[str, str] = {}  # user id -> id of their published App Home view
        self._files: dict[str, JsonDict] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._latency = 0.0
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._server: _StubServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SlackApiStub:
        """Start serving on a random free port of 127.0.0.1; returns ``self``."""
        if self._server is not None:
            return self
        self._server = _StubServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-api-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and release the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackApiStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the stub listens on (only while started)."""
        if self._server is None:
            raise RuntimeError("SlackApiStub is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` for slack_sdk clients: ``http://127.0.0.1:PORT/api/``."""
        return f"{self.url}/api/"

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        """A snapshot (copy) of every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls to ``method``, oldest first."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[Call]:
        """Block until ``count`` calls to ``method`` (matching ``where(params)``) are recorded.

        Returns every matching call recorded so far.  Raises ``AssertionError`` with a summary
        of what was recorded if the calls do not arrive within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [
                    c
                    for c in self._calls
                    if c.method == method and (where is None or where(c.params))
                ]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.05))
            recorded = list(self._calls)
        raise AssertionError(
            self._timeout_message(method, count, timeout, where, matching, recorded)
        )

    @staticmethod
    def _timeout_message(
        method: str,
        count: int,
        timeout: float,
        where: Callable[[dict[str, Any]], bool] | None,
        matching: list[Call],
        recorded: list[Call],
    ) -> str:
        condition = f" matching {getattr(where, '__name__', where)!s}" if where else ""
        lines = [
            f"timed out after {timeout:.2f}s waiting for {count} call(s) to {method!r}{condition}; "
            f"got {len(matching)} matching.",
            f"Recorded {len(recorded)} call(s):" if recorded else "No calls were recorded.",
        ]
        lines.extend(f"  {i}. {c.method} {_short(c.params)}" for i, c in enumerate(recorded, 1))
        return "\n".join(lines)

    def clear(self) -> None:
        """Forget recorded calls, messages, views, files and pending failures."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._views.clear()
            self._home_views.clear()
            self._files.clear()
            self._failures.clear()

    def message(self, channel: str, ts: str) -> JsonDict | None:
        """The latest state (after updates) of the message ``ts`` in ``channel``, or None."""
        with self._lock:
            stored = self._messages.get((channel, ts))
            return copy.deepcopy(stored) if stored is not None else None

    def thread(self, channel: str, thread_ts: str) -> list[JsonDict]:
        """The thread rooted at ``thread_ts``: the parent (if known) then replies, by ts."""
        with self._lock:
            found = [
                m
                for (ch, ts), m in self._messages.items()
                if ch == channel and (ts == thread_ts or m.get("thread_ts") == thread_ts)
            ]
            found.sort(key=lambda m: float(m["ts"]))
            return copy.deepcopy(found)

    def messages(self, channel: str | None = None) -> list[JsonDict]:
        """Every stored message (optionally only in ``channel``), ordered by ts."""
        with self._lock:
            found = [m for (ch, _), m in self._messages.items() if channel in (None, ch)]
            found.sort(key=lambda m: float(m["ts"]))
            return copy.deepcopy(found)

    def view(self, view_id: str) -> JsonDict | None:
        """The latest state of a view opened/updated/pushed/published through the stub."""
        with self._lock:
            stored = self._views.get(view_id)
            return copy.deepcopy(stored) if stored is not None else None

    def seed_message(
        self,
        channel: str,
        text: str = "",
        *,
        ts: str | None = None,
        blocks: list[JsonDict] | None = None,
        thread_ts: str | None = None,
        user: str = "U1",
    ) -> JsonDict:
        """Store a message as if it already existed in Slack (e.g. one written by a user)."""
        with self._lock:
            message: JsonDict = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts or self._next_ts(),
                "team": TEAM_ID,
            }
            if blocks is not None:
                message["blocks"] = blocks
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._messages[(channel, message["ts"])] = message
            return dict(message)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int | None = 1,
    ) -> None:
        """Answer the next call to ``method`` with ``{"ok": false, "error": error}``.

        ``status`` is the HTTP status; a ``Retry-After`` header is sent when ``retry_after``
        is not None.  Several calls queue up (first in, first out).  ``method`` may also be
        ``"files.upload_content"`` to fail the upload POST itself.
        """
        with self._lock:
            self._failures[method].append(_Failure(error, status, retry_after))

    def set_latency(self, seconds: float) -> None:
        """Delay every response by ``seconds`` (0 to disable)."""
        with self._lock:
            self._latency = max(0.0, float(seconds))

    # ------------------------------------------------------------------ HTTP plumbing

    def _handle_http(self, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        with self._lock:
            latency = self._latency
        if latency:
            time.sleep(latency)
        parts = urlsplit(path)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if parts.path.startswith("/upload/"):
            return self._handle_upload(parts.path.removeprefix("/upload/"), headers, body)
        if not parts.path.startswith("/api/"):
            return _Reply(404, b"not found", content_type="text/plain; charset=utf-8")
        method = parts.path.removeprefix("/api/").strip("/")
        try:
            params = _parse_params(content_type, body, parts.query)
        except Exception as exc:  # a malformed body must still be recorded and answered
            params = {"_raw": body.decode("utf-8", "replace"), "_parse_error": str(exc)}
        call = self._record(method, params, headers)
        failure = self._pop_failure(method)
        if failure is not None:
            return self._failure_reply(failure)
        handler = self._handlers.get(method)
        if handler is None:
            return _Reply.json({"ok": False, "error": "unknown_method", "req_method": method})
        token = call.token or (
            params.get("token") if isinstance(params.get("token"), str) else None
        )
        if not token or token == INVALID_TOKEN:
            return _Reply.json({"ok": False, "error": "invalid_auth"})
        try:
            with self._lock:
                payload = handler(params)
        except _SlackError as err:
            return _Reply.json({"ok": False, "error": err.error})
        return _Reply.json({"ok": True, **payload})

    def _handle_upload(self, file_id: str, headers: dict[str, str], body: bytes) -> _Reply:
        self._record(
            UPLOAD_CONTENT_METHOD,
            {"file_id": file_id, "size": len(body), "content": body},
            headers,
        )
        failure = self._pop_failure(UPLOAD_CONTENT_METHOD)
        if failure is not None:
            return self._failure_reply(failure)
        with self._lock:
            entry = self._files.get(file_id)
            if entry is None:
                return _Reply(404, b"file not found", content_type="text/plain; charset=utf-8")
            entry["content"] = body
            entry["size"] = len(body)
        return _Reply(200, f"OK - {len(body)}".encode(), content_type="text/plain; charset=utf-8")

    def _record(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Call:
        call = Call(method=method, params=params, headers=dict(headers), at=time.monotonic())
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        return call

    def _pop_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(method)
            return queue.popleft() if queue else None

    @staticmethod
    def _failure_reply(failure: _Failure) -> _Reply:
        reply = _Reply.json({"ok": False, "error": failure.error}, status=failure.status)
        if failure.retry_after is not None:
            reply.headers["Retry-After"] = str(failure.retry_after)
        return reply

    # ------------------------------------------------------------------ id helpers

    def _next_ts(self) -> str:
        return _ts_from_micros(_TS_BASE_MICROS + next(self._ts_counter) * _TS_STEP_MICROS)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._id_counter):07d}"

    @staticmethod
    def _require(params: dict[str, Any], name: str, error: str | None = None) -> Any:
        value = params.get(name)
        if value in (None, ""):
            raise _SlackError(error or f"missing_{name}")
        return value

    # ------------------------------------------------------------------ methods

    def _auth_test(self, params: dict[str, Any]) -> JsonDict:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> JsonDict:
        channel = str(self._require(params, "channel", "channel_not_found"))
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            raise _SlackError("no_text")
        ts = self._next_ts()
        message: JsonDict = {
            "type": "message",
            "subtype": "bot_message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text") or "",
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": dict(message)}

    def _chat_update(self, params: dict[str, Any]) -> JsonDict:
        channel = str(self._require(params, "channel", "channel_not_found"))
        ts = str(self._require(params, "ts", "message_not_found"))
        message = self._messages.get((channel, ts))
        if message is None:
            raise _SlackError("message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"channel": channel, "ts": ts, "text": message.get("text", ""), "message": message}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> JsonDict:
        self._require(params, "channel", "channel_not_found")
        self._require(params, "user", "user_not_in_channel")
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            raise _SlackError("no_text")
        return {"message_ts": self._next_ts()}

    def _chat_delete(self, params: dict[str, Any]) -> JsonDict:
        channel = str(self._require(params, "channel", "channel_not_found"))
        ts = str(self._require(params, "ts", "message_not_found"))
        if self._messages.pop((channel, ts), None) is None:
            raise _SlackError("message_not_found")
        return {"channel": channel, "ts": ts}

    def _store_view(self, view: Any, view_id: str | None = None) -> JsonDict:
        if not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        view_id = view_id or self._next_id("V")
        stored: JsonDict = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type", "modal"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "external_id": view.get("external_id", ""),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        stored["hash"] = hashlib.sha1(
            f"{view_id}:{time.monotonic_ns()}:{json.dumps(view, sort_keys=True)}".encode(),
            usedforsecurity=False,
        ).hexdigest()[:24]
        self._views[view_id] = stored
        return {"view": dict(stored)}

    def _views_open(self, params: dict[str, Any]) -> JsonDict:
        self._require(params, "trigger_id", "invalid_arguments")
        return self._store_view(self._require(params, "view", "invalid_arguments"))

    def _views_update(self, params: dict[str, Any]) -> JsonDict:
        view = self._require(params, "view", "invalid_arguments")
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next(
                (
                    v["id"]
                    for v in self._views.values()
                    if v["external_id"] == params["external_id"]
                ),
                None,
            )
        if not view_id:
            raise _SlackError("not_found")
        existing = self._views.get(str(view_id))
        if existing is None:
            raise _SlackError("not_found")
        if params.get("hash") and params["hash"] != existing["hash"]:
            raise _SlackError("hash_conflict")
        return self._store_view(view, str(view_id))

    def _views_publish(self, params: dict[str, Any]) -> JsonDict:
        user_id = str(self._require(params, "user_id", "invalid_arguments"))
        view = self._require(params, "view", "invalid_arguments")
        result = self._store_view(view, self._home_views.get(user_id))
        self._home_views[user_id] = result["view"]["id"]
        return result

    def _reactions_add(self, params: dict[str, Any]) -> JsonDict:
        channel = str(self._require(params, "channel", "channel_not_found"))
        name = str(self._require(params, "name", "invalid_name"))
        ts = str(self._require(params, "timestamp", "message_not_found"))
        message = self._messages.get((channel, ts))
        if message is not None:  # unknown messages (e.g. users' ones) are accepted silently
            reactions: list[JsonDict] = message.setdefault("reactions", [])
            entry = next((r for r in reactions if r["name"] == name), None)
            if entry is None:
                reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
            elif BOT_USER_ID in entry["users"]:
                raise _SlackError("already_reacted")
            else:
                entry["users"].append(BOT_USER_ID)
                entry["count"] += 1
        return {}

    def _files_get_upload_url(self, params: dict[str, Any]) -> JsonDict:
        filename = str(self._require(params, "filename", "invalid_arguments"))
        length = int(self._require(params, "length", "invalid_arguments"))
        file_id = self._next_id("F")
        self._files[file_id] = {"id": file_id, "name": filename, "length": length}
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> JsonDict:
        files = self._require(params, "files", "invalid_arguments")
        if not isinstance(files, list):
            raise _SlackError("invalid_arguments")
        result = []
        for item in files:
            entry = self._files.get(str(item.get("id")))
            if entry is None:
                raise _SlackError("file_not_found")
            entry["title"] = item.get("title") or entry["name"]
            result.append(
                {
                    "id": entry["id"],
                    "title": entry["title"],
                    "name": entry["name"],
                    "size": entry.get("size", 0),
                }
            )
        return {"files": result}

    def _conversations_info(self, params: dict[str, Any]) -> JsonDict:
        channel = str(self._require(params, "channel", "channel_not_found"))
        name = self.channels.get(channel, channel.lower())
        return {
            "channel": {
                "id": channel,
                "name": name,
                "is_channel": channel.startswith("C"),
                "is_im": channel.startswith("D"),
                "is_private": channel.startswith("G"),
                "is_member": True,
                "is_archived": False,
            }
        }

    def _conversations_replies(self, params: dict[str, Any]) -> JsonDict:
        channel = str(self._require(params, "channel", "channel_not_found"))
        ts = str(self._require(params, "ts", "thread_not_found"))
        return {"messages": self.thread(channel, ts), "has_more": False}

    def _users_info(self, params: dict[str, Any]) -> JsonDict:
        user_id = str(self._require(params, "user", "user_not_found"))
        name = f"user-{user_id.lower()}"
        user: JsonDict = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name.replace("-", " ").title(),
            "is_admin": False,
            "is_owner": False,
            "is_bot": user_id == BOT_USER_ID,
            "deleted": False,
            "tz": "Europe/London",
        }
        user.update(self.users.get(user_id, {}))
        user["profile"] = {"real_name": user["real_name"], "display_name": user["name"]}
        return {"user": user}

    def _usergroups_users_list(self, params: dict[str, Any]) -> JsonDict:
        group = str(self._require(params, "usergroup", "no_such_subteam"))
        if group not in self.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}
