"""The Slack app end to end over real HTTP: signed requests from "Slack" to the app served by
uvicorn on 127.0.0.1, and the app's Web API calls to a local stand-in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot.settings import Settings
from bot.slack.cards import actions
from bot.slack.serve import EVENTS_PATH, http_app
from knowledge.history import query_runs
from knowledge.store import open_database
from tests.bot.slack.slack_api_stub import SlackApiStub
from tests.bot.slack.slack_requests import block_actions_body, sign, slash_command_body

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


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

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the app did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def send(
        self, body: str, *, timestamp: int | None = None, secret: str = SECRET
    ) -> httpx.Response:
        headers = sign(secret, body, timestamp)
        return httpx.post(self.url, content=body, headers=headers, timeout=10)

    def runs(self) -> list[Any]:
        db = open_database(self.settings.database)
        try:
            with db.reading() as session:
                return query_runs(session, limit=100)
        finally:
            db.dispose()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with SlackApiStub() as stub:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
        monkeypatch.setenv("SLACK_API_URL", stub.base_url)
        monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("KAIZEN_SLACK_UPDATE_INTERVAL_S", "0.05")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        with Served(Settings(), stub) as app:
            yield app


def _button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} button in {message}")


def test_request_preview_run_live_updates_and_summary(served: Served) -> None:
    response = served.send(slash_command_body(text="append 'hello world' to notes.txt"))
    assert response.status_code == 200
    (posted,) = served.stub.wait_for("chat.postMessage", timeout=30)
    assert posted.params["channel"] == "C1"
    card = posted.params
    assert "file.append" in str(card["blocks"])
    run_button = _button(card, actions.PLAN_RUN)
    (stored,) = served.stub.messages("C1")
    message_ts = stored["ts"]

    click = block_actions_body(
        actions.PLAN_RUN, run_button["value"], message_ts=message_ts, message=card
    )
    assert served.send(click).status_code == 200
    assert served.send(click).status_code == 200  # a double click
    updates = served.stub.wait_for(
        "chat.update", where=lambda p: "succeeded" in str(p.get("blocks")).lower(), timeout=30
    )
    assert updates[-1].params["ts"] == message_ts
    workspace = Path(served.settings.workspace_dir)
    assert (workspace / "notes.txt").read_text() == "hello world"
    time.sleep(0.3)  # let a second run, if one were wrongly started, show up
    assert len(served.runs()) == 1


def test_forged_and_stale_requests_are_refused_and_nothing_happens(served: Served) -> None:
    body = slash_command_body(text="append 'x' to notes.txt")
    assert served.send(body, secret="not-the-secret").status_code == 401
    assert served.send(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    time.sleep(0.5)
    assert served.stub.calls_to("chat.postMessage") == []
    assert served.runs() == []
