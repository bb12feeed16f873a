"""What may be written to the database: secrets redacted, big values truncated to a summary.

Everything Kaizen stores (step outputs, run inputs and outputs, error messages, summaries, issues)
goes through :meth:`Redactor.prepare` first::

    redactor = Redactor(secret_values=[settings.slack_bot_token, settings.openai_api_key])
    stored = redactor.prepare(step.output)
    row.output, row.output_size, row.output_sha256 = stored.value, stored.size, stored.sha256

Redaction rules, applied to a deep copy (the input is never mutated):

* **Secret keys.** A mapping entry whose key looks secret has its whole value replaced by
  :data:`REDACTED`, whatever its type, unless it is ``None`` or ``""``. See :func:`is_secret_key`;
  LLM usage counters such as ``tokens_in``, ``max_tokens`` or ``total_tokens`` are not secret.
* **Header shapes.** In a list, a ``[name, value]`` pair whose name looks secret, and anywhere a
  ``{"name": ..., "value": ...}`` mapping (also ``key``/``header``, ``Name``/``Value``, as in
  Kubernetes env lists) whose name looks secret, have their value redacted.
* **Strings** (values, never mapping keys) go through :meth:`Redactor.redact_text`: known secret
  values, credential formats (bearer/basic credentials, Slack, OpenAI-style, GitHub, AWS,
  Google and Stripe keys, Slack webhooks, JWTs, PEM private keys), passwords in URLs, and
  ``key=value`` / ``key: value`` / ``"key": "value"`` / ``--key value`` with a secret-looking key.

Values that are not JSON (tuples, sets, bytes, other objects, non-string keys) become JSON ones;
see :meth:`Redactor.redact`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "CIRCULAR",
    "DEFAULT_MAX_STORED_BYTES",
    "DEFAULT_PREVIEW_CHARS",
    "MAX_DEPTH",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "TOO_DEEP",
    "Redactor",
    "StoredValue",
    "canonical_json",
    "is_secret_key",
]

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

DEFAULT_MAX_STORED_BYTES = 64 * 1024
"""Values whose canonical JSON is bigger than this (in UTF-8 bytes) are stored truncated."""

DEFAULT_PREVIEW_CHARS = 2000
"""How many characters of a truncated value's JSON text are kept as its preview."""

MIN_SECRET_LENGTH = 6
"""Known secret values shorter than this are ignored: they would redact half of every text."""

MAX_DEPTH = 100
"""Containers nested deeper than this are replaced by :data:`TOO_DEEP`."""

CIRCULAR = "[CIRCULAR]"
"""What replaces a container that contains itself."""

TOO_DEEP = "[TOO DEEP]"
"""What replaces a container nested more than :data:`MAX_DEPTH` levels deep."""

# --------------------------------------------------------------------------------------------
# Secret-looking keys
# --------------------------------------------------------------------------------------------

_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "clientsecret",
        "token",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "authtoken",
        "apikey",
        "xapikey",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "privatekey",
        "credentials",
        "credential",
        "signingsecret",
        "sessionid",
    }
)
# Singular endings only: "slack_bot_token" is a secret, "total_tokens" is a counter.
_SECRET_KEY_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "authorization",
    "cookie",
    "sessionid",
)
# Keys whose text value is a whole header line ("Cookie: a=1; b=2"), redacted to the line's end.
_HEADER_KEY_SUFFIXES = ("authorization", "cookie")
_KEY_SEPARATORS = str.maketrans("", "", "-_ .")


def _normalise_key(key: str) -> str:
    return key.lower().translate(_KEY_SEPARATORS)


_SECRET_KEY_CACHE: dict[str, bool] = {}  # keys repeat run after run; bounded below


def is_secret_key(key: str) -> bool:
    """Whether a mapping key, header name or ``key=`` in text names a secret.

    The key is lower-cased and stripped of ``-``, ``_``, ``.`` and spaces, then must be one of
    the known names (``password``, ``pwd``, ``cookie``, ``credentials``, ``x-api-key``...) or end
    with ``password``, ``passwd``, ``passphrase``, ``secret``, ``token``, ``apikey``,
    ``privatekey``, ``secretkey``, ``accesskey``, ``authorization``, ``cookie`` or ``sessionid``.
    ``db_password`` and ``OPENAI_API_KEY`` are secret; ``tokens_in``, ``max_tokens``,
    ``token_count``, ``secretary`` and ``keyboard`` are not.
    """
    known = _SECRET_KEY_CACHE.get(key)
    if known is None:
        normalised = _normalise_key(key)
        known = normalised in _SECRET_KEYS or normalised.endswith(_SECRET_KEY_SUFFIXES)
        if len(_SECRET_KEY_CACHE) >= 4096:
            _SECRET_KEY_CACHE.clear()
        _SECRET_KEY_CACHE[key] = known
    return known


# --------------------------------------------------------------------------------------------
# Credential formats found anywhere in a string
# --------------------------------------------------------------------------------------------

_B64URL = r"[A-Za-z0-9_-]"
_TOKEN68 = r"[A-Za-z0-9._~+/-]"  # RFC 7235 token68, the shape of a bearer credential
# A word after "Bearer"/"Basic" is a credential, not English ("bearer of bad news", "basic
# usage"), when it has a digit, an inner symbol, padding, a lower-to-upper case change or 16+
# characters.
_BEARER = (
    rf"(?={_TOKEN68}*?(?:[0-9]|[._~+/-][A-Za-z0-9]|(?-i:[a-z][A-Z]))|{_TOKEN68}{{16}}"
    rf"|{_TOKEN68}+=){_TOKEN68}+=*"
)
_BASIC = r"(?=[A-Za-z0-9+/]*?(?:[0-9+/]|(?-i:[a-z][A-Z]))|[A-Za-z0-9+/]{16}|[A-Za-z0-9+/]+=)"
_BASIC += r"[A-Za-z0-9+/]+=*"

_PEM_RE = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----.*?"
    r"(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----|\Z)",  # unterminated: hide all the rest
    re.IGNORECASE | re.DOTALL,
)
# scheme://user:password@host; the password is the longest run up to the authority's last "@".
_URL_RE = re.compile(r"(?P<keep>\b[a-z][a-z0-9+.\-]*://[^\s:/?#@\[\]]*:)[^\s/?#]+@", re.IGNORECASE)
_BEARER_RE = re.compile(rf"(?P<keep>\bbearer[ \t]+){_BEARER}", re.IGNORECASE)
_BASIC_RE = re.compile(rf"(?P<keep>\bbasic[ \t]+){_BASIC}", re.IGNORECASE)
_SLACK_WEBHOOK_RE = re.compile(
    r"(?P<keep>\bhooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+",
    re.IGNORECASE,
)
_KEY_FORMATS_RE = re.compile(
    rf"""
      \bxox[abeposr](?:\.xox[abposr])?-[A-Za-z0-9-]{{6,}}   # Slack bot, user, app... tokens
    | \bxapp-[A-Za-z0-9-]{{6,}}                             # Slack app-level tokens
    | \bsk-[A-Za-z0-9_-]{{16,}}                             # OpenAI (sk-proj-...), Anthropic
    | \b[rs]k_(?:live|test)_[A-Za-z0-9]{{10,}}              # Stripe
    | \bgh[pousr]_[A-Za-z0-9]{{20,}}                        # GitHub
    | \bgithub_pat_[A-Za-z0-9_]{{20,}}
    | (?-i:\b(?:AKIA|ASIA)[0-9A-Z]{{16}}\b)                 # AWS access key ids
    | (?-i:\bAIza[A-Za-z0-9_-]{{35,}})                       # Google API keys
    | (?-i:\beyJ{_B64URL}{{5,}}\.{_B64URL}{{5,}}\.{_B64URL}*)  # JWTs
    """,
    re.IGNORECASE | re.VERBOSE,
)
_KEEP = rf"\g<keep>{REDACTED}"


def _redact_formats(text: str) -> str:
    """Hide the credential formats in ``text``; each regex runs only when a cheap check says so."""
    lowered = text.lower()
    if "-----begin" in lowered:
        text = _PEM_RE.sub(REDACTED, text)
    if "@" in text and "://" in text:
        text = _URL_RE.sub(_KEEP + "@", text)
    if "bearer" in lowered:
        text = _BEARER_RE.sub(_KEEP, text)
    if "basic" in lowered:
        text = _BASIC_RE.sub(_KEEP, text)
    if "hooks.slack" in lowered:
        text = _SLACK_WEBHOOK_RE.sub(_KEEP, text)
    if (
        "xox" in lowered
        or "xapp-" in lowered
        or "sk-" in lowered
        or ("_" in text and ("gh" in lowered or "k_live_" in lowered or "k_test_" in lowered))
        or "github_pat_" in lowered
        or "AKIA" in text
        or "ASIA" in text
        or "AIza" in text
        or "eyJ" in text
    ):
        text = _KEY_FORMATS_RE.sub(REDACTED, text)
    return text


# --------------------------------------------------------------------------------------------
# key=value, key: value, "key": "value" and --key value in text
# --------------------------------------------------------------------------------------------

# Every secret key, normalised, contains one of these words: where they are is where to look.
_KEY_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cookie", "credential", "session")
_KEY_WORD_RE = re.compile("|".join(_KEY_WORDS), re.IGNORECASE)
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_MAX_KEY_LENGTH = 128
_KEY_REST_RE = re.compile(r"[A-Za-z0-9_.\-]*")
# After a key: maybe its closing quote ("\"api_key\": ", or escaped inside JSON text), then ":"
# or "=" ("db_password=", "token: "), or spaces after a "--flag".
_AFTER_KEY_RE = re.compile(r"""(?:\\?["'])?(?P<sep>[ \t]*[:=][ \t]*)|(?P<spaces>[ \t]+)""")
# An authentication scheme kept in front of a redacted value: "Authorization: Bearer [REDACTED]".
_SCHEME_RE = re.compile(r"(?:bearer|basic|token|digest|bot|negotiate)[ \t]+(?=\S)", re.IGNORECASE)
_UNQUOTED_VALUE_RE = re.compile(r"""[^\s,;&"'<>)\]}]*""")


def _closing_quote(text: str, start: int, quote_mark: str) -> int:
    """Where the quoted value starting at ``start`` ends: its closing quote, or its line's end."""
    end = text.find(quote_mark, start)
    if len(quote_mark) == 1:
        while end > start and text[end - 1] == "\\":
            end = text.find(quote_mark, end + 1)
    if end == -1:
        end = text.find("\n", start)
    return len(text) if end == -1 else end


def _value_span(
    text: str, pos: int, *, whole_line: bool, spaced: bool, enclosing_quote: str
) -> tuple[int, int] | None:
    """The span of the secret value starting at ``pos``, or None when there is nothing to hide.

    A quoted value ends at its closing quote; a header value (``whole_line``) at the end of the
    line, or at ``enclosing_quote`` when the whole ``key: value`` is quoted (``-H 'Cookie: a=1;
    b=2'``); any other at whitespace, a quote or ``,;&<>)]}``. An authentication scheme in front
    of the value (``Bearer``, ``Basic``, ``token``...) is kept. ``spaced`` is for ``--flag
    value``, where a following ``-x`` is another flag, not a value.
    """
    if pos >= len(text) or (spaced and text[pos] == "-"):
        return None
    if text.startswith(('\\"', "\\'"), pos):
        quote_mark = text[pos : pos + 2]
    elif text[pos] in "\"'":
        quote_mark = text[pos]
    else:
        quote_mark = ""
    start = pos + len(quote_mark)
    scheme = _SCHEME_RE.match(text, start)
    if scheme is not None:
        start = scheme.end()
    if quote_mark:
        end = max(start, _closing_quote(text, start, quote_mark))
    elif whole_line:
        line_end = text.find("\n", start)
        end = len(text.rstrip() if line_end == -1 else text[:line_end].rstrip())
        if enclosing_quote:
            end = min(end, _closing_quote(text, start, enclosing_quote))
        end = max(start, end)
    else:
        after = start + len(REDACTED) if text.startswith(REDACTED, start) else start
        unquoted = _UNQUOTED_VALUE_RE.match(text, after)
        end = unquoted.end() if unquoted is not None else after
    value = text[start:end]
    if not value or value == REDACTED:
        return None
    return start, end


def _quote_before(text: str, pos: int) -> str:
    """The quote mark just before ``pos`` (maybe escaped by a backslash), or an empty string."""
    if pos >= 1 and text[pos - 1] in "\"'":
        return text[pos - 2 : pos] if pos >= 2 and text[pos - 2] == "\\" else text[pos - 1]
    return ""


def _keyword_positions(text: str) -> list[int]:
    """Where the words of ``_KEY_WORDS`` occur in ``text``, any case, in order."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lengthen when lower-cased ("İ")
        return [match.start() for match in _KEY_WORD_RE.finditer(text)]
    positions: list[int] = []
    for word in _KEY_WORDS:
        found = lowered.find(word)
        while found != -1:
            positions.append(found)
            found = lowered.find(word, found + 1)
    positions.sort()
    return positions


def _key_start(text: str, pos: int) -> int:
    """Where the key containing ``pos`` starts (at most ``_MAX_KEY_LENGTH`` characters back)."""
    start = pos
    limit = max(0, pos - _MAX_KEY_LENGTH)
    while start > limit and text[start - 1] in _KEY_CHARS:
        start -= 1
    return start


def _secret_key_before(text: str, start: int, end: int) -> str | None:
    """The secret key ending at ``end``: ``text[start:end]``, or with the word before it.

    "password", "db_password" and "pwd" name secrets alone; "Key" does only with the word
    before it, as in "API Key: ...".
    """
    key = text[start:end]
    if is_secret_key(key):
        return key
    if start >= 2 and text[start - 1] == " " and text[start - 2] in _KEY_CHARS:
        two_words = text[_key_start(text, start - 1) : end]
        if is_secret_key(two_words):
            return two_words
    return None


def _redact_assignments(text: str) -> str:
    """Redact the value of every ``key=value``, ``key: value`` or ``--key value`` in ``text``
    whose key looks secret (see :func:`is_secret_key`).
    """
    pieces: list[str] = []
    done = 0
    for position in _keyword_positions(text):
        if position < done:
            continue  # inside a value already redacted
        start = _key_start(text, position)
        rest = _KEY_REST_RE.match(text, position)
        end = rest.end() if rest is not None else position
        after = _AFTER_KEY_RE.match(text, end)
        if after is None or start < done or text.endswith("//", 0, start):
            continue  # not followed by a value, or a URL's user name (see _URL_RE)
        spaced = after.group("spaces") is not None
        flag = text.startswith("--", start) and (start == 0 or text[start - 1] in " \t")
        if spaced and not flag:
            continue  # "the token is", not "--token abc"
        key = _secret_key_before(text, start, end)
        if key is None:
            continue
        span = _value_span(
            text,
            after.end(),
            whole_line=_normalise_key(key).endswith(_HEADER_KEY_SUFFIXES),
            spaced=spaced,
            enclosing_quote=_quote_before(text, end - len(key)),
        )
        if span is None:
            continue
        pieces += (text[done : span[0]], REDACTED)
        done = span[1]
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------------
# Serialising
# --------------------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value: sorted keys, non-ASCII kept, ``repr()`` for the rest.

    ``NaN`` and infinities are written as ``NaN``/``Infinity``, as :func:`json.dumps` does.
    """
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def _without_surrogates(value: Any) -> Any:
    """A copy of a redacted value whose strings (and keys) are valid Unicode.

    Surrogate pairs held as two code points become the character they encode; lone surrogates
    (which UTF-8 cannot encode) become U+FFFD.
    """
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    return value


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not lose a whole run's record
        return f"<unrepresentable {type(value).__name__}>"


def _json_int(value: int) -> int | str:
    """``value`` as a plain int, or a description when it is too long to write as digits."""
    number = int(value)
    if number.bit_length() > 2000:  # near the interpreter's int-to-str digit limit
        try:
            str(number)
        except ValueError:
            return f"<int of {number.bit_length()} bits>"
    return number


def _json_key(key: object) -> str:
    """A mapping key as the string JSON would write it (``1`` → ``"1"``, ``None`` → ``"null"``)."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool | float):
        return json.dumps(key)
    if isinstance(key, int):
        return str(_json_int(key))
    return _safe_repr(key)


def _has_content(value: object) -> bool:
    """Whether a secret-keyed value is worth hiding (``None`` and ``""`` are kept as they are)."""
    return not (value is None or (isinstance(value, str) and value == ""))


_HEADER_NAME_FIELDS = ("name", "Name", "key", "Key", "header", "Header")
_HEADER_VALUE_FIELDS = ("value", "Value")


class _Walk:
    """One :meth:`Redactor.redact` call: the copy being made and whether anything was hidden."""

    __slots__ = ("active", "changed", "redact_text")

    def __init__(self, redactor: Redactor) -> None:
        self.redact_text = redactor.redact_text
        self.changed = False
        self.active: set[int] = set()  # ids of the containers being copied, to spot cycles

    def hide(self, value: object) -> str:
        """Replace a secret value, noting the change unless it was already hidden."""
        if not (isinstance(value, str) and value == REDACTED):
            self.changed = True
        return REDACTED

    def value(self, value: Any, depth: int) -> Any:
        """A redacted JSON copy of ``value``; exact JSON types first, they are most of the work."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is dict or kind is list:
            return self.container(value, depth)
        if value is None or kind is bool or kind is float:
            return value
        if kind is int:
            return value if value.bit_length() <= 2000 else _json_int(value)
        return self.other(value, depth)

    def text(self, text: str) -> str:
        if len(text) < 5:  # as in redact_text, without the call
            return text
        redacted = self.redact_text(text)
        if redacted != text:
            self.changed = True
        return redacted

    def other(self, value: Any, depth: int) -> Any:
        """Subclasses of the JSON types, tuples, sets, bytes and any other object."""
        if isinstance(value, str):
            return self.text(str.__str__(value))
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return _json_int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, Mapping | list | tuple):
            return self.container(value, depth)
        if isinstance(value, set | frozenset):
            items = self.container(list(value), depth)  # as a list: same rules, same result
            if isinstance(items, list):
                items.sort(key=canonical_json)  # set order varies between processes
            return items
        if isinstance(value, bytes | bytearray):
            try:
                text = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                text = repr(bytes(value))
            return self.text(text)
        return self.text(_safe_repr(value))

    def container(self, value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> Any:
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        identity = id(value)
        if identity in self.active:
            return CIRCULAR
        self.active.add(identity)
        try:
            if type(value) is dict or isinstance(value, Mapping):
                return self.mapping(value, depth)
            return self.sequence(value, depth)
        finally:
            self.active.discard(identity)

    def mapping(self, mapping: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        copy = self.value
        for key, item in mapping.items():
            name = key if type(key) is str else _json_key(key)
            if is_secret_key(name) and _has_content(item):
                result[name] = self.hide(item)
            else:
                result[name] = copy(item, depth + 1)
        if len(result) <= 4:  # {"name": "Authorization", "value": "Bearer ..."}
            for value_field in _HEADER_VALUE_FIELDS:
                if value_field in result and _has_content(result[value_field]):
                    for name_field in _HEADER_NAME_FIELDS:
                        header = result.get(name_field)
                        if isinstance(header, str) and is_secret_key(header):
                            result[value_field] = self.hide(result[value_field])
                            break
        return result

    def sequence(self, items: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        result: list[Any] = []
        for item in items:
            kind = type(item)
            if (
                kind is not str
                and kind is not dict
                and isinstance(item, list | tuple)
                and len(item) == 2
                and isinstance(item[0], str)
                and _has_content(item[1])
                and is_secret_key(item[0])
            ):  # [["Authorization", "Bearer ..."], ["Accept", "*/*"]]
                result.append([self.value(item[0], depth + 2), self.hide(item[1])])
            else:
                result.append(self.value(item, depth + 1))
        return result


# --------------------------------------------------------------------------------------------
# The public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredValue:
    """A JSON-able value ready to be written: redacted, and truncated when too big.

    ``value`` is the redacted value itself or, when truncated, ``{"truncated": True, "size":
    ..., "sha256": ..., "preview": ...}``. ``size`` and ``sha256`` always describe the UTF-8
    bytes of the canonical JSON text (see :func:`canonical_json`) of the whole redacted value.
    """

    value: Any
    size: int
    sha256: str
    truncated: bool
    redacted: bool


class Redactor:
    """Hides secrets in values and texts, and shrinks values too big to store.

    ``secret_values`` are exact strings to hide wherever they appear (tokens from the settings,
    say); values shorter than :data:`MIN_SECRET_LENGTH` characters, or that are part of
    :data:`REDACTED` itself, are ignored. Each value is also hidden in its JSON-escaped and
    URL-encoded forms. A Redactor is immutable and may be shared between threads.
    """

    __slots__ = ("_max_stored_bytes", "_preview_chars", "_secret_values", "_secrets_re")

    def __init__(
        self,
        secret_values: Iterable[str] = (),
        *,
        max_stored_bytes: int = DEFAULT_MAX_STORED_BYTES,
        preview_chars: int = DEFAULT_PREVIEW_CHARS,
    ) -> None:
        if max_stored_bytes < 1:
            raise ValueError(f"max_stored_bytes must be positive, not {max_stored_bytes}")
        if preview_chars < 0:
            raise ValueError(f"preview_chars must not be negative, not {preview_chars}")
        self._max_stored_bytes = max_stored_bytes
        self._preview_chars = preview_chars
        self._secret_values = frozenset(
            value
            for value in secret_values
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in REDACTED
        )
        forms = {
            form
            for value in self._secret_values
            for form in (
                value,
                json.dumps(value, ensure_ascii=False)[1:-1],
                json.dumps(value)[1:-1],
                quote(value, safe=""),
                quote_plus(value, safe=""),
            )
        }
        # Longest first, so a secret containing another is hidden whole.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._secrets_re = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @property
    def secret_values(self) -> frozenset[str]:
        """The known secret values this redactor hides (those long enough to be used)."""
        return self._secret_values

    @property
    def max_stored_bytes(self) -> int:
        """The largest canonical JSON size, in UTF-8 bytes, stored without truncation."""
        return self._max_stored_bytes

    @property
    def preview_chars(self) -> int:
        """How many characters of a truncated value's JSON text its preview keeps."""
        return self._preview_chars

    def with_secrets(self, values: Iterable[str]) -> Redactor:
        """A copy of this redactor that also hides ``values``."""
        return Redactor(
            [*self._secret_values, *values],
            max_stored_bytes=self._max_stored_bytes,
            preview_chars=self._preview_chars,
        )

    def redact(self, value: Any) -> tuple[Any, bool]:
        """A redacted deep copy of a JSON-like value, and whether anything was replaced.

        Dicts (any mapping), lists, tuples, strings, ints, floats, bools and None are copied,
        tuples becoming lists; sets become lists sorted by their JSON; bytes become their UTF-8
        text (or ``repr()`` when not UTF-8); any other object becomes its ``repr()``, which is
        then redacted as text. Mapping keys become strings as JSON would write them. A container
        that contains itself becomes :data:`CIRCULAR`, one nested deeper than :data:`MAX_DEPTH`
        becomes :data:`TOO_DEEP`. Never mutates the input; ``redact(redact(x)[0])`` equals
        ``redact(x)`` and reports nothing replaced.
        """
        walk = _Walk(self)
        result = walk.value(value, 0)
        return result, walk.changed

    def redact_text(self, text: str) -> str:
        """``text`` with every secret it contains replaced by :data:`REDACTED`."""
        if len(text) < 5:  # the shortest thing hidden is "pwd=x"
            return text
        result = self._redact_once(text)
        if result == text:
            return text
        for _ in range(4):  # until nothing changes, so redacting twice changes nothing
            again = self._redact_once(result)
            if again == result:
                break
            result = again
        return result

    def _redact_once(self, text: str) -> str:
        if self._secrets_re is not None:
            text = self._secrets_re.sub(REDACTED, text)
        text = _redact_formats(text)
        if ":" in text or "=" in text or "--" in text:
            text = _redact_assignments(text)
        return text

    def prepare(self, value: Any) -> StoredValue:
        """``value`` redacted, then replaced by a summary if its JSON is too big to store.

        The summary is ``{"truncated": True, "size": ..., "sha256": ..., "preview": ...}``: the
        size in bytes and the SHA-256 of the redacted value's canonical JSON, and that text's
        first :attr:`preview_chars` characters (code points, so no character is ever cut in
        two). A value exactly :attr:`max_stored_bytes` long is stored whole. Strings UTF-8
        cannot encode (lone surrogates) are repaired first: see ``_without_surrogates``.
        """
        redacted_value, redacted = self.redact(value)
        text = canonical_json(redacted_value)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, say from a file name
            redacted_value = _without_surrogates(redacted_value)
            text = canonical_json(redacted_value)
            data = text.encode("utf-8")
        if b"NaN" in data or b"Infinity" in data or b"\\u0000" in data:
            # PostgreSQL's JSON rejects NaN, ±Infinity and NUL characters: store what every
            # database accepts (the numbers as strings, NUL as U+FFFD)
            redacted_value = storable(redacted_value)
            text = canonical_json(redacted_value)
            data = text.encode("utf-8")
        size = len(data)
        sha256 = hashlib.sha256(data).hexdigest()
        if size <= self._max_stored_bytes:
            return StoredValue(redacted_value, size, sha256, truncated=False, redacted=redacted)
        summary = {
            "truncated": True,
            "size": size,
            "sha256": sha256,
            "preview": text[: self._preview_chars],
        }
        return StoredValue(summary, size, sha256, truncated=True, redacted=redacted)


def storable(value: Any) -> Any:
    """``value`` with non-finite floats as strings (``"NaN"``, ``"Infinity"``,
    ``"-Infinity"``) and NUL characters replaced by U+FFFD, in strings and keys alike."""
    if isinstance(value, float):
        return value if math.isfinite(value) else json.dumps(value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
