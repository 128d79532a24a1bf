"""The SQLite catalog of one store directory: every article, chunk and sentence row, read and written.

SQLite gives transactions for the rows and the keyword statistics (document frequencies, lengths)
at once; vectors and keyword postings, which SQLite cannot search fast enough, are in segments
(segments.py), registered by the same transaction that inserts their rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import numpy as np

from assistant.errors import IndexMismatch, IndexNotBuilt
from assistant.ingest.chunking import chunk_terms
from assistant.store.entities import EntityIndex
from assistant.store.format import (
    CATALOG, DEFAULT_COLLECTION, FORMAT_VERSION, MEMBERSHIP, MEMBERSHIP_SCHEMA, SCHEMA, Manifest, rebuild_hint,
)
from assistant.store.keyword import KeywordIndex
from assistant.text.entities import ArticleEntities
from assistant.types import Article, Chunk, Passage, Scope


@dataclass(frozen=True)
class StoredArticle:
    """An indexed article with the hash it was indexed at, its chunks, its sentence spans and, on the
    way in, the people and organisations it names (read back through `Catalog.entities`)."""

    article: Article
    content_hash: str
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)
    sentences: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # spans the answerer quotes
    entities: ArticleEntities = field(default_factory=ArticleEntities)


class Catalog:
    """The SQLite catalog of one store directory: every row the index holds, read and written.

    One connection per instance, used by one thread at a time (the read path keeps one per
    thread). Writes happen inside `transaction()`, under the IndexDir's writer lock.
    """

    def __init__(self, directory: Path, *, create: bool = False):
        self.directory = Path(directory)
        path = self.directory / CATALOG
        if not create and not path.is_file():
            raise IndexNotBuilt(f"index store {self.directory} has no {CATALOG}; {rebuild_hint(self.directory)}")
        # isolation_level=None: transactions are explicit (BEGIN ... COMMIT), so a read snapshot
        # spans exactly what `snapshot()` wraps.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
            self.db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, as the old fsyncs did
            if create:
                self.db.executescript(SCHEMA + MEMBERSHIP_SCHEMA)
                KeywordIndex.create(self.db)
                EntityIndex(self.db).create()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise IndexNotBuilt(f"cannot read index catalog {path} ({exc}); {rebuild_hint(self.directory)}") from None
        self.keywords = KeywordIndex(self.db)
        self.entities = EntityIndex(self.db)

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
            raise IndexNotBuilt(f"cannot read the manifest in {where} ({exc}); {rebuild_hint(self.directory)}") from None
        if not isinstance(data, dict):
            raise IndexNotBuilt(f"index catalog {where} has no manifest; {rebuild_hint(self.directory)}")
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"index catalog {where} has format version {data.get('format_version')!r} "
                f"and this assistant reads version {FORMAT_VERSION}; {rebuild_hint(self.directory)}"
            )
        missing = [f.name for f in fields(Manifest) if f.default is MISSING and f.name not in data]
        if missing:
            raise IndexNotBuilt(f"the manifest in {where} lacks {', '.join(missing)}; {rebuild_hint(self.directory)}")
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

    def article_by_key(self, key: int) -> StoredArticle:
        """One article by its catalog key (the entity index's backfill)."""
        row = self.db.execute(
            "SELECT key, id, title, text, url, source, published, author, content_hash FROM articles WHERE key = ?",
            (key,),
        ).fetchone()
        return self._stored(row)

    def articles(self) -> Iterator[StoredArticle]:
        """Every article with its text, in the order they were added (for scripts and evaluation)."""
        rows = self.db.execute(
            "SELECT key, id, title, text, url, source, published, author, content_hash FROM articles ORDER BY key"
        ).fetchall()
        for row in rows:
            yield self._stored(row)

    def listing(self, scope: Scope) -> list[dict]:
        """id, title, url, chunk count and collections of every article `scope` may read, without their texts."""
        readable = self.readable_keys(scope)
        rows = self.db.execute(
            "SELECT a.key, a.id, a.title, a.url, (SELECT count(*) FROM chunks c WHERE c.article = a.key) "
            "FROM articles a ORDER BY a.key"
        ).fetchall()
        collections = self.memberships()
        return [{"id": i, "title": t, "url": u, "chunks": n,
                 "collections": sorted(collections.get(i, (DEFAULT_COLLECTION,)))}
                for key, i, t, u, n in rows if readable is None or key in readable]

    # --- collections: which articles each holds, and which of them a scope may read ---------

    def has_memberships(self) -> bool:
        """Whether this catalog records collections (catalogs written before them do not: all `default`)."""
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (MEMBERSHIP,)).fetchone() is not None

    def memberships(self) -> dict[str, frozenset[str]]:
        """Article id -> its collections, for the articles in more than `default` alone."""
        if not self.has_memberships():
            return {}
        found: dict[str, set[str]] = {}
        for article_id, collection in self.db.execute(f"SELECT article_id, collection FROM {MEMBERSHIP}"):
            found.setdefault(article_id, set()).add(collection)
        return {k: frozenset(v) for k, v in found.items()}

    def collections_of(self, article_id: str) -> frozenset[str]:
        """The collections of one article (`default` when none is recorded)."""
        rows = self.db.execute(f"SELECT collection FROM {MEMBERSHIP} WHERE article_id = ?",
                               (article_id,)).fetchall() if self.has_memberships() else []
        return frozenset(r[0] for r in rows) or frozenset({DEFAULT_COLLECTION})

    def collection_counts(self) -> dict[str, tuple[int, int]]:
        """Collection -> (articles, chunks) it holds; an article in two collections counts in both."""
        rows = self.db.execute(
            f"SELECT m.collection, count(*), sum((SELECT count(*) FROM chunks c WHERE c.article = m.key))"
            f" FROM ({self._membership_rows()}) m GROUP BY m.collection ORDER BY m.collection"
        ).fetchall()
        return {name: (articles, chunks or 0) for name, articles, chunks in rows}

    def readable_keys(self, scope: Scope) -> set[int] | None:
        """Keys of the articles `scope` may read; None when it reads everything (no filter to apply)."""
        if scope.everything:
            return None
        where, values = _readable_clause(scope)
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT m.key FROM ({self._membership_rows()}) m WHERE {where}", values)}

    def readable_ids(self, scope: Scope) -> frozenset[str] | None:
        """Ids of the articles `scope` may read (what entity profiles filter by); None: every article."""
        if scope.everything:
            return None
        where, values = _readable_clause(scope)
        return frozenset(r[0] for r in self.db.execute(
            f"SELECT DISTINCT m.id FROM ({self._membership_rows()}) m WHERE {where}", values))

    def hidden_chunks(self, scope: Scope) -> np.ndarray:
        """Ids of the chunks `scope` may not read, ascending (empty when it reads them all)."""
        if scope.everything:
            return np.zeros(0, np.int64)
        where, values = _readable_clause(scope)
        rows = self.db.execute(
            f"SELECT id FROM chunks WHERE article NOT IN (SELECT m.key FROM ({self._membership_rows()}) m WHERE {where})"
            " ORDER BY id", values)
        return np.array([r[0] for r in rows], dtype=np.int64).reshape(-1)

    def _membership_rows(self) -> str:
        """SQL for (key, id, collection) of every article, `default` where none is recorded."""
        if not self.has_memberships():
            return f"SELECT key, id, '{DEFAULT_COLLECTION}' AS collection FROM articles"
        return (f"SELECT a.key AS key, a.id AS id, coalesce(m.collection, '{DEFAULT_COLLECTION}') AS collection"
                f" FROM articles a LEFT JOIN {MEMBERSHIP} m ON m.article_id = a.id")

    def chunks(self, keys: Sequence[int]) -> dict[int, Passage]:
        """Chunks by key, with their article's title and url, unranked (rank and score 0); a key
        deleted since its vector was found is simply absent."""
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
            key: Passage(0, Chunk(article, ordinal, start, end, text), title, url or None, 0.0)
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
               documents: Sequence[Sequence[Sequence[str]]],
               collections: Sequence[str] = ()) -> tuple[list[int], list[int]]:
        """Insert articles' rows and count their chunks' terms; returns their chunk and sentence ids,
        in order. `documents[i]` are article i's chunks' terms (`chunk_terms`), in chunk order.
        `collections`: what the articles belong to, in the same transaction (a restricted article is
        never public for a moment); none given, a replaced article keeps its own, a new one is `default`.

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
            assert key is not None, "an INSERT has a rowid"
            self.entities.add(key, a.text, stored.entities)
            chunk_ids += (r[0] for r in self.db.execute(
                "SELECT id FROM chunks WHERE article = ? ORDER BY ordinal", (key,)))
            sentence_ids += (r[0] for r in self.db.execute(
                "SELECT id FROM sentences WHERE article = ? ORDER BY start_char", (key,)))
        self.keywords.add(terms for chunks in documents for terms in chunks)
        if collections:
            self.assign([s.article.id for s in articles], collections)
        return chunk_ids, sentence_ids

    def assign(self, article_ids: Sequence[str], collections: Sequence[str]) -> None:
        """Put articles in exactly these collections: rows only, nothing re-embedded."""
        for statement in filter(str.strip, MEMBERSHIP_SCHEMA.split(";")):  # an older catalog gains the table
            self.db.execute(statement)
        self.db.executemany(f"DELETE FROM {MEMBERSHIP} WHERE article_id = ?", [(i,) for i in article_ids])
        self.db.executemany(f"INSERT INTO {MEMBERSHIP} (article_id, collection) VALUES (?, ?)",
                            [(i, c) for i in article_ids for c in dict.fromkeys(collections)])

    def delete(self, article_id: str, *, replacing: bool = False) -> list[int]:
        """Delete one article's rows, tombstone its vectors and uncount its terms; returns the keys
        of its chunks, whose vectors the caller forgets after the commit ([] if it was absent).
        `replacing`: a new version follows in this transaction and keeps its collections."""
        stored = self.article(article_id)
        if stored is None:
            return []
        key, segment = self.db.execute("SELECT key, segment FROM articles WHERE id = ?", (article_id,)).fetchone()
        chunk_keys = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE article = ? ORDER BY ordinal", (key,))]
        self.keywords.delete(chunk_terms(stored.article, c) for c in stored.chunks)
        self.db.executemany("INSERT INTO tombstones (segment, chunk) VALUES (?, ?)", [(segment, k) for k in chunk_keys])
        for table in ("chunks", "sentences"):
            self.db.execute(f"DELETE FROM {table} WHERE article = ?", (key,))
        self.entities.delete(key)
        self.db.execute("DELETE FROM articles WHERE key = ?", (key,))
        if not replacing and self.has_memberships():
            self.db.execute(f"DELETE FROM {MEMBERSHIP} WHERE article_id = ?", (article_id,))
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


def _readable_clause(scope: Scope) -> tuple[str, list[str]]:
    """SQL over a membership row `m` that holds when its collection makes the article readable."""
    hidden = sorted(scope.hidden)
    where = f"m.collection NOT IN ({','.join('?' * len(hidden))})" if hidden else "1"
    if scope.only is not None:
        return f"{where} AND m.collection = ?", [*hidden, scope.only]
    return where, hidden
