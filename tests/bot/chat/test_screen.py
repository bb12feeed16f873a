"""What the console prints: session-wide button numbers, named mentions, and the feed that
prints a message once, as it is last."""

from __future__ import annotations

import io

from bot.chat.payloads import LOCAL_CHANNEL
from bot.chat.screen import Feed, Screen, button_elements, named, renumber
from bot.chat.workspace import Change, LocalWorkspace

C = LOCAL_CHANNEL.id


def _card(text: str, *labels: str) -> dict:
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "action_id": f"a.{label.lower()}",
            "value": "1",
        }
        for label in labels
    ]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if buttons:
        blocks.append({"type": "actions", "block_id": "btns", "elements": buttons})
    return {"text": text, "blocks": blocks}


def test_renumber_moves_local_numbers_to_session_numbers() -> None:
    buttons = [("Run", "a", "1"), ("Edit", "b", "1")]
    text = "see [1] below\n[1] Run  [2] Edit"
    assert renumber(text, buttons, [5, 6]) == "see [1] below\n[5] Run  [6] Edit"


def test_button_elements_follow_render_order() -> None:
    card = _card("x", "Run", "Edit")
    card["blocks"].insert(
        0,
        {
            "type": "section",
            "block_id": "acc",
            "text": {"type": "mrkdwn", "text": "y"},
            "accessory": {"type": "button", "action_id": "first", "text": {"text": "F"}},
        },
    )
    assert [(b, e["action_id"]) for b, e in button_elements(card["blocks"])] == [
        ("acc", "first"),
        ("btns", "a.run"),
        ("btns", "a.edit"),
    ]


def test_named_gives_mentions_their_names() -> None:
    names = {"U0LOCAL": "you", "C0LOCAL": "local"}
    assert named({"t": ["<@U0LOCAL> in <#C0LOCAL>, <@U0OTHER>"]}, names) == {
        "t": ["<@U0LOCAL|@you> in <#C0LOCAL|local>, <@U0OTHER>"]
    }


def test_buttons_keep_their_numbers_across_reprints() -> None:
    screen = Screen(io.StringIO())
    first = screen.card("t", _card("a", "Run", "Edit"), channel=C, ts="1.1")
    again = screen.card("t", _card("a", "Run", "Edit"), channel=C, ts="1.1")
    other = screen.card("t", _card("b", "Run"), channel=C, ts="1.2")
    assert [b.number for b in first] == [1, 2]
    assert [b.number for b in again] == [1, 2]
    assert [b.number for b in other] == [3]
    assert screen.buttons.get(3).where == (C, "1.2")
    assert "[3] Run" in screen.out.getvalue()


def test_feed_prints_each_message_once_as_it_is_last() -> None:
    out = io.StringIO()
    screen = Screen(out)
    feed = Feed(screen, LocalWorkspace(), user="U0LOCAL")
    feed(Change("posted", C, "1.1", data=_card("plan", "Run")))
    feed(Change("updated", C, "1.1", data=_card("plan v2", "Run")))
    assert feed.flush() == 1
    assert "plan v2" in out.getvalue()
    assert "(updated)" not in out.getvalue()
    for step in ("running 1/3", "running 2/3", "succeeded"):
        feed(Change("updated", C, "1.1", data=_card(step)))
    feed(Change("ephemeral", C, "1.2", user="U0SOMEONE", data=_card("not for you")))
    feed(Change("view_opened", user="U0LOCAL", data={"type": "modal"}))
    assert feed.flush() == 1
    printed = out.getvalue()
    assert printed.count("(updated)") == 1
    assert "running" not in printed
    assert "succeeded" in printed
    assert "not for you" not in printed
    assert feed.latest_card == (C, "1.1")


def test_feed_drops_a_message_deleted_before_it_was_shown() -> None:
    out = io.StringIO()
    feed = Feed(Screen(out), LocalWorkspace(), user="U0LOCAL")
    feed(Change("posted", C, "1.1", data=_card("gone")))
    feed(Change("deleted", C, "1.1", data=_card("gone")))
    feed(
        Change(
            "file_shared",
            C,
            "",
            data={"id": "F1", "title": "Run output", "name": "o.txt", "size": 12345},
        )
    )
    assert feed.flush() == 1
    assert "gone" not in out.getvalue()
    assert "Run output (o.txt, 12,345 bytes)" in out.getvalue()
