"""``time.sleep``: wait (on the executor's clock, so tests can use virtual time)."""

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from engine.tools.base import Tool, ToolContext
from engine.tools.function import tool


class Slept(TypedDict):
    slept_s: float


def make_time_tools() -> list[Tool]:
    @tool("time.sleep", side_effect="none")
    async def sleep(seconds: Annotated[float, Field(ge=0, le=3600)], ctx: ToolContext) -> Slept:
        """Wait for a number of seconds.

        Args:
            seconds: How long to wait, 0 to 3600.
        """
        await ctx.clock.sleep(seconds)
        return {"slept_s": seconds}

    return [sleep]
