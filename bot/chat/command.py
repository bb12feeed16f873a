"""``kaizen chat``: the Slack app in the terminal — no Slack, no tokens, no network.

It opens the same app ``kaizen serve`` serves (:func:`bot.slack.serve.running_app`), with a
:class:`~bot.chat.web_api.LocalWebApi` as its Web API client, and runs a
:class:`~bot.chat.session.ChatSession` on standard input and output.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, TextIO

import click

from bot.chat.payloads import LOCAL_USER, Member
from bot.chat.session import ChatSession
from bot.chat.web_api import LocalWebApi
from bot.chat.workspace import LocalWorkspace
from bot.settings import Settings
from bot.slack.serve import running_app


async def run_chat(
    settings: Settings,
    *,
    input_stream: TextIO,
    output_stream: TextIO,
    user_name: str = LOCAL_USER.name,
    **session_options: Any,
) -> None:
    """Open the app on a local workspace and run the console until ``/quit`` or EOF."""
    user = Member(LOCAL_USER.id, user_name)
    api = LocalWebApi(LocalWorkspace(members=[user]))
    output_stream.write("Starting Kaizen…\n")
    output_stream.flush()
    async with running_app(settings, client=api, verify_requests=False) as (app, services):
        session = ChatSession(
            app,
            api,
            runs=services.runner.executor,
            progress=services.live.progress,
            input_stream=input_stream,
            output_stream=output_stream,
            user=user,
            **session_options,
        )
        await session.run()


@click.command("chat")
@click.option(
    "--user",
    "user_name",
    default=LOCAL_USER.name,
    show_default=True,
    help="Your name in the console.",
)
@click.option("--debug", is_flag=True, help="Log what the app does, Web API calls included.")
def chat_command(user_name: str, debug: bool) -> None:
    """Talk to Kaizen's Slack app right here: the same commands, buttons and cards, with no
    Slack workspace, no tokens and no network. Type a request, e.g. append 'hi' to notes.txt."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(
            run_chat(
                Settings(), input_stream=sys.stdin, output_stream=sys.stdout, user_name=user_name
            )
        )
    except KeyboardInterrupt:
        click.echo("\nbye")
