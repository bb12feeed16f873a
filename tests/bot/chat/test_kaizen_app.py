"""The console driving Kaizen's own Slack app (``running_app``), as a newcomer would use it:
no Slack, no tokens, no OpenAI key — the offline planner plans.

The tests marked ``waits for …`` exercise listeners being added to the app; until the listener
is registered the console says "The app has no listener for …" and the test fails."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.chat.payloads import LOCAL_USER
from bot.chat.session import ChatSession
from bot.chat.web_api import LocalWebApi
from bot.settings import Settings
from bot.slack.cards import actions
from bot.slack.serve import running_app
from knowledge.history import feedback_for, query_runs
from knowledge.store import open_database
from tests.bot.chat.conftest import Conversation, button

T = TypeVar("T")

REQUEST = "append 'hello world' to notes.txt"
NO_LISTENER = "The app has no listener for"

pytestmark = pytest.mark.usefixtures("kaizen_env")


@asynccontextmanager
async def kaizen_chat() -> AsyncIterator[tuple[Conversation, LocalWebApi, Settings]]:
    settings = Settings()
    api = LocalWebApi()
    out = io.StringIO()
    async with running_app(settings, client=api, verify_requests=False) as (app, services):
        session = ChatSession(
            app,
            api,
            runs=services.runner.executor,
            progress=services.live.progress,
            output_stream=out,
            echo=True,
        )
        async with Conversation(session, out) as talk:
            yield talk, api, settings


def read(settings: Settings, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(session, *args, **kwargs)`` on the console's database."""
    db = open_database(settings.database)
    try:
        with db.reading() as session:
            return function(session, *args, **kwargs)
    finally:
        db.dispose()


def runs(settings: Settings) -> list:
    return read(settings, query_runs, limit=100)


def notes(settings: Settings) -> str:
    return (Path(settings.workspace_dir) / "notes.txt").read_text()


def listener_present(out: str, what: str) -> None:
    if NO_LISTENER in out:
        pytest.fail(f"no listener answered {what}:\n{out}")


async def test_plan_preview_then_run_to_success() -> None:
    async with kaizen_chat() as (talk, _, settings):
        preview = await talk.say(REQUEST)
        assert "file.append" in preview
        assert "Request* from @you" in preview
        assert "[1] ▶ Run  [2] ✎ Edit  [3] Save as workflow  [4] Cancel" in preview
        ran = await talk.say(str(button(preview, "▶ Run")))
        assert "Kaizen · #local (updated)" in ran
        assert "succeeded" in ran
        assert ran.count("(updated)") == 1  # the live card is printed once, as it ended
        assert ran.rstrip().endswith("you>")
    assert notes(settings) == "hello world"
    assert len(runs(settings)) == 1


async def test_a_second_click_runs_nothing_more() -> None:
    async with kaizen_chat() as (talk, _, settings):
        preview = await talk.say(REQUEST)
        run = button(preview, "▶ Run")
        await talk.say(str(run))
        again = await talk.say(f"/click {run}")
        assert "no longer on its message" in again
        assert "(no reply)" in again
    assert notes(settings) == "hello world"
    assert len(runs(settings)) == 1


async def test_cancel_asks_first_and_save_saves() -> None:
    async with kaizen_chat() as (talk, _, settings):
        preview = await talk.say(REQUEST)
        asked = await talk.say(str(button(preview, "Cancel")))
        assert "Cancel this plan?" in asked
        cancelled = await talk.say("y")
        assert "Cancelled by @you" in cancelled
        preview = await talk.say(REQUEST)
        saved = await talk.say(str(button(preview, "Save as workflow")))
        assert "Saved as *" in saved
    assert runs(settings) == []


async def test_help_unknown_blank_and_eof() -> None:
    async with kaizen_chat() as (talk, api, _):
        helped = await talk.say("/kaizen help")
        assert "only you can see this" in helped
        assert "Kaizen commands" in helped
        assert "Unknown command /foo" in await talk.say("/foo")
        calls = len(api.workspace.calls)
        assert await talk.say("   ") == "   \nyou> "
        assert len(api.workspace.calls) == calls
    assert talk.transcript.rstrip().endswith("bye")


async def test_workflows_lists_the_saved_workflow() -> None:
    async with kaizen_chat() as (talk, _, _):
        preview = await talk.say(REQUEST)
        await talk.say(str(button(preview, "▶ Run")))
        listed = await talk.say("/kaizen workflows")
        assert "append" in listed


# ---------------------------------------------------------------------- waiting for listeners


async def test_edit_modal_refuses_bad_yaml_then_runs_the_edited_plan() -> None:
    """Edit opens the YAML modal; bad YAML is refused in it; the edited plan is what runs."""
    async with kaizen_chat() as (talk, api, settings):
        preview = await talk.say(REQUEST)
        opened = await talk.say(str(button(preview, "✎ Edit")))
        listener_present(opened, "Edit button (kaizen.plan.edit)")
        assert "Kaizen · modal" in opened
        assert "Blueprint (YAML)" in opened
        modal = api.workspace.open_modal(LOCAL_USER.id)
        assert modal is not None
        assert modal["callback_id"] == actions.EDIT_MODAL
        yaml_text = modal["blocks"][-1]["element"]["initial_value"]
        assert "hello world" in yaml_text

        await talk.say("steps: [")
        refused = await talk.say(".")
        listener_present(refused, "edit modal (kaizen.edit)")
        assert "✗ Kaizen did not accept that." in refused
        assert api.workspace.open_modal(LOCAL_USER.id) is not None

        for line in yaml_text.replace("hello world", "edited text").split("\n"):
            await talk.say(line)
        edited = await talk.say(".")
        assert api.workspace.open_modal(LOCAL_USER.id) is None
        ran = await talk.say(str(button(edited, "▶ Run")))
        assert "succeeded" in ran
    assert notes(settings) == "edited text"


async def test_improve_is_answered() -> None:
    """``/improve`` in the console is recorded against the run just made."""
    async with kaizen_chat() as (talk, _, settings):
        preview = await talk.say(REQUEST)
        await talk.say(str(button(preview, "▶ Run")))
        answered = await talk.say("/improve append should add a newline at the end")
        listener_present(answered, "/improve")
        assert "Thanks — noted on *append* v1" in answered
        (run,) = runs(settings)
    feedback = read(settings, feedback_for, run_id=run.id)
    assert [f.text for f in feedback] == ["append should add a newline at the end"]


async def test_a_reaction_on_the_run_card_is_recorded_as_feedback() -> None:
    """``/react`` on the run card is stored as feedback on that run."""
    async with kaizen_chat() as (talk, _, settings):
        preview = await talk.say(REQUEST)
        await talk.say(str(button(preview, "▶ Run")))
        reacted = await talk.say("/react :+1:")
        listener_present(reacted, "reaction_added")
        (run,) = runs(settings)
    feedback = read(settings, feedback_for, run_id=run.id)
    assert [(f.reaction, f.score) for f in feedback] == [("+1", 1)]


async def test_home_tab_shows_workflows_and_runs() -> None:
    """``/home`` publishes and prints the Home tab."""
    async with kaizen_chat() as (talk, _, _):
        preview = await talk.say(REQUEST)
        await talk.say(str(button(preview, "▶ Run")))
        home = await talk.say("/home")
        listener_present(home, "app_home_opened")
        assert "Kaizen · Home tab" in home
        assert "Workflows" in home
        assert "append" in home


async def test_a_thread_reply_replans_in_the_thread() -> None:
    """A change replied in the plan's thread re-plans it there; the revised plan runs."""
    async with kaizen_chat() as (talk, _, settings):
        await talk.say(REQUEST)
        replied = await talk.say("/thread use 'second' instead of 'hello world'")
        listener_present(replied, "message (thread replies)")
        assert "› thread of" in replied
        ran = await talk.say(str(button(replied, "▶ Run")))
        assert "succeeded" in ran
    assert notes(settings) == "second"  # the revised plan, not the first one
