"""The read path: a question -> ranked passages, by dense (FAISS) and BM25 search, fused.

Dense search finds paraphrases; BM25 finds names, numbers and rare words ("Golts", "2,000")
that a small embedding model blurs. Both run through llama-index retrievers; their rankings are
fused with reciprocal rank fusion.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.embedding import Embedder, as_llama_embedding
from assistant.indexer import BM25_DIR, SENTENCE_VECTORS
from assistant.store import read_articles
from assistant.types import Chunk, Passage

# Reciprocal rank fusion constant from Cormack et al. (2009): 60 damps the head of each list so
# that agreement between retrievers outweighs a single first place.
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """A chunk found by one retriever, before fusion."""

    chunk: Chunk
    title: str
    url: str | None
    score: float


class Retriever:
    """Loads one index version into memory once and answers many searches."""

    def __init__(self, directory: Path, embedder: Embedder, count: int):
        from llama_index.core import StorageContext, load_index_from_storage
        from llama_index.vector_stores.faiss import FaissVectorStore

        self.count = count  # chunks in the index
        self._embedder = embedder
        self._bm25 = None
        if count == 0:
            return
        context = StorageContext.from_defaults(
            persist_dir=str(directory), vector_store=FaissVectorStore.from_persist_dir(str(directory))
        )
        self._index = load_index_from_storage(context, embed_model=as_llama_embedding(embedder))
        from llama_index.retrievers.bm25 import BM25Retriever

        self._bm25 = BM25Retriever.from_persist_dir(str(directory / BM25_DIR), show_progress=False)
        self._sentence_vectors = np.load(directory / SENTENCE_VECTORS)
        self._sentence_spans: dict[str, tuple[int, list[tuple[int, int]]]] = {}
        row = 0
        for stored in read_articles(directory).values():
            self._sentence_spans[stored.article.id] = (row, list(stored.sentences))
            row += len(stored.sentences)

    def sentences(self, chunk: Chunk) -> list[tuple[int, int, np.ndarray]]:
        """The sentences inside a chunk: article start, end, and unit vector."""
        first, spans = self._sentence_spans.get(chunk.article_id, (0, []))
        lo = bisect.bisect_left(spans, (chunk.start, -1))
        out = []
        for i in range(lo, len(spans)):
            start, end = spans[i]
            if end > chunk.end:
                break
            out.append((start, end, self._sentence_vectors[first + i].astype(np.float32)))
        return out

    def dense(self, query: str, k: int, vector: np.ndarray | None = None) -> list[Hit]:
        """Nearest chunks by cosine; pass the query's `vector` when it is already computed."""
        if not self.count:
            return []
        from llama_index.core.schema import QueryBundle

        bundle = QueryBundle(query, embedding=None if vector is None else vector.tolist())
        retriever = self._index.as_retriever(similarity_top_k=min(k, self.count))
        return [_hit(n) for n in retriever.retrieve(bundle)]

    def keyword(self, query: str, k: int) -> list[Hit]:
        """Chunks by BM25 over the query's terms: finds the names and numbers dense search misses.

        A chunk sharing no term with the query scores 0 and is left out rather than ranked.
        """
        if not self.count:
            return []
        self._bm25.similarity_top_k = min(k, self.count)
        return [_hit(n) for n in self._bm25.retrieve(query) if n.score > 0]

    def document_frequency(self, term: str) -> int:
        """How many chunks contain a stemmed term.

        Read from the bm25s score matrix (one column per vocabulary term) rather than kept twice.
        """
        if not self.count:
            return 0
        bm25 = self._bm25.bm25
        column = bm25.vocab_dict.get(term)
        return 0 if column is None else int(bm25.scores["indptr"][column + 1] - bm25.scores["indptr"][column])

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """Unit vectors of single words, from the index's embedding model."""
        return self._embedder.word_vectors(words)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency; a term no chunk contains gets the highest value,
        since it is the most telling when missing."""
        if not self.count:
            return 0.0
        df = self.document_frequency(term)
        return math.log(1 + (self.count - df + 0.5) / (df + 0.5))

    def search(self, query: str, top_k: int, vector: np.ndarray | None = None, depth: int = 30) -> list[Passage]:
        """Top passages by fused rank; each chunk once, identical texts once."""
        return fuse([self.dense(query, depth, vector), self.keyword(query, depth)], top_k)


def fuse(rankings: Sequence[list[Hit]], top_k: int) -> list[Passage]:
    """Reciprocal rank fusion, de-duplicated by chunk and by text.

    Written here rather than with llama-index's QueryFusionRetriever because that one needs an
    LLM object even for a single query and hides which chunk each retriever found.
    """
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            scores[hit.chunk.id] = scores.get(hit.chunk.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            hits.setdefault(hit.chunk.id, hit)
    passages: list[Passage] = []
    seen_texts: set[str] = set()
    for chunk_id in sorted(scores, key=lambda c: -scores[c]):
        hit = hits[chunk_id]
        key = " ".join(hit.chunk.text.lower().split())
        if key in seen_texts:
            continue
        seen_texts.add(key)
        passages.append(Passage(len(passages) + 1, hit.chunk, hit.title, hit.url, scores[chunk_id]))
        if len(passages) == top_k:
            break
    return passages


def _hit(node_with_score) -> Hit:
    node = node_with_score.node
    m = node.metadata
    chunk = Chunk(m["article_id"], int(m["ordinal"]), int(m["start"]), int(m["end"]), node.get_content())
    return Hit(chunk, m["title"], m.get("url") or None, float(node_with_score.score or 0.0))
