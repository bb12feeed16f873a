"""The planner: retrieval, then the LLM when one is configured, else (or when it fails) the
offline planner."""

from __future__ import annotations

import time

from knowledge.history.views import ExemplarInfo
from knowledge.planner.llm import LLMPlanner, LLMPlanningError
from knowledge.planner.offline import OfflinePlanner
from knowledge.planner.result import PlanResult, Retrieval, elapsed_ms
from knowledge.search.exemplars import ExemplarIndex
from knowledge.search.index import ToolIndex


class Planner:
    """Turns a request into a :class:`PlanResult`.

    With an LLM, the prompt gets the ``tools_k`` best tools and the ``exemplars_k`` most
    similar accepted requests; if the LLM cannot produce a valid blueprint in time, the
    offline planner answers and the result says why (``fallback_reason``), with the tokens
    the attempt spent.
    """

    def __init__(
        self,
        index: ToolIndex,
        offline: OfflinePlanner,
        *,
        llm: LLMPlanner | None = None,
        exemplars: ExemplarIndex | None = None,
        tools_k: int = 8,
        exemplars_k: int = 3,
    ) -> None:
        self.index = index
        self.offline = offline
        self.llm = llm
        self.exemplars = exemplars
        self.tools_k = tools_k
        self.exemplars_k = exemplars_k

    def retrieve(self, request: str, *, with_tools: bool = True) -> Retrieval:
        """The best tools (when asked) and the closest exemplars for ``request``."""
        tools = self.index.search(request, self.tools_k) if with_tools else []
        exemplars = (
            self.exemplars.search(request, self.exemplars_k)
            if self.exemplars is not None and self.exemplars_k
            else []
        )
        return Retrieval(tools=tools, exemplars=exemplars)

    def remember(self, exemplar: ExemplarInfo) -> None:
        """Add a just-accepted request to exemplar memory, so the very next plan can use it
        (the LLM's prompt examples, the offline planner's adaptation and clause votes)."""
        if self.exemplars is not None:
            self.exemplars.add(exemplar)
        if self.offline.phrases is not None:
            self.offline.phrases.learn([exemplar])

    def plan(self, request: str, *, offline_only: bool = False) -> PlanResult:
        started = time.perf_counter()
        request = request.strip()
        if not request:
            raise ValueError("nothing to plan: the request is empty")
        use_llm = self.llm is not None and not offline_only
        retrieval = self.retrieve(request, with_tools=use_llm)
        if not use_llm or self.llm is None:
            reason = "offline requested" if offline_only else "no LLM configured"
            result = self.offline.plan(request, retrieval)
            return result.model_copy(
                update={"fallback_reason": reason, "latency_ms": elapsed_ms(started)}
            )
        try:
            result = self.llm.plan(request, retrieval)
            return result.model_copy(update={"latency_ms": elapsed_ms(started)})
        except LLMPlanningError as failure:
            result = self.offline.plan(request, retrieval)
            return result.model_copy(
                update={
                    "fallback_reason": f"LLM failed ({failure.kind}): {failure.reason}",
                    "tokens_in": failure.tokens_in,
                    "tokens_out": failure.tokens_out,
                    "latency_ms": elapsed_ms(started),
                }
            )
