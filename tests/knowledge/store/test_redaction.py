"""Redaction before writing: secret keys, header shapes, credential formats in text, known secret
values, truncation with hash and size, odd values that are not JSON, and two properties (a
planted secret never reaches the stored value; redacting twice changes nothing)."""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.store.redaction import (
    CIRCULAR,
    DEFAULT_MAX_STORED_BYTES,
    MAX_DEPTH,
    REDACTED,
    TOO_DEEP,
    Redactor,
    StoredValue,
    canonical_json,
    is_secret_key,
)

R = Redactor()
SLACK_TOKEN = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEowIBAAKCAQEA7v1x2y3z\nq8w9e0r1t2y3u4i5o6p7\nZm9vYmFy"


def redacted(value):
    result, _ = R.redact(value)
    return result


def strings_in(value):
    """Every string in a JSON-like value, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


# --------------------------------------------------------------------------------------------
# Rule 1: secret-looking keys
# --------------------------------------------------------------------------------------------

SECRET_KEYS = [
    "password",
    "PASSWORD",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "client_secret",
    "clientSecret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "api_key",
    "apiKey",
    "API KEY",
    "x-api-key",
    "X-API-Key",
    "Authorization",
    "Proxy-Authorization",
    "cookie",
    "Set-Cookie",
    "private_key",
    "credentials",
    "credential",
    "signing_secret",
    "session_id",
    "slack_bot_token",
    "SLACK_SIGNING_SECRET",
    "db_password",
    "OPENAI_API_KEY",
    "aws.secret_access_key",
    "GITHUB_TOKEN",
    "ssh_private_key",
    "csrf-token",
]
NOT_SECRET_KEYS = [
    "tokens_in",
    "tokens_out",
    "token_count",
    "max_tokens",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "tokens",
    "token_type",
    "keyboard",
    "secretary",
    "key",
    "primary_key",
    "public_key",
    "author",
    "session",
    "password_hint",
    "status",
    "name",
    "",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_looking_keys_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_other_keys_are_not_secret(key):
    assert not is_secret_key(key)


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_value_under_a_secret_key_is_replaced(key):
    value, changed = R.redact({key: "plain value 42", "other": "kept"})
    assert value == {key: REDACTED, "other": "kept"}
    assert changed is True


@pytest.mark.parametrize(
    "secret_value",
    [12345, 3.5, True, False, 0, ["a", "b"], {"user": "u", "pass": "p"}, ("x", "y"), b"raw"],
)
def test_a_secret_key_hides_values_of_every_type(secret_value):
    assert redacted({"credentials": secret_value}) == {"credentials": REDACTED}


@pytest.mark.parametrize("empty", [None, ""])
def test_none_and_empty_string_under_a_secret_key_are_kept(empty):
    value, changed = R.redact({"password": empty, "api_key": empty})
    assert value == {"password": empty, "api_key": empty}
    assert changed is False


def test_llm_usage_counters_are_not_redacted():
    usage = {
        "model": "gpt-4o-mini",
        "max_tokens": 1024,
        "tokens_in": 812,
        "tokens_out": 97,
        "usage": {
            "prompt_tokens": 812,
            "completion_tokens": 97,
            "total_tokens": 909,
            "input_tokens": 812,
            "output_tokens": 97,
            "token_count": 909,
        },
    }
    value, changed = R.redact(usage)
    assert value == usage
    assert changed is False


def test_secret_keys_are_found_at_any_depth():
    value = {
        "steps": [
            {"id": "fetch", "output": {"config": {"db": {"host": "db", "db_password": "pw"}}}},
            {"id": "post", "params": [{"headers": {"Authorization": "Bearer abc"}}]},
        ]
    }
    assert redacted(value) == {
        "steps": [
            {"id": "fetch", "output": {"config": {"db": {"host": "db", "db_password": REDACTED}}}},
            {"id": "post", "params": [{"headers": {"Authorization": REDACTED}}]},
        ]
    }


# --------------------------------------------------------------------------------------------
# Rule 2: header shapes
# --------------------------------------------------------------------------------------------


def test_list_of_header_pairs():
    headers = [["Authorization", "Bearer x"], ["Accept", "*/*"], ("Cookie", "sid=1"), ["X", "y"]]
    assert redacted({"headers": headers}) == {
        "headers": [
            ["Authorization", REDACTED],
            ["Accept", "*/*"],
            ["Cookie", REDACTED],
            ["X", "y"],
        ]
    }


def test_list_of_name_value_mappings():
    headers = [
        {"name": "Authorization", "value": "Basic abc"},
        {"name": "Accept", "value": "application/json"},
    ]
    assert redacted(headers) == [
        {"name": "Authorization", "value": REDACTED},
        {"name": "Accept", "value": "application/json"},
    ]


def test_kubernetes_and_aws_style_environment_lists():
    env = {
        "env": [
            {"name": "DB_PASSWORD", "value": "pw-in-clear"},
            {"name": "LOG_LEVEL", "value": "debug"},
        ],
        "Environment": [{"Name": "STRIPE_API_KEY", "Value": "abc"}, {"Name": "A", "Value": "1"}],
        "tags": [{"key": "session_id", "value": "s1"}],
    }
    assert redacted(env) == {
        "env": [
            {"name": "DB_PASSWORD", "value": REDACTED},
            {"name": "LOG_LEVEL", "value": "debug"},
        ],
        "Environment": [{"Name": "STRIPE_API_KEY", "Value": REDACTED}, {"Name": "A", "Value": "1"}],
        "tags": [{"key": "session_id", "value": REDACTED}],
    }


def test_header_shapes_that_are_not_secret_are_kept():
    value = {
        "required": ["password", "email"],  # a list of two names, not a pair in a list
        "limits": [["max_tokens", 100], ["tokens_in", 5]],
        "pairs": [["name", "token"], ["a", "b", "c"]],
        "empty": [["Authorization", ""], ["Cookie", None]],
        "field": {"name": "password", "type": "string"},  # a schema, no "value"
    }
    result, changed = R.redact(value)
    assert result == value
    assert changed is False


# --------------------------------------------------------------------------------------------
# Rule 3: secrets inside strings
# --------------------------------------------------------------------------------------------


def test_known_secret_values_are_replaced_everywhere_in_strings():
    r = Redactor(["hunter2-Secret"])
    value, changed = r.redact(
        {"log": "login with hunter2-Secret then hunter2-Secret again", "n": ["xhunter2-Secretx"]}
    )
    assert value == {"log": f"login with {REDACTED} then {REDACTED} again", "n": [f"x{REDACTED}x"]}
    assert changed is True


def test_the_longest_known_secret_is_replaced_first():
    r = Redactor(["abcdef", "abcdef-ghijkl"])
    assert r.redact_text("<abcdef-ghijkl> <abcdef>") == f"<{REDACTED}> <{REDACTED}>"


def test_short_known_secrets_are_ignored():
    r = Redactor(["abc", "12345", "", "long-enough"])
    assert r.secret_values == frozenset({"long-enough"})
    assert r.redact_text("abc 12345 long-enough") == f"abc 12345 {REDACTED}"


def test_a_secret_that_is_part_of_the_marker_is_ignored():
    r = Redactor(["REDACTED", "[REDACTED]"])
    assert r.secret_values == frozenset()
    assert r.redact_text("x REDACTED y") == "x REDACTED y"


def test_known_secrets_are_also_found_json_escaped_and_url_encoded():
    secret = 'p@ss/"word"é'
    r = Redactor([secret])
    as_json = json.dumps({"pw_text": f"x {secret} y"})  # a JSON document held as a string
    assert secret not in r.redact_text(as_json)
    assert json.dumps(secret)[1:-1] not in r.redact_text(as_json)
    assert r.redact_text("https://h/?q=p%40ss%2F%22word%22%C3%A9&x=1") == (
        f"https://h/?q={REDACTED}&x=1"
    )


def test_url_encoded_forms_of_a_secret_with_spaces():
    r = Redactor(["my pass phrase"])
    assert r.redact_text("q=my%20pass%20phrase&r=my+pass+phrase") == f"q={REDACTED}&r={REDACTED}"


def test_a_secret_formed_again_around_the_marker_is_hidden_too():
    r = Redactor(["secret["])  # "secret" + "[REDACTED]" contains it again
    once = r.redact_text("secretsecret[")
    assert "secret[" not in once
    assert r.redact_text(once) == once


def test_with_secrets_returns_a_copy_that_knows_more():
    base = Redactor(["first-secret"], max_stored_bytes=100, preview_chars=7)
    more = base.with_secrets(["second-secret"])
    assert more is not base
    assert more.secret_values == {"first-secret", "second-secret"}
    assert base.secret_values == {"first-secret"}
    assert (more.max_stored_bytes, more.preview_chars) == (100, 7)
    assert more.redact_text("first-secret second-secret") == f"{REDACTED} {REDACTED}"
    assert base.redact_text("first-secret second-secret") == f"{REDACTED} second-secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bearer abc.def-ghi", f"Bearer {REDACTED}"),
        ("call with bearer ABCdef123 now", f"call with bearer {REDACTED} now"),
        (f"header BEARER {JWT}", f"header BEARER {REDACTED}"),
        ("Basic dXNlcjpwYXNzd29yZA==", f"Basic {REDACTED}"),
        ("basic dXNlcjpwYXNz then", f"basic {REDACTED} then"),
        ("Authorization: Bearer x", f"Authorization: Bearer {REDACTED}"),
        ("Authorization: token ghx_plain", f"Authorization: token {REDACTED}"),
    ],
)
def test_bearer_and_basic_credentials(text, expected):
    assert R.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["the bearer of bad news", "basic usage", "Basic Auth is set up", "a basic e-mail"],
)
def test_bearer_and_basic_as_english_words_are_kept(text):
    assert R.redact_text(text) == text


@pytest.mark.parametrize(
    "token",
    [
        SLACK_TOKEN,
        "xoxp-1234-5678-90ab-cdef",
        "xoxa-2-abcdef123",
        "xoxe.xoxp-1-Mi0yLTExMjM0",
        "xapp-1-A0123456789-1234567890123-abcdef0123",
        OPENAI_KEY,
        "sk-AbCdEfGhIjKlMnOpQrSt",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt",
        GITHUB_TOKEN,
        "gho_" + "a" * 36,
        "ghs_" + "B" * 30,
        "github_pat_11ABCDEF0123456789_xyzXYZ0123456789abcdefABCDEF",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPLE",
        "AIza" + "SyA-1234567890abcdefghijklmnopqrstu",
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        JWT,
    ],
)
def test_credential_formats_are_hidden_alone_and_inside_text(token):
    assert R.redact_text(token) == REDACTED
    assert R.redact_text(f"used ({token}), then") == f"used ({REDACTED}), then"
    value, changed = R.redact({"message": f"retrying with {token}"})
    assert value == {"message": f"retrying with {REDACTED}"}
    assert changed is True


@pytest.mark.parametrize(
    "text",
    [
        "xoxb- is the prefix of bot tokens",
        "sk-short",
        "task-1234567890abcdefghij",  # "sk-" inside a word
        "risk-free",
        "ghp_short",
        "AKIA is how access key ids start",
        "AKIAIOSFODNN7EXAMPLEX",  # too long to be one
        "eyJhbGciOiJIUzI1NiJ9",  # one segment is not a JWT
        "version 1.2.3, commit 9f8e7d6c5b4a",
        "https://example.com:8443/path?q=1",
        "ssh://git@github.com:22/acme/api.git",
        "mailto:someone@example.com",
    ],
)
def test_lookalikes_are_kept(text):
    assert R.redact_text(text) == text


@pytest.mark.parametrize(
    "kind", ["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"]
)
def test_pem_private_key_blocks(kind):
    text = f"key follows\n-----BEGIN {kind}-----\n{PEM_BODY}\n-----END {kind}-----\nkept after"
    assert R.redact_text(text) == f"key follows\n{REDACTED}\nkept after"


def test_an_unterminated_private_key_hides_the_rest_of_the_text():
    text = f"cut: -----BEGIN PRIVATE KEY-----\n{PEM_BODY}"
    assert R.redact_text(text) == f"cut: {REDACTED}"


def test_public_keys_and_certificates_are_kept():
    text = "-----BEGIN CERTIFICATE-----\nMIIBszCCAV2gAwIBAgIJ\n-----END CERTIFICATE-----"
    assert R.redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://kaizen:s3cret@db:5432/kaizen", f"postgres://kaizen:{REDACTED}@db:5432/kaizen"),
        ("redis://:pw-123@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("amqp://u:p@ss@mq/vhost", f"amqp://u:{REDACTED}@mq/vhost"),
        (
            "clone https://x-access-token:abc@github.com/acme/api and go",
            f"clone https://x-access-token:{REDACTED}@github.com/acme/api and go",
        ),
        ("postgresql+psycopg://a:b@h/d", f"postgresql+psycopg://a:{REDACTED}@h/d"),
    ],
)
def test_passwords_in_urls(text, expected):
    assert R.redact_text(text) == expected


def test_slack_webhook_urls():
    text = "posted to https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ ok"
    assert R.redact_text(text) == f"posted to https://hooks.slack.com/services/{REDACTED} ok"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", f"password={REDACTED}"),
        ("login password=hunter2 user=bob", f"login password={REDACTED} user=bob"),
        ('{"api_key": "abc", "n": 1}', f'{{"api_key": "{REDACTED}", "n": 1}}'),
        ("{'client_secret': 'a b c'}", f"{{'client_secret': '{REDACTED}'}}"),
        ("token: abc", f"token: {REDACTED}"),
        ("DB_PASSWORD = 'x y z'", f"DB_PASSWORD = '{REDACTED}'"),
        ("export OPENAI_API_KEY=abc123", f"export OPENAI_API_KEY={REDACTED}"),
        (
            "GET /cb?code=1&access_token=abc&state=2",
            f"GET /cb?code=1&access_token={REDACTED}&state=2",
        ),
        ("Your API Key: abcdef", f"Your API Key: {REDACTED}"),
        ("enter pwd: zzz", f"enter pwd: {REDACTED}"),
        ('body {\\"password\\": \\"abc\\"} end', f'body {{\\"password\\": \\"{REDACTED}\\"}} end'),
        ("Set-Cookie: sid=abc; Path=/; HttpOnly\nnext", f"Set-Cookie: {REDACTED}\nnext"),
        (
            "curl -H 'Cookie: a=1; b=2' https://x",
            f"curl -H 'Cookie: {REDACTED}' https://x",
        ),
        (
            '{"cmd": "curl -H \\"Cookie: a=1; b=2\\" https://x"}',
            f'{{"cmd": "curl -H \\"Cookie: {REDACTED}\\" https://x"}}',
        ),
        (
            "Authorization: Digest username=u, response=abc",
            f"Authorization: Digest {REDACTED}",
        ),
        (
            "mysql --user root --password s3cr3t --verbose",
            f"mysql --user root --password {REDACTED} --verbose",
        ),
        ("app --api-key=abc", f"app --api-key={REDACTED}"),
        ("user(name='a', password='p@ss')", f"user(name='a', password='{REDACTED}')"),
        ("password=token=abc x", f"password={REDACTED} x"),
        ('password="ab\\"cd" rest', f'password="{REDACTED}" rest'),
        ("İİİİİİİİİİ password=abc", f"İİİİİİİİİİ password={REDACTED}"),  # "İ".lower() is longer
    ],
)
def test_secret_assignments_in_text(text, expected):
    assert R.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "tokens_in=5 tokens_out=7",
        "max_tokens: 100, total_tokens: 900",
        "key: value",
        "primary_key=id",
        "password_hint: your pet",
        "the token is valid",
        "token:",
        'password: ""',
        "--password --verbose",
        "see the password policy: at least 12 characters",
        "keyboard=qwerty",
    ],
)
def test_harmless_assignments_are_kept(text):
    assert R.redact_text(text) == text


def test_dict_keys_are_not_rewritten_by_text_rules():
    value = {"password=abc": 1, "Bearer abc123": 2}
    assert redacted(value) == value


# --------------------------------------------------------------------------------------------
# The redact contract: copy, flag, idempotence
# --------------------------------------------------------------------------------------------

SAMPLE = {
    "inputs": {"repo": "acme/api", "github_token": GITHUB_TOKEN, "max_tokens": 500},
    "output": (
        "deployed with Authorization: Bearer abc.def.ghi and "
        "DATABASE_URL=postgres://app:pw-123@db/app\n"
        f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
    ),
    "headers": [["Authorization", "Basic dXNlcjpwYXNz"], ["Accept", "json"]],
    "items": [{"name": "SLACK_TOKEN", "value": SLACK_TOKEN}, {"n": 1.5, "ok": True, "x": None}],
    "summary": f"token={OPENAI_KEY}; jwt {JWT}",
}


def test_redact_never_mutates_its_input_and_copies_deeply():
    original = copy.deepcopy(SAMPLE)
    result, changed = R.redact(SAMPLE)
    assert original == SAMPLE
    assert changed is True
    assert result["items"] is not SAMPLE["items"]
    assert result["items"][1] is not SAMPLE["items"][1]
    plain = {"a": [1, {"b": "c"}]}
    copied, changed = R.redact(plain)
    assert copied == plain
    assert changed is False
    assert (
        copied is not plain
        and copied["a"] is not plain["a"]
        and copied["a"][1] is not plain["a"][1]
    )


def test_sample_leaks_nothing():
    text = canonical_json(redacted(SAMPLE))
    for secret in (GITHUB_TOKEN, SLACK_TOKEN, OPENAI_KEY, JWT, "abc.def.ghi", "pw-123", "MIIEow"):
        assert secret not in text
    assert "dXNlcjpwYXNz" not in text
    assert "acme/api" in text and '"max_tokens": 500' in text


def test_redacting_twice_changes_nothing():
    once, changed_once = R.redact(SAMPLE)
    twice, changed_twice = R.redact(once)
    assert twice == once
    assert changed_once is True
    assert changed_twice is False


def test_redacted_flag_is_false_for_clean_values():
    for value in [None, 0, "", "hello", [1, 2], {"status": "ok", "count": 3}, {"password": None}]:
        assert R.redact(value)[1] is False


# --------------------------------------------------------------------------------------------
# Values that are not JSON
# --------------------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Kind(str, enum.Enum):  # noqa: UP042 - str() of a str-mixin Enum is not its value
    TOOL = "tool"


class Creds:
    def __repr__(self) -> str:
        return "Creds(user='bob', password='hunter2')"


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_non_json_values_become_json():
    value = {
        "tuple": (1, "a"),
        "set": {"b", "a", "c"},
        "frozenset": frozenset({3, 1, 2}),
        "bytes": "héllo".encode(),
        "binary": b"\xff\x00",
        "bytearray": bytearray(b"abc"),
        "enum": Color.RED,
        "intenum": Level.HIGH,
        "strenum": Kind.TOOL,
        "object": Creds(),
        "broken": Broken(),
        1: "int key",
        None: "none key",
        2.5: "float key",
        False: "bool key",
        ("t", 1): "tuple key",
    }
    result, changed = R.redact(value)
    assert result == {
        "tuple": [1, "a"],
        "set": ["a", "b", "c"],
        "frozenset": [1, 2, 3],
        "bytes": "héllo",
        "binary": repr(b"\xff\x00"),
        "bytearray": "abc",
        "enum": "<Color.RED: 'red'>",
        "intenum": 3,
        "strenum": "tool",
        "object": f"Creds(user='bob', password='{REDACTED}')",
        "broken": "<unrepresentable Broken>",
        "1": "int key",
        "null": "none key",
        "2.5": "float key",
        "false": "bool key",
        "('t', 1)": "tuple key",
    }
    assert changed is True
    assert type(result["intenum"]) is int and type(result["strenum"]) is str
    stored = R.prepare(value)  # mixed key types would break sort_keys; they are all strings now
    assert json.loads(canonical_json(stored.value)) == stored.value


def test_sets_of_pairs_follow_the_list_rules():
    assert redacted({("token", "abc"), ("a", "b")}) == [["a", "b"], ["token", REDACTED]]


def test_cycles_and_deep_nesting_do_not_crash():
    loop: list = [1]
    loop.append(loop)
    ring: dict = {"a": 1}
    ring["self"] = ring
    assert redacted(loop) == [1, CIRCULAR]
    assert redacted(ring) == {"a": 1, "self": CIRCULAR}
    shared = {"x": 1}
    assert redacted([shared, shared]) == [{"x": 1}, {"x": 1}]  # repeated is not circular

    deep: list = []
    inner = deep
    for _ in range(MAX_DEPTH + 50):
        inner.append([])
        inner = inner[0]
    stored = R.prepare(deep)
    assert TOO_DEEP in canonical_json(stored.value)


def test_huge_ints_do_not_crash():
    stored = R.prepare({"n": 10**5000, "m": 7})
    assert stored.value["m"] == 7
    assert isinstance(stored.value["n"], str) and "bits" in stored.value["n"]


def test_lone_surrogates_do_not_crash():
    stored = R.prepare({"path": "file-\udcff.txt", "emoji": "\ud83d\ude00"})
    assert stored.value == {"path": "file-\ufffd.txt", "emoji": "😀"}
    text = canonical_json(stored.value)
    assert stored.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert stored.size == len(text.encode())


# --------------------------------------------------------------------------------------------
# Rule 4: prepare() and truncation
# --------------------------------------------------------------------------------------------


def test_prepare_small_value_is_stored_redacted_with_its_size_and_hash():
    stored = R.prepare({"status": "ok", "password": "pw", "items": ["a", "b"]})
    expected = {"status": "ok", "password": REDACTED, "items": ["a", "b"]}
    text = json.dumps(expected, sort_keys=True, ensure_ascii=False)
    assert stored == StoredValue(
        value=expected,
        size=len(text.encode()),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        truncated=False,
        redacted=True,
    )


def test_prepare_truncates_big_values_to_a_summary_of_the_redacted_text():
    r = Redactor(max_stored_bytes=200, preview_chars=30)
    value = {"api_key": "SECRETSECRET", "log": "line\n" * 100}
    stored = r.prepare(value)
    redacted_text = canonical_json({"api_key": REDACTED, "log": "line\n" * 100})
    data = redacted_text.encode()
    assert stored.truncated is True
    assert stored.redacted is True
    assert stored.size == len(data) > 200
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.value == {
        "truncated": True,
        "size": stored.size,
        "sha256": stored.sha256,
        "preview": redacted_text[:30],
    }
    assert stored.value["preview"].startswith('{"api_key": "[REDACTED]"')
    assert "SECRETSECRET" not in json.dumps(stored.value)


def test_exactly_at_the_limit_is_kept_one_byte_more_is_truncated():
    value = "x" * 98  # '"' + 98 + '"' = 100 bytes of JSON
    assert Redactor(max_stored_bytes=100).prepare(value).truncated is False
    assert Redactor(max_stored_bytes=100).prepare(value).value == value
    over = Redactor(max_stored_bytes=99).prepare(value)
    assert over.truncated is True
    assert over.size == 100


def test_sizes_are_utf8_bytes_not_characters():
    value = "é" * 10 + "😀"  # 10 × 2 bytes + 4 bytes, plus two quotes
    stored = R.prepare(value)
    assert stored.size == 26
    assert Redactor(max_stored_bytes=26).prepare(value).truncated is False
    small = Redactor(max_stored_bytes=25, preview_chars=12).prepare(value)
    assert small.truncated is True
    assert small.size == 26
    assert small.value["preview"] == '"' + "é" * 10 + "😀"  # 12 characters, none cut


def test_preview_never_exceeds_preview_chars():
    for chars in (0, 1, 5):
        stored = Redactor(max_stored_bytes=10, preview_chars=chars).prepare(["a" * 50])
        assert stored.value["preview"] == '["aaaaa'[:chars]


def test_default_limit():
    assert Redactor().max_stored_bytes == DEFAULT_MAX_STORED_BYTES == 64 * 1024
    big = {"blob": "z" * DEFAULT_MAX_STORED_BYTES}
    stored = R.prepare(big)
    assert stored.truncated is True
    assert len(stored.value["preview"]) == 2000
    assert len(canonical_json(stored.value)) < 3000


@pytest.mark.parametrize(
    "kwargs", [{"max_stored_bytes": 0}, {"max_stored_bytes": -1}, {"preview_chars": -1}]
)
def test_invalid_limits_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Redactor(**kwargs)


def test_stored_value_is_frozen():
    stored = R.prepare(1)
    with pytest.raises(AttributeError):
        stored.value = 2


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

KEYS = st.sampled_from(
    ["status", "items", "password", "tokens_in", "Authorization", "name", "value", "data", "n"]
)
# No quotes, backslashes or control characters, so JSON escaping cannot make or hide a secret.
PLAIN_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'),
    max_size=12,
)
# Like real tokens, and unlike the keys, numbers and JSON words around them: an upper-case
# letter and a digit.
SECRETS = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=6, max_size=40
).filter(lambda s: any(c.isupper() for c in s) and any(c.isdigit() for c in s))


@st.composite
def values_with_a_planted_secret(draw: st.DrawFn) -> tuple[str, object]:
    secret = draw(SECRETS)
    planted = st.builds(lambda a, b: a + secret + b, PLAIN_TEXT, PLAIN_TEXT)
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | PLAIN_TEXT
        | planted
    )
    tree = st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.tuples(children, children)
            | st.dictionaries(KEYS, children, max_size=4)
        ),
        max_leaves=20,
    )
    value = draw(tree)
    sure = draw(planted)
    where = draw(st.sampled_from(["list", "dict", "pair", "header"]))
    if where == "list":
        value = [value, sure]
    elif where == "dict":
        value = {"data": value, "n": sure}
    elif where == "pair":
        value = [[sure, value]]
    else:
        value = [{"name": "Accept", "value": sure}, value]
    return secret, value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values_with_a_planted_secret(), st.sampled_from([64, 300, DEFAULT_MAX_STORED_BYTES]))
def test_a_known_secret_never_reaches_the_stored_value(planted, limit):
    secret, value = planted
    before = copy.deepcopy(value)
    stored = Redactor([secret], max_stored_bytes=limit).prepare(value)
    assert value == before
    assert secret not in json.dumps(stored.value, ensure_ascii=False)
    assert all(secret not in text for text in strings_in(stored.value))
    assert stored.redacted is True


FRAGMENTS = st.sampled_from(
    [
        "password=",
        "token: ",
        '"api_key": "',
        "'",
        '"',
        '\\"',
        "Bearer ",
        "basic ",
        "Authorization: ",
        "Cookie: ",
        "--password ",
        "://u:",
        "@",
        "/",
        "https",
        REDACTED,
        "[",
        "]",
        "sk-",
        "AbCdEfGh12345678",
        "xoxb-",
        "eyJabcdef.",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "hunter2",
        " ",
        "\n",
        ",",
        ";",
        "=",
        ":",
        "tokens_in",
    ]
)
TRICKY_TEXT = st.lists(FRAGMENTS | st.text(max_size=3), max_size=12).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.integers() | TRICKY_TEXT,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(KEYS | TRICKY_TEXT, children, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_redaction_is_idempotent_on_tricky_text(value):
    r = Redactor(["hunter2", "AbCdEfGh12345678"])
    before = copy.deepcopy(value)
    once, _ = r.redact(value)
    twice, changed = r.redact(once)
    assert value == before
    assert twice == once
    assert changed is False


def test_values_postgresql_json_rejects_are_stored_as_text():
    """NaN, ±Infinity and NUL characters cannot go into PostgreSQL's json/jsonb: they are
    stored as strings (and U+FFFD) on every database, and the size and hash describe that."""
    stored = Redactor().prepare(
        {"a": float("nan"), "b": [float("inf"), -float("inf")], "c": "x\x00y"}
    )
    assert stored.value == {"a": "NaN", "b": ["Infinity", "-Infinity"], "c": "x\ufffdy"}
    text = json.dumps(stored.value, sort_keys=True, ensure_ascii=False)
    assert stored.size == len(text.encode())
    assert stored.sha256 == hashlib.sha256(text.encode()).hexdigest()
    plain = Redactor().prepare({"note": "NaN and Infinity are words here", "n": 1.5})
    assert plain.value == {"note": "NaN and Infinity are words here", "n": 1.5}
