"""Serving the Slack app: over HTTP (``kaizen serve --http``: Starlette + uvicorn, Slack's
request signatures verified) or over Socket Mode (``SLACK_APP_TOKEN``: no public URL needed)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.planning import ToolCatalog
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.approvers import ApproverDirectory
from bot.slack.cards.limits import chunk_text
from bot.slack.listeners import Listeners
from bot.slack.live_runs import LiveRunCards
from bot.slack.services import Services, open_services
from knowledge.store import Database

log = logging.getLogger(__name__)

#: Path Slack posts commands, interactivity and events to (the app manifest names it).
EVENTS_PATH = "/slack/events"
#: Output up to this many characters goes to the thread as messages; longer, as a file.
THREAD_REPLY_LIMIT = 12_000
_REPLY_CHUNK = 3_000


def web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: the bot token, and the configured base URL."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(token=token, base_url=settings.slack_api_url)


def live_run_cards(client: AsyncWebClient, settings: Settings) -> LiveRunCards:
    """Run cards updated through ``client``; long output goes to the run's thread."""

    async def update(channel: str, ts: str, card: dict[str, Any]) -> None:
        await client.chat_update(
            channel=channel, ts=ts, text=card["text"], blocks=card.get("blocks")
        )

    async def post_overflow(channel: str, thread_ts: str, text: str) -> None:
        if len(text) <= THREAD_REPLY_LIMIT:
            for piece in chunk_text(text, _REPLY_CHUNK):
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=f"```{piece}```"
                )
            return
        try:
            await client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=text,
                filename="output.txt",
                title="Run output",
            )
        except SlackApiError as exc:  # no files:write: say so rather than lose it silently
            await client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=f"The output ({len(text):,} characters) could not be uploaded: "
                f"{exc.response.get('error')}. See `kaizen runs show`.",
            )

    return LiveRunCards(update, post_overflow, interval_s=settings.slack_update_interval_s)


@asynccontextmanager
async def running_app(
    settings: Settings,
    *,
    client: AsyncWebClient | None = None,
    verify_requests: bool = True,
    db: Database | None = None,
    catalog: ToolCatalog | None = None,
) -> AsyncIterator[tuple[AsyncApp, Services]]:
    """The Bolt app with its services open (closed when the block ends)."""
    client = client or web_client(settings)
    secret = settings.slack_signing_secret
    live = live_run_cards(client, settings)
    approvers = ApproverDirectory()
    async with open_services(
        settings, live, db=db, catalog=catalog, approver_check=approvers.check
    ) as services:
        listeners = Listeners(services, client, approvers)
        app = build_app(
            listeners,
            client,
            signing_secret=secret.get_secret_value() if secret else None,
            verify_requests=verify_requests,
        )
        yield app, services


def http_app(settings: Settings, **options: Any) -> Starlette:
    """A Starlette app serving Slack's requests at :data:`EVENTS_PATH` (and ``/healthz``).
    Requests without a valid signature, or older than five minutes, get 401."""
    if settings.slack_signing_secret is None:
        raise ValueError(
            "HTTP mode needs SLACK_SIGNING_SECRET (the app's Signing Secret, under Basic "
            "Information), to verify that requests come from Slack"
        )
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with running_app(settings, **options) as (app, services):
            state["handler"] = AsyncSlackRequestHandler(app)
            state["services"] = services
            # What start-up loaded (models, indexes) stays: keep it out of the collector's
            # full passes, which otherwise pause every ack for ~100 ms now and then.
            gc.collect()
            gc.freeze()
            yield

    async def events(request: Request) -> Response:
        handler: AsyncSlackRequestHandler = state["handler"]
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    starlette = Starlette(
        routes=[
            Route(EVENTS_PATH, events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    starlette.state.kaizen = state
    return starlette


def serve_http(settings: Settings, *, host: str = "0.0.0.0", port: int | None = None) -> None:
    """Serve the HTTP app until interrupted."""
    import uvicorn

    uvicorn.run(
        http_app(settings),
        host=host,
        port=port or settings.slack_port,
        log_level="info",
        access_log=False,  # a line per Slack request costs the event loop ~15% of an ack
    )


async def serve_socket_mode(settings: Settings) -> None:
    """Connect to Slack over Socket Mode and serve until cancelled."""
    if settings.slack_app_token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN (an app-level token, xapp-…)")
    async with running_app(settings, verify_requests=False) as (app, _):
        handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
        await handler.start_async()
