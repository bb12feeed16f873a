"""What a failed Web API call can raise, and how to name it in a log line.

Slack answering ``ok: false`` raises :class:`SlackApiError`; Slack unreachable or slow raises
aiohttp's errors or a timeout. Neither may break a listener half-way (a draft without its
card, a run without its updates): callers log and carry on.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

#: Catch these around a Web API call.
SLACK_CALL_ERRORS: tuple[type[BaseException], ...] = (
    SlackClientError,
    aiohttp.ClientError,
    TimeoutError,
)


def slack_error(exc: BaseException) -> str:
    """Slack's error code (``channel_not_found``), or what went wrong on the way."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
