"""The tool index: the catalog in chromadb (dense) and in BM25 (lexical), searched together.

Dense and lexical rankings are fused by reciprocal rank. Indexing is incremental: each tool's
content hash is stored with it, and :meth:`ToolIndex.sync` embeds only tools that are new or
changed and deletes tools that are gone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from pydantic import BaseModel, ConfigDict

from knowledge.search.catalog import CatalogEntry, identifier_words, unique
from knowledge.search.clauses import asked_as_request, read_clauses
from knowledge.search.embedding_backend import collection_suffix
from knowledge.search.embedding_function import MiniLMEmbeddingFunction
from knowledge.search.fusion import reciprocal_rank_fusion
from knowledge.search.lexical import BM25, QUOTED, joined_words, literally, modifiers, words

COLLECTION = "tools"
#: Each ranking contributes this many candidates to the fusion.
CANDIDATES = 50
#: The lexical ranking's weight in the fusion (for a one-clause request; less for more
#: clauses): the dense scores carry the tool-name words already, so BM25 mostly breaks ties
#: and finds words MiniLM does not know (identifiers, product names).
LEXICAL_WEIGHT = 0.5
#: A clause's best tool leads the dense ranking only when it fits at least this well.
CLAUSE_BEST_FLOOR = 0.3
#: After the clauses' best tools, the rest rank by their score minus this share of the best
#: score of the clause they fit: a close second to an unsure clause's best ("book … for the
#: delivery": a car, or the delivery?) before a distant second to a sure one.
RUNNER_UP_SHARE = 0.6
#: Weight of the tool-name words a clause contains, next to cosine similarity (see
#: :meth:`ToolIndex.clause_scores`).
NAME_WORD_WEIGHT = 0.3
#: Weight of a parameter's example value named in a clause ("… from Amazon" → the shopping
#: tool whose ``website`` param lists Amazon), shared among the tools listing it.
EXAMPLE_WEIGHT = 0.3


class SearchHit(BaseModel):
    """One tool found, with how each ranking placed it."""

    model_config = ConfigDict(frozen=True)

    name: str
    score: float
    dense_rank: int | None
    lexical_rank: int | None
    entry: CatalogEntry


class SyncReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: int


def open_client(directory: Path) -> Any:
    """A chromadb PersistentClient in ``directory`` (no telemetry: nothing leaves the machine)."""
    directory.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(directory), settings=ChromaSettings(anonymized_telemetry=False)
    )


class ToolIndex:
    """Hybrid search over the tool catalog, persisted in a chromadb directory."""

    def __init__(self, directory: Path, *, embedding_function: Any | None = None) -> None:
        self.client = open_client(directory)
        self.embed = embedding_function or MiniLMEmbeddingFunction()
        self.collection = self.client.get_or_create_collection(
            COLLECTION + collection_suffix(self.embed),
            embedding_function=self.embed,
            metadata={"hnsw:space": "cosine"},
        )
        self._matrix: np.ndarray[Any, Any] = np.zeros((0, 0), dtype=np.float32)
        self.entries: dict[str, CatalogEntry] = {}
        self._lexical: BM25 | None = None
        self._names: list[str] = []
        self._name_terms: list[dict[str, float]] = []
        self._examples: list[tuple[tuple[str, ...], dict[int, float]]] = []

    def sync(self, entries: Sequence[CatalogEntry]) -> SyncReport:
        """Make the index hold exactly ``entries``, embedding only what changed."""
        wanted = {entry.name: entry for entry in unique(entries)}
        stored = self.collection.get(include=["metadatas"])
        hashes = {
            name: (meta or {}).get("hash")
            for name, meta in zip(stored["ids"], stored["metadatas"] or [], strict=False)
        }
        added = [n for n in wanted if n not in hashes]
        updated = [n for n in wanted if n in hashes and hashes[n] != wanted[n].content_hash]
        removed = [n for n in hashes if n not in wanted]
        changed = added + updated
        if changed:
            self.collection.upsert(
                ids=changed,
                documents=[wanted[n].search_text for n in changed],
                metadatas=[
                    {"hash": wanted[n].content_hash, "source": wanted[n].source} for n in changed
                ],
            )
        if removed:
            self.collection.delete(ids=removed)
        self.entries = wanted
        self._names = sorted(wanted)
        self._lexical = BM25([wanted[n].search_text for n in self._names])
        self._name_terms = _name_term_weights([wanted[n] for n in self._names])
        self._examples = _example_phrases([wanted[n] for n in self._names])
        if self._names:  # the vectors, in memory: scoring a catalog is one matrix product
            stored = self.collection.get(ids=self._names, include=["embeddings"])
            by_id = dict(zip(stored["ids"], stored["embeddings"], strict=True))
            self._matrix = np.array([by_id[n] for n in self._names], dtype=np.float32)
        return SyncReport(
            added=sorted(added),
            updated=sorted(updated),
            removed=sorted(removed),
            unchanged=len(wanted) - len(changed),
        )

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` best tools for ``query``.

        The dense ranking reads the query as clauses (a request for three things should find
        three tools): first each clause's best tool (surest clause first), then every other
        tool by how close it comes to a clause's best (:data:`RUNNER_UP_SHARE`); scores are
        those of :meth:`clause_scores` (of the whole query, when it is one clause). The lexical
        ranking is BM25 over the whole query. The two are fused by reciprocal rank, the lexical
        one weighing :data:`LEXICAL_WEIGHT` / clauses²: over a long request BM25 favours the
        tool sharing its most repeated words, not one tool per thing asked.
        """
        if not self.entries or self._lexical is None:
            return []
        limit = min(CANDIDATES, len(self.entries))
        read = read_clauses(query)
        parts = [c for c in read if c.text != query]
        clauses = [c.meaning for c in parts]
        texts = [literally(query), *clauses]
        whole = asked_as_request(texts[0]) if len(read) == 1 and read[0].question else texts[0]
        scores = self.clause_scores(texts, self.embed_texts([whole, *(c.asked for c in parts)]))
        dense = self._clause_first(scores[1:] if clauses else scores)[:limit]
        lexical = [self._names[i] for i, _ in self._lexical.rank(query, limit)]
        fused = reciprocal_rank_fusion(
            [dense, lexical], weights=[1.0, LEXICAL_WEIGHT / max(1, len(clauses)) ** 2]
        )
        dense_rank = {name: i for i, name in enumerate(dense, start=1)}
        lexical_rank = {name: i for i, name in enumerate(lexical, start=1)}
        return [
            SearchHit(
                name=name,
                score=round(score, 6),
                dense_rank=dense_rank.get(name),
                lexical_rank=lexical_rank.get(name),
                entry=self.entries[name],
            )
            for name, score in fused[:k]
        ]

    def _clause_first(self, per_clause: np.ndarray[Any, Any]) -> list[str]:
        """Tool names: each clause's best tool (when it fits), surest clause first, then the
        rest by how close they come to some clause's best (see :data:`RUNNER_UP_SHARE`)."""
        ranking: list[str] = []
        best = per_clause.max(axis=1)
        for row in np.argsort(-best, kind="stable"):
            if best[row] < CLAUSE_BEST_FLOOR:
                break
            name = self._names[int(np.argmax(per_clause[row]))]
            if name not in ranking:
                ranking.append(name)
        closeness = (per_clause - RUNNER_UP_SHARE * best[:, None]).max(axis=0)
        for column in np.argsort(-closeness, kind="stable"):
            if self._names[column] not in ranking:
                ranking.append(self._names[column])
        return ranking

    @property
    def names(self) -> list[str]:
        """The indexed tools' names, in the column order of :meth:`clause_scores`."""
        return list(self._names)

    def name_words(self, name: str) -> set[str]:
        """The index terms of a tool's name ("order_food_delivery" → order, food, delivery)."""
        return set(self._name_terms[self._names.index(name)]) if name in self.entries else set()

    def text_words(self, name: str) -> frozenset[str]:
        """The index terms of a tool's whole text (name, description, params), as BM25 holds
        them."""
        if self._lexical is None or name not in self.entries:
            return frozenset()
        return frozenset(self._lexical.terms[self._names.index(name)])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """The embeddings of ``texts`` (one L2-normalised row each)."""
        return np.array(self.embed(list(texts)), dtype=np.float32)

    def clause_scores(
        self, clauses: Sequence[str], vectors: np.ndarray[Any, Any] | None = None
    ) -> np.ndarray[Any, Any]:
        """How well each tool fits each clause: a ``(clauses, tools)`` matrix of cosine
        similarity plus :data:`NAME_WORD_WEIGHT` times the share (by rarity) of the tool's
        name words that the clause contains outside quotes ("email" in a clause points at
        ``send_email``; "Music" in "watch 'The Sound of Music'" does not), plus
        :data:`EXAMPLE_WEIGHT` for param examples named outside quotes ("… from Amazon", but
        not "a note saying 'electricity bill paid'").
        ``vectors`` are the clauses' embeddings when the caller has them already."""
        if not self._names or not clauses:
            return np.zeros((len(clauses), len(self._names)), dtype=np.float32)
        if vectors is None:
            vectors = self.embed_texts(clauses)
        scores = vectors @ self._matrix.T
        for row, clause in enumerate(clauses):
            unquoted = QUOTED.sub(" ", clause)  # a title's words ask for nothing
            clause_words = words(unquoted)
            terms = set(clause_words)
            terms.update(joined_words(unquoted))  # "roll back" → rollback
            modifying = modifiers(unquoted)
            for column, weights in enumerate(self._name_terms):
                hit = sum(
                    w
                    for term, w in weights.items()
                    if term in terms and (term not in modifying or modifying[term] & weights.keys())
                )
                if hit:
                    scores[row, column] += NAME_WORD_WEIGHT * hit
            for column, weight in self._named_examples(clause_words).items():
                scores[row, column] += EXAMPLE_WEIGHT * weight
        return scores

    def _named_examples(self, clause_words: Sequence[str]) -> dict[int, float]:
        """Tool column → weight of the parameter examples ``clause_words`` name; an example
        inside a longer one named at the same place ("Uber" in "Uber Eats") does not count."""
        spans: list[tuple[int, int, dict[int, float]]] = []
        for phrase, tools in self._examples:
            size = len(phrase)
            for start in range(len(clause_words) - size + 1):
                if tuple(clause_words[start : start + size]) == phrase:
                    spans.append((start, start + size, tools))
        result: dict[int, float] = {}
        for start, end, tools in spans:
            if any(s <= start and end <= e and e - s > end - start for s, e, _ in spans):
                continue
            for column, weight in tools.items():
                result[column] = max(result.get(column, 0.0), weight)
        return result


def _example_phrases(
    entries: Sequence[CatalogEntry],
) -> list[tuple[tuple[str, ...], dict[int, float]]]:
    """Each parameter example (as index words) with the columns of the tools listing it, each
    weighted 1 / how many tools list it."""
    listed: dict[tuple[str, ...], list[int]] = {}
    for column, entry in enumerate(entries):
        for example in entry.example_values:
            phrase = tuple(words(example))
            if phrase and column not in listed.setdefault(phrase, []):
                listed[phrase].append(column)
    return [
        (phrase, {column: 1.0 / len(columns) for column in columns})
        for phrase, columns in listed.items()
    ]


def _name_term_weights(entries: Sequence[CatalogEntry]) -> list[dict[str, float]]:
    """For each tool, its name words weighted by rarity across the catalog, summing to 1."""
    named = [set(words(identifier_words(entry.name))) for entry in entries]
    frequency: dict[str, int] = {}
    for terms in named:
        for term in terms:
            frequency[term] = frequency.get(term, 0) + 1
    result: list[dict[str, float]] = []
    for terms in named:
        raw = {t: math.log(1 + len(entries) / frequency[t]) for t in terms}
        total = sum(raw.values()) or 1.0
        result.append({t: w / total for t, w in raw.items()})
    return result
