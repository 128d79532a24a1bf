"""The composition root: settings -> concrete embedder, index, retriever, answerer.

CLI, HTTP API and UI are thin presenters over one `Assistant`. Collaborators can be passed in
(tests inject a fake embedder or LLM); otherwise they are built lazily from settings, so commands
that only read the manifest never load the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from assistant.chunking import Chunker
from assistant.config import Settings
from assistant.embedding import Embedder, SentenceTransformerEmbedder
from assistant.errors import InputError
from assistant.indexer import Indexer, IngestReport
from assistant.retrieval import Retriever
from assistant.sources import read_sources
from assistant.store import IndexDir
from assistant.types import Article, Passage


class Assistant:
    """Everything a user can do with one index."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None):
        self.settings = settings or Settings()
        self.index = IndexDir(self.settings.index)
        self._embedder = embedder
        self._retriever: Retriever | None = None
        self._retriever_version: str | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = SentenceTransformerEmbedder(self.settings.model, self.settings.embed_batch_size)
            return self._embedder

    # --- write path -------------------------------------------------------------------------

    def indexer(self) -> Indexer:
        embedder = self.embedder
        chunker = Chunker(
            embedder.count_tokens,
            min(self.settings.chunk_tokens, embedder.max_tokens),
            self.settings.chunk_overlap_tokens,
        )
        return Indexer(self.index, embedder, chunker, self.embedder.name, self.settings.chunking())

    def ingest(self, inputs: Iterable[str], *, rebuild: bool = False, progress: bool = False) -> IngestReport:
        """Read files, directories or URLs and index every good article."""
        return self.ingest_articles(read_sources(inputs, fetch_timeout=self.settings.fetch_timeout),
                                    rebuild=rebuild, progress=progress)

    def ingest_articles(self, items: Iterable[Article | InputError], *, rebuild: bool = False,
                        progress: bool = False) -> IngestReport:
        return self.indexer().ingest(items, rebuild=rebuild, progress=progress)

    def remove(self, ids: Sequence[str]) -> IngestReport:
        return self.indexer().remove(ids)

    # --- read path --------------------------------------------------------------------------

    def info(self) -> dict:
        manifest = self.index.manifest().to_dict()
        manifest["index"] = str(self.index.root)
        return manifest

    def articles(self) -> list[dict]:
        return [
            {"id": s.article.id, "title": s.article.title, "url": s.article.url, "chunks": len(s.chunks)}
            for s in self.index.articles().values()
        ]

    def retriever(self) -> Retriever:
        """The retriever for the live version, reloaded when an ingest has swapped it."""
        live = self.index.current()
        with self._lock:
            cached = self._retriever
        if cached is not None and self._retriever_version == live.name:
            return cached
        manifest = self.index.manifest()
        manifest.check(self.embedder.name, self.settings.chunking(), self.index.root)
        retriever = Retriever(live, self.embedder, manifest.chunks)
        with self._lock:
            self._retriever, self._retriever_version = retriever, live.name
        return retriever

    def search(self, query: str, top_k: int | None = None) -> tuple[list[Passage], float]:
        """Passages for a query, and the milliseconds it took."""
        began = time.perf_counter()
        passages = self.retriever().search(query, top_k or self.settings.top_k)
        return passages, (time.perf_counter() - began) * 1000
