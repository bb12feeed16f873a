"""What people call each tool, learned from exemplar memory.

Every accepted request is split into clauses and each clause is attributed to the tool of the
accepted blueprint it fits best. A new clause then also scores a tool by its similarity to the
phrases people used for it before ("get me an Uber" → the taxi tool, once someone accepted
that), so planning improves with use on any catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from knowledge.history.views import ExemplarInfo
from knowledge.search.clauses import read_clauses
from knowledge.search.index import ToolIndex

#: A learned phrase adds to a tool's score only beyond this similarity: requests phrased
#: alike ("could you help me …") are similar whatever they ask for.
PHRASE_FLOOR = 0.55
#: How much a learned phrase's similarity beyond the floor adds.
PHRASE_WEIGHT = 0.5
#: A clause that only sets the scene is attributed only when it fits a tool at least this well.
SCENE_FIT = 0.35


class ToolPhrases:
    """Clause embeddings of accepted requests, each attributed to a tool."""

    def __init__(self, index: ToolIndex) -> None:
        self.index = index
        self.vectors: np.ndarray[Any, Any] = np.zeros((0, 0), dtype=np.float32)
        self.tools: list[str] = []
        self.phrases: list[str] = []

    def learn(self, exemplars: Sequence[ExemplarInfo]) -> int:
        """Attribute the clauses of ``exemplars``' requests to their blueprints' tools;
        returns how many phrases are known."""
        names = self.index.names
        column = {name: i for i, name in enumerate(names)}
        texts: list[str] = []
        tools: list[str] = []
        for exemplar in exemplars:
            used: list[str] = [
                str(step["tool"])
                for step in exemplar.blueprint.get("steps", [])
                if isinstance(step, dict) and step.get("tool") in column
            ]
            if not used:
                continue
            clauses = read_clauses(exemplar.request)
            if not clauses:
                continue
            scores = self.index.clause_scores([c.text for c in clauses])
            columns = [column[t] for t in dict.fromkeys(used)]
            sub = scores[:, columns]
            best_clause_of_tool = {int(np.argmax(sub[:, j])): j for j in range(len(columns))}
            for row, clause in enumerate(clauses):
                j = int(np.argmax(sub[row]))
                if row in best_clause_of_tool:
                    j = best_clause_of_tool[row]
                elif not clause.asks and float(sub[row, j]) < SCENE_FIT:
                    continue
                texts.append(clause.text)
                tools.append(names[columns[j]])
        self.phrases.extend(texts)
        self.tools.extend(tools)
        if texts:
            fresh = self.index.embed_texts(texts)
            self.vectors = fresh if self.vectors.size == 0 else np.vstack([self.vectors, fresh])
        return len(self.tools)

    def scores(self, vectors: np.ndarray[Any, Any], names: Sequence[str]) -> np.ndarray[Any, Any]:
        """For each clause vector and tool, what the phrases learned for it add to its score:
        :data:`PHRASE_WEIGHT` times the best similarity beyond :data:`PHRASE_FLOOR`."""
        result = np.zeros((len(vectors), len(names)), dtype=np.float32)
        if not self.tools or len(vectors) == 0:
            return result
        similarity = vectors @ self.vectors.T
        column = {name: i for i, name in enumerate(names)}
        for phrase, tool in enumerate(self.tools):
            j = column.get(tool)
            if j is not None:
                np.maximum(result[:, j], similarity[:, phrase], out=result[:, j])
        return PHRASE_WEIGHT * np.clip(result - PHRASE_FLOOR, 0.0, None)
