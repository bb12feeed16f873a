"""The local Web API: answered in-process, as Slack would answer, for the app's own client and
for the per-request clients Bolt makes from it."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.chat.payloads import BOT_USER_ID, LOCAL_CHANNEL, LOCAL_USER, TEAM_ID
from bot.chat.web_api import LocalRespond, LocalWebApi
from bot.chat.workspace import Change, LocalWorkspace

C = LOCAL_CHANNEL.id
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}


@pytest.fixture
def api() -> LocalWebApi:
    return LocalWebApi()


@pytest.fixture
def changes(api: LocalWebApi) -> list[Change]:
    seen: list[Change] = []
    api.workspace.subscribe(seen.append)
    return seen


def bolt_clone(api: LocalWebApi) -> AsyncWebClient:
    """The client Bolt hands a listener: a plain AsyncWebClient copying the app client's."""
    return AsyncWebClient(
        token=api.token,
        base_url=api.base_url,
        session=api.session,
        headers=api.headers,
        retry_handlers=api.retry_handlers.copy() if api.retry_handlers else None,
    )


async def test_auth_test_names_the_bot(api: LocalWebApi) -> None:
    response = await api.auth_test()
    assert isinstance(response, AsyncSlackResponse)
    assert response["user_id"] == BOT_USER_ID
    assert response["team_id"] == TEAM_ID
    assert "chat:write" in response.headers["x-oauth-scopes"]


async def test_post_message_is_kept_and_announced(api, changes) -> None:
    first = await api.chat_postMessage(channel=C, text="one", blocks=[SECTION])
    second = await api.chat_postMessage(channel=C, text="two")
    assert float(second["ts"]) > float(first["ts"])
    stored = api.workspace.message(C, first["ts"])
    assert stored is not None
    assert stored["blocks"] == [SECTION]
    assert stored["user"] == BOT_USER_ID
    assert [(c.kind, c.ts) for c in changes] == [
        ("posted", first["ts"]),
        ("posted", second["ts"]),
    ]


async def test_update_replaces_text_and_blocks_and_keeps_the_thread(api, changes) -> None:
    ts = (await api.chat_postMessage(channel=C, text="card", blocks=[SECTION]))["ts"]
    reply = await api.chat_postMessage(channel=C, text="in thread", thread_ts=ts)
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "done"}}]
    updated = await api.chat_update(channel=C, ts=ts, text="card done", blocks=new_blocks)
    assert updated["message"]["text"] == "card done"
    message = api.workspace.message(C, ts)
    assert message is not None
    assert message["blocks"] == new_blocks
    assert message["reply_count"] == 1
    assert message["edited"]["user"] == BOT_USER_ID
    assert [m["ts"] for m in api.workspace.thread(C, ts)] == [ts, reply["ts"]]
    assert changes[-1].kind == "updated"
    assert changes[1].thread_ts == ts


async def test_errors_are_raised_as_slack_would(api) -> None:
    with pytest.raises(SlackApiError) as raised:
        await api.chat_update(channel=C, ts="1.000001", text="x")
    assert raised.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as raised:
        await api.views_open(trigger_id="never-issued", view={"type": "modal", "blocks": []})
    assert raised.value.response["error"] == "invalid_trigger_id"
    with pytest.raises(SlackApiError) as raised, pytest.warns(UserWarning, match="text"):
        await api.chat_postMessage(channel=C, text="", blocks=[])
    assert raised.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as raised:
        await api.chat_postMessage(channel=C, text="x", blocks=[SECTION] * 51)
    assert raised.value.response["error"] == "invalid_blocks"


async def test_bolts_per_request_clients_are_answered_locally_too(api, changes) -> None:
    clone = bolt_clone(api)
    posted = await clone.chat_postMessage(channel=C, text="from a listener")
    assert api.workspace.message(C, posted["ts"]) is not None
    assert (await clone.auth_test())["user_id"] == BOT_USER_ID
    assert changes[0].kind == "posted"
    assert [method for method, _ in api.workspace.calls] == ["chat.postMessage", "auth.test"]


async def test_ephemeral_delete_and_lookups(api, changes) -> None:
    eph = await api.chat_postEphemeral(channel=C, user=LOCAL_USER.id, text="just you")
    assert changes[-1].kind == "ephemeral"
    assert changes[-1].user == LOCAL_USER.id
    assert api.workspace.message(C, eph["message_ts"]) is not None
    ts = (await api.chat_postMessage(channel=C, text="bye"))["ts"]
    await api.chat_delete(channel=C, ts=ts)
    assert api.workspace.message(C, ts) is None
    assert changes[-1].kind == "deleted"
    info = await api.conversations_info(channel=C)
    assert info["channel"]["name"] == "local"
    user = await api.users_info(user=LOCAL_USER.id)
    assert user["user"]["name"] == "you"
    assert (await api.usergroups_users_list(usergroup="S0OPS"))["users"] == []
    configured = LocalWebApi(LocalWorkspace(usergroups={"S0OPS": [LOCAL_USER.id]}))
    assert (await configured.usergroups_users_list(usergroup="S0OPS"))["users"] == [LOCAL_USER.id]


async def test_unknown_methods_answer_ok_with_no_data(api, caplog) -> None:
    caplog.set_level("DEBUG", logger="bot.chat.workspace")
    response = await api.api_call("pins.add", params={"channel": C})
    assert response.data == {"ok": True}
    assert "pins.add is not emulated" in caplog.text


async def test_views_open_update_push_and_publish(api, changes) -> None:
    workspace = api.workspace
    modal = {
        "type": "modal",
        "callback_id": "cb",
        "title": {"type": "plain_text", "text": "Edit"},
        "blocks": [SECTION],
    }
    trigger = workspace.issue_trigger(LOCAL_USER.id)
    opened = (await api.views_open(trigger_id=trigger, view=modal))["view"]
    assert opened["id"].startswith("V")
    assert opened["state"] == {"values": {}}
    assert workspace.open_modal(LOCAL_USER.id) == opened
    with pytest.raises(SlackApiError):  # a trigger id is good once
        await api.views_open(trigger_id=trigger, view=modal)

    changed = {**modal, "title": {"type": "plain_text", "text": "Edit (2)"}}
    updated = (await api.views_update(view_id=opened["id"], view=changed))["view"]
    assert updated["id"] == opened["id"]
    assert updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as raised:
        await api.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert raised.value.response["error"] == "hash_conflict"

    pushed = await api.views_push(trigger_id=workspace.issue_trigger(LOCAL_USER.id), view=modal)
    assert workspace.open_modal(LOCAL_USER.id) == pushed["view"]
    assert pushed["view"]["root_view_id"] == opened["id"]
    workspace.close_modal(LOCAL_USER.id)
    assert workspace.open_modal(LOCAL_USER.id)["id"] == opened["id"]
    workspace.close_modal(LOCAL_USER.id)
    with pytest.raises(SlackApiError) as raised:  # closed: Slack no longer has it
        await api.views_update(view_id=opened["id"], view=changed)
    assert raised.value.response["error"] == "not_found"

    home = {"type": "home", "blocks": [SECTION]}
    first = (await api.views_publish(user_id=LOCAL_USER.id, view=home))["view"]
    again = (await api.views_publish(user_id=LOCAL_USER.id, view=home))["view"]
    assert first["id"] == again["id"]
    assert workspace.home(LOCAL_USER.id) == again
    kinds = [c.kind for c in changes]
    assert kinds == [
        "view_opened",
        "view_updated",
        "view_opened",
        "home_published",
        "home_published",
    ]


async def test_reactions(api, changes) -> None:
    ts = (await api.chat_postMessage(channel=C, text="run card"))["ts"]
    await api.reactions_add(channel=C, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as raised:
        await api.reactions_add(channel=C, timestamp=ts, name="eyes")
    assert raised.value.response["error"] == "already_reacted"
    api.workspace.add_reaction(C, ts, ":+1:", LOCAL_USER.id)
    message = api.workspace.message(C, ts)
    assert message is not None
    assert {r["name"]: r["users"] for r in message["reactions"]} == {
        "eyes": [BOT_USER_ID],
        "+1": [LOCAL_USER.id],
    }
    assert changes[-1].kind == "reaction_added"


@pytest.mark.parametrize("through_bolt", [False, True])
async def test_files_upload_v2_keeps_the_content(api, changes, through_bolt) -> None:
    client = bolt_clone(api) if through_bolt else api
    ts = (await api.chat_postMessage(channel=C, text="run card"))["ts"]
    response = await client.files_upload_v2(
        channel=C, thread_ts=ts, content="x" * 20_000, filename="output.txt", title="Run output"
    )
    assert response["file"]["title"] == "Run output"
    (stored,) = api.workspace.files.values()
    assert stored.content == b"x" * 20_000
    assert stored.thread_ts == ts
    assert changes[-1].kind == "file_shared"
    assert changes[-1].data["size"] == 20_000


async def test_respond_goes_to_the_workspace(api, changes) -> None:
    ts = (await api.chat_postMessage(channel=C, text="card"))["ts"]
    respond = LocalRespond(
        api.workspace,
        response_url="https://hooks.local.invalid/x",
        user=LOCAL_USER.id,
        channel=C,
        source_ts=ts,
    )
    assert (await respond("only you")).status_code == 200
    assert changes[-1].kind == "ephemeral"
    await respond(text="for everyone", response_type="in_channel")
    assert changes[-1].kind == "posted"
    await respond(text="replaced", replace_original=True)
    assert changes[-1].kind == "updated"
    assert api.workspace.message(C, ts)["text"] == "replaced"
    await respond(delete_original=True)
    assert api.workspace.message(C, ts) is None
