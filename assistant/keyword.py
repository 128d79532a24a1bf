"""BM25 keyword search that grows with the store: global statistics in SQLite, postings in segments.

bm25s (what llama-index's BM25Retriever wraps) is one static matrix, rebuilt whole to add a
chunk (50 s at 100,000 chunks). SQLite FTS5 grows a row at a time but has no dynamic pruning:
an OR query scores every row holding any query term, in SQL, 48 ms p50 at 100,000 chunks and
395 ms at 1,000,000 (bm25s: 0.8 and 6.6 ms; docs/BENCHMARKS.md). So keyword search is split as
Lucene splits it:

- `KeywordIndex`: per-term document frequencies, the chunk count and the total length, in the
  catalog's SQLite database, changed in the same transaction as the chunk rows. They make the
  scores global (the same as one index over every chunk) and give the answerer its idf.
- `Postings`: one segment's inverted lists, written once beside its vectors and merged with them.
  Rows are the segment's vector rows, so the tombstones that hide deleted vectors hide their
  postings too. Scoring is numpy over the query terms' postings.

Scores are bm25s's "lucene" BM25 (k1=1.5, b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))),
the formula the previous index used, so rankings match bm25s over the same chunks (tested). The
analyzer is `assistant.terms.terms()`, whose stems the answerer reads document frequencies of.
Terms are stored in segments as 64-bit BLAKE2 hashes: fixed width, where a numpy string array
would be as wide as the longest term.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from assistant.terms import terms

K1 = 1.5
B = 0.75
FREQUENCY = "chunk_term_frequency"
TOTALS = "keyword_totals"  # 'chunks' and 'tokens': N and the sum of lengths, for avgdl
_HASHES, _STARTS, _ROWS, _TF, _LENGTHS = (
    "term_hashes.npy", "term_starts.npy", "posting_rows.npy", "posting_tf.npy", "lengths.npy"
)


def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


class KeywordIndex:
    """Global BM25 statistics in the catalog's database; the caller owns the transaction."""

    def __init__(self, connection: sqlite3.Connection):
        self._db = connection

    @staticmethod
    def create(connection: sqlite3.Connection) -> None:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {FREQUENCY} (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID"
        )
        connection.execute(f"CREATE TABLE IF NOT EXISTS {TOTALS} (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def add(self, documents: Iterable[Sequence[str]]) -> None:
        """Count the terms of new chunks (as `terms()` returns them)."""
        self._change(documents, +1)

    def delete(self, documents: Iterable[Sequence[str]]) -> None:
        """Uncount the terms of deleted chunks, exactly as they were added."""
        self._change(documents, -1)

    def _change(self, documents: Iterable[Sequence[str]], sign: int) -> None:
        frequency: Counter[str] = Counter()
        chunks = tokens = 0
        for words in documents:
            frequency.update(set(words))
            chunks += 1
            tokens += len(words)
        self._db.executemany(  # one upsert per distinct term of the batch, not per posting
            f"INSERT INTO {FREQUENCY} (term, df) VALUES (?, ?) ON CONFLICT (term) DO UPDATE SET df = df + excluded.df",
            ((t, sign * n) for t, n in frequency.items()),
        )
        self._db.execute(f"DELETE FROM {FREQUENCY} WHERE df <= 0")
        self._db.executemany(
            f"INSERT INTO {TOTALS} (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [("chunks", sign * chunks), ("tokens", sign * tokens)],
        )

    def document_frequency(self, term: str) -> int:
        """Chunks that contain a stemmed term (as `terms()` writes it)."""
        row = self._db.execute(f"SELECT df FROM {FREQUENCY} WHERE term = ?", (term,)).fetchone()
        return row[0] if row else 0

    def frequencies(self, wanted: Sequence[str]) -> dict[str, int]:
        marks = ",".join("?" * len(wanted))
        return dict(self._db.execute(f"SELECT term, df FROM {FREQUENCY} WHERE term IN ({marks})", list(wanted)))

    def count(self) -> int:
        """Chunks indexed."""
        return self._total("chunks")

    def _total(self, name: str) -> int:
        row = self._db.execute(f"SELECT value FROM {TOTALS} WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def search(self, query: str, segments: Sequence[tuple[Postings, np.ndarray]],
               k: int) -> list[tuple[int, int, float]]:
        """Best k (segment index, row, score) over every segment, skipping each one's deleted rows.

        Only rows sharing a term with the query are returned; higher scores are better.
        """
        wanted = Counter(terms(query))  # a term asked twice counts twice, as in bm25s and Lucene
        n = self.count()
        if not wanted or not n or k <= 0:
            return []
        df = self.frequencies(list(wanted))
        weights = {t: wanted[t] * np.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items() if f > 0}
        if not weights:
            return []
        average = self._total("tokens") / n
        found: list[tuple[float, int, int]] = []
        for i, (postings, deleted) in enumerate(segments):
            scores, rows = postings.top(weights, average, k, deleted)
            found += [(float(s), i, int(r)) for s, r in zip(scores, rows)]
        found.sort(key=lambda f: -f[0])
        return [(i, r, s) for s, i, r in found[:k]]


class Postings:
    """One segment's inverted lists: for each term, the rows holding it and how often."""

    def __init__(self, hashes: np.ndarray, starts: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray):
        self.hashes = hashes  # sorted term hashes
        self.starts = starts  # term i's postings are rows[starts[i]:starts[i + 1]]
        self.rows = rows
        self.tf = tf
        self.lengths = lengths  # terms per row
        self._norms: tuple[float, np.ndarray] | None = None  # (average length, BM25's per-row length norm)

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> Postings:
        """Postings of documents (term lists), one row each, in order."""
        counts = [Counter(words) for words in documents]
        hashed = {t: term_hash(t) for c in counts for t in c}
        size = sum(len(c) for c in counts)
        hashes = np.fromiter((hashed[t] for c in counts for t in c), np.uint64, size)
        rows = np.fromiter((row for row, c in enumerate(counts) for _ in c), np.int32, size)
        tf = np.fromiter((n for c in counts for n in c.values()), np.float32, size)
        return cls._sorted(hashes, rows, tf, np.array([len(w) for w in documents], dtype=np.int32))

    @classmethod
    def _sorted(cls, hashes: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray) -> Postings:
        order = np.lexsort((rows, hashes))
        hashes, rows, tf = hashes[order], rows[order], tf[order]
        unique, first = np.unique(hashes, return_index=True)
        return cls(unique, np.append(first, len(hashes)).astype(np.int64), rows, tf, lengths)

    @classmethod
    def merge(cls, parts: Sequence[tuple[Postings, np.ndarray, np.ndarray]], size: int) -> Postings:
        """One segment's postings of `size` rows from several: (postings, rows kept, their new rows).

        Vectorised: no text is tokenised again, and deleted rows are dropped.
        """
        hashes, rows, tf = [], [], []
        lengths = np.zeros(size, np.int32)
        for postings, keep, new in parts:
            new_row = np.full(len(postings.lengths), -1, np.int64)
            new_row[keep] = new
            lengths[new] = np.asarray(postings.lengths)[keep]
            mapped = new_row[postings.rows]
            live = mapped >= 0
            hashes.append(np.repeat(postings.hashes, np.diff(postings.starts))[live])
            rows.append(mapped[live].astype(np.int32))
            tf.append(np.asarray(postings.tf)[live])
        return cls._sorted(_joined(hashes, np.uint64), _joined(rows, np.int32), _joined(tf, np.float32), lengths)

    def save(self, directory: Path) -> None:
        for name, array in zip((_HASHES, _STARTS, _ROWS, _TF, _LENGTHS),
                               (self.hashes, self.starts, self.rows, self.tf, self.lengths)):
            np.save(Path(directory) / name, array)

    @classmethod
    def load(cls, directory: Path) -> Postings:
        """Memory-mapped: a query pages in only its terms' postings."""
        files = (_HASHES, _STARTS, _ROWS, _TF, _LENGTHS)
        return cls(*(np.load(Path(directory) / name, mmap_mode="r") for name in files))

    def _length_norms(self, average_length: float) -> np.ndarray:
        """k1 (1 - b + b dl / avgdl) per row, float32, for the index's current average length.

        Computed once per commit (the average moves with every write) rather than per posting:
        at 1,000,000 chunks a question touches ~500,000 postings, and float64 temporaries per
        posting cost more than the whole sum.
        """
        cached = self._norms
        if cached is None or cached[0] != average_length:
            lengths = np.asarray(self.lengths, np.float32) / np.float32(average_length)
            norms = (K1 * (1 - B + B * lengths)).astype(np.float32)
            cached = self._norms = (average_length, norms)
        return cached[1]

    def top(self, weights: dict[str, float], average_length: float, k: int,
            deleted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best (scores, rows) of this segment for terms with their idf weights."""
        scores = np.zeros(len(self.lengths), np.float32)
        norms = self._length_norms(average_length)
        for term, idf in weights.items():
            h = np.uint64(term_hash(term))
            i = int(np.searchsorted(self.hashes, h))
            if i == len(self.hashes) or self.hashes[i] != h:
                continue
            a, b = int(self.starts[i]), int(self.starts[i + 1])
            rows, tf = self.rows[a:b], self.tf[a:b]
            part = norms[rows]  # idf tf / (tf + norm), in place: no temporaries per posting
            part += tf
            np.divide(tf, part, out=part)
            part *= np.float32(idf)
            scores[rows] += part  # a term lists each row once: no repeated indices
        if deleted is not None and len(deleted):
            scores[deleted] = 0.0
        hit = _top(scores, k)
        return scores[hit], hit


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k best positive scores, best first.

    Exact, without sorting or scanning every nonzero score: the k-th best of a 1-in-64 sample is
    a lower bound of the k-th best overall, so only rows at or above it can be among the best
    (at 1,000,000 rows: 1.4 ms, where flatnonzero + argpartition took 8 ms).
    """
    sample = scores[::64]
    bound = np.partition(sample, len(sample) - k)[len(sample) - k] if len(sample) > k else 0.0
    hit = np.flatnonzero(scores >= bound) if bound > 0 else np.flatnonzero(scores)
    if len(hit) > k:
        hit = hit[np.argpartition(-scores[hit], k - 1)[:k]]
    return hit[np.argsort(-scores[hit], kind="stable")]


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The parts end to end; an empty array of `dtype` when there are none (np.concatenate refuses [])."""
    return np.concatenate(parts) if parts else np.zeros(0, dtype)
