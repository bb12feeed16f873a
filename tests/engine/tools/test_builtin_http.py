"""``http.request`` against a real HTTP server on 127.0.0.1 (nothing else is ever contacted)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.clock import VirtualClock
from engine.errors import (
    DEFAULT_RETRY_ON,
    PermanentToolError,
    ToolInputError,
    ToolTimeoutError,
    TransientToolError,
    error_category,
    is_retryable,
)
from engine.records import RunStatus, StepStatus
from engine.tools.base import Tool
from engine.tools.builtin import BuiltinToolsConfig
from engine.tools.builtin.http import make_http_tools
from tests.engine.tools.conftest import call, run_blueprint

MIN_CAP = 1024  # the smallest http_max_response_bytes the config allows


@dataclass
class LocalServer:
    """A test HTTP server on 127.0.0.1 and the requests it received."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def make_handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", headers)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = {
                "method": self.command,
                "path": parts.path,
                "query": query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": raw.decode(),
            }
            server.requests.append(seen)
            path = parts.path
            if path == "/json":
                self._json(200, {"hello": "world", "items": [1, 2, 3]}, {"X-Served-By": "test"})
            elif path == "/echo":
                body_json = (
                    json.loads(raw)
                    if raw and "json" in seen["headers"].get("content-type", "")
                    else None
                )
                self._json(200, {**seen, "json": body_json})
            elif path == "/text":
                self._send(200, "plain ünïcode".encode(), "text/plain; charset=utf-8")
            elif path.startswith("/status/"):
                code = int(path.rsplit("/", 1)[1])
                self._send(code, f"status {code} body".encode(), "text/plain")
            elif path == "/big":
                size = int(query.get("n", "5000"))
                kind = query.get("type", "text/plain")
                self._send(200, b"x" * size, kind)
            elif path == "/slow":
                server.release.wait(timeout=5)
                self._json(200, {"slow": True})
            elif path == "/redirect":
                self._send(302, b"", "text/plain", {"Location": query["to"]})
            elif path == "/loop":
                self._send(302, b"", "text/plain", {"Location": "/loop"})
            else:
                self._send(404, b"no such page", "text/plain")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected here


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    # httpx honours proxy variables; make sure nothing is routed anywhere but 127.0.0.1
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    state = LocalServer(port=0)
    httpd = QuietServer(("127.0.0.1", 0), make_handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def http_tool(**config: Any) -> Tool:
    (request,) = make_http_tools(BuiltinToolsConfig(workspace=Path("unused"), **config))
    return request


@pytest.fixture
def http() -> Tool:
    return http_tool()


# ------------------------------------------------------------------------------ success


async def test_get_parses_json_response(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/json")})
    assert result["status"] == 200
    assert result["json"] == {"hello": "world", "items": [1, 2, 3]}
    assert json.loads(result["body"]) == result["json"]
    assert result["headers"]["content-type"] == "application/json"
    assert result["headers"]["x-served-by"] == "test"
    assert result["truncated"] is False
    assert result["url"] == server.url("/json")
    assert http.check_output(result) is None
    assert server.requests[0]["method"] == "GET"


async def test_text_response_has_no_json_and_is_decoded(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/text")})
    assert result["body"] == "plain ünïcode"
    assert result["json"] is None


async def test_post_sends_json_body(server: LocalServer, http: Tool):
    payload = {"name": "deploy", "replicas": 3, "tags": ["a", "b"], "dry_run": False}
    result = await call(http, {"url": server.url("/echo"), "method": "POST", "json_body": payload})
    echoed = result["json"]
    assert echoed["method"] == "POST"
    assert echoed["json"] == payload
    assert echoed["headers"]["content-type"] == "application/json"


async def test_text_body_is_sent_as_is(server: LocalServer, http: Tool):
    result = await call(
        http,
        {
            "url": server.url("/echo"),
            "method": "PUT",
            "body": "raw text ✓",
            "headers": {"Content-Type": "text/plain; charset=utf-8"},
        },
    )
    assert result["json"]["method"] == "PUT"
    assert result["json"]["body"] == "raw text ✓"


async def test_json_body_and_body_together_are_refused(server: LocalServer, http: Tool):
    with pytest.raises(PermanentToolError, match="either json_body or body, not both"):
        await call(http, {"url": server.url("/echo"), "json_body": {}, "body": "x"})
    assert server.requests == []


async def test_query_params_are_encoded(server: LocalServer, http: Tool):
    result = await call(
        http,
        {
            "url": server.url("/echo?fixed=1"),
            "query": {"q": "a b&c", "page": 2, "ratio": 0.5, "open": True},
        },
    )
    assert result["json"]["query"] == {
        "fixed": "1",
        "q": "a b&c",
        "page": "2",
        "ratio": "0.5",
        "open": "true",
    }


async def test_empty_query_keeps_the_url_query(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/echo?a=1&b=2"), "query": {}})
    assert result["json"]["query"] == {"a": "1", "b": "2"}


async def test_headers_are_sent(server: LocalServer, http: Tool):
    result = await call(
        http,
        {
            "url": server.url("/echo"),
            "headers": {"Authorization": "Bearer t0ken", "X-Request-Id": "42"},
        },
    )
    headers = result["json"]["headers"]
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["x-request-id"] == "42"


async def test_head_request(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/json"), "method": "HEAD"})
    assert result["status"] == 200
    assert result["body"] == ""
    assert result["json"] is None
    assert server.requests[0]["method"] == "HEAD"


# ------------------------------------------------------------------------------ status codes


async def test_404_is_a_permanent_error(server: LocalServer, http: Tool):
    with pytest.raises(PermanentToolError) as info:
        await call(http, {"url": server.url("/status/404")})
    error = info.value
    assert type(error) is PermanentToolError
    assert error_category(error) == "error"
    assert not is_retryable(error, DEFAULT_RETRY_ON)
    assert str(error) == f"GET {server.url('/status/404')} returned 404: status 404 body"


@pytest.mark.parametrize("status", [429, 503, 500])
async def test_429_and_5xx_are_transient(server: LocalServer, http: Tool, status: int):
    with pytest.raises(TransientToolError, match=f"returned {status}") as info:
        await call(http, {"url": server.url(f"/status/{status}")})
    assert error_category(info.value) == "transient"
    assert is_retryable(info.value, DEFAULT_RETRY_ON)


async def test_fail_on_status_false_returns_the_status(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/status/404"), "fail_on_status": False})
    assert result["status"] == 404
    assert result["body"] == "status 404 body"
    result = await call(http, {"url": server.url("/status/503"), "fail_on_status": False})
    assert result["status"] == 503


# ------------------------------------------------------------------------------ limits and failures


async def test_response_bigger_than_the_cap_is_truncated(server: LocalServer):
    http = http_tool(http_max_response_bytes=MIN_CAP)
    result = await call(http, {"url": server.url("/big?n=50000")})
    assert result["truncated"] is True
    assert result["body"] == "x" * MIN_CAP


async def test_response_exactly_at_the_cap_is_not_truncated(server: LocalServer):
    http = http_tool(http_max_response_bytes=MIN_CAP)
    result = await call(http, {"url": server.url(f"/big?n={MIN_CAP}")})
    assert result["truncated"] is False
    assert len(result["body"]) == MIN_CAP


async def test_truncated_json_is_not_parsed(server: LocalServer):
    http = http_tool(http_max_response_bytes=MIN_CAP)
    result = await call(http, {"url": server.url("/big?n=4000&type=application/json")})
    assert result["truncated"] is True
    assert result["json"] is None


async def test_invalid_json_body_leaves_json_empty(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/big?n=10&type=application/json")})
    assert result["body"] == "x" * 10
    assert result["json"] is None


async def test_slow_server_with_small_timeout_is_a_timeout(server: LocalServer, http: Tool):
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"timed out after 0\.2s") as info:
        await call(http, {"url": server.url("/slow"), "timeout_s": 0.2})
    assert time.monotonic() - started < 1.5
    assert error_category(info.value) == "timeout"
    assert is_retryable(info.value, DEFAULT_RETRY_ON)


async def test_connection_refused_is_transient(http: Tool):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the port is closed now: nothing listens on it
    with pytest.raises(TransientToolError, match="ConnectError") as info:
        await call(http, {"url": f"http://127.0.0.1:{port}/", "timeout_s": 2})
    assert error_category(info.value) == "transient"


# ------------------------------------------------------------------------------ redirects


async def test_redirects_are_followed(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/redirect?to=/json")})
    assert result["status"] == 200
    assert result["json"]["hello"] == "world"
    assert result["url"] == server.url("/json")


async def test_redirects_are_not_followed_when_disabled(server: LocalServer, http: Tool):
    result = await call(http, {"url": server.url("/redirect?to=/json"), "follow_redirects": False})
    assert result["status"] == 302
    assert result["headers"]["location"] == "/json"
    assert [r["path"] for r in server.requests] == ["/redirect"]


async def test_redirect_loop_is_a_permanent_error(server: LocalServer, http: Tool):
    with pytest.raises(PermanentToolError, match="TooManyRedirects"):
        await call(http, {"url": server.url("/loop")})


async def test_redirect_to_a_host_outside_the_allow_list_is_refused(server: LocalServer):
    http = http_tool(http_allowed_hosts=("127.0.0.1",))
    elsewhere = server.url("/json", host="localhost")
    with pytest.raises(PermanentToolError, match="host 'localhost' is not allowed"):
        await call(http, {"url": server.url(f"/redirect?to={elsewhere}")})
    assert [r["path"] for r in server.requests] == ["/redirect"]


# ------------------------------------------------------------------------------ param validation


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/file", "url must start with http:// or https://"),
        ("file:///etc/passwd", "url must start with http:// or https://"),
        ("127.0.0.1/no-scheme", "url must start with http:// or https://"),
        ("http://", "has no host"),
        ("http:///path-only", "has no host"),
        ("http://127.0.0.1:99999/", "has an invalid port"),
        ("http://[::1/", "Invalid IPv6 URL"),
    ],
)
def test_bad_urls_are_refused_at_param_validation(http: Tool, url: str, message: str):
    with pytest.raises(ToolInputError, match=message):
        http.parse_params({"url": url})
    (issue,) = http.check_params({"url": url}, frozenset())
    assert issue.param == "url"
    assert issue.code == "invalid_param"
    assert message in issue.message


def test_unknown_method_and_bad_timeout_are_refused(http: Tool):
    with pytest.raises(ToolInputError, match="method"):
        http.parse_params({"url": "http://127.0.0.1/", "method": "FETCH"})
    with pytest.raises(ToolInputError, match="timeout_s"):
        http.parse_params({"url": "http://127.0.0.1/", "timeout_s": 0})


def test_templated_url_is_not_checked_until_rendered(http: Tool):
    assert http.check_params({"url": "{{ inputs.url }}"}, frozenset({"url"})) == []


async def test_allowed_hosts_are_enforced(server: LocalServer):
    http = http_tool(http_allowed_hosts=("127.0.0.1", "api.example.com"))
    with pytest.raises(
        ToolInputError, match=r"host 'localhost' is not allowed \(allowed: 127\.0\.0\.1, api\."
    ):
        http.parse_params({"url": server.url("/json", host="localhost")})
    # userinfo cannot smuggle a different host past the check
    with pytest.raises(ToolInputError, match="host 'localhost' is not allowed"):
        http.parse_params({"url": f"http://127.0.0.1@localhost:{server.port}/json"})
    result = await call(http, {"url": server.url("/json")})
    assert result["status"] == 200
    assert len(server.requests) == 1


# -------------------------------------------------------------------------- through the executor


async def test_http_request_through_the_executor(server: LocalServer, http: Tool):
    run = await run_blueprint(
        [http],
        [
            {
                "id": "get",
                "tool": "http.request",
                "params": {"url": "{{ inputs.base }}/json"},
            },
            {
                "id": "post",
                "tool": "http.request",
                "params": {
                    "url": "{{ inputs.base }}/echo",
                    "method": "POST",
                    "json_body": {"first": "{{ steps.get.output.json['items'][0] }}"},
                },
            },
        ],
        declared_inputs={"base": {"type": "string"}},
        inputs={"base": server.url("")},
        outputs={"sent": "{{ steps.post.output.json.json }}"},
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs == {"sent": {"first": 1}}
    assert [r.status for r in run.records] == [StepStatus.SUCCEEDED, StepStatus.SUCCEEDED]
    assert all(r.issues == [] for r in run.records)


async def test_transient_status_is_retried_by_the_executor(server: LocalServer, http: Tool):
    clock = VirtualClock()
    run = await run_blueprint(
        [http],
        [
            {
                "id": "flaky",
                "tool": "http.request",
                "params": {"url": server.url("/status/503")},
                "retry": {"attempts": 3, "backoff_s": 1, "jitter": 0},
            }
        ],
        clock=clock,
    )
    assert run.status is RunStatus.FAILED
    assert [r.attempt for r in run.records] == [1, 2, 3]
    assert {r.error_category for r in run.records} == {"transient"}
    assert {r.error_class for r in run.records} == {"TransientToolError"}
    assert clock.sleeps == [1.0, 2.0]
    assert len(server.requests) == 3


async def test_not_found_is_not_retried_by_the_executor(server: LocalServer, http: Tool):
    run = await run_blueprint(
        [http],
        [
            {
                "id": "missing",
                "tool": "http.request",
                "params": {"url": server.url("/status/404")},
                "retry": {"attempts": 3, "backoff_s": 0},
            }
        ],
        clock=VirtualClock(),
    )
    assert run.status is RunStatus.FAILED
    (record,) = run.records
    assert record.error_category == "error"
    assert record.error_class == "PermanentToolError"
    assert len(server.requests) == 1
