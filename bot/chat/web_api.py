"""An in-process stand-in for the Slack Web API: :class:`LocalWebApi`, an ``AsyncWebClient``
whose calls a :class:`~bot.chat.workspace.LocalWorkspace` answers, with no HTTP at all.

Two ways in, one answer:

- :class:`LocalWebApi` overrides ``_request`` (where slack_sdk would send the HTTP request)
  and ``_upload_file`` (``files_upload_v2``'s upload of the bytes).
- Bolt gives every listener a *new* ``AsyncWebClient`` per request, copying the app client's
  ``base_url`` and ``session``. The session :class:`LocalWebApi` hands slack_sdk is a
  :class:`LocalTransport`, which answers those clients' requests the same way. Its base URL
  is on ``.invalid`` (RFC 2606), so a request that somehow bypassed it could never reach
  Slack or anything else.

:class:`LocalRespond` answers Bolt's ``respond()`` (a request's ``response_url``) the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any, cast

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.file_upload_v2_result import FileUploadV2Result
from slack_sdk.webhook.webhook_response import WebhookResponse

from bot.chat.workspace import UPLOAD_URL_BASE, LocalWorkspace, SlackError

log = logging.getLogger(__name__)

LOCAL_BASE_URL = "https://slack.local.invalid/api/"
#: A bot token's shape (Bolt wants one; nothing checks it).
LOCAL_TOKEN = "xoxb-local-console"
#: The scopes the app manifest asks for, as ``auth.test`` reports them.
SCOPES = (
    "app_mentions:read,channels:history,chat:write,commands,files:write,groups:history,"
    "reactions:read,reactions:write,usergroups:read,users:read"
)


class LocalTransport:
    """Answers Web API requests in-process. It stands in for the ``aiohttp.ClientSession``
    slack_sdk sends requests through: ``closed``, and ``request(...)`` used as an async
    context manager whose response has ``status``, ``headers``, ``content_type``, ``json()``,
    ``text()`` and ``read()``."""

    closed = False

    def __init__(self, workspace: LocalWorkspace, base_url: str = LOCAL_BASE_URL) -> None:
        self.workspace = workspace
        self.base_url = base_url

    def request(self, method: str, url: str, **req_args: Any) -> LocalReply:
        return LocalReply(*self.answer(method, url, req_args))

    async def close(self) -> None:
        """Nothing to close (aiohttp's sessions have this)."""

    def answer(
        self, http_verb: str, api_url: str, req_args: dict[str, Any]
    ) -> tuple[int, str, Any]:
        """(status, content type, body) for a request slack_sdk built."""
        if api_url.startswith(UPLOAD_URL_BASE):
            file_id = api_url.removeprefix(UPLOAD_URL_BASE).strip("/")
            data = req_args.get("data")
            content = data if isinstance(data, bytes) else str(data or "").encode()
            try:
                self.workspace.upload(file_id, content)
            except SlackError:
                return 404, "text/plain", "Not Found"
            return 200, "text/plain", f"OK - {len(content)}"
        if not api_url.startswith(self.base_url):
            log.warning("refused a request outside the local Web API: %s %s", http_verb, api_url)
            return 404, "application/json", {"ok": False, "error": "unknown_method"}
        method = api_url.removeprefix(self.base_url).split("?")[0].strip("/")
        return 200, "application/json", self.workspace.call(method, request_args(req_args))


def request_args(req_args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a request: query parameters, form fields and JSON body, merged."""
    merged: dict[str, Any] = {}
    for key in ("params", "data", "json"):
        part = req_args.get(key)
        if isinstance(part, dict):
            merged.update(part)
        elif part is not None:
            log.debug("ignored a %s part of type %s", key, type(part).__name__)
    return merged


class LocalReply:
    """A response of :class:`LocalTransport` (and its own async context manager)."""

    def __init__(self, status: int, content_type: str, body: Any) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.headers = {"content-type": content_type, "x-oauth-scopes": SCOPES}

    async def __aenter__(self) -> LocalReply:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def json(self) -> Any:
        return self.body if not isinstance(self.body, str) else json.loads(self.body)

    async def text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)

    async def read(self) -> bytes:
        return (await self.text()).encode()


class LocalWebApi(AsyncWebClient):
    """An ``AsyncWebClient`` answered by a local workspace, with no network and no token.

    Pass it as the app's client (``running_app(settings, client=LocalWebApi())``); what the
    app posts lands in :attr:`workspace`, which announces every visible change."""

    def __init__(self, workspace: LocalWorkspace | None = None) -> None:
        self.workspace = workspace or LocalWorkspace()
        self.transport = LocalTransport(self.workspace, LOCAL_BASE_URL)
        super().__init__(
            token=LOCAL_TOKEN,
            base_url=LOCAL_BASE_URL,
            session=cast(aiohttp.ClientSession, self.transport),
            retry_handlers=[],
            logger=log,
        )

    async def _request(
        self, *, http_verb: str, api_url: str, req_args: dict[str, Any]
    ) -> dict[str, Any]:
        status, _, body = self.transport.answer(http_verb, api_url, req_args)
        return {
            "data": body,
            "headers": LocalReply(status, "", body).headers,
            "status_code": status,
        }

    async def _upload_file(
        self,
        *,
        url: str,
        data: bytes,
        logger: logging.Logger,
        timeout: int,  # noqa: ASYNC109 - slack_sdk's signature
        proxy: str | None,
        ssl: SSLContext | None,
    ) -> FileUploadV2Result:
        status, _, body = self.transport.answer("POST", url, {"data": data})
        return FileUploadV2Result(status=status, body=str(body))


class LocalRespond(AsyncRespond):
    """Bolt's ``respond()`` for a request of the console: what would go to the request's
    ``response_url`` goes to the local workspace. Ephemeral (to ``user``) unless
    ``response_type="in_channel"``; ``replace_original`` / ``delete_original`` act on the
    message the request came from."""

    def __init__(
        self,
        workspace: LocalWorkspace,
        *,
        response_url: str,
        user: str,
        channel: str,
        source_ts: str | None = None,
        source_thread_ts: str | None = None,
    ) -> None:
        super().__init__(response_url=response_url)
        self.workspace = workspace
        self.user = user
        self.channel = channel
        self.source_ts = source_ts
        self.source_thread_ts = source_thread_ts

    async def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | Block] | None = None,
        attachments: Sequence[dict[str, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if isinstance(text, dict):
            message = dict(text)
        else:
            message = {
                "text": text,
                "blocks": blocks,
                "attachments": attachments,
                "response_type": response_type,
                "replace_original": replace_original,
                "delete_original": delete_original,
                "thread_ts": thread_ts,
                "metadata": metadata,
            }
        answer = self.send(_as_dicts(message))
        ok = bool(answer.get("ok"))
        return WebhookResponse(
            url=self.response_url or "",
            status_code=200 if ok else 404,
            body="ok" if ok else str(answer.get("error")),
            headers={},
        )

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """Carry out one response-URL message."""
        content = {k: message.get(k) for k in ("text", "blocks", "attachments", "metadata")}
        source = self.source_ts
        if message.get("delete_original") and source:
            if self.workspace.ephemerals.pop((self.channel, source), None) is not None:
                return {"ok": True}
            return self.workspace.call("chat.delete", {"channel": self.channel, "ts": source})
        if message.get("replace_original") and source:
            if (self.channel, source) in self.workspace.ephemerals:
                return self.workspace.call(
                    "chat.postEphemeral", {"channel": self.channel, "user": self.user, **content}
                )
            return self.workspace.call(
                "chat.update", {"channel": self.channel, "ts": source, **content}
            )
        thread_ts = message.get("thread_ts") or self.source_thread_ts
        if message.get("response_type") == "in_channel":
            return self.workspace.call(
                "chat.postMessage", {"channel": self.channel, "thread_ts": thread_ts, **content}
            )
        return self.workspace.call(
            "chat.postEphemeral",
            {"channel": self.channel, "user": self.user, "thread_ts": thread_ts, **content},
        )


def _as_dicts(message: dict[str, Any]) -> dict[str, Any]:
    """Block Kit model objects (``Block``, ``Attachment``) as plain dicts."""
    converted = dict(message)
    for key in ("blocks", "attachments"):
        items = converted.get(key)
        if items:
            converted[key] = [i.to_dict() if hasattr(i, "to_dict") else i for i in items]
    return converted
