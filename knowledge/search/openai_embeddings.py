"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint, as a chromadb embedding function.

Registered under the name ``kaizen-openai``: a collection made with it records the model, the
endpoint and the *name* of the environment variable holding the API key — never the key — so
a reopened collection (another process, the next day) rebuilds the function by itself and
reads the key from the environment when it first embeds.

Works against OpenAI itself or any compatible server (vLLM, Ollama, LiteLLM, …): inputs are
sent in batches, vectors come back L2-normalised (cosine similarity is a dot product, as with
the offline MiniLM embeddings).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import openai
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

NAME = "kaizen-openai"
DEFAULT_MODEL = "text-embedding-3-small"
#: Where the API key is looked for when none is given.
DEFAULT_KEY_ENV_VARS = ("OPENAI_API_KEY", "KAIZEN_OPENAI_API_KEY")
#: Sent when no key is found but a base URL is given: local servers usually need none.
NO_KEY = "no-key"
DEFAULT_BATCH_SIZE = 128


class EmbeddingBackendError(RuntimeError):
    """The embeddings endpoint failed or answered something unusable."""


@register_embedding_function
class OpenAIEmbeddingFunction(EmbeddingFunction[Documents]):
    """Vectors from ``client.embeddings.create(model=..., input=[...])``, unit length."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        api_key_env_vars: Sequence[str] = DEFAULT_KEY_ENV_VARS,
        dimensions: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if not model:
            raise ValueError("OpenAI embeddings: 'model' must not be empty")
        if batch_size < 1:
            raise ValueError(f"OpenAI embeddings: batch_size must be at least 1, got {batch_size}")
        if dimensions is not None and dimensions < 1:
            raise ValueError(f"OpenAI embeddings: dimensions must be positive, got {dimensions}")
        self.model = model
        self.base_url = base_url.rstrip("/") if base_url else None
        self.api_key_env_vars = tuple(api_key_env_vars)
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._api_key = api_key  # kept in memory only: get_config never returns it
        self._client: openai.OpenAI | None = None

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages."""
        return f"{self.base_url or 'https://api.openai.com/v1'}/embeddings"

    def _key(self) -> str:
        if self._api_key:
            return self._api_key
        for variable in self.api_key_env_vars:
            value = os.environ.get(variable)
            if value:
                return value
        if self.base_url is not None:
            return NO_KEY
        names = " or ".join(self.api_key_env_vars) or "an API key environment variable"
        raise EmbeddingBackendError(
            f"OpenAI embeddings (model '{self.model}') need an API key: set {names}, or give "
            "a base_url for a server that needs none"
        )

    def client(self) -> openai.OpenAI:
        """The OpenAI client, made on first use (so building the function from a stored
        configuration never needs the key)."""
        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self._key(),
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def __call__(self, input: Documents) -> Embeddings:
        texts = [text if text.strip() else " " for text in input]  # the API refuses ""
        vectors: list[np.ndarray[Any, Any]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self.batch_size]))
        if vectors and len({v.shape[0] for v in vectors}) > 1:
            raise EmbeddingBackendError(
                f"{self.endpoint} (model '{self.model}') returned vectors of different lengths"
            )
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[np.ndarray[Any, Any]]:
        options: dict[str, Any] = {"encoding_format": "float"}
        if self.dimensions is not None:
            options["dimensions"] = self.dimensions
        try:
            response = self.client().embeddings.create(model=self.model, input=texts, **options)
        except openai.APIStatusError as exc:
            raise EmbeddingBackendError(
                f"{self.endpoint} (model '{self.model}') answered HTTP {exc.status_code}: "
                f"{_excerpt(exc.message)}"
            ) from None
        except openai.APIConnectionError as exc:  # includes timeouts
            raise EmbeddingBackendError(
                f"cannot reach {self.endpoint} (model '{self.model}'): {exc.message}"
            ) from None
        except openai.OpenAIError as exc:
            raise EmbeddingBackendError(
                f"{self.endpoint} (model '{self.model}') failed: {type(exc).__name__}: {exc}"
            ) from None
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise EmbeddingBackendError(
                f"{self.endpoint} (model '{self.model}') returned {len(data)} vectors for "
                f"{len(texts)} inputs"
            )
        vectors = []
        for item in data:
            vector = np.asarray(item.embedding, dtype=np.float32)
            if vector.ndim != 1 or vector.size == 0:
                raise EmbeddingBackendError(
                    f"{self.endpoint} (model '{self.model}') returned an empty or malformed vector"
                )
            norm = float(np.linalg.norm(vector))
            vectors.append(vector / norm if norm > 0 else vector)
        return vectors

    @staticmethod
    def name() -> str:
        return NAME

    def get_config(self) -> dict[str, Any]:
        """What a reopened collection rebuilds the function from — never the API key."""
        return {
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env_vars": list(self.api_key_env_vars),
            "dimensions": self.dimensions,
            "batch_size": self.batch_size,
            "timeout_s": self.timeout_s,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OpenAIEmbeddingFunction:
        return OpenAIEmbeddingFunction(
            str(config.get("model") or DEFAULT_MODEL),
            base_url=config.get("base_url"),
            api_key_env_vars=config.get("api_key_env_vars") or DEFAULT_KEY_ENV_VARS,
            dimensions=config.get("dimensions"),
            batch_size=int(config.get("batch_size") or DEFAULT_BATCH_SIZE),
            timeout_s=float(config.get("timeout_s") or 60.0),
        )

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        if "model" in new_config and new_config["model"] != old_config.get("model"):
            raise ValueError(
                "the embedding model of a collection cannot change (its stored vectors were "
                "made with the old one); use another collection"
            )

    def default_space(self) -> Space:
        return "cosine"  # the vectors are unit length

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]


def _excerpt(text: str, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]
