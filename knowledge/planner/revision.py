"""A request revised by a follow-up ("use staging instead of production"): what to plan when
someone replies to a plan with a change."""

from __future__ import annotations

import re

_QUOTES = "'\"‘’“”`"
#: "use X instead of Y", "X instead of Y", "replace Y with X", "change Y to X", "Y -> X".
_SUBSTITUTIONS = (
    re.compile(r"^(?:please\s+)?(?:use\s+)?(?P<new>.+?)\s+instead\s+of\s+(?P<old>.+?)[.!]?$", re.I),
    re.compile(r"^(?:please\s+)?instead\s+of\s+(?P<old>.+?),?\s+use\s+(?P<new>.+?)[.!]?$", re.I),
    re.compile(
        r"^(?:please\s+)?(?:replace|swap)\s+(?P<old>.+?)\s+(?:with|for|by)\s+(?P<new>.+?)[.!]?$",
        re.I,
    ),
    re.compile(r"^(?:please\s+)?change\s+(?P<old>.+?)\s+to\s+(?P<new>.+?)[.!]?$", re.I),
    re.compile(r"^(?P<old>[^\s].*?)\s*(?:->|→|=>)\s*(?P<new>.+?)$"),
)


def _bare(text: str) -> str:
    return text.strip().strip(_QUOTES).strip()


def _replace(original: str, old: str, new: str) -> str | None:
    """``original`` with ``old`` replaced by ``new`` (whole words, any case; quotes kept),
    or ``None`` when ``old`` does not occur."""
    if not old:
        return None
    pattern = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)", re.IGNORECASE)
    if not pattern.search(original):
        return None
    return pattern.sub(lambda _: new, original)


def revise_request(original: str, change: str) -> str:
    """The request to plan after ``change``: the original with a substitution made when the
    change names what to replace and it occurs in the request ("use staging instead of
    production"); otherwise the original followed by the change, as a further sentence."""
    change = " ".join(change.split())
    for pattern in _SUBSTITUTIONS:
        match = pattern.match(change)
        if match is None:
            continue
        revised = _replace(original, _bare(match["old"]), _bare(match["new"]))
        if revised is not None:
            return revised
    ending = "" if original.rstrip().endswith((".", "!", "?")) else "."
    return f"{original.rstrip()}{ending} {change}"
