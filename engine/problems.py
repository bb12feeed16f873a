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
    """The candidates closest to ``name`` (typo suggestions), best first."""
    pool = list(candidates)
    found = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    if not found:
        lowered = name.lower()
        found = [c for c in pool if lowered in c.lower() or c.lower() in lowered][:n]
    return found


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
