"""Searching exemplar memory: the past requests most like a new one.

Past requests are embedded once into a chromadb collection (by exemplar id) and ranked
together with BM25; a new request finds the closest accepted ones, with the similarity the
planner uses to decide whether to adapt an exemplar or plan from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from knowledge.history.views import ExemplarInfo
from knowledge.search.embedding_backend import collection_suffix
from knowledge.search.embedding_function import MiniLMEmbeddingFunction
from knowledge.search.fusion import reciprocal_rank_fusion
from knowledge.search.index import open_client
from knowledge.search.lexical import BM25

COLLECTION = "exemplars"


class ExemplarHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    exemplar: ExemplarInfo
    similarity: float
    """Cosine similarity of the two requests (1 = the same meaning)."""
    score: float
    """Fused rank score (meaning and words)."""


class ExemplarIndex:
    """Exemplars in a chromadb collection, searched by meaning and words."""

    def __init__(self, directory: Path, *, embedding_function: Any | None = None) -> None:
        self.embed = embedding_function or MiniLMEmbeddingFunction()
        self.collection = open_client(directory).get_or_create_collection(
            COLLECTION + collection_suffix(self.embed),
            embedding_function=self.embed,
            metadata={"hnsw:space": "cosine"},
        )
        self.exemplars: list[ExemplarInfo] = []
        self._matrix: np.ndarray[Any, Any] = np.zeros((0, 0), dtype=np.float32)
        self._lexical: BM25 | None = None

    def sync(self, exemplars: Sequence[ExemplarInfo]) -> int:
        """Hold exactly ``exemplars``; embeds only new ones. Returns how many were new."""
        ids = [str(e.id) for e in exemplars]
        stored = set(self.collection.get(include=[])["ids"])
        new = [e for e in exemplars if str(e.id) not in stored]
        if new:
            self.collection.add(
                ids=[str(e.id) for e in new],
                documents=[e.request for e in new],
                metadatas=[{"version_id": e.version_id} for e in new],
            )
        gone = sorted(stored - set(ids))
        if gone:
            self.collection.delete(ids=gone)
        self.exemplars = list(exemplars)
        if self.exemplars:
            got = self.collection.get(ids=ids, include=["embeddings"])
            by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
            self._matrix = np.array([by_id[i] for i in ids], dtype=np.float32)
            self._lexical = BM25([e.request for e in self.exemplars])
        return len(new)

    def add(self, exemplar: ExemplarInfo) -> bool:
        """Hold ``exemplar`` too (replacing one with its id); returns whether it was new."""
        kept = [e for e in self.exemplars if e.id != exemplar.id]
        new = len(kept) == len(self.exemplars)
        self.sync([*kept, exemplar])
        return new

    def search(self, request: str, k: int = 3) -> list[ExemplarHit]:
        """The ``k`` past requests most like ``request``, best first."""
        if not self.exemplars or self._lexical is None:
            return []
        vector = np.array(self.embed([request]), dtype=np.float32)[0]
        similarity = self._matrix @ vector
        dense = [int(i) for i in np.argsort(-similarity, kind="stable")]
        lexical = [i for i, _ in self._lexical.rank(request)]
        fused = reciprocal_rank_fusion([dense, lexical])[:k]
        return [
            ExemplarHit(
                exemplar=self.exemplars[i],
                similarity=round(float(similarity[i]), 4),
                score=round(score, 6),
            )
            for i, score in fused
        ]
