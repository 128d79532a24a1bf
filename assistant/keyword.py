"""BM25 keyword search over chunks in the catalog's SQLite database (FTS5), added to and deleted
from incrementally inside the caller's transactions.

bm25s (what llama-index's BM25Retriever wraps) is a static matrix rebuilt whole on every ingest;
FTS5 grows one row at a time. The analyzer stays `assistant.terms.terms()` (bm25s's token
pattern, stopwords and Snowball stemmer), because the answerer reads document frequencies of those
stemmed terms: FTS5 receives the stems joined by spaces and its `ascii` tokenizer splits only on
ASCII non-word bytes (`_` made a token character, as in `\\w`), so every stem, non-ASCII letters
included, is indexed exactly as `terms()` wrote it. The table is contentless (`content=''`): the
catalog holds the text, FTS5 only the postings; deleting a row therefore needs its text again.

FTS5's bm25() uses k1=1.2, b=0.75 (bm25s as the retriever builds it: k1=1.5, b=0.75); the
retriever fuses ranks, not scores, and on squad2-dev the top 10 agree at 0.95. Measured against
bm25s in `bench/scale.py` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable

from assistant.terms import terms

TABLE = "chunk_terms"
# Document frequencies kept beside the postings, in the same transactions: FTS5's fts5vocab
# counts a term's documents by walking its posting list (18 ms for a term in 23% of 100,000
# chunks), and count(*) walks the docsize table (4.5 ms at 100,000). The row for '' (never a
# term) holds the number of chunks.
FREQUENCY = "chunk_term_frequency"
# FTS5 has no dynamic pruning (no WAND/max-score): an OR query scores every row that holds any of
# its terms, so its cost follows the query terms' document frequencies: p50 8 ms at 10,000 chunks,
# 48 ms at 100,000 and 395 ms at 1,000,000 (bm25s: 0.3, 0.8, 6.6 ms). A budget keeps terms rarest
# first until their postings pass it (the rarest is always kept), but it costs agreement long
# before it saves time: with 50,000 postings, overlap@10 with bm25s falls from 0.85 to 0.73 at
# 100,000 chunks (39 ms) and to 0.15 at 1,000,000 (29 ms). So by default every term is kept.
POSTINGS_BUDGET: int | None = None


class KeywordIndex:
    """BM25 over chunk terms in the catalog's SQLite database; rowids are the catalog's chunk rowids."""

    def __init__(self, connection: sqlite3.Connection, budget: int | None = POSTINGS_BUDGET):
        self._db = connection
        self._budget = budget  # None: every query term

    @staticmethod
    def create(connection: sqlite3.Connection) -> None:
        """Create the FTS5 table and its vocabulary view if missing."""
        connection.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
            "terms, content='', tokenize=\"ascii tokenchars '_'\")"
        )
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {FREQUENCY} (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID"
        )

    def add(self, rows: Iterable[tuple[int, str]]) -> None:
        """Index (chunk rowid, text) pairs; runs inside the caller's transaction."""
        self._change(rows, "INSERT INTO {t}(rowid, terms) VALUES (?, ?)", +1)

    def delete(self, rows: Iterable[tuple[int, str]]) -> None:
        """Remove (rowid, text) pairs exactly as added: a contentless table needs the terms back."""
        self._change(rows, "INSERT INTO {t}({t}, rowid, terms) VALUES ('delete', ?, ?)", -1)

    def _change(self, rows: Iterable[tuple[int, str]], sql: str, sign: int) -> None:
        documents, frequency = [], Counter()
        for rowid, text in rows:
            words = terms(text)
            documents.append((rowid, " ".join(words)))
            frequency.update(set(words) | {""})
        self._db.executemany(sql.format(t=TABLE), documents)
        self._db.executemany(  # one upsert per distinct term of the batch, not per posting
            f"INSERT INTO {FREQUENCY}(term, df) VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
            ((t, sign * n) for t, n in frequency.items()),
        )

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Best k (rowid, score) by BM25, higher is better; only rows sharing a term with the query."""
        return self.match(self.query_terms(query), k)

    def match(self, wanted: list[str], k: int) -> list[tuple[int, float]]:
        """Best k rows holding any of these stemmed terms, by BM25 over them."""
        if not wanted or k <= 0:
            return []
        match = " OR ".join(f'"{t}"' for t in wanted)  # quoted: FTS5 syntax in a question is just text
        found = self._db.execute(
            f"SELECT rowid, bm25({TABLE}) FROM {TABLE} WHERE {TABLE} MATCH ? ORDER BY bm25({TABLE}) LIMIT ?",
            (match, k),
        )
        return [(rowid, -score) for rowid, score in found]

    def query_terms(self, query: str) -> list[str]:
        """The question's indexed terms, rarest first, while their postings fit the budget."""
        unique = list(dict.fromkeys(terms(query)))
        if not unique:
            return []
        marks = ",".join("?" * len(unique))
        frequency = dict(self._db.execute(f"SELECT term, df FROM {FREQUENCY} WHERE term IN ({marks})", unique))
        kept, postings = [], 0
        for term in sorted((t for t in unique if frequency.get(t, 0) > 0), key=frequency.__getitem__):
            postings += frequency[term]
            if kept and self._budget is not None and postings > self._budget:
                break
            kept.append(term)
        return kept

    def document_frequency(self, term: str) -> int:
        """Chunks that contain a stemmed term (as `terms()` writes it)."""
        row = self._db.execute(f"SELECT df FROM {FREQUENCY} WHERE term = ?", (term,)).fetchone()
        return row[0] if row else 0

    def count(self) -> int:
        """Chunks indexed."""
        return self.document_frequency("")
