"""The sync state, kept in SQLite beside the index: the sources, what each page was when last read, and runs.

    index/sources.sqlite3   sources (a feed, a sitemap, page URLs, a folder; how often; what to honour),
                            documents (per URL or file: validators, marker, hash, article ids),
                            runs (started, finished, counts, the first error per page)

Beside the stores, as feedback.sqlite3 is, not in a store's catalog: a rebuild swaps the store and
must not forget the sources or make every page fetched again (their validators still hold), and
sources may be added before there is an index at all. The table definitions are in format.py.

A document's row is written only after the articles it describes are committed to the index (see
ingest/sync.py): a sync killed half way leaves the rows as they were, so the next run fetches
those pages again and the index's hash check skips whatever had made it in. Each call opens its
own connection, so one store serves the API's threads and the scheduler's at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from assistant.errors import AssistantError, NotFound
from assistant.limits import MAX_RUN_ERRORS, MAX_RUNS_KEPT
from assistant.store.format import SOURCES, SOURCES_SCHEMA
from assistant.store.sidecar import transaction

Kind = Literal["url", "feed", "sitemap", "pages", "folder"]  # "url": feed, sitemap or page, known once read


@dataclass(frozen=True)
class Source:
    """Something to keep the index in step with, and how."""

    id: int
    kind: Kind
    location: str  # a URL, URLs one per line (pages), or a folder's absolute path
    collection: str
    every: float  # seconds between runs
    remove_missing: bool  # remove articles whose page left the sitemap or whose file left the folder
    robots: bool  # honour robots.txt
    added: str
    failures: int = 0  # runs failed in a row; the back-off grows with them
    next_run: float = 0.0  # unix time

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """One URL or file as a source last read it."""

    url: str
    parent: str | None = None  # the sitemap that listed it
    etag: str | None = None
    last_modified: str | None = None
    marker: str | None = None  # feed entry id and updated time, sitemap lastmod, or file size and mtime
    hash: str | None = None  # of the bytes read (files)
    articles: tuple[str, ...] = ()


@dataclass
class Run:
    """One sync of one source: what it did, and what went wrong (the first error per page)."""

    source: int
    started: str
    finished: str | None = None  # None: running, or killed
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    requests: int = 0  # HTTP requests sent (conditional ones included)
    error: str | None = None  # the source itself could not be read: the run failed
    errors: list[dict] = field(default_factory=list)  # [{"url", "error"}], the first per page
    id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def page_error(self, url: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_RUN_ERRORS and all(e["url"] != url for e in self.errors):
            self.errors.append({"url": url, "error": message})


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_SOURCE_COLUMNS = "id, kind, location, collection, every, remove_missing, robots, added, failures, next_run"
_RUN_COLUMNS = "id, source, started, finished, added, updated, removed, unchanged, failed, requests, error, errors"


class SourceStore:
    """Sources, documents and runs in `<index>/sources.sqlite3` (created on first write)."""

    def __init__(self, index_root: Path):
        self.path = Path(index_root) / SOURCES

    # ── sources ──

    def add(self, kind: Kind, location: str, *, collection: str = "default", every: float = 3600.0,
            remove_missing: bool = False, robots: bool = True) -> Source:
        """A new source, due at once; AssistantError if one already reads `location`."""
        with self._db() as db:
            try:
                cursor = db.execute(
                    "INSERT INTO sources (kind, location, collection, every, remove_missing, robots, added)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, location, collection, every, int(remove_missing), int(robots), now_iso()))
            except sqlite3.IntegrityError:
                known = db.execute("SELECT id FROM sources WHERE location = ?", (location,)).fetchone()
                raise AssistantError(f"source {known[0]} already reads {location}; "
                                     "see `assistant sources list`") from None
            source_id = cursor.lastrowid
        return self.get(int(source_id or 0))

    def sources(self) -> list[Source]:
        if not self.path.exists():
            return []
        with self._db() as db:
            return [_source(row) for row in db.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id")]

    def get(self, source_id: int) -> Source:
        with self._db() as db:
            row = db.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            raise NotFound(f"no source with id {source_id}; see `assistant sources list`")
        return _source(row)

    def remove(self, source_id: int) -> Source:
        """Forget a source, its documents and runs (its articles stay in the index)."""
        source = self.get(source_id)
        with self._db() as db:
            for table, column in (("documents", "source"), ("runs", "source"), ("sources", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (source_id,))
        return source

    def set_kind(self, source_id: int, kind: Kind) -> None:
        with self._db() as db:
            db.execute("UPDATE sources SET kind = ? WHERE id = ?", (kind, source_id))

    def schedule(self, source_id: int, failures: int, next_run: float) -> None:
        with self._db() as db:
            db.execute("UPDATE sources SET failures = ?, next_run = ? WHERE id = ?", (failures, next_run, source_id))

    # ── documents ──

    def documents(self, source_id: int) -> dict[str, Document]:
        if not self.path.exists():
            return {}
        with self._db() as db:
            rows = db.execute("SELECT url, parent, etag, last_modified, marker, hash, articles FROM documents"
                              " WHERE source = ?", (source_id,)).fetchall()
        return {r[0]: Document(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6]))) for r in rows}

    # ── runs ──

    def start(self, source_id: int) -> Run:
        """A run record, written now (a run killed half way shows as never finished)."""
        run = Run(source_id, now_iso())
        with self._db() as db:
            run.id = db.execute("INSERT INTO runs (source, started) VALUES (?, ?)", (source_id, run.started)).lastrowid
        return run

    def finish(self, run: Run, changed: Iterable[Document] = (), gone: Iterable[str] = ()) -> None:
        """Record a finished run with the documents it read and those it found gone, in one transaction."""
        run.finished = now_iso()
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO documents (source, url, parent, etag, last_modified, marker, hash, articles)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run.source, d.url, d.parent, d.etag, d.last_modified, d.marker, d.hash, json.dumps(list(d.articles)))
                 for d in changed])
            db.executemany("DELETE FROM documents WHERE source = ? AND url = ?", [(run.source, u) for u in gone])
            db.execute("UPDATE runs SET finished = ?, added = ?, updated = ?, removed = ?, unchanged = ?, failed = ?,"
                       " requests = ?, error = ?, errors = ? WHERE id = ?",
                       (run.finished, run.added, run.updated, run.removed, run.unchanged, run.failed, run.requests,
                        run.error, json.dumps(run.errors, ensure_ascii=False), run.id))
            db.execute("DELETE FROM runs WHERE source = ? AND id NOT IN (SELECT id FROM runs WHERE source = ?"
                       " ORDER BY id DESC LIMIT ?)", (run.source, run.source, MAX_RUNS_KEPT))

    def runs(self, source_id: int, limit: int = MAX_RUNS_KEPT) -> list[Run]:
        """The source's runs, newest first."""
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE source = ? ORDER BY id DESC LIMIT ?",
                              (source_id, limit)).fetchall()
        return [Run(r[1], r[2], r[3], added=r[4], updated=r[5], removed=r[6], unchanged=r[7], failed=r[8],
                    requests=r[9], error=r[10], errors=json.loads(r[11]), id=r[0]) for r in rows]

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path, SOURCES_SCHEMA)


def _source(row: tuple) -> Source:
    i, kind, location, collection, every, remove_missing, robots, added, failures, next_run = row
    return Source(i, kind, location, collection, every, bool(remove_missing), bool(robots), added, failures, next_run)
