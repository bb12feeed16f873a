"""The numpy all-MiniLM-L6-v2 gives the embeddings sentence-transformers gives.

The reference numbers were computed once with ``transformers`` 4.57 + ``torch`` 2.13 (CPU) on
the same weights (mean pooling under the attention mask, L2 normalisation, 256-token cut):
first 8 of 384 dimensions, and cosines against the first text.
"""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.search import minilm
from knowledge.search.minilm import DIMENSIONS, MiniLM, shared_model

TEXTS = [
    "A man is eating food.",
    "Deploy the service to production",
    "Roll back the last release of api-gateway to v1.4.2, then tell #ops",
    "x " * 400,  # longer than 256 tokens: cut
]
REFERENCE_HEADS = [
    [0.033242, 0.004406, -0.006277, 0.048379, -0.138702, -0.033617, 0.101128, -0.054385],
    [-0.003214, -0.023428, -0.050643, -0.118995, -0.035293, -0.028782, 0.010127, -0.007772],
    [0.009534, 0.018749, 0.042449, 0.017112, 0.018189, -0.06382, -0.082285, -0.058794],
    [-0.002061, -0.037469, -0.031494, -0.042564, -0.100168, -0.082647, -0.03391, 0.000215],
]
REFERENCE_COSINES = [1.0, -0.000831, 0.091382, -0.022847]


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return shared_model()


def test_embeddings_match_the_reference_implementation(model):
    vectors = model.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), DIMENSIONS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[:, :8], np.array(REFERENCE_HEADS), atol=2e-5)
    np.testing.assert_allclose(vectors @ vectors[0], REFERENCE_COSINES, atol=2e-5)


def test_vectors_are_unit_length_and_packing_texts_together_changes_nothing(model):
    together = model.encode(TEXTS)
    alone = np.concatenate([model.encode([text]) for text in TEXTS])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # no text attends to another


def test_similar_sentences_are_closer_than_unrelated_ones(model):
    food, bread, deploy = model.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "Deploy to production"]
    )
    assert float(food @ bread) == pytest.approx(0.7553, abs=1e-3)
    assert float(food @ bread) > float(food @ deploy) + 0.5


def test_nothing_to_encode_gives_an_empty_matrix(model):
    assert model.encode([]).shape == (0, DIMENSIONS)


def test_more_texts_than_a_pack_keep_their_order(model, monkeypatch):
    monkeypatch.setattr(minilm, "PACK_TOKENS", 40)  # ~6 texts a pack: 12 packs
    texts = [f"step number {i} of the long rollout" for i in range(70)]
    vectors = model.encode(texts)
    for i in (0, 5, 6, 65, 69):
        np.testing.assert_allclose(vectors[i], model.encode([texts[i]])[0], atol=1e-5)
    assert not np.allclose(vectors[5], vectors[6])
