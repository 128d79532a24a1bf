"""The on-disk format, in one place: every file name, the catalog's tables, the manifest.

Layout (see index/README.md):

    index/CURRENT              name of the live store directory (replaced atomically by a rebuild)
    index/.lock                held by the one ingest that may write
    index/feedback.sqlite3     readers' votes (feedback.py)
    index/sources.sqlite3      synced sources, what each page was when last read, run records (sources.py)
    index/access.sqlite3       collections (public or restricted) and read tokens, hashed (access.py)
    index/store-<stamp>/
        catalog.sqlite3        articles, chunks, sentences, segments, tombstones, keyword index, entity index, manifest
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
Milvus collection per store directory (`milvus.py`, ASSISTANT_STORE=milvus).
Everything else (catalog, keyword postings, sentence vectors) stays in the store directory, so
keyword scores and answers do not depend on the choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.errors import IndexMismatch

FORMAT_VERSION = 2
CURRENT = "CURRENT"  # in the index directory: the live store's name
LOCK = ".lock"  # in the index directory: the writer lock
FEEDBACK = "feedback.sqlite3"  # in the index directory, outside the stores: readers' votes (feedback.py)
# In the index directory, outside the stores, like FEEDBACK: a rebuild swaps the store, and the
# sources to sync and their validators must outlive it (a rebuild is not a reason to refetch).
SOURCES = "sources.sqlite3"
# In the index directory, outside the stores, like SOURCES: who may read which collection must outlive
# a rebuild (a rebuild that made a restricted collection public, or revoked tokens valid, would leak).
ACCESS = "access.sqlite3"
DEFAULT_COLLECTION = "default"  # an article ingested without a collection, and every article of an older catalog
CATALOG = "catalog.sqlite3"
SEGMENTS = "segments"
CHUNK_IDS = "chunk_ids.npy"
SENTENCE_IDS = "sentence_ids.npy"
# Sentence vectors let the answerer judge each sentence against the question without running
# the model at question time (embedding 8 sentences costs ~50 ms on 2 cores; a dot product, µs).
# float16 halves the file; cosine scores move by < 1e-3.
SENTENCE_VECTORS = "sentence_vectors.npy"
# A segment's chunk vectors (vector_index.py): float16 rows, and the IVF-PQ index above the exact-search threshold.
VECTORS = "vectors.npy"
IVF = "ivf.faiss"
# A segment's keyword postings (keyword.py).
TERM_HASHES, TERM_STARTS, POSTING_ROWS, POSTING_TF, LENGTHS = (
    "term_hashes.npy", "term_starts.npy", "posting_rows.npy", "posting_tf.npy", "lengths.npy"
)
POSTING_LENGTHS = "posting_lengths.npy"  # absent in segments written before it; see Postings.load

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

# Which collections each article belongs to, by article id: a replaced article (a new key, new
# chunks) keeps its collections, and moving one is a row, never a re-embedding. An article with no
# row is in DEFAULT_COLLECTION; catalogs written before collections lack the table and are read so.
MEMBERSHIP = "memberships"
MEMBERSHIP_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {MEMBERSHIP} (
    article_id TEXT NOT NULL, collection TEXT NOT NULL, PRIMARY KEY (article_id, collection)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_by_collection ON {MEMBERSHIP} (collection);
"""

# access.sqlite3 (store/access.py): collections marked restricted (any other is public), and read
# tokens, kept as the SHA-256 of the secret (a 256-bit random secret needs no salt or slow hash).
ACCESS_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, restricted INTEGER NOT NULL, changed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL UNIQUE, collections TEXT NOT NULL,
    created TEXT NOT NULL, expires TEXT, revoked TEXT
);
"""

# The entity index (store/entities.py): people and organisations by full name, where each article
# names them, and what it says they are or said (`form`: apposition, copula, activity, role, quote;
# `phrase`: the words at start_char..end_char),
# keyed by the article's key like its chunks. `entity_articles`: the articles indexed, so that
# `assistant compact` can index those ingested before the entity index existed.
ENTITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, lower_name TEXT NOT NULL, last_word TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_by_name ON entities (lower_name);
CREATE INDEX IF NOT EXISTS entities_by_last_word ON entities (last_word);
CREATE TABLE IF NOT EXISTS entity_mentions (
    article INTEGER NOT NULL, entity TEXT NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_mentions_by_entity ON entity_mentions (entity, article);
CREATE INDEX IF NOT EXISTS entity_mentions_by_article ON entity_mentions (article);
CREATE TABLE IF NOT EXISTS entity_facts (
    article INTEGER NOT NULL, entity TEXT NOT NULL, form TEXT NOT NULL, verb TEXT NOT NULL,
    start_char INTEGER NOT NULL, end_char INTEGER NOT NULL,
    sentence_start INTEGER NOT NULL, sentence_end INTEGER NOT NULL, phrase TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_facts_by_entity ON entity_facts (entity);
CREATE INDEX IF NOT EXISTS entity_facts_by_article ON entity_facts (article);
CREATE TABLE IF NOT EXISTS entity_articles (article INTEGER PRIMARY KEY);
"""

# sources.sqlite3 (store/sources.py). `documents` holds one row per URL or file a source has read:
# its validators (ETag, Last-Modified), its marker (a feed entry's id and updated time, a sitemap
# <lastmod>, a file's size and mtime), the hash of its bytes and the article ids it gave; `parent`
# is the sitemap that listed it. A row changes only after the articles it describes are committed
# to the index, so a sync killed half way is done again, not skipped.
SOURCES_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, location TEXT NOT NULL UNIQUE, collection TEXT NOT NULL,
    every REAL NOT NULL, remove_missing INTEGER NOT NULL, robots INTEGER NOT NULL, added TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0, next_run REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS documents (
    source INTEGER NOT NULL, url TEXT NOT NULL, parent TEXT, etag TEXT, last_modified TEXT,
    marker TEXT, hash TEXT, articles TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (source, url)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source INTEGER NOT NULL,
    started TEXT NOT NULL, finished TEXT, added INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, error TEXT, errors TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_by_source ON runs (source, id);
"""


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


def rebuild_hint(store: Path) -> str:
    """What to do about a store that cannot be read: rebuild its index."""
    root = store.parent
    return f"rebuild the index with `assistant ingest PATH... --index {root} --rebuild`"
