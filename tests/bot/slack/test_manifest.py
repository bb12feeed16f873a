"""The Slack app manifest (``slack/manifest.yaml``) against the code it configures.

The manifest must declare the slash commands and subscribe to the events the Bolt app
handles, send every request to the one path Kaizen serves, and grant the bot scope each
Web API method Kaizen calls needs. The source under ``bot/`` is scanned for those calls, so
a new call whose scope the manifest lacks fails here, not in a workspace.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import COMMANDS, EVENTS
from bot.slack.serve import EVENTS_PATH

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "slack" / "manifest.yaml"
SOURCE = ROOT / "bot"

#: Bot scopes each Web API method needs (its page under https://api.slack.com/methods).
#: ``conversations.*`` need one scope per kind of channel Kaizen works in: public
#: (``channels:``) and private (``groups:``). ``views.*`` need none: a trigger id or the
#: user's App Home is authority enough.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "views.open": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
    "conversations.info": frozenset({"channels:read", "groups:read"}),
    "conversations.replies": frozenset({"channels:history", "groups:history"}),
    "reactions.add": frozenset({"reactions:write"}),
}

#: Bot scopes each Events API event needs to be delivered (https://api.slack.com/events).
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_mention": frozenset({"app_mentions:read"}),
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "reaction_added": frozenset({"reactions:read"}),
    "app_home_opened": frozenset(),
}

#: The scope that lets an app own slash commands.
COMMANDS_SCOPE = "commands"

#: slack_sdk helpers that are not one Web API method but call several.
SDK_HELPERS: dict[str, tuple[str, ...]] = {
    "files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal"),
}

#: Every Web API method (and helper) slack_sdk's client offers, by its Python name.
SDK_METHODS = frozenset(name for name in vars(AsyncWebClient) if not name.startswith("_"))

_ATTRIBUTE = re.compile(r"\.([a-z]+_\w+)\b")
_API_CALL = re.compile(r"""\bapi_call\(\s*["']([\w.]+)["']""")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def api_methods(sdk_name: str) -> tuple[str, ...]:
    """The Web API methods a slack_sdk client method calls (``chat_postMessage`` →
    ``chat.postMessage``)."""
    return SDK_HELPERS.get(sdk_name, (sdk_name.replace("_", "."),))


def web_api_calls() -> dict[str, set[str]]:
    """Web API methods the code under ``bot/`` calls, each with the files calling it: every
    slack_sdk client method named as an attribute (called or passed on), and ``api_call``."""
    calls: dict[str, set[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        names = {name for name in _ATTRIBUTE.findall(text) if name in SDK_METHODS}
        methods = {method for name in names for method in api_methods(name)}
        for method in methods | set(_API_CALL.findall(text)):
            calls.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return calls


def bot_scopes(manifest: dict[str, Any]) -> set[str]:
    return set(manifest["oauth_config"]["scopes"]["bot"])


def bot_events(manifest: dict[str, Any]) -> list[str]:
    return list(manifest["settings"]["event_subscriptions"]["bot_events"])


def slash_commands(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list(manifest["features"]["slash_commands"])


def request_urls(manifest: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, URL) for every request URL in the manifest."""
    for command in slash_commands(manifest):
        yield command["command"], command["url"]
    settings = manifest["settings"]
    yield "event_subscriptions", settings["event_subscriptions"]["request_url"]
    yield "interactivity", settings["interactivity"]["request_url"]


def test_declares_exactly_the_commands_the_app_answers(manifest: dict[str, Any]) -> None:
    declared = [command["command"] for command in slash_commands(manifest)]
    assert sorted(declared) == sorted(COMMANDS)
    # Kaizen parses the raw text ("run <workflow> key=value"), not Slack's escaped <@U…> form.
    assert all(command["should_escape"] is False for command in slash_commands(manifest))


def test_subscribes_to_exactly_the_events_the_app_handles(manifest: dict[str, Any]) -> None:
    events = bot_events(manifest)
    assert len(events) == len(set(events))
    # ``message.channels`` and ``message.groups`` both arrive as Bolt's ``message`` event.
    assert {event.split(".")[0] for event in events} == set(EVENTS)
    assert {"message.channels", "message.groups"} <= set(events), "thread replies, both kinds"


def test_every_request_url_is_the_path_kaizen_serves(manifest: dict[str, Any]) -> None:
    urls = dict(request_urls(manifest))
    assert len(urls) == len(COMMANDS) + 2
    for where, url in urls.items():
        parts = urlsplit(url)
        assert parts.scheme == "https", where
        assert parts.path == EVENTS_PATH, where
    assert len({urlsplit(url).netloc for url in urls.values()}) == 1, "one host for all"


def test_interactivity_is_enabled(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_home_tab_is_enabled_for_app_home_opened(manifest: dict[str, Any]) -> None:
    # views.publish of a home view fails with ``not_enabled`` unless the Home tab is on.
    assert "app_home_opened" in bot_events(manifest)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_token_rotation_is_off(manifest: dict[str, Any]) -> None:
    # Kaizen keeps one bot token and has no refresh flow; rotated tokens expire in 12 hours.
    assert manifest["settings"]["token_rotation_enabled"] is False


def test_scan_finds_the_calls_known_to_be_in_the_source() -> None:
    calls = web_api_calls()
    for method in ("chat.postMessage", "chat.update", "files.completeUploadExternal"):
        assert method in calls, f"the scan of {SOURCE} misses {method}"


def test_method_table_names_real_slack_sdk_methods() -> None:
    for method in METHOD_SCOPES:
        assert method.replace(".", "_") in SDK_METHODS, method
    for helper, methods in SDK_HELPERS.items():
        source = inspect.getsource(getattr(AsyncWebClient, helper))
        for method in methods:
            assert f"self.{method.replace('.', '_')}(" in source, (helper, method)


def test_scopes_cover_every_web_api_method_kaizen_calls(manifest: dict[str, Any]) -> None:
    granted = bot_scopes(manifest)
    for method, files in sorted(web_api_calls().items()):
        assert method in METHOD_SCOPES, (
            f"{method} (called in {', '.join(sorted(files))}) is not in METHOD_SCOPES: add it "
            "with the bot scopes its page on api.slack.com/methods lists, and to the manifest"
        )
        missing = METHOD_SCOPES[method] - granted
        assert not missing, f"{method} needs {sorted(missing)} in slack/manifest.yaml"


def test_scopes_cover_the_events_and_commands(manifest: dict[str, Any]) -> None:
    granted = bot_scopes(manifest)
    for event in bot_events(manifest):
        assert event in EVENT_SCOPES, f"{event}: add its required scopes to EVENT_SCOPES"
        assert EVENT_SCOPES[event] <= granted, event
    assert COMMANDS_SCOPE in granted


def test_asks_for_no_scope_it_does_not_use(manifest: dict[str, Any]) -> None:
    used = {COMMANDS_SCOPE}.union(*METHOD_SCOPES.values())
    used |= set().union(*(EVENT_SCOPES[event] for event in bot_events(manifest)))
    assert bot_scopes(manifest) <= used
    # Posting only where invited: chat:write.public would let it post in any public channel.
    assert "chat:write.public" not in bot_scopes(manifest)


def test_display_information_fits_slacks_limits(manifest: dict[str, Any]) -> None:
    # Limits from Slack's manifest schema (https://api.slack.com/concepts/manifests#fields).
    display = manifest["display_information"]
    assert 1 <= len(display["name"]) <= 35
    assert 1 <= len(display["description"]) <= 140
    assert 175 <= len(display["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", display["background_color"])
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", manifest["features"]["bot_user"]["display_name"])
    for command in slash_commands(manifest):
        assert re.fullmatch(r"/\S{1,31}", command["command"])
        assert 1 <= len(command["description"]) <= 2000
        assert 1 <= len(command["usage_hint"]) <= 1000
