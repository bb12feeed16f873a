"""A local OpenAI-compatible chat completions server for tests, driven by a script of replies.

It serves ``POST /v1/chat/completions`` on 127.0.0.1 (a free port, one thread per request),
records every request body, and answers each request with the next scripted :class:`Reply`:
a completion with ``usage``, or an OpenAI-style error with a status code, after an optional
delay. ``reject_json_schema=True`` makes it refuse structured outputs with a 400, like servers
that only have JSON mode. Use the real ``openai`` client against :attr:`OpenAIStub.base_url`.

    with serve_stub() as stub:
        stub.add(Reply('{"name": ...}'))
        client = openai.OpenAI(api_key="x", base_url=stub.base_url)
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = ""
    """The assistant message's text (``None``: a null content)."""
    status: int = 200
    """Anything but 200 answers an OpenAI-style error with ``error`` as its message."""
    delay_s: float = 0.0
    """Wait this long before answering (cut short when the stub stops)."""
    error: str = "scripted error"
    prompt_tokens: int = 100
    completion_tokens: int = 20
    usage: bool = True
    """False: the completion has no ``usage`` field."""


class OpenAIStub:
    """The server; :meth:`start` and :meth:`stop` it, or use :func:`serve_stub`."""

    def __init__(self, *, reject_json_schema: bool = False) -> None:
        self.reject_json_schema = reject_json_schema
        self.requests: list[dict[str, Any]] = []
        """Every request body received, in order (rejected ones included)."""
        self.replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ script

    def add(self, *replies: Reply | str | dict[str, Any]) -> None:
        """Queue replies: a :class:`Reply`, a content string, or a dict sent as JSON text."""
        with self._lock:
            for reply in replies:
                if isinstance(reply, Reply):
                    self.replies.append(reply)
                elif isinstance(reply, str):
                    self.replies.append(Reply(reply))
                else:
                    self.replies.append(Reply(json.dumps(reply)))

    def _next(self) -> Reply | None:
        with self._lock:
            return self.replies.popleft() if self.replies else None

    # ------------------------------------------------------------------ server

    @property
    def port(self) -> int:
        assert self._server is not None, "the stub is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed replies
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ answers

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        with self._lock:
            self.requests.append(body)
        response_format = body.get("response_format") or {}
        if self.reject_json_schema and response_format.get("type") == "json_schema":
            return 400, _error("response_format 'json_schema' is not supported", 400), 0.0
        reply = self._next()
        if reply is None:
            return 500, _error("the stub has no scripted reply left", 500), 0.0
        if reply.status != 200:
            return reply.status, _error(reply.error, reply.status), reply.delay_s
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "stub")),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
        }
        if reply.usage:
            completion["usage"] = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
        return 200, completion, reply.delay_s


def _error(message: str, status: int) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIStub

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(f"no route {self.path}", 404))
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send(400, _error("the request body is not JSON", 400))
            return
        status, payload, delay_s = self.owner._answer(body)
        if delay_s > 0 and self.owner._stopping.wait(delay_s):
            return  # stopping: drop the answer
        self._send(status, payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) first

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests


@contextmanager
def serve_stub(*, reject_json_schema: bool = False) -> Iterator[OpenAIStub]:
    """A running stub, stopped on exit."""
    stub = OpenAIStub(reject_json_schema=reject_json_schema).start()
    try:
        yield stub
    finally:
        stub.stop()
