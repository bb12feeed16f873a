"""Tests of the Slack Web API stub and of the signed Slack request builders."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest
from slack_bolt import Ack, App, BoltResponse, Say
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.bot.slack import slack_requests as sr
from tests.bot.slack.slack_api_stub import Call, SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*plan* ready"}}]


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub() as running:
        yield running


@pytest.fixture
def client(stub: SlackApiStub) -> WebClient:
    return WebClient(token="xoxb-test", base_url=stub.base_url, timeout=5)


# --------------------------------------------------------------------------- Web API stub


def test_auth_test_records_call_and_bearer_token(stub: SlackApiStub, client: WebClient) -> None:
    assert stub.base_url.startswith("http://127.0.0.1:") and stub.base_url.endswith("/api/")
    resp = client.auth_test()
    assert resp["ok"] is True
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == ("T0001", "UBOT", "B0001")
    assert resp["url"] and resp["team"] and resp["user"]
    [call] = stub.calls_to("auth.test")
    assert isinstance(call, Call)
    assert call.header("authorization") == "Bearer xoxb-test"
    assert call.token == "xoxb-test"
    assert stub.calls == [call]


@pytest.mark.parametrize("token", [None, "xoxb-invalid"])
def test_missing_or_invalid_token_is_invalid_auth(stub: SlackApiStub, token: str | None) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token=token, base_url=stub.base_url).chat_postMessage(channel="C1", text="x")
    assert err.value.response["error"] == "invalid_auth"
    assert len(stub.calls_to("chat.postMessage")) == 1
    assert stub.messages() == []


def test_unknown_method_is_recorded(stub: SlackApiStub, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.api_call("bogus.method", params={"a": "1"})
    assert err.value.response["error"] == "unknown_method"
    assert stub.calls_to("bogus.method")[0].params == {"a": "1"}


def test_post_message_with_blocks_then_update(stub: SlackApiStub, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="planning", blocks=BLOCKS)
    second = client.chat_postMessage(channel="C1", text="again")
    assert first["channel"] == "C1"
    assert first["ts"] == "1700000000.000100"
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == BLOCKS and first["message"]["ts"] == first["ts"]
    assert stub.calls_to("chat.postMessage")[0].params["blocks"] == BLOCKS

    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "done"}}]
    upd = client.chat_update(channel="C1", ts=first["ts"], text="done", blocks=new_blocks)
    assert (upd["channel"], upd["ts"], upd["text"]) == ("C1", first["ts"], "done")
    message = stub.message("C1", first["ts"])
    assert message is not None
    assert message["text"] == "done" and message["blocks"] == new_blocks

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.000000", text="nope")
    assert err.value.response["error"] == "message_not_found"


def test_form_encoded_json_params_are_decoded(stub: SlackApiStub, client: WebClient) -> None:
    client.api_call(
        "chat.postMessage",
        params={"channel": "C9", "text": "t", "blocks": json.dumps(BLOCKS), "unfurl_links": False},
    )
    [call] = stub.calls_to("chat.postMessage")
    assert call.header("content-type") == "application/x-www-form-urlencoded"
    assert call.params["blocks"] == BLOCKS
    assert call.params["unfurl_links"] == "0"


def test_threads_and_conversations_replies(stub: SlackApiStub, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="parent")["ts"]
    client.chat_postMessage(channel="C1", text="r1", thread_ts=parent)
    reply = client.chat_postMessage(channel="C1", text="r2", thread_ts=parent)
    client.chat_postMessage(channel="C2", text="elsewhere", thread_ts=parent)
    assert reply["message"]["thread_ts"] == parent
    assert [m["text"] for m in stub.thread("C1", parent)] == ["parent", "r1", "r2"]
    replies = client.conversations_replies(channel="C1", ts=parent)
    assert [m["text"] for m in replies["messages"]] == ["parent", "r1", "r2"]


def test_views_open_update_publish(stub: SlackApiStub, client: WebClient) -> None:
    view = {"type": "modal", "callback_id": "plan", "title": {"type": "plain_text", "text": "P"}}
    opened = client.views_open(trigger_id="123.456", view={**view, "blocks": []})["view"]
    assert opened["id"].startswith("V") and opened["hash"]
    assert opened["callback_id"] == "plan"
    assert stub.calls_to("views.open")[0].params["view"]["callback_id"] == "plan"

    updated = client.views_update(view_id=opened["id"], view={**view, "private_metadata": "x"})
    assert updated["view"]["id"] == opened["id"] and updated["view"]["hash"] != opened["hash"]
    assert stub.view(opened["id"])["private_metadata"] == "x"
    with pytest.raises(SlackApiError) as err:
        client.views_update(view_id=opened["id"], view=view, hash=opened["hash"])
    assert err.value.response["error"] == "hash_conflict"

    pushed = client.views_push(trigger_id="123.456", view=view)["view"]
    assert pushed["id"] != opened["id"]
    home = {"type": "home", "blocks": []}
    first = client.views_publish(user_id="U1", view=home)["view"]
    again = client.views_publish(user_id="U1", view=home)["view"]
    assert first["id"] == again["id"] and again["type"] == "home"


def test_file_upload_v2_flow(stub: SlackApiStub, client: WebClient) -> None:
    content = "trace line\n" * 50
    resp = client.files_upload_v2(channel="C1", content=content, filename="trace.txt", title="T")
    assert resp["file"]["title"] == "T"
    [get_url] = stub.calls_to("files.getUploadURLExternal")
    assert get_url.params["filename"] == "trace.txt"
    assert int(get_url.params["length"]) == len(content.encode())
    [upload] = stub.calls_to("files.upload_content")
    assert upload.params["size"] == len(content.encode())
    assert upload.params["content"] == content.encode()
    [complete] = stub.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C1"
    assert complete.params["files"] == [{"id": upload.params["file_id"], "title": "T"}]
    assert resp["files"][0]["id"] == upload.params["file_id"]


def test_fail_next_raises_slack_api_error_once(stub: SlackApiStub, client: WebClient) -> None:
    stub.fail_next("chat.postMessage")
    stub.fail_next("chat.postMessage", error="channel_not_found", status=200, retry_after=None)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "1"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert len(stub.calls_to("chat.postMessage")) == 3


def test_other_methods(stub: SlackApiStub, client: WebClient) -> None:
    stub.usergroups = {"S123": ["U1", "U2"]}
    stub.channels["C1"] = "general"
    stub.users["U2"] = {"name": "bob", "is_admin": True}
    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]
    assert client.conversations_info(channel="C1")["channel"]["name"] == "general"
    user = client.users_info(user="U1")["user"]
    assert user["id"] == "U1" and user["is_admin"] is False and user["real_name"]
    assert client.users_info(user="U2")["user"]["is_admin"] is True
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    client.reactions_add(channel="C1", name="eyes", timestamp=ts)
    assert stub.message("C1", ts)["reactions"][0]["name"] == "eyes"
    eph = client.chat_postEphemeral(channel="C1", user="U1", text="psst")
    assert eph["message_ts"]
    client.chat_delete(channel="C1", ts=ts)
    assert stub.message("C1", ts) is None


def test_wait_for_sees_calls_from_other_threads(stub: SlackApiStub, client: WebClient) -> None:
    timer = threading.Timer(0.1, lambda: client.chat_postMessage(channel="C1", text="later"))
    timer.start()
    try:
        calls = stub.wait_for("chat.postMessage", where=lambda p: p["text"] == "later")
    finally:
        timer.join()
    assert calls[0].params["text"] == "later"


def test_wait_for_timeout_is_readable(stub: SlackApiStub, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="hello")
    started = time.monotonic()
    with pytest.raises(AssertionError) as err:
        stub.wait_for("chat.update", count=2, timeout=0.2)
    assert time.monotonic() - started < 2
    text = str(err.value)
    assert "2 call(s) to 'chat.update'" in text and "got 0 matching" in text
    assert "chat.postMessage" in text and "'hello'" in text


def test_latency_and_clear(stub: SlackApiStub, client: WebClient) -> None:
    stub.set_latency(0.2)
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2
    stub.set_latency(0)
    client.chat_postMessage(channel="C1", text="x")
    stub.clear()
    assert stub.calls == [] and stub.messages() == []


async def test_async_web_client(stub: SlackApiStub) -> None:
    client = AsyncWebClient(token="xoxb-async", base_url=stub.base_url, timeout=5)
    assert (await client.auth_test())["user_id"] == "UBOT"
    posted = await client.chat_postMessage(channel="C1", text="hi", blocks=BLOCKS)
    await client.chat_update(channel="C1", ts=posted["ts"], text="bye")
    assert stub.message("C1", posted["ts"])["text"] == "bye"
    stub.usergroups["S1"] = ["U7"]
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U7"]
    resp = await client.files_upload_v2(channel="C1", content=b"\x00\x01binary", filename="a.bin")
    [upload] = stub.calls_to("files.upload_content")
    assert upload.params["content"] == b"\x00\x01binary" and upload.params["size"] == 8
    assert resp["file"]["id"] == upload.params["file_id"]
    assert {c.token for c in stub.calls if c.method != "files.upload_content"} == {"xoxb-async"}
    stub.fail_next("views.open", error="ratelimited")
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id="1.2", view={"type": "modal", "blocks": []})
    assert err.value.response["error"] == "ratelimited"


# --------------------------------------------------------------------------- signed requests


def test_signature_matches_slack_documented_example() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sr.signature(SECRET, body, 1531420618) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


@pytest.mark.parametrize(
    "body",
    [
        sr.slash_command_body(text="plan deploy ünïcode & more"),
        sr.block_actions_body("approve", "run-1"),
        sr.view_submission_body("plan", {"b": {"a": "x"}}),
        sr.event_body(sr.app_mention_event("<@UBOT> hi")),
    ],
)
def test_signatures_verified_by_slack_sdk(body: str) -> None:
    verifier = SignatureVerifier(SECRET)
    headers = sr.sign(SECRET, body)
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid_request(body.encode(), headers)
    assert not verifier.is_valid_request(body + "&x=1", headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    stale = sr.sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


def test_content_types_and_retry_headers() -> None:
    assert sr.sign(SECRET, sr.slash_command_body())["Content-Type"] == (
        "application/x-www-form-urlencoded"
    )
    assert sr.sign(SECRET, sr.url_verification_body("c"))["Content-Type"] == "application/json"
    assert sr.retry_headers(2, "http_error") == {
        "X-Slack-Retry-Num": "2",
        "X-Slack-Retry-Reason": "http_error",
    }


def test_slash_command_body_fields() -> None:
    body = sr.slash_command_body(text="plan a b", user_id="U9", channel_id="C9")
    fields = parse_qsl(body, keep_blank_values=True)
    assert [k for k, _ in fields] == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert "command=%2Fkaizen" in body and "text=plan+a+b" in body
    assert dict(fields)["user_id"] == "U9"


def _payload(body: str) -> dict[str, Any]:
    return json.loads(parse_qs(body)["payload"][0])


def test_interactive_payload_shapes() -> None:
    message = {"ts": "1700000000.000500", "text": "m", "blocks": BLOCKS, "thread_ts": "1.0"}
    actions = _payload(sr.block_actions_body("approve", "run-1", message=message))
    assert actions["type"] == "block_actions"
    assert actions["container"]["message_ts"] == "1700000000.000500"
    assert actions["container"]["thread_ts"] == "1.0"
    assert actions["message"]["blocks"] == BLOCKS
    assert actions["actions"][0]["action_id"] == "approve"
    assert actions["actions"][0]["value"] == "run-1"
    assert actions["actions"][0]["type"] == "button"

    pre_shaped = {"type": "static_select", "selected_option": {"value": "x"}}
    sub = _payload(sr.view_submission_body("plan", {"b1": {"a1": "text", "a2": pre_shaped}}, "m"))
    assert sub["type"] == "view_submission" and sub["view"]["private_metadata"] == "m"
    assert sub["view"]["state"]["values"] == {
        "b1": {"a1": {"type": "plain_text_input", "value": "text"}, "a2": pre_shaped}
    }

    event = json.loads(sr.event_body(sr.reaction_added_event("eyes"), event_id="Ev9"))
    assert event["type"] == "event_callback" and event["event_id"] == "Ev9"
    assert event["event"]["item"]["ts"] == "1700000000.000100"
    assert event["authorizations"][0]["user_id"] == "UBOT"
    assert sr.message_event("hi", channel="D1", thread_ts="1.0")["channel_type"] == "im"
    assert sr.app_home_opened_event("U1")["tab"] == "home"


def test_post_helper(stub: SlackApiStub) -> None:
    status, text, elapsed = sr.post(
        stub.base_url + "auth.test", "", {"Authorization": "Bearer xoxb-x"}
    )
    assert status == 200 and json.loads(text)["ok"] is True and elapsed >= 0


# --------------------------------------------------------------------------- slack_bolt app


def _dispatch(app: App, body: str, headers: dict[str, str]) -> BoltResponse:
    return app.dispatch(BoltRequest(body=body, headers=headers))


def test_bolt_app_end_to_end(stub: SlackApiStub) -> None:
    app = App(client=WebClient(token="xoxb-test", base_url=stub.base_url), signing_secret=SECRET)
    seen: dict[str, Any] = {}

    @app.command("/kaizen")
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        seen["command"] = command
        ack(text="on it")

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any]) -> None:
        seen["action"] = body
        ack()

    @app.view("plan")
    def on_plan(ack: Ack, view: dict[str, Any]) -> None:
        seen["view"] = view
        ack()

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        say(text="hello", thread_ts=event["ts"])

    body = sr.slash_command_body(text="plan deploy")
    resp = _dispatch(app, body, sr.sign(SECRET, body))
    assert resp.status == 200 and "on it" in resp.body
    assert seen["command"]["text"] == "plan deploy" and seen["command"]["user_id"] == "U1"

    forged = sr.sign("wrong-secret", body)
    assert _dispatch(app, body, forged).status == 401
    assert _dispatch(app, body + "&x=1", sr.sign(SECRET, body)).status == 401

    body = sr.block_actions_body("approve", "run-1")
    assert _dispatch(app, body, sr.sign(SECRET, body)).status == 200
    assert seen["action"]["actions"][0]["value"] == "run-1"

    body = sr.view_submission_body("plan", {"b": {"a": "v"}}, private_metadata="pm")
    assert _dispatch(app, body, sr.sign(SECRET, body)).status == 200
    assert seen["view"]["state"]["values"]["b"]["a"]["value"] == "v"

    body = sr.url_verification_body("chal-1")
    resp = _dispatch(app, body, sr.sign(SECRET, body))
    assert resp.status == 200 and "chal-1" in resp.body

    body = sr.event_body(sr.app_mention_event("<@UBOT> hi", ts="1700000009.000100"))
    assert _dispatch(app, body, sr.sign(SECRET, body)).status == 200
    [call] = stub.wait_for("chat.postMessage", timeout=5)
    assert call.params["thread_ts"] == "1700000009.000100" and call.token == "xoxb-test"
