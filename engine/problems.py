"""A validation problem: where it is, what is wrong, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    """One thing wrong with a blueprint, located by a path such as ``steps[3].params.repo``."""

    model_config = ConfigDict(frozen=True)

    loc: str
    code: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.loc}: {self.message}" if self.loc else self.message
        return f"{text} ({self.hint})" if self.hint else text


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``name`` (typo suggestions), best first.

    Only near-ties of the best match are kept, so ``'dependson'`` suggests ``'depends_on'``
    and not also ``'description'``.
    """
    pool = list(dict.fromkeys(candidates))
    scored = []
    for candidate in pool:
        matcher = difflib.SequenceMatcher(None, name.lower(), candidate.lower())
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
            ratio = matcher.ratio()
            if ratio >= 0.6:
                scored.append((ratio, candidate))
    if scored:
        scored.sort(key=lambda item: -item[0])
        best = scored[0][0]
        return [c for ratio, c in scored if ratio >= best - 0.05][:n]
    lowered = name.lower()
    if len(lowered) < 3:
        return []
    return [c for c in pool if len(c) >= 3 and (lowered in c.lower() or c.lower() in lowered)][:n]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean …?`` hint, or ``None`` when nothing is close."""
    found = closest(name, candidates)
    if not found:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in found) + "?"


def join_loc(*parts: str | int) -> str:
    """Build a location path: ``join_loc('steps', 3, 'params')`` is ``'steps[3].params'``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out
