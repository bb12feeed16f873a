"""The offline MiniLM embeddings as a chromadb embedding function.

Registered under the name ``kaizen-minilm``: a collection created with it records that name in
its configuration, so a reopened collection (another process, the next day) finds the same
function by itself — and never falls back to chromadb's default one, which would try to
download a model.
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from knowledge.search.minilm import shared_model

NAME = "kaizen-minilm"


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 computed with numpy (see :mod:`knowledge.search.minilm`)."""

    def __init__(self) -> None:
        self._model = shared_model()

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._model.encode(list(input)))

    @staticmethod
    def name() -> str:
        return NAME

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()

    def get_config(self) -> dict[str, Any]:
        return {"model": "all-MiniLM-L6-v2", "dimensions": 384}

    def default_space(self) -> Space:
        return "cosine"  # the vectors are unit length

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]
