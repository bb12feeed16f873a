"""The console: a read-eval-print loop that talks to the Slack app the way Slack would.

Each line becomes what Slack would send — a slash command, a button click, a modal
submission, an event — dispatched to the app in-process through Bolt. After each request the
console waits until the app has gone quiet (:mod:`bot.chat.activity`), then prints what changed
(:class:`~bot.chat.screen.Feed`): new and updated messages, ephemeral replies, the Home tab,
files. While a run goes on it prints one line per step as the step changes; the run card
itself is printed once the run has ended (or waits for an approval). A modal the app opens is
filled in at the prompt (:mod:`bot.chat.dialog`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.chat import payloads
from bot.chat.activity import Activity, RunMonitor
from bot.chat.dialog import ModalDialog
from bot.chat.lines import LineReader
from bot.chat.modal import EndOfInput
from bot.chat.payloads import LOCAL_CHANNEL, LOCAL_USER, Channel, Member
from bot.chat.screen import Clickable, Feed, Screen, StepLines, button_elements
from bot.chat.web_api import LocalRespond, LocalWebApi
from bot.chat.workspace import SlackError
from bot.slack.app import COMMANDS
from bot.slack.cards.run_card import RunProgress
from bot.slack.cards.text import plain

#: The progress of a followed run, by run id (the live run cards know it).
ProgressOf = Callable[[str], RunProgress | None]

EXAMPLE = "append 'hello world' to notes.txt"
#: How often the idle prompt looks for output the app posted in the background.
BACKGROUND_POLL_S = 0.1
HELP = """\
Console commands
  <request>             plan it — the same as /kaizen <request>
  /kaizen <text>        Kaizen's command (/kaizen help lists what it does)
  /improve <text>       tell Kaizen how a workflow should get better
  N  or  /click N       press button N (numbers stay valid: older cards' buttons too)
  /react [N] :emoji:    react to a message: the one button N is on, else the latest card
                        (the card Kaizen posted or updated last: after a run, its run
                        card) — e.g. /react :+1:
  /thread [N] <text>    reply in a message's thread (N as for /react); Kaizen re-plans there
  /home                 open Kaizen's Home tab
  /help                 this list
  /quit                 leave (Ctrl-D too)
In a modal: answer each field; end a multi-line field with a line holding only “.”
(an empty first line keeps the text shown); /cancel closes the modal.
While a run goes on, one line per step shows how it stands; its card is printed when it ends."""


def _banner(user: Member, channel: Channel) -> str:
    return f"""\
Kaizen — local console. This is the Slack app itself, answering here: same commands,
same cards, no Slack and no tokens. You are @{user.name} in #{channel.name}.
Type a request and Kaizen plans it (plain text is sent as /kaizen <request>), e.g.
    {EXAMPLE}
Press a button by typing its number. /help lists the console commands; /quit leaves."""


class _UnhandledRequests(logging.Filter):
    """Bolt's long "Unhandled request" warning: the console says it in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unhandled request")


class ChatSession:
    """The console's loop, for one person in one channel, driving ``app``."""

    def __init__(
        self,
        app: AsyncApp,
        api: LocalWebApi,
        *,
        runs: RunMonitor | None = None,
        progress: ProgressOf | None = None,
        input_stream: TextIO | None = None,
        output_stream: TextIO | None = None,
        user: Member = LOCAL_USER,
        channel: Channel = LOCAL_CHANNEL,
        color: bool | None = None,
        echo: bool | None = None,
        patience_s: float = 600.0,
        working_note_s: float = 2.0,
    ) -> None:
        self.app = app
        self.workspace = api.workspace
        self.user = user
        self.channel = channel
        self.runs = runs
        self.progress = progress
        self.reader = LineReader(input_stream or sys.stdin)
        out = output_stream or sys.stdout
        if color is None:
            color = bool(getattr(out, "isatty", lambda: False)())
        names = {m.id: m.name for m in self.workspace.members.values()}
        names |= {c.id: c.name for c in self.workspace.channels.values()}
        names[user.id] = user.name
        self.screen = Screen(out, names=names, color=color)
        self.echo = (not self.reader.interactive()) if echo is None else echo
        self.feed = Feed(self.screen, self.workspace, user=user.id)
        self.workspace.subscribe(self.feed)
        self.activity = Activity(self.workspace, runs)
        self.dialog = ModalDialog(self.workspace, self.screen, user, self)
        self.steps = StepLines(self.screen, runs, progress)
        self.patience_s = patience_s
        self.working_note_s = working_note_s

    @property
    def prompt(self) -> str:
        return f"{self.user.name}> "

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Read and carry out lines until ``/quit`` or the end of the input."""
        self.activity.install()
        quiet_bolt = _UnhandledRequests()
        app_log = self.app.logger
        app_log.addFilter(quiet_bolt)
        try:
            self.screen.line(_banner(self.user, self.channel))
            while True:
                line = await self.next_line()
                if line is None or not await self.handle(line):
                    break
        except EndOfInput:
            pass
        finally:
            app_log.removeFilter(quiet_bolt)
            self.activity.uninstall()
        self.screen.line("bye")

    async def next_line(self) -> str | None:
        """The next line at the prompt (``None`` at the end of input). What the app posts
        meanwhile (a run that went on in the background) is printed once it has settled, and
        the prompt again after it."""
        self.screen.write(self.prompt)
        reading = asyncio.ensure_future(self.reader.readline())
        while not reading.done():
            await asyncio.wait({reading}, timeout=BACKGROUND_POLL_S)
            if not reading.done() and self.feed.pending and self.activity.quiet():
                self.screen.line()
                self.feed.flush()
                self.screen.write(self.prompt)
        line = reading.result()
        if line is None:
            self.screen.line()
        elif self.echo:
            self.screen.line(line)
        return line

    async def ask(self, prompt: str) -> str:
        """One answer (a modal field, a confirmation); :class:`EndOfInput` at the end."""
        self.screen.write(prompt)
        line = await self.reader.readline()
        if line is None:
            self.screen.line()
            raise EndOfInput
        if self.echo:
            self.screen.line(line)
        return line

    async def handle(self, line: str) -> bool:
        """Carry out one line; False to stop."""
        text = line.strip()
        if not text:
            return True
        if text.isdigit():
            await self.click(int(text))
        elif not text.startswith("/"):
            await self.slash("/kaizen", text)
        else:
            command, _, rest = text.partition(" ")
            command, rest = command.lower(), rest.strip()
            if command in ("/quit", "/exit"):
                return False
            await self.console_command(command, rest)
        return True

    async def console_command(self, command: str, rest: str) -> None:
        if command in COMMANDS:
            await self.slash(command, rest)
        elif command == "/help":
            self.screen.line(HELP)
        elif command == "/click":
            if rest.isdigit():
                await self.click(int(rest))
            else:
                self.screen.line("Usage: /click N — N is a button's number, as in [3].")
        elif command == "/react":
            await self.react(rest)
        elif command == "/thread":
            await self.thread(rest)
        elif command == "/home":
            await self.home()
        elif command == "/cancel":
            self.screen.line("No modal is open.")
        else:
            known = ", ".join(COMMANDS)
            self.screen.line(
                f"Unknown command {command}. Kaizen's commands are {known}; /help lists the "
                "console's own."
            )

    # ------------------------------------------------------------------ requests

    async def dispatch(
        self, payload: dict[str, Any], *, what: str, respond: LocalRespond | None = None
    ) -> dict[str, Any] | None:
        """Send ``payload`` to the app as Slack would (Socket Mode); the acknowledgement's
        body (``{}`` when empty), or ``None`` when the app did not handle it."""
        context: dict[str, Any] = {"respond": respond} if respond is not None else {}
        request = AsyncBoltRequest(body=payload, mode="socket_mode", context=context)
        with self.activity.capture():
            response = await self.app.async_dispatch(request)
        if response.status == 404:
            self.screen.line(f"⚠ The app has no listener for {what}.")
            return None
        if response.status >= 400:
            self.screen.line(f"⚠ Kaizen failed on {what} (status {response.status}; see the log).")
            return None
        return _body(response.body)

    async def slash(self, command: str, text: str) -> None:
        trigger_id = self.workspace.issue_trigger(self.user.id)
        payload = payloads.slash_command(
            command, text, user=self.user, channel=self.channel, trigger_id=trigger_id
        )
        respond = self._respond(payload["response_url"])
        body = await self.dispatch(payload, what=command, respond=respond)
        if body:  # ack(text) / ack(blocks): Slack shows it as a reply (to you alone by default)
            respond.send(body)
        await self.after(body is not None)

    async def click(self, number: int) -> None:
        button = self.screen.buttons.get(number)
        if button is None:
            known = len(self.screen.buttons)
            self.screen.line(
                f"There is no button {number}"
                + (f" (buttons so far: 1–{known})." if known else " — no buttons yet.")
            )
            return
        confirm = button.element.get("confirm")
        if isinstance(confirm, dict) and not await self.confirm(confirm):
            self.screen.dim("  (not pressed)")
            return
        action = payloads.button_action(
            {**button.element, "action_id": button.action_id, "value": button.value},
            block_id=button.block_id,
        )
        what = f"the “{button.label}” button ({button.action_id})"
        trigger_id = self.workspace.issue_trigger(self.user.id)
        if button.view_id is not None:
            view = self.workspace.views.get(button.view_id)
            if view is None:
                self.screen.line("That view is gone.")
                return
            payload = payloads.view_block_actions(
                action, view=view, user=self.user, trigger_id=trigger_id
            )
            ok = await self.dispatch(payload, what=what)
        else:
            ok = await self._click_message(button, action, what, trigger_id)
        await self.after(ok is not None)

    async def _click_message(
        self, button: Clickable, action: dict[str, Any], what: str, trigger_id: str
    ) -> dict[str, Any] | None:
        assert button.where is not None
        channel, ts = button.where
        message = self.workspace.message(channel, ts)
        if message is None:
            self.screen.line("That message was deleted.")
            return None
        shown = {
            (e.get("action_id"), e.get("value"))
            for _, e in button_elements(message.get("blocks") or [])
        }
        if (button.action_id, button.value) not in shown:
            self.screen.dim(
                "  (that button is no longer on its message; pressed anyway, as an old Slack "
                "window would)"
            )
        payload = payloads.message_block_actions(
            action,
            message=message,
            channel=self._channel(channel),
            user=self.user,
            trigger_id=trigger_id,
            is_ephemeral=button.ephemeral,
        )
        respond = self._respond(
            payload["response_url"],
            channel=channel,
            source_ts=ts,
            thread_ts=message.get("thread_ts"),
        )
        return await self.dispatch(payload, what=what, respond=respond)

    async def confirm(self, confirm: dict[str, Any]) -> bool:
        """Slack's confirmation dialog of a button."""
        title = plain(str((confirm.get("title") or {}).get("text", "Are you sure?")))
        text = plain(str((confirm.get("text") or {}).get("text", "")))
        yes = plain(str((confirm.get("confirm") or {}).get("text", "Yes")))
        self.screen.line(f"  {title} {text}".rstrip())
        answer = await self.ask(f"  {yes}? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    async def react(self, rest: str) -> None:
        words = rest.split()
        number = int(words.pop(0)) if words and words[0].isdigit() else None
        if len(words) != 1 or not words[0].strip(":"):
            self.screen.line("Usage: /react [N] :emoji: — e.g. /react :+1:")
            return
        name = words[0].strip(":")
        target = self._target(number)
        if target is None:
            return
        channel, ts = target
        try:
            message = self.workspace.add_reaction(channel, ts, name, self.user.id)
        except SlackError as exc:
            self.screen.line(f"Could not react: {exc.error}.")
            return
        self.screen.dim(f"  (you reacted :{name}: to “{self.feed.message_title(channel, ts)}”)")
        event = payloads.reaction_added_event(
            name,
            item_ts=ts,
            item_user=str(message.get("user") or ""),
            user=self.user,
            channel=self._channel(channel),
        )
        what = "reaction_added events (reactions)"
        ok = await self.dispatch(payloads.event_callback(event), what=what)
        await self.after(ok is not None, quiet_ok=True)

    async def thread(self, rest: str) -> None:
        number_text, _, text = rest.partition(" ")
        number = int(number_text) if number_text.isdigit() else None
        text = text.strip() if number is not None else rest.strip()
        if not text:
            self.screen.line("Usage: /thread [N] <text> — e.g. /thread use notes.md instead")
            return
        target = self._target(number)
        if target is None:
            return
        channel, ts = target
        parent = self.workspace.messages[(channel, ts)]
        root = str(parent.get("thread_ts") or ts)
        root_user = str((self.workspace.messages.get((channel, root)) or parent).get("user", ""))
        message = self.workspace.add_user_message(
            text, user=self.user, channel=self._channel(channel), thread_ts=root
        )
        title = self.feed.message_title(channel, root)
        self.screen.dim(f"  (you replied in the thread of “{title}”)")
        event = payloads.message_event(
            text,
            ts=message["ts"],
            thread_ts=root,
            user=self.user,
            channel=self._channel(channel),
            parent_user_id=root_user or None,
        )
        what = "message events (thread replies)"
        ok = await self.dispatch(payloads.event_callback(event), what=what)
        await self.after(ok is not None)

    async def home(self) -> None:
        before = self.workspace.home(self.user.id)
        event = payloads.app_home_opened_event(user=self.user, view=before)
        what = "app_home_opened events (the Home tab)"
        ok = await self.dispatch(payloads.event_callback(event), what=what)
        if ok is None:
            return
        await self.settle()
        after = self.workspace.home(self.user.id)
        if after is None:
            self.screen.line("Kaizen has not published a Home tab.")
        elif before is not None and after["hash"] == before["hash"]:  # shown as it was
            self.screen.card("Kaizen · Home tab", after, view_id=str(after["id"]))
        await self.run_modals()

    # ------------------------------------------------------------------ after a request

    async def after(self, handled: bool, *, quiet_ok: bool = False) -> None:
        """Wait for the app to settle, print what changed, then fill in any modal it opened."""
        printed = await self.settle()
        if handled and not printed and not quiet_ok and not self.dialog.open:
            self.screen.dim("  (no reply)")
        await self.run_modals()

    async def run_modals(self) -> None:
        """Fill in and submit the modals the app opened, until none is open."""
        await self.dialog.run()

    async def settle(self) -> int:
        """Wait until the app has gone quiet, printing step lines meanwhile; then print what
        changed. How many items were printed."""
        started = time.monotonic()
        noted = False

        def tick() -> None:
            nonlocal noted
            self.steps.show()
            if not noted and time.monotonic() - started >= self.working_note_s:
                noted = True
                self.screen.dim("  … Kaizen is working")

        quiet = await self.activity.until_quiet(tick=tick, patience_s=self.patience_s)
        printed = self.feed.flush()
        if not quiet:
            self.screen.dim("  (still working; what it posts will show up when it is done)")
        return printed

    # ------------------------------------------------------------------ helpers

    def _respond(
        self,
        url: str,
        *,
        channel: str | None = None,
        source_ts: str | None = None,
        thread_ts: str | None = None,
    ) -> LocalRespond:
        return LocalRespond(
            self.workspace,
            response_url=url,
            user=self.user.id,
            channel=channel or self.channel.id,
            source_ts=source_ts,
            source_thread_ts=thread_ts,
        )

    def _channel(self, channel_id: str) -> Channel:
        return self.workspace.channels.get(channel_id) or Channel(channel_id, channel_id)

    def _target(self, number: int | None) -> tuple[str, str] | None:
        """The message button ``number`` is on, else the latest card (printing why not)."""
        target: tuple[str, str] | None
        if number is not None:
            button = self.screen.buttons.get(number)
            if button is None or button.where is None or button.ephemeral:
                self.screen.line(f"Button {number} is not on a message in the channel.")
                return None
            target = button.where
        else:
            target = self.feed.latest_card
            if target is None:
                self.screen.line("There is no card yet — ask Kaizen something first.")
                return None
        if target not in self.workspace.messages:
            self.screen.line("That message was deleted.")
            return None
        return target


def _body(body: str) -> dict[str, Any]:
    """A Bolt response body as a dict: JSON as it is, other text as ``{"text": …}``."""
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"text": body}
    return parsed if isinstance(parsed, dict) else {"text": body}
