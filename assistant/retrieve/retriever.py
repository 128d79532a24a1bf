"""The read path: a question -> ranked passages, by dense (vector segments) and BM25 search, fused.

Dense search finds paraphrases; BM25 finds names, numbers and rare words ("Golts", "2,000")
that a small embedding model blurs. Both search the store (see store/); `search` runs them at
once on one snapshot and fuses their rankings of chunk keys with reciprocal rank fusion before
fetching any row, so only the rows it returns are read. Each is also offered as a llama-index
retriever (`Retriever.llama_retriever`) for llama-index query engines and fusion retrievers.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.embed.base import Embedder
from assistant.limits import MAX_SCOPES
from assistant.store.catalog import Catalog
from assistant.store.entities import EntityIndex
from assistant.store.format import SEGMENTS
from assistant.store.keyword import Readable
from assistant.store.segments import Segment
from assistant.store.vectors import ChunkVectors, VectorStore
from assistant.types import EVERYTHING, Chunk, Passage, Scope

# Reciprocal rank fusion constant from Cormack et al. (2009): 60 damps the head of each list so
# that agreement between retrievers outweighs a single first place.
RRF_K = 60


@dataclass(frozen=True)
class View:
    """The segments one catalog generation lists, loaded, with the rows each must skip.

    A reader who may not read everything gets a view of its own (`Retriever._scoped`): the same
    segments, skipping the rows of the articles it may not read as well as the deleted ones, with
    its chunk count and keyword statistics (`readable`) counted over what it may read.
    """

    generation: int
    segments: dict[str, tuple[Segment, np.ndarray]]  # name -> (segment, skipped vector rows)
    chunks: int
    newest: int  # the highest chunk key: vectors above it are not this generation's
    readable: Readable | None = None  # None: every live chunk (the catalog's global statistics)


class Retriever:
    """Searches one store directory; follows its commits without reloading what did not change.

    Each thread reads through its own SQLite connection. `snapshot()` pins one commit for a
    whole answer, so an ingest finishing meanwhile cannot mix two states within one answer.
    """

    def __init__(self, directory: Path, embedder: Embedder, vectors: VectorStore | None = None):
        self.directory = Path(directory)
        self._embedder = embedder
        self._store = vectors or VectorStore()  # FAISS segments unless configured otherwise
        self._vectors: ChunkVectors | None = None  # opened with the first view, from the manifest
        self._local = threading.local()
        self._lock = threading.Lock()
        self._views: dict[int, View] = {}  # the latest two generations: readers may lag one commit
        self._scopes: dict[tuple[int, Scope], View] = {}  # filtered views, oldest first, MAX_SCOPES at most
        # Vector searches of `search`, beside BM25 on the caller's thread: faiss releases the GIL.
        self._dense_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="dense")

    @property
    def count(self) -> int:
        """Chunks in the index, as of the current snapshot."""
        with self._reading() as (_, view):
            return view.chunks

    def scoped(self, scope: Scope) -> Scoped:
        """This retriever as one reader sees it: every search and statistic over what `scope` may read."""
        return Scoped(self, scope)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every search and lookup inside sees one commit of the catalog."""
        with self._reading():
            yield

    @property
    def entities(self) -> EntityIndex:
        """The entity index of this thread's catalog: inside `snapshot()`, as of its commit."""
        return self._catalog().entities

    def readable_ids(self, scope: Scope) -> frozenset[str] | None:
        """Ids of the articles `scope` may read (None: all), for what filters by article (the entity
        index); inside `snapshot()`, as of its commit."""
        return self._catalog().readable_ids(scope)

    @contextmanager
    def _reading(self, scope: Scope = EVERYTHING) -> Iterator[tuple[Catalog, View]]:
        held = getattr(self._local, "view", None)
        catalog = self._catalog()
        if held is not None:
            yield catalog, self._scoped(catalog, held, scope)
            return
        with catalog.snapshot():
            self._local.view = self._view(catalog)
            try:
                yield catalog, self._scoped(catalog, self._local.view, scope)
            finally:
                self._local.view = None

    def _scoped(self, catalog: Catalog, view: View, scope: Scope) -> View:
        """`view` as `scope` may read it: itself when nothing is hidden (the default path, unchanged)."""
        if scope.everything:
            return view
        key = (view.generation, scope)
        with self._lock:
            found = self._scopes.get(key)
        if found is not None:
            return found
        hidden = catalog.hidden_chunks(scope)
        if not len(hidden):
            scoped = view
        else:
            segments, parts = {}, []
            for name, (segment, deleted) in view.segments.items():
                skip = np.isin(np.asarray(segment.chunk_ids), hidden, assume_unique=True)
                skip[deleted] = True
                segments[name] = (segment, np.flatnonzero(skip))
                parts.append((segment.postings, skip))
            readable = Readable.of(parts)
            scoped = View(view.generation, segments, readable.chunks, view.newest, readable)
        with self._lock:
            self._scopes[key] = scoped
            while len(self._scopes) > MAX_SCOPES:
                self._scopes.pop(next(iter(self._scopes)))
        return scoped

    def _catalog(self) -> Catalog:
        catalog = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = self._local.catalog = Catalog(self.directory)
        return catalog

    def _view(self, catalog: Catalog) -> View:
        """The view of the catalog's snapshot: loads new segments, keeps loaded ones."""
        generation = catalog.generation()
        with self._lock:
            view = self._views.get(generation)
            if view is not None:
                return view
            loaded = {name: seg for v in self._views.values() for name, (seg, _) in v.segments.items()}
            segments = {}
            for name in catalog.segments():
                segment = loaded.get(name) or Segment.load(self.directory / SEGMENTS / name)
                segments[name] = (segment, segment.rows_of(catalog.tombstones(name)))
            manifest = catalog.manifest()
            if self._vectors is None:
                self._vectors = self._store.open(manifest, self.directory.parent)
            view = View(generation, segments, manifest.chunks, catalog.newest())
            latest = max(self._views, default=-1)
            self._views = {g: v for g, v in self._views.items() if g == latest} | {generation: view}
            return view

    def dense(self, query: str, k: int, vector: np.ndarray | None = None, *,
              scope: Scope = EVERYTHING) -> list[Passage]:
        """Nearest chunks by cosine, over every segment; pass the query's `vector` when computed."""
        vector = self._embedder.embed([query])[0] if vector is None else vector
        with self._reading(scope) as (catalog, view):
            return _hits(catalog, self._dense_keys(view, vector, k))

    def keyword(self, query: str, k: int, *, scope: Scope = EVERYTHING) -> list[Passage]:
        """Chunks by BM25 over the query's terms: finds the names and numbers dense search misses.

        A chunk sharing no term with the query is left out rather than ranked.
        """
        with self._reading(scope) as (catalog, view):
            return _hits(catalog, _keyword_keys(catalog, view, query, k))

    def _dense_keys(self, view: View, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk key, score) of the k nearest vectors in a view; reads no catalog, so any thread may run it."""
        assert self._vectors is not None, "opened by the view"
        return self._vectors.search(view.segments.values(), vector, k, view.newest)

    def sentences(self, chunk: Chunk) -> list[tuple[int, int, np.ndarray]]:
        """The sentences inside a chunk: article start, end, and unit vector."""
        with self._reading() as (catalog, view):
            name, found = catalog.sentences(chunk)
            if name not in view.segments:
                return []
            segment = view.segments[name][0]
            return [(start, end, segment.sentence_vector(key)) for key, start, end in found]

    def document_frequency(self, term: str, *, scope: Scope = EVERYTHING) -> int:
        """How many chunks (that `scope` may read) contain a stemmed term."""
        with self._reading(scope) as (catalog, view):
            if view.readable is not None:
                return view.readable.frequency(term)
            return catalog.keywords.document_frequency(term)

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """Unit vectors of single words, from the index's embedding model."""
        return self._embedder.word_vectors(words)

    def idf(self, term: str, *, scope: Scope = EVERYTHING) -> float:
        """BM25's inverse document frequency; a term no chunk contains gets the highest value,
        since it is the most telling when missing."""
        with self._reading(scope) as (_, view):
            if not view.chunks:
                return 0.0
            df = self.document_frequency(term, scope=scope)
            return math.log(1 + (view.chunks - df + 0.5) / (df + 0.5))

    def search(self, query: str, top_k: int, vector: np.ndarray | None = None, depth: int = 30, *,
               scope: Scope = EVERYTHING) -> list[Passage]:
        """Top passages by fused rank; each chunk once, identical texts once.

        The vector search runs on a worker thread while BM25 scores on this one (at 1,000,000
        chunks: 6.0 ms p50 where one after the other took 9.0; docs/BENCHMARKS.md), both on this
        thread's snapshot: the worker reads only the view's segments, never the catalog.
        """
        vector = self._embedder.embed([query])[0] if vector is None else vector
        with self._reading(scope) as (catalog, view):
            dense = self._dense_pool.submit(self._dense_keys, view, vector, depth)
            keyword = _keyword_keys(catalog, view, query, depth)
            fused = fuse([[key for key, _ in dense.result()], [key for key, _ in keyword]])
            return _passages(catalog, fused, top_k)

    def llama_retriever(self, kind: Literal["dense", "keyword"], k: int) -> Any:
        """Dense or keyword search as a llama-index BaseRetriever returning k nodes, so llama-index
        query engines and fusion retrievers can run over this index (about 6 µs a node)."""
        return _search_class()(self, kind, k)


class Scoped:
    """A retriever bound to one reader's scope: what an answer for that reader reads (the `Evidence`
    of the answerers, related reading, respelling), so no step can forget the filter."""

    def __init__(self, retriever: Retriever, scope: Scope):
        self.retriever, self.scope = retriever, scope

    @property
    def count(self) -> int:
        """Chunks this reader may read, as of the current snapshot."""
        with self.retriever._reading(self.scope) as (_, view):
            return view.chunks

    def snapshot(self):
        return self.retriever.snapshot()

    def search(self, query: str, top_k: int, vector: np.ndarray | None = None, depth: int = 30) -> list[Passage]:
        return self.retriever.search(query, top_k, vector, depth, scope=self.scope)

    def dense(self, query: str, k: int, vector: np.ndarray | None = None) -> list[Passage]:
        return self.retriever.dense(query, k, vector, scope=self.scope)

    def keyword(self, query: str, k: int) -> list[Passage]:
        return self.retriever.keyword(query, k, scope=self.scope)

    def sentences(self, chunk: Chunk) -> list[tuple[int, int, np.ndarray]]:
        """A chunk's sentences; the chunk came from this reader's search, so no filter is needed."""
        return self.retriever.sentences(chunk)

    def document_frequency(self, term: str) -> int:
        return self.retriever.document_frequency(term, scope=self.scope)

    def idf(self, term: str) -> float:
        return self.retriever.idf(term, scope=self.scope)

    def word_vectors(self, words: list[str]) -> np.ndarray:
        return self.retriever.word_vectors(words)


@cache
def _search_class() -> type:
    """The llama-index retriever over a Retriever, defined once, on first use: llama-index takes
    about 1.7 s to import, which `assistant --help` should not pay."""
    from llama_index.core.retrievers import BaseRetriever

    class Search(BaseRetriever):
        def __init__(self, retriever: Retriever, kind: str, k: int):
            super().__init__()
            self._search = retriever.keyword if kind == "keyword" else retriever.dense
            self._kind, self._k = kind, k

        def _retrieve(self, query_bundle):
            if self._kind == "keyword":
                hits = self._search(query_bundle.query_str, self._k)
            else:
                e = query_bundle.embedding
                vector = None if e is None else np.asarray(e, np.float32)
                hits = self._search(query_bundle.query_str, self._k, vector)  # type: ignore[call-arg,arg-type]  # dense()
            return [_node(passage) for passage in hits]

    return Search


def _keyword_keys(catalog: Catalog, view: View, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk key, score) of the k best BM25 rows over a view's segments."""
    segments = list(view.segments.values())
    found = catalog.keywords.search(query, [(seg.postings, skipped) for seg, skipped in segments], k, view.readable)
    return [(int(segments[i][0].chunk_ids[row]), score) for i, row, score in found]


def _hits(catalog: Catalog, found: Sequence[tuple[int, float]]) -> list[Passage]:
    """Passages in the order found, ranked by one retriever's scores; a chunk deleted since its
    vector was found is dropped."""
    rows = catalog.chunks([key for key, _ in found])
    kept = [(rows[k], score) for k, score in found if k in rows]
    return [replace(row, rank=rank, score=score) for rank, (row, score) in enumerate(kept, 1)]


def _passages(catalog: Catalog, fused: Sequence[tuple[int, float]], top_k: int) -> list[Passage]:
    """The first top_k fused chunks with distinct texts, fetched top_k rows at a time (once, usually)."""
    passages: list[Passage] = []
    seen_texts: set[str] = set()
    if top_k <= 0:
        return passages
    for at in range(0, len(fused), top_k):
        batch = fused[at : at + top_k]
        rows = catalog.chunks([key for key, _ in batch])
        for key, score in batch:
            row = rows.get(key)
            if row is None:  # deleted since found
                continue
            text = " ".join(row.chunk.text.lower().split())
            if text in seen_texts:
                continue
            seen_texts.add(text)
            passages.append(replace(row, rank=len(passages) + 1, score=score))
            if len(passages) == top_k:
                return passages
    return passages


def _node(passage: Passage):
    """A passage as a llama-index node: its text, and the chunk's article, offsets and title as metadata."""
    from llama_index.core.schema import NodeWithScore, TextNode

    c = passage.chunk
    metadata = {"article_id": c.article_id, "ordinal": c.ordinal, "start": c.start, "end": c.end,
                "title": passage.title, "url": passage.url or ""}
    hidden = [k for k in metadata if k != "title"]
    node = TextNode(id_=c.id, text=c.text, metadata=metadata,
                    excluded_embed_metadata_keys=hidden, excluded_llm_metadata_keys=hidden)
    return NodeWithScore(node=node, score=passage.score)


def fuse(rankings: Sequence[Sequence[int]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of rankings of chunk keys: (key, fused score), best first.

    Written here rather than with llama-index's QueryFusionRetriever because that one needs an
    LLM object even for a single query, and fuses nodes: every candidate's row fetched first.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])
