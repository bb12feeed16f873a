"""The Slack app served over real HTTP for end-to-end tests: uvicorn on 127.0.0.1 in a
thread, its Web API calls going to a :class:`SlackApiStub`, and helpers to send signed
requests exactly as Slack formats them and to read what the app stored."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.slack.serve import EVENTS_PATH, http_app
from knowledge.history import query_runs
from knowledge.store import open_database
from tests.bot.slack.slack_api_stub import Call, SlackApiStub
from tests.bot.slack.slack_requests import (
    block_actions_body,
    event_body,
    sign,
    slash_command_body,
    view_submission_body,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """The app behind uvicorn in a thread, and what it talks to."""

    def __init__(self, settings: Settings, stub: SlackApiStub) -> None:
        self.settings = settings
        self.stub = stub
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}{EVENTS_PATH}"
        config = uvicorn.Config(
            http_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self._events = 0

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    return self
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.1)
        raise AssertionError("the app did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    # ------------------------------------------------------------------ sending

    def send(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        signed = {**sign(secret, body, timestamp), **(headers or {})}
        return httpx.post(self.url, content=body, headers=signed, timeout=10)

    def command(self, text: str, *, command: str = "/kaizen", **fields: Any) -> httpx.Response:
        response = self.send(slash_command_body(command=command, text=text, **fields))
        assert response.status_code == 200, response.text
        return response

    def click(
        self, message: dict[str, Any], action_id: str, *, user: str = "U1", channel: str = "C1"
    ) -> httpx.Response:
        """Click the button ``action_id`` on ``message`` (as stored by the stub)."""
        value = button(message, action_id)["value"]
        body = block_actions_body(
            action_id, value, user_id=user, channel_id=channel, message=message
        )
        response = self.send(body)
        assert response.status_code == 200, response.text
        return response

    def submit(
        self, callback_id: str, values: dict[str, dict[str, Any]], metadata: str, user: str = "U1"
    ) -> httpx.Response:
        body = view_submission_body(callback_id, values, private_metadata=metadata, user_id=user)
        response = self.send(body)
        assert response.status_code == 200, response.text
        return response

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, **headers: str
    ) -> httpx.Response:
        self._events += 1
        body = event_body(event, event_id=event_id or f"Ev{self._events:06d}")
        response = self.send(body, headers=headers or None)
        assert response.status_code == 200, response.text
        return response

    # ------------------------------------------------------------------ reading

    def read(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(session, *args, **kwargs)`` on the app's database."""
        db = open_database(self.settings.database)
        try:
            with db.session() as session:
                return function(session, *args, **kwargs)
        finally:
            db.dispose()

    def runs(self) -> list[Any]:
        return self.read(_all_runs)

    def wait_for_runs(self, count: int, *, ended: bool = True, timeout: float = 30) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            done = [r for r in runs if not ended or r.status != "running"]
            if len(done) >= count or time.monotonic() > deadline:
                return runs
            time.sleep(0.05)

    def posted(self, count: int = 1, *, timeout: float = 30, **where: Any) -> list[Call]:
        """The first ``count`` chat.postMessage calls whose params match ``where``."""
        return self.stub.wait_for(
            "chat.postMessage",
            count=count,
            timeout=timeout,
            where=lambda p: all(p.get(k) == v for k, v in where.items()),
        )

    def ephemerals(self, user: str | None = None) -> list[str]:
        """Texts of the ephemeral messages sent (to ``user``)."""
        return [
            str(c.params.get("text"))
            for c in self.stub.calls_to("chat.postEphemeral")
            if user is None or c.params.get("user") == user
        ]

    def wait_ephemeral(self, contains: str, *, timeout: float = 30) -> Call:
        return self.stub.wait_for(
            "chat.postEphemeral",
            timeout=timeout,
            where=lambda p: contains in str(p.get("text")) + str(p.get("blocks")),
        )[-1]


def _all_runs(session: Session) -> list[Any]:
    return query_runs(session, limit=1000)


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The element ``action_id`` in ``message``'s blocks."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no {action_id} button in {message}")


def message_with(
    stub: SlackApiStub,
    channel: str,
    *,
    action_id: str | None = None,
    text: str | None = None,
    thread_ts: str | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    """The newest message in ``channel`` (in ``thread_ts``, when given) having the button
    ``action_id`` and containing ``text``; waits for it up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        messages = stub.thread(channel, thread_ts) if thread_ts else stub.messages(channel)
        for message in reversed(messages):
            shown = str(message.get("text")) + str(message.get("blocks"))
            if action_id is not None and f"'{action_id}'" not in shown:
                continue
            if text is not None and text not in shown:
                continue
            return message
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no message with {action_id or ''} {text or ''} in {channel}: {messages}"
            )
        time.sleep(0.05)


@contextmanager
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[Served]:
    """Serve the app with the stub; ``env`` sets extra settings (KAIZEN_…)."""
    with SlackApiStub() as stub:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
        monkeypatch.setenv("SLACK_API_URL", stub.base_url)
        monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("KAIZEN_SLACK_UPDATE_INTERVAL_S", "0.05")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with Served(Settings(), stub) as app:
            yield app
