"""A small MCP server for the tests: ``python mcp_test_server.py [stdio [TAG] | http PORT]``.

Its tools share a counter, so calls are observable: ``bump`` adds to it and ``peek`` (read-only)
reads it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

server = FastMCP("kaizen-test", log_level="WARNING")
state: dict[str, int] = {"counter": 0}


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers and return their sum."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Echo the given text back unchanged."""
    return text


@server.tool(structured_output=False)
def echo_json(data: dict[str, Any]) -> str:
    """Return the given object as JSON text (unstructured content)."""
    import json

    return json.dumps(data)


@server.tool(structured_output=False)
def two_parts() -> list[str]:
    """Return two separate text contents."""
    return ["first", "second"]


@server.tool(annotations=ToolAnnotations(idempotentHint=True, readOnlyHint=False))
def bump(by: int = 1) -> dict[str, int]:
    """Increase the shared counter and return its new value."""
    state["counter"] += by
    return {"counter": state["counter"]}


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def peek() -> dict[str, int]:
    """Read the shared counter without changing it."""
    return {"counter": state["counter"]}


@server.tool(name="weird/name with spaces")
def weird() -> str:
    """A tool whose name is not a valid Kaizen tool name."""
    return "weird"


@server.tool()
def fail(message: str = "it broke") -> str:
    """Always fail with the given message."""
    raise ValueError(message)


@server.tool()
async def slow(seconds: float = 5.0) -> str:
    """Sleep for a while, then answer."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool()
def secret_env() -> str:
    """Return the value of the KAIZEN_TEST_SECRET environment variable."""
    return os.environ.get("KAIZEN_TEST_SECRET", "")


@server.tool()
def crash() -> str:
    """Kill the server process at once (the connection is lost)."""
    os._exit(3)


def main(argv: list[str]) -> None:
    # ``stdio TAG``: the tag only marks the process, so tests can find it
    mode = argv[1] if len(argv) > 1 else "stdio"
    if mode == "stdio":
        server.run("stdio")
    elif mode == "http":
        server.settings.port = int(argv[2])
        server.run("streamable-http")
    else:
        raise SystemExit(f"usage: {argv[0]} [stdio [TAG] | http PORT]")


if __name__ == "__main__":
    main(sys.argv)
