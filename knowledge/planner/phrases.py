"""What people call each tool, and what they say that asks for no tool, learned from exemplar
memory.

Every accepted request is split into clauses. Each tool of the accepted blueprint is
attributed to the clause that fits it best; a clause left without a tool is remembered as one
that asked for nothing ("I have a busy day ahead", "I have a meeting at 3"). A new clause then
looks up its nearest remembered clauses, which vote: for their tool, or for no tool at all.
A vote for a tool adds to that tool's score; a vote for no tool lowers every tool's, so a
clause phrased like past scene-setting needs a better fit to become a step. Planning improves
with use on any catalog ("get me an Uber" → the taxi tool, once someone accepted that).

Memory settles close calls and fills in where the words fit no tool; it does not overrule a
clear fit. MiniLM finds "read notes.txt" as similar to "write 'hello' to notes.txt" (0.76) as
two phrasings of one request (0.72), so a vote for a tool counts only when the words alone
put that tool within :data:`CLOSE_CALL` of their best one, or fit no tool convincingly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from knowledge.history.views import ExemplarInfo
from knowledge.search.clauses import read_clauses
from knowledge.search.index import ToolIndex

#: How many remembered clauses vote for a new one.
NEIGHBOURS = 5
#: Remembered clauses less similar than this do not vote: requests phrased alike ("could you
#: help me …") are somewhat similar whatever they ask for.
NEIGHBOUR_FLOOR = 0.3
#: Softmax temperature of the votes over similarity. At 1.0 the neighbours count nearly alike
#: (a neighbour 0.2 less similar still counts 0.8 as much): one near-duplicate clause that was
#: attributed to the wrong tool does not outvote four that agree. Over nine train/test splits
#: of TaskBench this beats a sharp 0.05 by +0.015 node F1 and +0.035 edge F1.
VOTE_TEMPERATURE = 1.0
#: What a unanimous vote for a tool adds to its score, times the best neighbour's similarity.
PHRASE_WEIGHT = 1.0
#: What a unanimous vote for "no tool" takes from every tool's score, likewise.
NO_TOOL_WEIGHT = 0.45
#: A vote for a tool counts only when the words alone score that tool at most this far below
#: their best tool (or fit no tool convincingly). Over nine train/test splits of TaskBench,
#: 0.07 with :data:`NO_TOOL_WEIGHT` 0.45 beats 0.1 with 0.6 by +0.004 node F1 and +0.004 edge
#: F1 (0.06 and 0.1 both do worse: a plateau, not a spike).
CLOSE_CALL = 0.07


@dataclass(frozen=True)
class Remembered:
    """A clause of an accepted request, and how it was answered."""

    phrase: str
    tool: str | None
    """The tool it asked for; ``None`` when the accepted blueprint had no step for it."""
    exemplar_id: int
    similarity: float
    """How similar it is to the clause it was looked up for."""


class ToolPhrases:
    """Clause embeddings of accepted requests, each attributed to a tool or to none."""

    def __init__(self, index: ToolIndex) -> None:
        self.index = index
        self.vectors: np.ndarray[Any, Any] = np.zeros((0, 0), dtype=np.float32)
        self.phrases: list[str] = []
        self.tools: list[str | None] = []
        """The tool each phrase asked for; ``None`` for a clause that asked for none."""
        self.exemplar_ids: list[int] = []
        """The exemplar each phrase comes from."""
        self._learned: set[int] = set()

    def learn(self, exemplars: Sequence[ExemplarInfo]) -> int:
        """Attribute the clauses of ``exemplars``' requests to their blueprints' tools (or to
        none); returns how many phrases are known. An exemplar learned before is skipped."""
        names = self.index.names
        column = {name: i for i, name in enumerate(names)}
        texts: list[str] = []
        embedded: list[np.ndarray[Any, Any]] = []
        tools: list[str | None] = []
        sources: list[int] = []
        for exemplar in exemplars:
            if exemplar.id in self._learned:
                continue
            self._learned.add(exemplar.id)
            used = list(
                dict.fromkeys(
                    str(step["tool"])
                    for step in exemplar.blueprint.get("steps", [])
                    if isinstance(step, dict) and step.get("tool") in column
                )
            )
            clauses = read_clauses(exemplar.request)
            if not used or not clauses:
                continue
            vectors = self.index.embed_texts([c.asked for c in clauses])
            scores = self.index.clause_scores([c.meaning for c in clauses], vectors)
            fits = scores[:, [column[tool] for tool in used]]
            asked: dict[int, list[str | None]] = {}
            for j, name in enumerate(used):
                asked.setdefault(int(np.argmax(fits[:, j])), []).append(name)
            for row, clause in enumerate(clauses):
                for answer in asked.get(row, [None]):
                    texts.append(clause.text)
                    embedded.append(vectors[row])
                    tools.append(answer)
                    sources.append(exemplar.id)
        self.phrases.extend(texts)
        self.tools.extend(tools)
        self.exemplar_ids.extend(sources)
        if texts:
            fresh = np.array(embedded, dtype=np.float32)
            self.vectors = fresh if self.vectors.size == 0 else np.vstack([self.vectors, fresh])
        return len(self.tools)

    def scores(self, vectors: np.ndarray[Any, Any], names: Sequence[str]) -> np.ndarray[Any, Any]:
        """For each clause vector and tool, what the remembered clauses' votes add to (or take
        from) the tool's score: the :data:`NEIGHBOURS` nearest above :data:`NEIGHBOUR_FLOOR`
        vote, weighted by a softmax of their similarity; the result is scaled by the nearest
        one's similarity."""
        result = np.zeros((len(vectors), len(names)), dtype=np.float32)
        if not self.tools or len(vectors) == 0:
            return result
        column = {name: i for i, name in enumerate(names)}
        votes_for = np.zeros((len(self.tools), len(names) + 1), dtype=np.float32)
        for phrase, tool in enumerate(self.tools):  # the last column: no tool
            if tool is None:
                votes_for[phrase, -1] = 1.0
            elif tool in column:
                votes_for[phrase, column[tool]] = 1.0
        similarity = vectors @ self.vectors.T
        nearest = np.argsort(-similarity, axis=1)[:, :NEIGHBOURS]
        sims = np.take_along_axis(similarity, nearest, axis=1)
        voting = sims >= NEIGHBOUR_FLOOR
        weights = np.exp((sims - sims.max(axis=1, keepdims=True)) / VOTE_TEMPERATURE) * voting
        total = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
        votes = np.einsum("rk,rkt->rt", weights, votes_for[nearest])
        confidence = np.where(voting.any(axis=1), sims.max(axis=1), 0.0)[:, None]
        result = confidence * (PHRASE_WEIGHT * votes[:, :-1] - NO_TOOL_WEIGHT * votes[:, -1:])
        return result.astype(np.float32)

    def nearest(self, vector: np.ndarray[Any, Any], tool: str | None) -> Remembered | None:
        """The remembered clause most similar to ``vector`` that was answered by ``tool``
        (``None``: by no step), or ``None`` when there is none."""
        rows = [i for i, answer in enumerate(self.tools) if answer == tool]
        if not rows:
            return None
        similarity = self.vectors[rows] @ vector
        best = int(np.argmax(similarity))
        row = rows[best]
        return Remembered(
            phrase=self.phrases[row],
            tool=tool,
            exemplar_id=self.exemplar_ids[row],
            similarity=round(float(similarity[best]), 3),
        )

    def apply(
        self,
        base: np.ndarray[Any, Any],
        vectors: np.ndarray[Any, Any],
        names: Sequence[str],
        *,
        convincing: float,
    ) -> np.ndarray[Any, Any]:
        """``base`` (a ``(clauses, tools)`` score matrix from the words alone) with the votes
        of :meth:`scores` applied: a vote for "no tool" always lowers the row; a vote for a
        tool raises it only when that tool is within :data:`CLOSE_CALL` of the row's best
        base score, or when the best base score is below ``convincing``."""
        votes = self.scores(vectors, names)
        if not votes.any():
            return base
        best = base.max(axis=1, keepdims=True)
        within_reach = (base >= best - CLOSE_CALL) | (best < convincing)
        raised = np.where(within_reach, np.clip(votes, 0.0, None), 0.0)
        lowered = np.clip(votes, None, 0.0)
        return (base + raised + lowered).astype(np.float32)
