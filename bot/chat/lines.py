"""Reading the console's input without blocking the event loop: a daemon thread reads lines
and hands them to the loop, so runs keep going while the console waits for you, and Ctrl-C is
never held up by a read in progress."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TextIO


class LineReader:
    """The lines of ``stream``, one :meth:`readline` at a time (``None`` at the end)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._queue: asyncio.Queue[str | None] | None = None
        self._ended = False

    def start(self) -> None:
        """Start reading (call inside the running loop)."""
        if self._queue is not None:
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queue = queue

        def read() -> None:
            while True:
                try:
                    line: str | None = self.stream.readline() or None
                except (OSError, ValueError):  # closed underneath us
                    line = None
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
                except RuntimeError:  # the loop is gone
                    return
                if line is None:
                    return

        threading.Thread(target=read, name="kaizen-chat-input", daemon=True).start()

    async def readline(self) -> str | None:
        """The next line without its line end, or ``None`` once the input has ended."""
        if self._ended:
            return None
        self.start()
        assert self._queue is not None
        line = await self._queue.get()
        if line is None:
            self._ended = True
            return None
        return line.rstrip("\r\n")

    def interactive(self) -> bool:
        """Whether a person types the input (a terminal): then it is not echoed."""
        with contextlib.suppress(AttributeError, ValueError, OSError):
            return bool(self.stream.isatty())
        return False
