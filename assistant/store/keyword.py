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
  postings too. Scoring is numpy over the query terms' postings, which carry what BM25 reads
  (row, tf, and the row's length) side by side: a term's score is sequential reads and one
  scatter, not a gather of lengths by row (1.25x faster at 1,000,000 chunks; docs/BENCHMARKS.md).

Scores are bm25s's "lucene" BM25 (k1=1.5, b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))),
the formula the previous index used, so rankings match bm25s over the same chunks (tested). The
analyzer is `assistant.text.terms.terms()`, whose stems the answerer reads document frequencies of.
Terms are stored in segments as 64-bit BLAKE2 hashes: fixed width, where a numpy string array
would be as wide as the longest term.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.store.format import LENGTHS, POSTING_LENGTHS, POSTING_ROWS, POSTING_TF, TERM_HASHES, TERM_STARTS
from assistant.text.terms import terms

K1 = 1.5
B = 0.75
FREQUENCY = "chunk_term_frequency"
TOTALS = "keyword_totals"  # 'chunks' and 'tokens': N and the sum of lengths, for avgdl
_COUNT_MAX = np.iinfo(np.uint16).max  # tf and chunk lengths in terms: chunks are a few hundred at most


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
        if sign < 0:  # only the terms just uncounted can have reached 0: no scan of every term
            self._db.executemany(f"DELETE FROM {FREQUENCY} WHERE term = ? AND df <= 0", ((t,) for t in frequency))
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
               k: int, readable: Readable | None = None) -> list[tuple[int, int, float]]:
        """Best k (segment index, row, score) over every segment, skipping each one's deleted rows.

        Only rows sharing a term with the query are returned; higher scores are better. With
        `readable`, the statistics are those of the rows one reader may read, so scores are what an
        index of only those rows would give (and say nothing of the rest); `segments` must then skip
        the other rows too.
        """
        wanted = Counter(terms(query))  # a term asked twice counts twice, as in bm25s and Lucene
        n = self.count() if readable is None else readable.chunks
        if not wanted or not n or k <= 0:
            return []
        df = self.frequencies(list(wanted)) if readable is None else {t: readable.frequency(t) for t in wanted}
        weights = {t: wanted[t] * np.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items() if f > 0}
        if not weights:
            return []
        average = (self._total("tokens") if readable is None else readable.tokens) / n
        found: list[tuple[float, int, int]] = []
        for i, (postings, deleted) in enumerate(segments):
            scores, rows = postings.top(weights, average, k, deleted)
            found += [(float(s), i, int(r)) for s, r in zip(scores, rows)]
        found.sort(key=lambda f: -f[0])
        return [(i, r, s) for s, i, r in found[:k]]


@dataclass(frozen=True)
class Readable:
    """BM25's statistics over the rows one reader may read, counted from the postings.

    The global ones (`KeywordIndex`) count every chunk: a term only a restricted article holds
    would lower its idf for everyone, and its presence would show in every score. A term's
    frequency here is its postings less the skipped rows: microseconds for the few query terms.
    """

    chunks: int
    tokens: int
    parts: tuple[tuple[Postings, np.ndarray], ...]  # each segment's postings, and a mask of the rows skipped

    @classmethod
    def of(cls, parts: Sequence[tuple[Postings, np.ndarray]]) -> Readable:
        """The statistics of the rows each mask leaves (True: skipped, deleted or not readable)."""
        chunks = sum(int((~skip).sum()) for _, skip in parts)
        tokens = sum(int(np.asarray(p.lengths, np.int64)[~skip].sum()) for p, skip in parts)
        return cls(chunks, tokens, tuple(parts))

    def frequency(self, term: str) -> int:
        """Readable chunks that contain a stemmed term."""
        return sum(len(rows) - int(skip[rows].sum()) for postings, skip in self.parts
                   for rows in [postings.term_rows(term)])


class Postings:
    """One segment's inverted lists: for each term, the rows holding it, how often, and their lengths."""

    def __init__(self, hashes: np.ndarray, starts: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
                 posting_lengths: np.ndarray | None):
        self.hashes = hashes  # sorted term hashes
        self.starts = starts  # term i's postings are rows[starts[i]:starts[i + 1]], ascending
        self.rows = rows  # int64: numpy would convert narrower indices on every scatter
        self.tf = tf  # uint16
        self.lengths = lengths  # terms per row
        self.posting_lengths = posting_lengths  # uint16, lengths[rows]; None: gathered per query
        self._scratch = threading.local()  # each thread's score array, reused question after question

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> Postings:
        """Postings of documents (term lists), one row each, in order."""
        counts = [Counter(words) for words in documents]
        hashed = {t: term_hash(t) for t in set().union(*counts)}  # each distinct term hashed once
        size = sum(len(c) for c in counts)
        hashes = np.fromiter((hashed[t] for c in counts for t in c), np.uint64, size)
        rows = np.fromiter((row for row, c in enumerate(counts) for _ in c), np.int64, size)
        tf = np.fromiter((n for c in counts for n in c.values()), np.int64, size)
        return cls._sorted(hashes, rows, tf, np.array([len(w) for w in documents], dtype=np.int32))

    @classmethod
    def _sorted(cls, hashes: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray) -> Postings:
        order = np.lexsort((rows, hashes))
        hashes, rows = hashes[order], rows[order].astype(np.int64)
        tf = np.minimum(tf[order], _COUNT_MAX).astype(np.uint16)
        unique, first = np.unique(hashes, return_index=True)
        posting_lengths = np.minimum(lengths[rows], _COUNT_MAX).astype(np.uint16)
        return cls(unique, np.append(first, len(hashes)).astype(np.int64), rows, tf, lengths, posting_lengths)

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
            rows.append(mapped[live])
            tf.append(np.asarray(postings.tf)[live])
        return cls._sorted(_joined(hashes, np.uint64), _joined(rows, np.int64), _joined(tf, np.uint16), lengths)

    def save(self, directory: Path) -> None:
        assert self.posting_lengths is not None, "built or merged postings carry them"
        for name, array in zip((TERM_HASHES, TERM_STARTS, POSTING_ROWS, POSTING_TF, LENGTHS, POSTING_LENGTHS),
                               (self.hashes, self.starts, self.rows, self.tf, self.lengths, self.posting_lengths)):
            np.save(Path(directory) / name, array)

    @classmethod
    def load(cls, directory: Path) -> Postings:
        """Memory-mapped: a query pages in only its terms' postings.

        Segments written before postings carried row lengths (int32 rows, float32 tf) load as
        they are and gather lengths per query; their next merge (or `assistant compact`)
        rewrites them in the current layout.
        """
        directory = Path(directory)
        hashes, starts, rows, tf, lengths = (np.load(directory / name, mmap_mode="r")
                                             for name in (TERM_HASHES, TERM_STARTS, POSTING_ROWS, POSTING_TF, LENGTHS))
        extra = directory / POSTING_LENGTHS
        return cls(hashes, starts, rows, tf, lengths, np.load(extra, mmap_mode="r") if extra.exists() else None)

    def term_rows(self, term: str) -> np.ndarray:
        """The rows holding a term, ascending (empty if none)."""
        h = np.uint64(term_hash(term))
        i = int(np.searchsorted(self.hashes, h))
        if i == len(self.hashes) or self.hashes[i] != h:
            return np.zeros(0, np.int64)
        return np.asarray(self.rows[int(self.starts[i]):int(self.starts[i + 1])])

    def top(self, weights: dict[str, float], average_length: float, k: int,
            deleted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best (scores, rows) of this segment for terms with their idf weights."""
        scores = self._zeroed()
        # BM25's length norm k1 (1 - b + b dl / avgdl) as c0 + c1 dl: two float32 operations a posting
        c0, c1 = np.float32(K1 * (1 - B)), np.float32(K1 * B / average_length)
        for term, idf in weights.items():
            h = np.uint64(term_hash(term))
            i = int(np.searchsorted(self.hashes, h))
            if i == len(self.hashes) or self.hashes[i] != h:
                continue
            a, b = int(self.starts[i]), int(self.starts[i + 1])
            rows = self.rows[a:b]
            tf = self.tf[a:b].astype(np.float32)
            lengths = self.posting_lengths[a:b] if self.posting_lengths is not None else self.lengths[rows]
            part = np.multiply(lengths, c1, dtype=np.float32)  # idf tf / (tf + norm), in place: one temporary
            part += c0
            part += tf
            np.divide(tf, part, out=part)
            part *= np.float32(idf)
            # ufunc.at's indexed loop: half the time of `scores[rows] += part`, which gathers,
            # adds and scatters through numpy's general fancy indexing (1.1 against 2.1 ms for
            # 427,000 postings over 1,000,000 rows)
            np.add.at(scores, rows, part)
        if deleted is not None and len(deleted):
            scores[deleted] = 0.0
        hit = _top(scores, k)
        return scores[hit], hit

    def _zeroed(self) -> np.ndarray:
        """This thread's array of one score per row, zeroed. Refilled, not allocated: a fresh 4 MB
        array (1,000,000 rows) is fresh pages from the kernel each question, 0.6 ms of faults."""
        scores = getattr(self._scratch, "scores", None)
        if scores is None:
            scores = self._scratch.scores = np.zeros(len(self.lengths), np.float32)
        else:
            scores.fill(0.0)
        return scores


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
