"""The index on disk, in one place: a SQLite catalog beside immutable vector segments.

Layout (see index/README.md):

    index/CURRENT              name of the live store directory (replaced atomically by a rebuild)
    index/.lock                held by the one ingest that may write
    index/store-<stamp>/
        catalog.sqlite3        articles, chunks, sentences, segments, tombstones, keyword index, manifest
        segments/seg-<id>/     one batch: chunk vectors (VectorIndex), keyword postings, sentence vectors, ids

Why this shape: adding or removing an article must cost time in proportion to that article, not
to the index (the previous format rewrote every file on every ingest). SQLite gives transactions
for the rows and the keyword statistics (document frequencies, lengths) at once; vectors and
keyword postings, which SQLite cannot search fast enough (FTS5 was measured: see keyword.py), go
into segments that are written once, beside the catalog, and registered by the same transaction
that inserts their rows. A crash before the commit leaves an unregistered segment directory, which the
next writer deletes; readers see either the whole batch or none of it. A deleted chunk's vector
stays in its segment under a tombstone until a merge rewrites the segment without it.

A rebuild (or a first ingest) writes a whole new store directory and swaps CURRENT, as before:
a changed model cannot share vectors with the old ones.

Where the chunk vectors live is the one thing that differs between the two stores
(`ChunkVectors`): in each segment, searched with FAISS (`SegmentVectors`, the default), or in one
Milvus collection per store directory (`assistant/milvus_vectors.py`, ASSISTANT_STORE=milvus).
Everything else (catalog, keyword postings, sentence vectors) stays in the store directory, so
keyword scores and answers do not depend on the choice.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from assistant.errors import IndexLocked, IndexMismatch, IndexNotBuilt
from assistant.store.keyword import KeywordIndex, Postings
from assistant.store.vector_index import VectorIndex
from assistant.text.terms import terms
from assistant.types import Article, Chunk

FORMAT_VERSION = 2
CATALOG = "catalog.sqlite3"
SEGMENTS = "segments"
CHUNK_IDS = "chunk_ids.npy"
SENTENCE_IDS = "sentence_ids.npy"
# Sentence vectors let the answerer judge each sentence against the question without running
# the model at question time (embedding 8 sentences costs ~50 ms on 2 cores; a dot product, µs).
# float16 halves the file; cosine scores move by < 1e-3.
SENTENCE_VECTORS = "sentence_vectors.npy"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, url TEXT, source TEXT NOT NULL,
    published TEXT, author TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    segment TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_segment ON articles (segment);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article INTEGER NOT NULL, ordinal INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (article, ordinal);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article INTEGER NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_by_article ON sentences (article, start_char);
CREATE TABLE IF NOT EXISTS segments (name TEXT PRIMARY KEY, chunks INTEGER NOT NULL, sentences INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tombstones (segment TEXT NOT NULL, chunk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tombstones_by_segment ON tombstones (segment);
"""
# AUTOINCREMENT: ids are never reused, so a tombstoned vector can never be mistaken for a new chunk.


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; a reader refuses an index built with other settings."""

    model: str
    dimension: int
    chunking: dict
    articles: int
    chunks: int
    format_version: int = FORMAT_VERSION
    updated_at: str = ""
    # Where the chunk vectors are: "faiss" (in the segments) or "milvus" (the named collection).
    # Manifests written before Milvus existed lack both and are FAISS stores.
    store: str = "faiss"
    collection: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def check_store(self, store: str, where: Path) -> None:
        """Raise IndexMismatch, saying what to set, unless the vectors are kept in `store`."""
        if self.store != store:
            raise IndexMismatch(
                f"index {where} keeps its vectors in {self.store} and the settings say {store}: set "
                f"ASSISTANT_STORE={self.store}, or rebuild it with `assistant ingest PATH... --index {where} --rebuild`"
            )

    def check(self, model: str, chunking: dict, where: Path, store: str = "faiss") -> None:
        """Raise IndexMismatch, saying how to rebuild, unless built with these settings.

        The format version is checked earlier, by `Catalog.manifest`.
        """
        self.check_store(store, where)
        problems = []
        if self.model != model:
            problems.append(f"model {self.model!r} (settings say {model!r})")
        if self.chunking != chunking:
            problems.append(f"chunking {self.chunking} (settings say {chunking})")
        if problems:
            raise IndexMismatch(
                f"index {where} was built with " + "; ".join(problems)
                + f". Rebuild it with `assistant ingest PATH... --index {where} --rebuild`,"
                " or set ASSISTANT_MODEL / ASSISTANT_CHUNK_TOKENS / ASSISTANT_CHUNK_OVERLAP_TOKENS to match."
            )


@dataclass(frozen=True)
class StoredArticle:
    """An indexed article with the hash it was indexed at, its chunks and its sentence spans."""

    article: Article
    content_hash: str
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)
    sentences: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # spans the answerer quotes


@dataclass(frozen=True)
class ChunkRow:
    """A chunk as the read path finds it: the chunk and its article's title and url."""

    chunk: Chunk
    title: str
    url: str | None


class Segment:
    """One immutable batch: chunk vectors and postings (searchable), sentence vectors, by id."""

    def __init__(self, name: str, vectors: VectorIndex | None, postings: Postings, chunk_ids: np.ndarray,
                 sentence_vectors: np.ndarray, sentence_ids: np.ndarray):
        self.name = name
        self.vectors = vectors  # None when the chunk vectors live in Milvus
        self.postings = postings  # rows are vector rows
        self.chunk_ids = chunk_ids  # ascending, one per vector row
        self.sentence_vectors = sentence_vectors
        self.sentence_ids = sentence_ids  # ascending, one per sentence vector row

    @classmethod
    def load(cls, directory: Path) -> Segment:
        """Memory-maps what numpy and faiss allow: start-up reads headers, not every vector."""
        return cls(
            directory.name,
            VectorIndex.load(directory) if VectorIndex.saved_in(directory) else None,
            Postings.load(directory),
            np.load(directory / CHUNK_IDS, mmap_mode="r"),
            np.load(directory / SENTENCE_VECTORS, mmap_mode="r"),
            np.load(directory / SENTENCE_IDS, mmap_mode="r"),
        )

    def sentence_vector(self, sentence_id: int) -> np.ndarray:
        row = int(np.searchsorted(self.sentence_ids, sentence_id))
        return np.asarray(self.sentence_vectors[row], dtype=np.float32)

    def rows_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        """Vector rows of the given chunk ids (which must be in this segment)."""
        return np.searchsorted(self.chunk_ids, chunk_ids)


def new_segment_name() -> str:
    """A fresh segment name; rows name their segment before its files are written."""
    return f"seg-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def write_segment(store: Path, name: str, chunk_vectors: np.ndarray | None, postings: Postings,
                  chunk_ids: np.ndarray, sentence_vectors: np.ndarray, sentence_ids: np.ndarray) -> None:
    """Write a complete segment directory: fsynced, then renamed into place.

    Ids must ascend. The caller registers the name in the catalog in the transaction that makes
    the rows visible; until then the directory is invisible to readers. `chunk_vectors` is None
    when they are kept elsewhere (`ChunkVectors.add` says).
    """
    segments = store / SEGMENTS
    segments.mkdir(parents=True, exist_ok=True)
    tmp = segments / f".tmp-{name}"
    tmp.mkdir()
    try:
        if chunk_vectors is not None:
            VectorIndex.build(np.ascontiguousarray(chunk_vectors, dtype=np.float32)).save(tmp)
        postings.save(tmp)
        np.save(tmp / CHUNK_IDS, np.asarray(chunk_ids, dtype=np.int64))
        np.save(tmp / SENTENCE_VECTORS, np.asarray(sentence_vectors, dtype=np.float16))
        np.save(tmp / SENTENCE_IDS, np.asarray(sentence_ids, dtype=np.int64))
        _fsync_tree(tmp)
        os.rename(tmp, segments / name)
        _fsync_dir(segments)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Catalog:
    """The SQLite catalog of one store directory: every row the index holds, read and written.

    One connection per instance, used by one thread at a time (the read path keeps one per
    thread). Writes happen inside `transaction()`, under the IndexDir's writer lock.
    """

    def __init__(self, directory: Path, *, create: bool = False):
        self.directory = Path(directory)
        path = self.directory / CATALOG
        if not create and not path.is_file():
            raise IndexNotBuilt(f"index store {self.directory} has no {CATALOG}; {_rebuild(self.directory)}")
        # isolation_level=None: transactions are explicit (BEGIN ... COMMIT), so a read snapshot
        # spans exactly what `snapshot()` wraps.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
            self.db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, as the old fsyncs did
            if create:
                self.db.executescript(SCHEMA)
                KeywordIndex.create(self.db)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise IndexNotBuilt(f"cannot read index catalog {path} ({exc}); {_rebuild(self.directory)}") from None
        self.keywords = KeywordIndex(self.db)

    def close(self) -> None:
        self.db.close()

    # --- reads ------------------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees the catalog as of one commit (WAL snapshot isolation)."""
        if self.db.in_transaction:  # nested: the outer snapshot already holds
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def manifest(self) -> Manifest:
        """The manifest; IndexMismatch or IndexNotBuilt, saying how to rebuild, if it cannot be used.

        The format version is compared before any field is read, and only known fields are read.
        """
        where = self.directory / CATALOG
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
            data = json.loads(row[0]) if row else None
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise IndexNotBuilt(f"cannot read the manifest in {where} ({exc}); {_rebuild(self.directory)}") from None
        if not isinstance(data, dict):
            raise IndexNotBuilt(f"index catalog {where} has no manifest; {_rebuild(self.directory)}")
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"index catalog {where} has format version {data.get('format_version')!r} "
                f"and this assistant reads version {FORMAT_VERSION}; {_rebuild(self.directory)}"
            )
        missing = [f.name for f in fields(Manifest) if f.default is MISSING and f.name not in data]
        if missing:
            raise IndexNotBuilt(f"the manifest in {where} lacks {', '.join(missing)}; {_rebuild(self.directory)}")
        return Manifest(**{f.name: data[f.name] for f in fields(Manifest) if f.name in data})

    def generation(self) -> int:
        """Bumped by every commit that changes what a reader sees."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def indexed(self, article_id: str) -> tuple[str, str] | None:
        """(content hash, source) of an indexed article, None if it is not indexed: one lookup
        tells an ingest whether to skip, add or replace, and whether another file replaces it."""
        return self.db.execute("SELECT content_hash, source FROM articles WHERE id = ?", (article_id,)).fetchone()

    def article(self, article_id: str) -> StoredArticle | None:
        """One article with its chunks and sentence spans; None if it is not indexed."""
        row = self.db.execute(
            "SELECT key, id, title, text, url, source, published, author, content_hash FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return None if row is None else self._stored(row)

    def articles(self) -> Iterator[StoredArticle]:
        """Every article with its text, in the order they were added (for scripts and evaluation)."""
        rows = self.db.execute(
            "SELECT key, id, title, text, url, source, published, author, content_hash FROM articles ORDER BY key"
        ).fetchall()
        for row in rows:
            yield self._stored(row)

    def listing(self) -> list[dict]:
        """id, title, url and chunk count of every article, without their texts."""
        rows = self.db.execute(
            "SELECT a.id, a.title, a.url, (SELECT count(*) FROM chunks c WHERE c.article = a.key) "
            "FROM articles a ORDER BY a.key"
        ).fetchall()
        return [{"id": i, "title": t, "url": u, "chunks": n} for i, t, u, n in rows]

    def chunks(self, keys: Sequence[int]) -> dict[int, ChunkRow]:
        """Chunk rows by key; a key deleted since its vector was found is simply absent."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            "SELECT c.id, a.id, c.ordinal, c.start_char, c.end_char,"
            " substr(a.text, c.start_char + 1, c.end_char - c.start_char), a.title, a.url"
            f" FROM chunks c JOIN articles a ON a.key = c.article WHERE c.id IN ({marks})",
            [int(k) for k in keys],
        ).fetchall()
        return {
            key: ChunkRow(Chunk(article, ordinal, start, end, text), title, url or None)
            for key, article, ordinal, start, end, text, title, url in rows
        }

    def sentences(self, chunk: Chunk) -> tuple[str | None, list[tuple[int, int, int]]]:
        """The segment holding an article's vectors, and the (id, start, end) of the sentences inside a chunk."""
        row = self.db.execute("SELECT key, segment FROM articles WHERE id = ?", (chunk.article_id,)).fetchone()
        if row is None:
            return None, []
        found = self.db.execute(
            "SELECT id, start_char, end_char FROM sentences WHERE article = ? AND start_char >= ? AND end_char <= ?"
            " ORDER BY start_char",
            (row[0], chunk.start, chunk.end),
        ).fetchall()
        return row[1], found

    def segments(self) -> dict[str, int]:
        """Live segment names with their chunk counts."""
        return dict(self.db.execute("SELECT name, chunks FROM segments ORDER BY name").fetchall())

    def newest(self) -> int:
        """The highest chunk key (0 if none): a vector with a higher key belongs to a later commit,
        or to a writer that died before its commit."""
        return self.db.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]

    def deleted(self) -> dict[str, int]:
        """Tombstones per segment."""
        return dict(self.db.execute("SELECT segment, count(*) FROM tombstones GROUP BY segment").fetchall())

    def tombstones(self, segment: str) -> np.ndarray:
        """Ids of deleted chunks whose vectors are still in a segment."""
        rows = self.db.execute("SELECT chunk FROM tombstones WHERE segment = ?", (segment,)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def _stored(self, row) -> StoredArticle:
        key, id_, title, text, url, source, published, author, content_hash = row
        article = Article(id=id_, title=title, text=text, url=url, source=source, published=published, author=author)
        chunks = tuple(
            Chunk(id_, o, s, e, text[s:e])
            for o, s, e in self.db.execute(
                "SELECT ordinal, start_char, end_char FROM chunks WHERE article = ? ORDER BY ordinal", (key,)
            )
        )
        sentences = tuple(
            (s, e) for s, e in self.db.execute(
                "SELECT start_char, end_char FROM sentences WHERE article = ? ORDER BY start_char", (key,)
            )
        )
        return StoredArticle(article, content_hash, chunks, sentences)

    # --- writes (inside transaction(), under the writer lock) ---------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception; bumps the generation."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('generation', '1')"
                " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def write_manifest(self, manifest: Manifest) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('manifest', ?)", (json.dumps(manifest.to_dict()),)
        )

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) as the rows stand now."""
        return (
            self.db.execute("SELECT count(*) FROM articles").fetchone()[0],
            self.db.execute("SELECT count(*) FROM chunks").fetchone()[0],
        )

    def insert(self, articles: Sequence[StoredArticle], segment: str,
               documents: Sequence[Sequence[Sequence[str]]]) -> tuple[list[int], list[int]]:
        """Insert articles' rows and count their chunks' terms; returns their chunk and sentence ids,
        in order. `documents[i]` are article i's chunks' terms (`chunk_terms`), in chunk order.

        One INSERT call per table and article, ids read back in the order given (chunks by ordinal,
        sentences by their increasing starts), and one count of the batch's terms: a statement per
        row and a count per article took 4.5x as long (3,073 chunks, same run).
        """
        chunk_ids: list[int] = []
        sentence_ids: list[int] = []
        for stored in articles:
            a = stored.article
            key = self.db.execute(
                "INSERT INTO articles (id, title, url, source, published, author, text, content_hash, segment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (a.id, a.title, a.url, a.source, a.published, a.author, a.text, stored.content_hash, segment),
            ).lastrowid
            self.db.executemany("INSERT INTO chunks (article, ordinal, start_char, end_char) VALUES (?, ?, ?, ?)",
                                [(key, c.ordinal, c.start, c.end) for c in stored.chunks])
            self.db.executemany("INSERT INTO sentences (article, start_char, end_char) VALUES (?, ?, ?)",
                                [(key, s, e) for s, e in stored.sentences])
            chunk_ids += (r[0] for r in self.db.execute(
                "SELECT id FROM chunks WHERE article = ? ORDER BY ordinal", (key,)))
            sentence_ids += (r[0] for r in self.db.execute(
                "SELECT id FROM sentences WHERE article = ? ORDER BY start_char", (key,)))
        self.keywords.add(terms for chunks in documents for terms in chunks)
        return chunk_ids, sentence_ids

    def delete(self, article_id: str) -> list[int]:
        """Delete one article's rows, tombstone its vectors and uncount its terms; returns the keys
        of its chunks, whose vectors the caller forgets after the commit ([] if it was absent)."""
        stored = self.article(article_id)
        if stored is None:
            return []
        key, segment = self.db.execute("SELECT key, segment FROM articles WHERE id = ?", (article_id,)).fetchone()
        chunk_keys = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE article = ? ORDER BY ordinal", (key,))]
        self.keywords.delete(chunk_terms(stored.article, c) for c in stored.chunks)
        self.db.executemany("INSERT INTO tombstones (segment, chunk) VALUES (?, ?)", [(segment, k) for k in chunk_keys])
        for table in ("chunks", "sentences"):
            self.db.execute(f"DELETE FROM {table} WHERE article = ?", (key,))
        self.db.execute("DELETE FROM articles WHERE key = ?", (key,))
        return chunk_keys

    def add_segment(self, name: str, chunks: int, sentences: int) -> None:
        self.db.execute("INSERT INTO segments (name, chunks, sentences) VALUES (?, ?, ?)", (name, chunks, sentences))

    def replace_segments(self, old: Sequence[str], new: str, chunks: int, sentences: int) -> None:
        """Point the articles of merged segments at their merge, and forget the old segments."""
        marks = ",".join("?" * len(old))
        self.db.execute(f"UPDATE articles SET segment = ? WHERE segment IN ({marks})", [new, *old])
        self.db.execute(f"DELETE FROM tombstones WHERE segment IN ({marks})", list(old))
        self.db.execute(f"DELETE FROM segments WHERE name IN ({marks})", list(old))
        self.add_segment(new, chunks, sentences)

    def live_ids(self, segment: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the chunks and sentences of a segment that are not deleted, ascending."""
        where = "SELECT key FROM articles WHERE segment = ?"
        chunks = self.db.execute(f"SELECT id FROM chunks WHERE article IN ({where}) ORDER BY id", (segment,))
        sentences = self.db.execute(f"SELECT id FROM sentences WHERE article IN ({where}) ORDER BY id", (segment,))
        return (np.array([r[0] for r in chunks], dtype=np.int64).reshape(-1),
                np.array([r[0] for r in sentences], dtype=np.int64).reshape(-1))


# Tiered merging, as Lucene does it: segments of about the same size (the same power of
# MERGE_FACTOR, counted in ingest batches of TIER_BASE chunks) merge once MERGE_FACTOR of them
# exist. Each vector is then rewritten about log4(n / 1024) times in its life (4 at 1,000,000
# chunks), and a search visits at most MERGE_FACTOR - 1 segments per tier. Searching a segment
# costs about 1 ms of fixed work on 2 cores (measured at 100,000 chunks: 22 segments under a
# factor of 10 took 30 ms a search, one took 6.7 ms), so few segments beat cheap merges.
MERGE_FACTOR = 4
TIER_BASE = 1024
# A segment with this share of its vectors deleted is rewritten alone, without them.
MAX_DELETED_SHARE = 0.3


def merge_plan(sizes: dict[str, int], deleted: dict[str, int]) -> list[str]:
    """The segments to merge next (empty: none). `sizes` counts every vector a segment stores."""
    tiers: dict[int, list[str]] = {}
    for name, size in sizes.items():
        tiers.setdefault(int(math.log(max(size, TIER_BASE) / TIER_BASE, MERGE_FACTOR) + 1e-9), []).append(name)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= MERGE_FACTOR:
            return sorted(tiers[tier], key=lambda n: (sizes[n], n))[:MERGE_FACTOR]
    return [n for n, size in sizes.items() if size and deleted.get(n, 0) / size >= MAX_DELETED_SHARE][:1]


def merge_segments(catalog: Catalog, store: Path, names: Sequence[str], vectors: ChunkVectors | None = None) -> str:
    """Rewrite `names` as one segment of their live vectors and postings; the catalog then points at it.

    Call under the writer lock. Costs time in proportion to the merged segments only. Vectors kept
    outside the segments (`vectors`, Milvus) stay where they are; those of the merged segments'
    deleted chunks are dropped there first, so a writer killed between a delete's commit and its
    `forget` leaves nothing behind once the segment merges.
    """
    vectors = vectors or SEGMENT_VECTORS
    segments = [Segment.load(store / SEGMENTS / name) for name in names]
    live = [catalog.live_ids(name) for name in names]
    chunk_ids = np.concatenate([c for c, _ in live])
    order = np.argsort(chunk_ids, kind="stable")  # merged rows ascend by id
    new_row = np.empty(len(order), np.int64)
    new_row[order] = np.arange(len(order))
    dimension = catalog.manifest().dimension
    parts, held, at = [], [], 0
    for segment, (ids, _) in zip(segments, live):
        rows = segment.rows_of(ids)
        parts.append((segment.postings, rows, new_row[at : at + len(ids)]))
        if segment.vectors is not None:
            held.append(np.asarray(segment.vectors.vectors()[rows], np.float32))
        at += len(ids)
    merged_vectors = np.vstack(held).reshape(-1, dimension)[order] if len(held) == len(segments) else None
    sentence_ids = np.concatenate([s for _, s in live])
    sentence_vectors = np.vstack([
        np.asarray(seg.sentence_vectors[np.searchsorted(seg.sentence_ids, s)], np.float16).reshape(-1, dimension)
        for seg, (_, s) in zip(segments, live)
    ])
    by_sentence = np.argsort(sentence_ids, kind="stable")
    merged = new_segment_name()
    write_segment(store, merged, merged_vectors, Postings.merge(parts, len(order)), chunk_ids[order],
                  sentence_vectors[by_sentence], sentence_ids[by_sentence])
    vectors.forget(np.concatenate([catalog.tombstones(name) for name in names]))
    with catalog.transaction():
        catalog.replace_segments(names, merged, len(order), len(sentence_ids))
    return merged


class ChunkVectors(Protocol):
    """Where one store directory keeps its chunk vectors, and how they are searched.

    `SegmentVectors` (each segment holds its own, searched with FAISS) is the default;
    `assistant.milvus_vectors.MilvusVectors` keeps them in a Milvus collection. Keys are the
    catalog's chunk ids, which are never reused once committed.
    """

    kind: str

    def add(self, keys: np.ndarray, vectors: np.ndarray, chunks: Sequence[ChunkRow]) -> np.ndarray | None:
        """Keep the vectors of new chunks, before the commit that adds their rows; returns what
        the new segment itself must hold (None: nothing)."""
        ...

    def forget(self, keys: np.ndarray) -> None:
        """Drop the vectors of deleted chunks, after the commit that deleted their rows."""
        ...

    def search(self, segments: Iterable[tuple[Segment, np.ndarray]], vector: np.ndarray, k: int,
               newest: int) -> list[tuple[int, float]]:
        """The k best (chunk key, inner product), best first, among one snapshot's chunks:
        `segments` are its (segment, deleted rows), `newest` its highest chunk key."""
        ...

    def drop(self) -> None:
        """Delete every vector: the store directory is being removed."""
        ...


class SegmentVectors:
    """The default: each segment holds its chunk vectors (`VectorIndex`, FAISS), hidden by tombstones."""

    kind = "faiss"

    def add(self, keys: np.ndarray, vectors: np.ndarray, chunks: Sequence[ChunkRow]) -> np.ndarray:
        return vectors

    def forget(self, keys: np.ndarray) -> None:
        """Nothing to do: tombstones hide the vectors until a merge rewrites their segment."""

    def search(self, segments: Iterable[tuple[Segment, np.ndarray]], vector: np.ndarray, k: int,
               newest: int) -> list[tuple[int, float]]:
        scores, keys = [], []
        for segment, deleted in segments:
            if segment.vectors is None or not len(segment.vectors):
                continue
            s, rows = segment.vectors.search(vector, k, deleted if len(deleted) else None)
            found = rows[0] >= 0
            scores.append(s[0][found])
            keys.append(np.asarray(segment.chunk_ids)[rows[0][found]])
        if not scores:
            return []
        scores_all, keys_all = np.concatenate(scores), np.concatenate(keys)
        best = np.argsort(-scores_all, kind="stable")[:k]
        return [(int(keys_all[i]), float(scores_all[i])) for i in best]

    def drop(self) -> None:
        """Nothing to do: the vectors go with the store directory."""


SEGMENT_VECTORS = SegmentVectors()


@dataclass(frozen=True)
class VectorStore:
    """The configured home of chunk vectors (ASSISTANT_STORE, ASSISTANT_MILVUS_URI), opened per store directory."""

    kind: Literal["faiss", "milvus"] = "faiss"
    milvus_uri: str | None = None

    def new_collection(self) -> str | None:
        """The collection a new store directory's vectors go to; one per store directory, so a
        rebuild never mixes its vectors with those of the store readers may still be reading."""
        return f"assistant_{uuid.uuid4().hex}" if self.kind == "milvus" else None

    def open(self, manifest: Manifest, where: Path, *, create: bool = False) -> ChunkVectors:
        """The vectors of the store whose manifest this is (`create`: a new store's, made empty);
        IndexMismatch if it keeps them elsewhere."""
        manifest.check_store(self.kind, where)
        if self.kind == "faiss":
            return SEGMENT_VECTORS
        from assistant.store.milvus import MilvusVectors

        return MilvusVectors(self.milvus_uri, manifest.collection, manifest.dimension, create=create)


def searchable_text(article: Article, chunk: Chunk) -> str:
    """What a chunk is found by, in vectors and in keywords: its article's title gives it its topic
    (a pronoun-heavy paragraph is otherwise hard to find)."""
    return f"{article.title}\n{chunk.text}"


def chunk_terms(article: Article, chunk: Chunk) -> list[str]:
    """The terms a chunk is found by in keyword search."""
    return terms(searchable_text(article, chunk))


class IndexDir:
    """One index directory: find the live store, and swap in a rebuilt one atomically."""

    def __init__(self, root: Path, vectors: VectorStore = VectorStore()):
        self.root = Path(root)
        self.vectors = vectors

    def current(self) -> Path:
        """The live store directory; IndexNotBuilt if there is none yet."""
        try:
            name = (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            raise IndexNotBuilt(
                f"no index at {self.root}: build one with `assistant ingest PATH... --index {self.root}`"
            ) from None
        path = self.root / name
        if name.startswith("v-") and (path / "manifest.json").is_file():  # format 1: one directory per version
            raise IndexMismatch(f"index {self.root} is in format version 1 and this assistant reads version "
                                f"{FORMAT_VERSION}; {_rebuild(path)}")
        if not (path / CATALOG).is_file():
            raise IndexNotBuilt(f"index {self.root} points at missing store {name}; {_rebuild(path)}")
        return path

    def exists(self) -> bool:
        return (self.root / "CURRENT").is_file()

    def legacy_articles(self) -> list[Article]:
        """The articles of a format-1 index (a `v-*` version with articles.jsonl), else [].

        Format 1 kept every article's text, so an ingest can carry them into a new store
        (re-embedding them) instead of asking for a rebuild that would drop them.
        """
        try:
            name = (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return []
        table = self.root / name / "articles.jsonl"
        if not name.startswith("v-") or not table.is_file():
            return []
        keys = ("id", "title", "text", "url", "source", "published", "author")
        with open(table, encoding="utf-8") as f:
            return [Article(**{k: d.get(k) for k in keys}) for d in map(json.loads, filter(str.strip, f))]

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        """The live store's catalog, opened for one use."""
        catalog = Catalog(self.current())
        try:
            yield catalog
        finally:
            catalog.close()

    def manifest(self) -> Manifest:
        with self.catalog() as catalog:
            return catalog.manifest()

    def articles(self) -> dict[str, StoredArticle]:
        """Every indexed article by id, with text, chunks and sentences (scripts, evaluation, tests)."""
        with self.catalog() as catalog:
            return {s.article.id: s for s in catalog.articles()}

    def version(self) -> str:
        """The live store and its commit, e.g. 'store-20261202T101010-ab12cd@17' (recorded with feedback)."""
        with self.catalog() as catalog:
            return f"{catalog.directory.name}@{catalog.generation()}"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock; a second ingest fails at once with a clear message."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise IndexLocked(
                f"another ingest is writing {self.root} (lock {self.root / '.lock'} is held); "
                "wait for it to finish and run this again"
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def new_store(self) -> Iterator[Path]:
        """Yield a new, empty store directory to fill; on success it becomes the live store.

        Call under `lock()`. On an exception the partial directory is removed and CURRENT is
        untouched.
        """
        replaced = (self.root / "CURRENT").read_text().strip() if self.exists() else None
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            yield tmp
            _fsync_tree(tmp)
            final = self.root / f"store-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
            os.rename(tmp, final)
            pointer = self.root / ".CURRENT.tmp"
            with open(pointer, "w") as f:
                f.write(final.name + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(pointer, self.root / "CURRENT")
            _fsync_dir(self.root)
        except BaseException:
            self.discard(tmp)
            raise
        self.remove_stale(keep={final.name, replaced})

    def remove_stale(self, keep: set[str | None]) -> None:
        """Delete dead writers' temporary directories and every store or old version not in `keep`.

        A writer keeps the store it replaced: a reader may have read CURRENT just before the
        swap and be about to open that store.
        """
        for path in self.root.iterdir():
            if path.is_dir() and path.name not in keep and path.name.startswith(("v-", "store-", ".tmp-")):
                self.discard(path)

    def discard(self, store: Path) -> None:
        """Delete a store directory and, when they live elsewhere (Milvus), its vectors."""
        if (store / CATALOG).is_file() and self.vectors.kind != "faiss":
            try:
                catalog = Catalog(store)
                try:
                    manifest = catalog.manifest()
                finally:
                    catalog.close()
                if manifest.store == self.vectors.kind:
                    self.vectors.open(manifest, self.root).drop()
            except Exception:  # noqa: BLE001 - best effort: a half-written store may have no manifest or collection
                pass
        shutil.rmtree(store, ignore_errors=True)


def remove_unregistered_segments(store: Path, registered: Iterable[str], index: IndexDir | None = None) -> None:
    """Delete segment directories the catalog does not list: a dead writer's, or merged away.

    Called by the next writer, under the lock, and not by the writer that merged: a reader that
    took its snapshot just before a merge may still be opening the segments merged away.
    """
    spared = set(registered)
    for path in store.parent.glob(".tmp-*"):  # a dead writer's half-built store
        (index or IndexDir(store.parent)).discard(path)
    directory = store / SEGMENTS
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name not in spared:
                shutil.rmtree(path, ignore_errors=True)


def _rebuild(store: Path) -> str:
    root = store.parent
    return f"rebuild the index with `assistant ingest PATH... --index {root} --rebuild`"


def _fsync_tree(path: Path) -> None:
    for sub in path.rglob("*"):
        if sub.is_file():
            with open(sub, "rb") as f:
                os.fsync(f.fileno())
    for sub in [path, *(p for p in path.rglob("*") if p.is_dir())]:
        _fsync_dir(sub)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
