"""What planning produces: a validated blueprint or a clarifying question, and how it was made."""

from __future__ import annotations

import time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from engine.blueprint import Blueprint
from knowledge.search.exemplars import ExemplarHit
from knowledge.search.index import SearchHit


class PlanPath(StrEnum):
    """Which planner made the plan."""

    LLM = "llm"
    """The LLM wrote it from the retrieved tools and exemplars."""
    OFFLINE = "offline"
    """The offline planner built it from the request's clauses."""
    EXEMPLAR = "exemplar"
    """The offline planner adapted a close past request's accepted blueprint."""


class Retrieval(BaseModel):
    """What search found for a request: the planner's raw material."""

    model_config = ConfigDict(frozen=True)

    tools: list[SearchHit] = Field(default_factory=list)
    """The best tools for the request, best first."""
    exemplars: list[ExemplarHit] = Field(default_factory=list)
    """The most similar past requests with their accepted blueprints, best first."""


class PlanResult(BaseModel):
    """A plan for a request: a blueprint that passed the engine's validation, a question,
    or both (a plan that needs an answer before it runs: a value the request did not give
    becomes a declared input, and the question asks for it).

    At least one of ``blueprint`` and ``question`` is set.
    """

    model_config = ConfigDict(frozen=True)

    request: str
    blueprint: Blueprint | None = None
    question: str | None = None
    """A clarifying question, asked instead of guessing (low confidence, missing values)."""
    explanation: str = ""
    """How the plan was made, or what is missing."""
    path: PlanPath
    confidence: float = Field(ge=0, le=1)
    tools_considered: list[str] = Field(default_factory=list)
    exemplar_ids: list[int] = Field(default_factory=list)
    """Exemplars shown to the LLM, adapted by the offline planner, or whose remembered
    clauses decided an offline step (or that a clause needs none)."""
    repair_rounds: int = 0
    """LLM answers sent back with the engine's validation errors."""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    fallback_reason: str | None = None
    """Why the LLM path was not used (not configured, unreachable, timed out, gave up)."""
    prompt_id: int | None = None
    """The prompt registry version the LLM was given."""

    @property
    def ok(self) -> bool:
        return self.blueprint is not None


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading), rounded."""
    return round((time.perf_counter() - started) * 1000, 2)
