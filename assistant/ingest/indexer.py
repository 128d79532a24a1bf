"""The write path: articles -> chunks -> vectors -> rows and segments in the store.

Incremental: an article whose content hash is unchanged is skipped (never re-embedded); a
changed one is deleted and added again; a removed one is deleted. Articles are read as a stream
and written in batches of about BATCH_CHUNKS chunks, one transaction and one segment each, so an
ingest's memory is bounded by the batch, not the collection, and its cost by what it adds.

The stream may also bring articles already split and embedded elsewhere (`Prepared`, from the
Ray pipeline in ray_ingest.py) and articles found unchanged there (`Unchanged`); they are batched
and written exactly as the ones split and embedded here, so both paths build the same index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from dataclasses import dataclass, field

import numpy as np

from assistant.config import Settings
from assistant.embed.base import Embedder
from assistant.errors import AssistantError, InputError, NotFound
from assistant.ingest.chunking import CHARS_PER_TOKEN, Chunker
from assistant.ingest.chunking import chunk_terms, searchable_text
from assistant.ingest.sources import unique_ids
from assistant.store.catalog import Catalog, StoredArticle
from assistant.store.directory import IndexDir, remove_unregistered_segments
from assistant.store.format import Manifest
from assistant.store.keyword import Postings
from assistant.store.merge import merge_plan, merge_segments
from assistant.store.segments import new_segment_name, write_segment
from assistant.store.vectors import SEGMENT_VECTORS, ChunkVectors
from assistant.text.entities import extract
from assistant.types import Article, Chunk, Passage

# Chunks per batch: one transaction and one segment. 1,024 chunks of all-MiniLM-L6-v2 vectors
# are 1.5 MB; the texts held meanwhile are about 1 MB.
BATCH_CHUNKS = 1024


class _NothingRead(Exception):
    """A rebuild read no article: the new store is dropped and the old one stays live."""


@dataclass(frozen=True)
class Prepared:
    """An article split and embedded before it reached the writer (by a Ray worker)."""

    stored: StoredArticle
    chunk_vectors: np.ndarray  # one row per chunk
    sentence_vectors: np.ndarray  # one row per sentence


@dataclass(frozen=True)
class Unchanged:
    """An article found indexed at its content hash before it reached the writer: skipped."""

    article_id: str
    source: str


Item = Article | InputError | Prepared | Unchanged


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
    # Updates whose new text came from another source than the indexed one: two files that
    # map to one id, which would otherwise replace each other silently.
    replaced: list[str] = field(default_factory=list)
    migrated: int = 0  # articles carried over from an index of the previous format

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
        self._vectors: ChunkVectors = SEGMENT_VECTORS  # the store's, once _create or _open has run
        self._collection: str | None = None

    def ingest(self, items: Iterable[Item], *, rebuild: bool = False, progress: bool = False,
               remove: Sequence[str] = (), whole: bool = False, collection: str | None = None) -> IngestReport:
        """Add or update articles; bad items are reported, good ones still indexed.

        `collection`: every article read goes in this collection alone, unchanged ones included
        (that moves them: a row each, nothing re-embedded); None: new articles go in `default` and
        indexed ones keep theirs.

        `remove`: ids of articles to delete in the same write (a sync's pages gone from their
        sitemap), in the last batch's transaction; ids not indexed are skipped.

        `whole`: one batch, so one transaction, however many chunks: a sync run, which a kill -9
        must leave as if it had not started. Its memory grows with what it adds (a run reads at
        most a bounded number of pages); an ingest of files keeps the bounded batches.

        `rebuild` replaces the index with the articles read, in a new store swapped in at the
        end, but only if at least one could be read: a rebuild from a mistyped path would
        otherwise leave an empty index.
        """
        from tqdm import tqdm

        began = time.perf_counter()
        report = IngestReport()
        with self.index.lock(), tqdm(unit="chunk", desc="embedding", disable=not progress) as bar:
            legacy = [] if rebuild else self.index.legacy_articles()
            if legacy:  # a format-1 index: its articles move into a new store with what was read
                items, rebuild = _then(items, legacy), True
                report.migrated = len(legacy)
            if rebuild or not self.index.exists():
                kept = self._memberships() if collection is None else {}
                try:
                    with self.index.new_store() as directory:
                        catalog = self._create(directory)
                        try:
                            self._write(catalog, items, report, bar, remove, whole, collection)
                            _carry(catalog, kept)
                            if rebuild and self.index.exists() and not (report.added or report.updated):
                                raise _NothingRead
                        finally:
                            catalog.close()
                except _NothingRead:
                    pass
            else:
                catalog = self._open()
                try:
                    remove_unregistered_segments(catalog.directory, catalog.segments(), self.index)
                    self._write(catalog, items, report, bar, remove, whole, collection)
                finally:
                    catalog.close()
            report.total_chunks = self.index.manifest().chunks
        report.failed = len(report.errors)
        report.seconds = time.perf_counter() - began
        return report

    def remove(self, ids: Sequence[str]) -> IngestReport:
        """Remove articles and their chunks; NotFound (nothing written) if any id is unknown."""
        began = time.perf_counter()
        with self.index.lock():
            catalog = self._open()
            try:
                remove_unregistered_segments(catalog.directory, catalog.segments(), self.index)
                unknown = [i for i in ids if catalog.indexed(i) is None]
                if unknown:
                    raise NotFound(f"no article with id {', '.join(map(repr, unknown))} in {self.index.root}; "
                                   "see `assistant articles`")
                deleted: list[int] = []
                with catalog.transaction():
                    for article_id in dict.fromkeys(ids):
                        deleted += catalog.delete(article_id)
                    self._record(catalog)
                self._vectors.forget(np.array(deleted, np.int64))
                self._merge(catalog)
                total = catalog.manifest().chunks
            finally:
                catalog.close()
        return IngestReport(removed=len(set(ids)), total_chunks=total, seconds=time.perf_counter() - began)

    def move(self, ids: Sequence[str], collections: Sequence[str]) -> IngestReport:
        """Put articles in exactly these collections, in one commit; NotFound (nothing written) if any
        id is unknown. Rows only: no text is split or embedded again."""
        began = time.perf_counter()
        with self.index.lock():
            catalog = self._open()
            try:
                unknown = [i for i in ids if catalog.indexed(i) is None]
                if unknown:
                    raise NotFound(f"no article with id {', '.join(map(repr, unknown))} in {self.index.root}; "
                                   "see `assistant articles`")
                with catalog.transaction():
                    catalog.assign(list(dict.fromkeys(ids)), collections)
                total = catalog.manifest().chunks
            finally:
                catalog.close()
        return IngestReport(updated=len(set(ids)), total_chunks=total, seconds=time.perf_counter() - began)

    def compact(self) -> tuple[int, int, float]:
        """Merge every segment into one, without deleted vectors: (segments before, after, seconds).

        Ordinary ingests leave up to MERGE_FACTOR - 1 segments per size class, each searched on
        its own; a collection that is mostly written once searches fastest as one (Lucene's
        forceMerge). Costs time in proportion to the whole index, so it is a command, not a habit;
        the one that also indexes the names of articles ingested before the entity index.
        """
        began = time.perf_counter()
        with self.index.lock():
            catalog = self._open()
            try:
                remove_unregistered_segments(catalog.directory, catalog.segments(), self.index)
                self._index_entities(catalog)
                names = list(catalog.segments())
                if len(names) > 1 or catalog.deleted():
                    merge_segments(catalog, catalog.directory, names, self._vectors)
                after = len(catalog.segments())
            finally:
                catalog.close()
        return len(names), after, time.perf_counter() - began

    def _memberships(self) -> dict[str, frozenset[str]]:
        """The live store's collections per article, for a rebuild to carry over ({} if none can be read)."""
        try:
            with self.index.catalog() as catalog:
                return catalog.memberships()
        except AssistantError:
            return {}

    @staticmethod
    def _index_entities(catalog: Catalog) -> None:
        """Index the names of the articles ingested before the entity index, in one transaction."""
        keys = catalog.entities.unindexed()
        if not keys:
            return
        with catalog.transaction():
            for key in keys:
                stored = catalog.article_by_key(key)
                catalog.entities.add(key, stored.article.text, extract(stored.article.text, stored.sentences))

    def _create(self, directory) -> Catalog:
        catalog = Catalog(directory, create=True)
        self._collection = self.index.vectors.new_collection()
        with catalog.transaction():
            self._record(catalog)
        self._vectors = self.index.vectors.open(catalog.manifest(), self.index.root, create=True)
        return catalog

    def _open(self) -> Catalog:
        catalog = Catalog(self.index.current())
        try:
            catalog.entities.create()  # a catalog from before the entity index gains its tables
            manifest = catalog.manifest()
            manifest.check(self.model, self.chunking, self.index.root, self.index.vectors.kind)
            self._collection = manifest.collection
            self._vectors = self.index.vectors.open(manifest, self.index.root)
        except BaseException:
            catalog.close()
            raise
        return catalog

    def _write(self, catalog: Catalog, items: Iterable[Item], report: IngestReport, bar,
               remove: Sequence[str] = (), whole: bool = False, collection: str | None = None) -> None:
        """Read, split and write every item, a batch at a time, then merge segments if due.

        Pipelined: a batch is embedded on a worker thread while this one writes the batch before
        it and reads and splits the next (the model releases the GIL; SQLite stays on this
        thread). Two batches are in memory at most.
        """
        pending: tuple[list, Future] | None = None
        collections = [collection] if collection else []
        unchanged: list[str] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as pool:
            for batch in self._batches(catalog, items, report, None if whole else BATCH_CHUNKS, unchanged):
                embedding = pool.submit(self._vectors_of, [p for p, _ in batch], bar)
                if pending is not None:
                    self._flush(catalog, *pending, report, collections=collections)
                pending = (batch, embedding)
            if pending is not None:
                self._flush(catalog, *pending, report, remove, collections)
            elif remove:
                with catalog.transaction():
                    deleted = self._delete(catalog, remove, report)
                    self._record(catalog)
                self._vectors.forget(np.array(deleted, np.int64))
        if collections and unchanged:  # moved, not re-embedded
            with catalog.transaction():
                catalog.assign(unchanged, collections)
        self._merge(catalog)

    @staticmethod
    def _delete(catalog: Catalog, ids: Sequence[str], report: IngestReport) -> list[int]:
        """Delete the indexed ones of `ids` (inside a transaction): their chunk keys."""
        deleted: list[int] = []
        for article_id in dict.fromkeys(ids):
            if catalog.indexed(article_id) is not None:
                deleted += catalog.delete(article_id)
                report.removed += 1
        return deleted

    def _batches(self, catalog: Catalog, items: Iterable[Item], report: IngestReport, size: int | None,
                 unchanged: list[str]) -> Iterator[list[tuple[StoredArticle | Prepared, bool]]]:
        """Batches of about `size` chunks (None: one batch) of new or changed articles, split; the rest
        reported, the ids of unchanged ones added to `unchanged`."""
        batch: list[tuple[StoredArticle | Prepared, bool]] = []  # article, replaces an indexed one
        batch_chunks = 0
        for item in unique_ids(items, _identity):  # across every reader feeding this run
            if isinstance(item, InputError):
                report.errors.append(item)
                continue
            if isinstance(item, Unchanged):
                report.unchanged += 1
                unchanged.append(item.article_id)
                continue
            prepared = item if isinstance(item, Prepared) else None
            article = item.stored.article if isinstance(item, Prepared) else item
            prior, prior_source = catalog.indexed(article.id) or (None, None)
            if prior == article.content_hash:
                report.unchanged += 1
                unchanged.append(article.id)
                continue
            stored = prepared.stored if prepared is not None else self.split(article)
            if isinstance(stored, InputError):
                report.errors.append(stored)
                continue
            batch.append((prepared or stored, prior is not None))
            if prior is not None and prior_source and article.source and prior_source != article.source:
                report.replaced.append(f"{article.id}: {article.source} replaced the article read from {prior_source}")
            report.updated += prior is not None
            report.added += prior is None
            batch_chunks += len(stored.chunks)
            if size is not None and batch_chunks >= size:
                yield batch
                batch, batch_chunks = [], 0
        if batch:
            yield batch

    def _flush(self, catalog: Catalog, batch: list[tuple[StoredArticle | Prepared, bool]], embedding: Future,
               report: IngestReport, remove: Sequence[str] = (), collections: Sequence[str] = ()) -> None:
        """Write a batch's rows and its segment, with its vectors once embedded, in one transaction.

        Vectors kept outside the segment (Milvus) are written before the commit and the replaced
        chunks' vectors dropped after it: see milvus_vectors.py for why that order is safe.
        """
        articles = [p.stored if isinstance(p, Prepared) else p for p, _ in batch]
        documents = [[chunk_terms(s.article, c) for c in s.chunks] for s in articles]
        postings = Postings.build([t for terms in documents for t in terms])
        chunk_vectors, sentence_vectors = embedding.result()
        name = new_segment_name()
        replaced: list[int] = []
        with catalog.transaction():
            for stored, (_, replaces) in zip(articles, batch):
                if replaces:
                    replaced += catalog.delete(stored.article.id, replacing=True)
            chunk_ids, sentence_ids = catalog.insert(articles, name, documents, collections)
            keys = np.array(chunk_ids, np.int64)
            rows = [Passage(0, c, s.article.title, s.article.url, 0.0) for s in articles for c in s.chunks]
            held = self._vectors.add(keys, chunk_vectors, rows)
            write_segment(catalog.directory, name, held, postings, keys, sentence_vectors,
                          np.array(sentence_ids, np.int64))
            catalog.add_segment(name, len(chunk_ids), len(sentence_ids))
            replaced += self._delete(catalog, remove, report)
            self._record(catalog)
        if replaced:
            self._vectors.forget(np.array(replaced, np.int64))
        report.chunks += len(chunk_ids)

    def _vectors_of(self, batch: list[StoredArticle | Prepared], bar) -> tuple[np.ndarray, np.ndarray]:
        """Chunk and sentence vectors of a batch, in its order: embedded here unless prepared."""
        todo = [p for p in batch if not isinstance(p, Prepared)]
        if len(todo) == len(batch):
            return self.embed(todo, bar)
        computed = self.embed(todo, bar) if todo else None
        dimension = self.embedder.dimension
        chunk_parts, sentence_parts = [np.zeros((0, dimension), np.float32)], [np.zeros((0, dimension), np.float32)]
        chunk_at = sentence_at = 0
        for p in batch:
            if isinstance(p, Prepared):
                chunk_parts.append(np.asarray(p.chunk_vectors, np.float32).reshape(-1, dimension))
                sentence_parts.append(np.asarray(p.sentence_vectors, np.float32).reshape(-1, dimension))
                bar.update(len(p.stored.chunks))
            else:
                assert computed is not None, "every article not prepared was embedded above"
                chunk_parts.append(computed[0][chunk_at : chunk_at + len(p.chunks)])
                sentence_parts.append(computed[1][sentence_at : sentence_at + len(p.sentences)])
                chunk_at, sentence_at = chunk_at + len(p.chunks), sentence_at + len(p.sentences)
        return np.vstack(chunk_parts), np.vstack(sentence_parts)

    def _merge(self, catalog: Catalog) -> None:
        """Merge segments while the policy says so (see store.merge_plan)."""
        while names := merge_plan(catalog.segments(), catalog.deleted()):
            merge_segments(catalog, catalog.directory, names, self._vectors)

    def _record(self, catalog: Catalog) -> None:
        """Write the manifest with the counts as they stand in this transaction."""
        articles, chunks = catalog.counts()
        catalog.write_manifest(Manifest(
            model=self.model, dimension=self.embedder.dimension, chunking=self.chunking,
            articles=articles, chunks=chunks, updated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            store=self.index.vectors.kind, collection=self._collection,
        ))

    def split(self, article: Article) -> StoredArticle | InputError:
        """Sentences and chunks of one article, as it is read; a failure costs only this article."""
        try:
            sentences, chunks = self.chunker.split(article)
            entities = extract(article.text, sentences)
        except Exception as e:  # noqa: BLE001 - a tokenizer or Punkt limit nobody foresaw: other files still count
            return InputError(article.source, f"could not split into sentences: {type(e).__name__}: {e}")
        return StoredArticle(article, article.content_hash, tuple(chunks), tuple(sentences), entities)

    def embed(self, new: list[StoredArticle], bar=None) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for the chunks and the sentences of new articles, advancing the progress bar.

        Each chunk is read once and yields its sentences' vectors too (`Embedder.embed_with_spans`).
        A sentence in two overlapping chunks is taken from the one whose middle is nearer its own:
        there it has context on both sides, not only before (end of the first chunk) or only after
        (start of the next).
        """
        texts: list[str] = []
        spans: list[list[tuple[int, int]]] = []
        where: list[tuple[int, int]] = []  # sentence -> (chunk, span number), in sentence order
        for s in new:
            chunks, first, low = s.chunks, len(texts), 0
            texts += [searchable_text(s.article, c) for c in chunks]
            spans += [[] for _ in chunks]
            prefix = len(searchable_text(s.article, Chunk(s.article.id, 0, 0, 0, "")))  # the title line
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
            if bar is not None:
                bar.update(len(vectors))
        return np.vstack(text_parts), np.vstack(span_parts)


def indexer_for(index: IndexDir, embedder: Embedder, settings: Settings) -> Indexer:
    """The Indexer the settings describe, over `index` with `embedder` (also what Ray workers build)."""
    chunker = Chunker(
        embedder.count_tokens,
        min(settings.chunk_tokens, embedder.max_tokens),
        settings.chunk_overlap_tokens,
        CHARS_PER_TOKEN * embedder.max_tokens,
        embedder.counts_add_up,
    )
    return Indexer(index, embedder, chunker, embedder.name, settings.chunking())


def _carry(catalog: Catalog, kept: dict[str, frozenset[str]]) -> None:
    """Put the rebuilt articles back in the collections they were in: a rebuild must not make a
    restricted article public (the new store is not live yet, so nobody reads it in between)."""
    moved = [(i, sorted(c)) for i, c in kept.items() if catalog.indexed(i) is not None]
    if moved:
        with catalog.transaction():
            for article_id, collections in moved:
                catalog.assign([article_id], collections)


def _identity(item: Item) -> tuple[str, str] | None:
    """(id, source) of an item that names an article, for the duplicate-id check."""
    if isinstance(item, Prepared):
        item = item.stored.article
    if isinstance(item, Unchanged):
        return item.article_id, item.source
    return (item.id, item.source) if isinstance(item, Article) else None


def _then(items: Iterable[Item], older: list[Article]) -> Iterable[Item]:
    """`items`, then each of `older` whose id they did not bring: what was read wins."""
    seen = set()
    for item in items:
        if (found := _identity(item)) is not None:
            seen.add(found[0])
        yield item
    yield from (a for a in older if a.id not in seen)


