"""``http.request``: one HTTP call through httpx, with a timeout and a response size cap."""

import json as jsonlib
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, Field
from typing_extensions import TypedDict

from engine.errors import PermanentToolError, ToolTimeoutError, TransientToolError
from engine.tools.base import Tool
from engine.tools.builtin.config import BuiltinToolsConfig
from engine.tools.function import tool

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpResponse(TypedDict):
    status: int
    headers: dict[str, str]
    body: str
    json: Any
    truncated: bool
    url: str


def make_http_tools(config: BuiltinToolsConfig) -> list[Tool]:
    def _url_problem(url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return f"url must start with http:// or https:// (got '{url}')"
        if not parts.hostname:
            return f"url '{url}' has no host"
        try:
            _ = parts.port  # raises for a port outside 0-65535
        except ValueError as exc:
            return f"url '{url}' has an invalid port ({exc})"
        hosts = config.http_allowed_hosts
        if hosts is not None and parts.hostname not in hosts:
            return f"host '{parts.hostname}' is not allowed (allowed: {', '.join(hosts)})"
        return None

    def _checked_url(url: str) -> str:
        problem = _url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    async def _check_redirect(request: httpx.Request) -> None:
        # Called for the first request and for every redirect httpx follows, so a redirect
        # cannot lead to a host (or scheme) the url itself could not name.
        problem = _url_problem(str(request.url))
        if problem is not None:
            raise PermanentToolError(f"refusing to follow a redirect: {problem}")

    @tool("http.request", side_effect="mutating", risk="medium")
    async def request(
        url: Annotated[str, AfterValidator(_checked_url)],
        method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET",
        headers: dict[str, str] | None = None,
        query: dict[str, str | int | float | bool] | None = None,
        json_body: Any = None,
        body: str | None = None,
        timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0,
        follow_redirects: bool = True,
        fail_on_status: bool = True,
    ) -> HttpResponse:
        """Make an HTTP request and return status, headers and body (parsed when JSON).

        Args:
            url: Full http(s) URL.
            method: HTTP method.
            headers: Request headers.
            query: Query-string parameters.
            json_body: A JSON value to send as the request body.
            body: A text body to send (instead of json_body).
            timeout_s: Give up after this many seconds.
            follow_redirects: Follow 3xx redirects.
            fail_on_status: Fail on 4xx/5xx (429 and 5xx are retryable, other 4xx are not).
        """
        if json_body is not None and body is not None:
            raise PermanentToolError("give either json_body or body, not both")
        cap = config.http_max_response_bytes
        # httpx *replaces* the url's query string with ``params`` (even an empty dict), so merge
        # the query into the url instead: "...?per_page=100" plus {"page": 2} keeps per_page.
        target = httpx.URL(url).copy_merge_params(query) if query else httpx.URL(url)
        try:
            async with (
                httpx.AsyncClient(
                    timeout=timeout_s,
                    follow_redirects=follow_redirects,
                    event_hooks={"request": [_check_redirect]},
                ) as client,
                client.stream(
                    method,
                    target,
                    headers=headers,
                    json=json_body,
                    content=body.encode() if body is not None else None,
                ) as response,
            ):
                data = bytearray()
                truncated = False
                async for chunk in response.aiter_bytes():
                    room = cap - len(data)
                    if len(chunk) > room:
                        data += chunk[: max(room, 0)]
                        truncated = True
                        break
                    data += chunk
        except httpx.TimeoutException as exc:
            raise ToolTimeoutError(f"{method} {url} timed out after {timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise TransientToolError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:  # too many redirects, undecodable body, …
            raise PermanentToolError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
        text = data.decode(response.encoding or "utf-8", errors="replace")
        parsed: Any = None
        if "json" in response.headers.get("content-type", "") and not truncated and text:
            try:
                parsed = jsonlib.loads(text)
            except ValueError:
                parsed = None
        if fail_on_status and response.status_code >= 400:
            snippet = " ".join(text.split())[:300]
            message = f"{method} {url} returned {response.status_code}" + (
                f": {snippet}" if snippet else ""
            )
            if response.status_code in TRANSIENT_STATUS:
                raise TransientToolError(message)
            raise PermanentToolError(message)
        return {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": text,
            "json": parsed,
            "truncated": truncated,
            "url": str(response.url),
        }

    return [request]
