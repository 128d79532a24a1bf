"""The write path: articles -> chunks -> vectors -> a new index version on disk.

Incremental: an article whose content hash is unchanged keeps its chunks and vectors (copied
from the live version, never re-embedded); a changed one is re-chunked and re-embedded; a removed
one is simply not copied. Every write produces a complete new version (see store.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from itertools import islice
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.chunking import Chunker
from assistant.embedding import Embedder, as_llama_embedding
from assistant.errors import InputError, NotFound
from assistant.store import IndexDir, Manifest, StoredArticle, write_articles, write_manifest
from assistant.types import Article, Chunk

VECTORS = "default__vector_store.json"  # llama-index's FaissVectorStore file name (binary faiss)
BM25_DIR = "bm25"
# Sentence vectors let the answerer judge each sentence against the question without running
# the model at question time (embedding 8 sentences costs ~50 ms on 2 cores; a dot product, µs).
# float16 halves the file; cosine scores move by < 1e-3.
SENTENCE_VECTORS = "sentences.npy"


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    chunks: int = 0  # chunks embedded in this run
    total_chunks: int = 0  # chunks in the index afterwards
    seconds: float = 0.0
    errors: list[InputError] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = {k: v for k, v in vars(self).items() if k != "errors"}
        data["errors"] = [str(e) for e in self.errors]
        return data


class Indexer:
    """Writes articles into one index directory with one embedder and chunker."""

    def __init__(self, index: IndexDir, embedder: Embedder, chunker: Chunker, model: str, chunking: dict):
        self.index = index
        self.embedder = embedder
        self.chunker = chunker
        self.model = model
        self.chunking = chunking

    def ingest(self, items: Iterable[Article | InputError], *, rebuild: bool = False, progress: bool = False) -> IngestReport:
        """Add or update articles; bad items are reported, good ones still indexed.

        `rebuild` replaces the index with the articles read, but only if at least one could be
        read: a rebuild from a mistyped path would otherwise leave an empty index.
        """
        began = time.perf_counter()
        report = IngestReport()
        with self.index.lock():
            old = {} if rebuild else self._load_existing()
            fresh: dict[str, StoredArticle] = {}
            seen: dict[str, str] = {}  # id -> source, across every reader feeding this run
            for item in items:
                if isinstance(item, Article) and item.id in seen:
                    item = InputError(item.source, f"duplicate id '{item.id}' (first seen in {seen[item.id]})")
                if isinstance(item, InputError):
                    report.errors.append(item)
                    continue
                seen[item.id] = item.source
                prior = old.get(item.id)
                if prior is not None and prior.content_hash == item.content_hash:
                    report.unchanged += 1
                    continue
                stored = self._split(item)
                if isinstance(stored, InputError):
                    report.errors.append(stored)
                    continue
                fresh[item.id] = stored
                report.updated += prior is not None
                report.added += prior is None
            report.failed = len(report.errors)
            # Under rebuild every article read is fresh: nothing read leaves the index as it is.
            if fresh or not self.index.exists():
                kept = [s for s in old.values() if s.article.id not in fresh]
                new = list(fresh.values())
                report.chunks = sum(len(s.chunks) for s in new)
                old_chunks, old_sentences = self._old_vectors(kept, old)
                new_chunks, new_sentences = self._embed(new, progress)
                report.total_chunks = self._write(
                    kept + new, np.vstack([old_chunks, new_chunks]), np.vstack([old_sentences, new_sentences])
                )
            else:
                report.total_chunks = self.index.manifest().chunks
        report.seconds = time.perf_counter() - began
        return report

    def remove(self, ids: Sequence[str]) -> IngestReport:
        """Remove articles and their chunks; NotFound (nothing written) if any id is unknown."""
        began = time.perf_counter()
        with self.index.lock():
            old = self._load_existing()
            unknown = [i for i in ids if i not in old]
            if unknown:
                raise NotFound(f"no article with id {', '.join(map(repr, unknown))} in {self.index.root}; "
                               "see `assistant articles`")
            kept = [s for s in old.values() if s.article.id not in set(ids)]
            total = self._write(kept, *self._old_vectors(kept, old))
        return IngestReport(removed=len(set(ids)), total_chunks=total, seconds=time.perf_counter() - began)

    def _load_existing(self) -> dict[str, StoredArticle]:
        if not self.index.exists():
            return {}
        self.index.manifest().check(self.model, self.chunking, self.index.root)
        return self.index.articles()

    def _split(self, article: Article) -> StoredArticle | InputError:
        """Sentences and chunks of one article, as it is read; a failure costs only this article."""
        try:
            sentences = self.chunker.sentences(article.text)
            chunks = self.chunker.chunk(article, sentences)
        except Exception as e:  # e.g. a tokenizer or Punkt limit nobody foresaw: the other files still count
            return InputError(article.source, f"could not split into sentences: {type(e).__name__}: {e}")
        return StoredArticle(article, article.content_hash, tuple(chunks), tuple(sentences))

    def _old_vectors(
        self, kept: list[StoredArticle], live_articles: dict[str, StoredArticle]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chunk and sentence vectors of kept articles, read back from the live version by position.

        faiss is used directly here: llama-index's FaissVectorStore cannot delete, and its
        FaissMapVectorStore reuses ids after a delete. Positions follow the live version's article
        order (`live_articles`, as read from its articles.jsonl).
        """
        empty = np.zeros((0, self.embedder.dimension), dtype=np.float32)
        if not kept:
            return empty, empty
        import faiss

        live = self.index.current()
        flat = faiss.read_index(str(live / VECTORS))
        sentence_matrix = np.load(live / SENTENCE_VECTORS, mmap_mode="r")
        chunk_rows, sentence_rows, c, s = {}, {}, 0, 0
        for stored in live_articles.values():
            chunk_rows[stored.article.id] = (c, len(stored.chunks))
            sentence_rows[stored.article.id] = (s, len(stored.sentences))
            c += len(stored.chunks)
            s += len(stored.sentences)
        chunks = [flat.reconstruct_n(*chunk_rows[k.article.id]) for k in kept if k.chunks]
        sentences = [sentence_matrix[a : a + n] for a, n in (sentence_rows[k.article.id] for k in kept)]
        return (
            np.vstack([empty, *chunks]).astype(np.float32),
            np.vstack([empty, *sentences]).astype(np.float32),
        )

    def _embed(self, new: list[StoredArticle], progress: bool) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for the chunks and the sentences of new articles, with one progress bar.

        Each chunk is read once and yields its sentences' vectors too (`Embedder.embed_with_spans`).
        A sentence in two overlapping chunks is taken from the one whose middle is nearer its own:
        there it has context on both sides, not only before (end of the first chunk) or only after
        (start of the next).
        """
        from tqdm import tqdm

        texts: list[str] = []
        spans: list[list[tuple[int, int]]] = []
        where: list[tuple[int, int]] = []  # sentence -> (chunk, span number), in sentence order
        for s in new:
            chunks, first, low = s.chunks, len(texts), 0
            texts += [embed_text(s.article, c) for c in chunks]
            spans += [[] for _ in chunks]
            prefix = len(embed_text(s.article, Chunk(s.article.id, 0, 0, 0, "")))  # the title line
            for a, b in s.sentences:  # both in text order, chunk ends increasing
                while low + 1 < len(chunks) and chunks[low].end <= a:
                    low += 1
                holders = []
                for c in islice(chunks, low, None):
                    if c.start >= b:
                        break
                    holders.append(c)
                c = min(holders, key=lambda h: abs(h.start + h.end - a - b))
                # Clipped to the chunk, though chunks are whole sentences: a sentence always lies inside.
                spans[first + c.ordinal].append((prefix + max(a, c.start) - c.start, prefix + min(b, c.end) - c.start))
                where.append((first + c.ordinal, len(spans[first + c.ordinal]) - 1))
        with tqdm(total=len(texts), unit="chunk", desc="embedding", disable=not progress or not texts) as bar:
            chunk_vectors, span_vectors = self._embed_all(texts, spans, bar)
        starts = np.cumsum([0, *(len(own) for own in spans)])
        return chunk_vectors, span_vectors[[starts[t] + k for t, k in where]].reshape(-1, self.embedder.dimension)

    def _embed_all(self, texts: list[str], spans: list[list[tuple[int, int]]], bar) -> tuple[np.ndarray, np.ndarray]:
        """Text and span vectors, `group` texts at a time: bounded memory and a moving progress bar.
        The embedder sorts each group by length (padding to the longest text in a batch is wasted work)."""
        group = 1024
        empty = np.zeros((0, self.embedder.dimension), dtype=np.float32)
        text_parts, span_parts = [empty], [empty]
        for i in range(0, len(texts), group):
            vectors, span_vectors = self.embedder.embed_with_spans(texts[i : i + group], spans[i : i + group])
            text_parts.append(vectors)
            span_parts.append(span_vectors)
            bar.update(len(vectors))
        return np.vstack(text_parts), np.vstack(span_parts)

    def _write(self, stored: list[StoredArticle], vectors: np.ndarray, sentence_vectors: np.ndarray) -> int:
        """Write a complete new version: articles, chunk vectors (faiss), sentence vectors, BM25, manifest."""
        import faiss
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.vector_stores.faiss import FaissVectorStore

        nodes = [to_node(s.article, c, vec) for s, c, vec in _zip_vectors(stored, vectors)]
        with self.index.new_version() as directory:
            write_articles(directory, stored)
            np.save(directory / SENTENCE_VECTORS, sentence_vectors.astype(np.float16))
            context = StorageContext.from_defaults(
                vector_store=FaissVectorStore(faiss_index=faiss.IndexFlatIP(self.embedder.dimension))
            )
            # Vectors are already on the nodes, so the embed model is never called here; passing it
            # keeps llama-index away from its global default (OpenAI).
            VectorStoreIndex(nodes, storage_context=context, embed_model=as_llama_embedding(self.embedder))
            context.persist(persist_dir=str(directory))
            if nodes:
                _write_bm25(directory / BM25_DIR, nodes)
            write_manifest(
                directory,
                Manifest(
                    model=self.model, dimension=self.embedder.dimension, chunking=self.chunking,
                    articles=len(stored), chunks=len(nodes), updated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                ),
            )
        return len(nodes)


def embed_text(article: Article, chunk: Chunk) -> str:
    """What the vector represents: the title gives a chunk its topic (a pronoun-heavy paragraph
    is otherwise hard to find)."""
    return f"{article.title}\n{chunk.text}"


def to_node(article: Article, chunk: Chunk, vector: np.ndarray | None = None):
    """A llama-index TextNode for a chunk; metadata carries what turns it back into a Passage."""
    from llama_index.core.schema import TextNode

    metadata = {
        "article_id": article.id, "ordinal": chunk.ordinal, "start": chunk.start, "end": chunk.end,
        "title": article.title, "url": article.url or "",
    }
    hidden = [k for k in metadata if k != "title"]
    return TextNode(
        id_=chunk.id, text=chunk.text, metadata=metadata,
        embedding=None if vector is None else vector.tolist(),
        excluded_embed_metadata_keys=hidden, excluded_llm_metadata_keys=hidden,
    )


def _zip_vectors(stored: list[StoredArticle], vectors: np.ndarray):
    rows = iter(vectors)
    for s in stored:
        for c in s.chunks:
            yield s, c, next(rows)


def _write_bm25(directory: Path, nodes: list) -> None:
    import Stemmer
    from llama_index.retrievers.bm25 import BM25Retriever

    retriever = BM25Retriever.from_defaults(nodes=nodes, stemmer=Stemmer.Stemmer("english"), language="english")
    retriever.persist(str(directory), show_progress=False)
