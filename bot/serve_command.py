"""``kaizen serve``: the Slack app, over HTTP or Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib

import click

from bot.settings import Settings


@click.command("serve")
@click.option(
    "--http", "over_http", is_flag=True, help="Serve HTTP (Slack posts to /slack/events)."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="With --http.")
@click.option(
    "--port", type=int, default=None, help="With --http (default: KAIZEN_SLACK_PORT, 3000)."
)
def serve_command(over_http: bool, host: str, port: int | None) -> None:
    """Serve Kaizen in Slack. With --http Slack posts requests to http://HOST:PORT/slack/events
    (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET needed); without, Socket Mode connects out to
    Slack (SLACK_BOT_TOKEN and SLACK_APP_TOKEN needed: no public URL)."""
    from bot.slack.serve import serve_http, serve_socket_mode

    settings = Settings()
    if settings.slack_bot_token is None:
        raise click.UsageError("set SLACK_BOT_TOKEN (the app's Bot User OAuth Token, xoxb-…)")
    try:
        if over_http:
            serve_http(settings, host=host, port=port)
        else:
            asyncio.run(serve_socket_mode(settings))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt:
        pass


@click.command("start")
def start_command() -> None:
    """What `make run` starts: Kaizen in Slack over Socket Mode when SLACK_BOT_TOKEN and
    SLACK_APP_TOKEN are set, otherwise the local console (`kaizen chat`)."""
    settings = Settings()
    if settings.slack_socket_mode:
        from bot.slack.serve import serve_socket_mode

        click.echo("Connecting to Slack over Socket Mode… (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            asyncio.run(serve_socket_mode(settings))
        return
    from bot.chat.command import chat_command

    if settings.slack_bot_token is not None:
        click.echo(
            "SLACK_BOT_TOKEN is set but SLACK_APP_TOKEN is not: Socket Mode needs both "
            "(or serve HTTP with `kaizen serve --http`). Starting the local console."
        )
    chat_command.main(args=[], standalone_mode=False)
