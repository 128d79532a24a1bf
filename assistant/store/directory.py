"""One index directory: the live store (CURRENT), the writer lock, atomic swaps, format 1 found.

    index/CURRENT              name of the live store directory (replaced atomically by a rebuild)
    index/.lock                held by the one ingest that may write
    index/store-<stamp>/       a catalog and its segments (catalog.py, segments.py)

A rebuild (or a first ingest) writes a whole new store directory and swaps CURRENT: a changed
model cannot share vectors with the old ones.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.errors import IndexLocked, IndexMismatch, IndexNotBuilt
from assistant.store.catalog import Catalog, StoredArticle
from assistant.store.durable import fsync_dir, fsync_tree
from assistant.store.format import CATALOG, CURRENT, FORMAT_VERSION, LOCK, SEGMENTS, Manifest, rebuild_hint
from assistant.store.vectors import VectorStore
from assistant.types import Article


class IndexDir:
    """One index directory: find the live store, and swap in a rebuilt one atomically."""

    def __init__(self, root: Path, vectors: VectorStore = VectorStore()):
        self.root = Path(root)
        self.vectors = vectors

    def current(self) -> Path:
        """The live store directory; IndexNotBuilt if there is none yet."""
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            raise IndexNotBuilt(
                f"no index at {self.root}: build one with `assistant ingest PATH... --index {self.root}`"
            ) from None
        path = self.root / name
        if name.startswith("v-") and (path / "manifest.json").is_file():  # format 1: one directory per version
            raise IndexMismatch(f"index {self.root} is in format version 1 and this assistant reads version "
                                f"{FORMAT_VERSION}; {rebuild_hint(path)}")
        if not (path / CATALOG).is_file():
            raise IndexNotBuilt(f"index {self.root} points at missing store {name}; {rebuild_hint(path)}")
        return path

    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def legacy_articles(self) -> list[Article]:
        """The articles of a format-1 index (a `v-*` version with articles.jsonl), else [].

        Format 1 kept every article's text, so an ingest can carry them into a new store
        (re-embedding them) instead of asking for a rebuild that would drop them.
        """
        try:
            name = (self.root / CURRENT).read_text().strip()
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
        lock = FileLock(str(self.root / LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise IndexLocked(
                f"another ingest is writing {self.root} (lock {self.root / LOCK} is held); "
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
        replaced = (self.root / CURRENT).read_text().strip() if self.exists() else None
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            yield tmp
            fsync_tree(tmp)
            final = self.root / f"store-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
            os.rename(tmp, final)
            pointer = self.root / ".CURRENT.tmp"
            with open(pointer, "w") as f:
                f.write(final.name + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(pointer, self.root / CURRENT)
            fsync_dir(self.root)
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
