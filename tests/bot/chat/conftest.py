"""Shared helpers of the console tests: a toy Bolt app on a local Web API, and a way to run a
console session on scripted input."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp

from bot.chat.lines import LineReader
from bot.chat.session import ChatSession
from bot.chat.web_api import LocalWebApi


@pytest.fixture
def kaizen_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings as `make run` would have them on a fresh machine: no Slack, no OpenAI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAIZEN_SLACK_UPDATE_INTERVAL_S", "0.05")
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "KAIZEN_SLACK_BOT_TOKEN",
        "KAIZEN_SLACK_APP_TOKEN",
        "KAIZEN_SLACK_SIGNING_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def new_app(api: LocalWebApi) -> AsyncApp:
    """A Bolt app configured as Kaizen's (``build_app``), on ``api``."""
    return AsyncApp(
        client=api,
        signing_secret=None,
        request_verification_enabled=False,
        process_before_response=False,
    )


async def converse(app: AsyncApp, api: LocalWebApi, lines: list[str], **options: Any) -> str:
    """Run a session over ``lines`` (then EOF); everything it printed."""
    out = io.StringIO()
    session = ChatSession(
        app,
        api,
        input_stream=io.StringIO("".join(f"{line}\n" for line in lines)),
        output_stream=out,
        **options,
    )
    await session.run()
    return out.getvalue()


class QueueReader(LineReader):
    """Input fed line by line by a test, which can tell when the console waits for it."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.waiting = asyncio.Event()

    def start(self) -> None:
        """Nothing to start: the test feeds the lines."""

    async def readline(self) -> str | None:
        self.waiting.set()
        line = await self.lines.get()
        self.waiting.clear()
        return line


class Conversation:
    """A console session a test talks to one line at a time."""

    def __init__(self, session: ChatSession, out: io.StringIO) -> None:
        self.session = session
        self.out = out
        self.reader = QueueReader()
        session.reader = self.reader
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conversation:
        self._task = asyncio.create_task(self.session.run())
        await self._waiting(30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.lines.put_nowait(None)
        assert self._task is not None
        await asyncio.wait_for(self._task, 30)

    async def _waiting(self, wait_s: float) -> None:
        assert self._task is not None
        waiting = asyncio.create_task(self.reader.waiting.wait())
        done, _ = await asyncio.wait(
            {waiting, self._task}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
        )
        if waiting not in done:
            waiting.cancel()
            if self._task in done:
                self._task.result()  # raise what ended the session
                raise AssertionError("the session ended:\n" + self.out.getvalue())
            raise AssertionError("the console did not ask again:\n" + self.out.getvalue())

    async def say(self, line: str, wait_s: float = 60) -> str:
        """Type ``line``; what the console printed until it asked for the next line."""
        start = len(self.out.getvalue())
        self.reader.waiting.clear()
        self.reader.lines.put_nowait(line)
        await self._waiting(wait_s)
        return self.out.getvalue()[start:]

    @property
    def transcript(self) -> str:
        return self.out.getvalue()


def button(output: str, label: str) -> int:
    """The number of the last button labelled ``label`` in ``output``."""
    found = re.findall(rf"\[(\d+)\] {re.escape(label)}", output)
    assert found, f"no {label!r} button in:\n{output}"
    return int(found[-1])
