"""The read path: a question -> ranked passages, by dense (FAISS) and BM25 search, fused.

Dense search finds paraphrases; BM25 finds names, numbers and rare words ("Golts", "2,000")
that a small embedding model blurs. Both run through llama-index retrievers; their rankings are
fused with reciprocal rank fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.embedding import Embedder, as_llama_embedding
from assistant.indexer import BM25_DIR
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
        self._dense = None
        self._bm25 = None
        if count == 0:
            return
        context = StorageContext.from_defaults(
            persist_dir=str(directory), vector_store=FaissVectorStore.from_persist_dir(str(directory))
        )
        self._index = load_index_from_storage(context, embed_model=as_llama_embedding(embedder))
        from llama_index.retrievers.bm25 import BM25Retriever

        self._bm25 = BM25Retriever.from_persist_dir(str(directory / BM25_DIR), show_progress=False)

    def dense(self, query: str, k: int) -> list[Hit]:
        if not self.count:
            return []
        retriever = self._index.as_retriever(similarity_top_k=min(k, self.count))
        return [_hit(n) for n in retriever.retrieve(query)]

    def keyword(self, query: str, k: int) -> list[Hit]:
        if not self.count:
            return []
        self._bm25.similarity_top_k = min(k, self.count)
        return [_hit(n) for n in self._bm25.retrieve(query) if n.score > 0]

    def search(self, query: str, top_k: int, depth: int = 30) -> list[Passage]:
        """Top passages by fused rank; each chunk once, identical texts once."""
        return fuse([self.dense(query, depth), self.keyword(query, depth)], top_k)


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
