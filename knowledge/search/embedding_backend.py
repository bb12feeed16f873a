"""Choosing the embeddings behind tool and exemplar search: the offline MiniLM model or an
OpenAI-compatible endpoint.

Vectors from different backends (or models) cannot be compared — they do not even have the
same length — so each backend keeps its own chromadb collections: :func:`collection_suffix`
names them (``tools`` for MiniLM, as before; ``tools-openai-text-embedding-3-small`` for an
OpenAI model). Switching backends then re-embeds into a fresh collection instead of querying
vectors made by another model.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from chromadb.api.types import Documents, EmbeddingFunction

from knowledge.search.embedding_function import MiniLMEmbeddingFunction
from knowledge.search.openai_embeddings import DEFAULT_MODEL, OpenAIEmbeddingFunction

Backend = Literal["minilm", "openai"]
BACKENDS: tuple[Backend, ...] = ("minilm", "openai")
#: chromadb collection names are at most 512 characters; keep suffixes well short of that.
MAX_SUFFIX = 120


def make_embedding_function(
    backend: Backend,
    *,
    openai_api_key: str | None = None,
    openai_base_url: str | None = None,
    model: str = DEFAULT_MODEL,
) -> EmbeddingFunction[Documents]:
    """The embedding function for ``backend``. ``model`` only matters for ``openai``; the key
    defaults to ``OPENAI_API_KEY`` / ``KAIZEN_OPENAI_API_KEY`` from the environment."""
    if backend == "minilm":
        return MiniLMEmbeddingFunction()
    if backend == "openai":
        return OpenAIEmbeddingFunction(model, api_key=openai_api_key, base_url=openai_base_url)
    raise ValueError(
        f"unknown embedding backend '{backend}' (choose one of: {', '.join(BACKENDS)})"
    )


def collection_suffix(embedding_function: Any) -> str:
    """What to append to a collection name so each backend and model has its own collection.

    ``""`` for MiniLM (the existing collections keep their names), ``-openai-<model>`` for
    OpenAI (plus ``-d<n>`` when dimensions are reduced), ``-<name>`` for any other registered
    function. Always valid in a chromadb collection name.
    """
    if isinstance(embedding_function, MiniLMEmbeddingFunction):
        return ""
    if isinstance(embedding_function, OpenAIEmbeddingFunction):
        suffix = f"openai-{embedding_function.model}"
        if embedding_function.dimensions is not None:
            suffix += f"-d{embedding_function.dimensions}"
        return "-" + _safe(suffix)
    name_of = getattr(embedding_function, "name", None)
    name = name_of() if callable(name_of) else None
    if isinstance(name, str) and name and name != "default":
        return "-" + _safe(name)
    return ""


def _safe(text: str) -> str:
    """``text`` as a collection-name fragment: letters, digits, ``.``, ``_``, ``-``, ending
    in a letter or digit, no ``..`` (chromadb's rules)."""
    cleaned = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._]+", "-", text))[:MAX_SUFFIX]
    return re.sub(r"[^A-Za-z0-9]+$", "", cleaned) or "x"
