"""The index directory on disk: versions, the manifest, the article table, the writer's lock.

Layout (see index/README.md):

    index/CURRENT          name of the live version directory (replaced atomically)
    index/.lock            held by the one ingest that may write
    index/v-<stamp>/       one complete, immutable version:
        manifest.json      model, dimension, chunking, counts, format version
        articles.jsonl     every article with its text, content hash, chunks and sentence spans
        sentences.npy      one float16 vector per sentence, in articles.jsonl order
        (vector and keyword indexes written by the indexer)

A writer builds a new version beside the live one, then swaps CURRENT with os.replace: a crash
or kill -9 at any point leaves the previous version loadable and complete. The version a swap
replaces stays on disk until the next swap, so a reader that read CURRENT just before it can
still load what it read.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from assistant.errors import IndexLocked, IndexMismatch, IndexNotBuilt
from assistant.types import Article, Chunk

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARTICLES = "articles.jsonl"


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

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self, model: str, chunking: dict, where: Path) -> None:
        """Raise IndexMismatch, saying how to rebuild, unless built with these settings.

        The format version is checked earlier, by `read_manifest`.
        """
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
    """An indexed article with the hash it was indexed at and its chunks, in vector order."""

    article: Article
    content_hash: str
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)
    sentences: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # spans the answerer quotes

    def to_json(self) -> str:
        a = self.article
        return json.dumps(
            {
                "id": a.id, "title": a.title, "url": a.url, "source": a.source,
                "published": a.published, "author": a.author, "text": a.text,
                "content_hash": self.content_hash,
                "chunks": [[c.ordinal, c.start, c.end] for c in self.chunks],
                "sentences": [list(span) for span in self.sentences],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> StoredArticle:
        d = json.loads(line)
        article = Article(
            id=d["id"], title=d["title"], text=d["text"], url=d["url"], source=d["source"],
            published=d["published"], author=d["author"],
        )
        chunks = tuple(Chunk(article.id, o, s, e, article.text[s:e]) for o, s, e in d["chunks"])
        return cls(article, d["content_hash"], chunks, tuple((s, e) for s, e in d["sentences"]))


class IndexDir:
    """One index directory: find the live version, read it, and write new versions atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def current(self) -> Path:
        """The live version directory; IndexNotBuilt if there is none yet."""
        try:
            name = (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            raise IndexNotBuilt(
                f"no index at {self.root}: build one with `assistant ingest PATH... --index {self.root}`"
            ) from None
        path = self.root / name
        if not (path / MANIFEST).is_file():
            raise IndexNotBuilt(f"index {self.root} points at missing version {name}; rebuild with --rebuild")
        return path

    def exists(self) -> bool:
        return (self.root / "CURRENT").is_file()

    def manifest(self) -> Manifest:
        return read_manifest(self.current())

    def articles(self) -> dict[str, StoredArticle]:
        """Every indexed article by id, in the order their vectors are stored."""
        return read_articles(self.current())

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
    def new_version(self) -> Iterator[Path]:
        """Yield an empty directory to fill; on success it becomes the live version.

        Call under `lock()`. On an exception the partial directory is removed and CURRENT is
        untouched.
        """
        replaced = (self.root / "CURRENT").read_text().strip() if self.exists() else None
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            yield tmp
            _fsync_tree(tmp)
            final = self.root / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
            os.rename(tmp, final)
            pointer = self.root / ".CURRENT.tmp"
            with open(pointer, "w") as f:
                f.write(final.name + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(pointer, self.root / "CURRENT")
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._remove_stale(keep={final.name, replaced})

    def _remove_stale(self, keep: set[str | None]) -> None:
        """Delete dead writers' temporary directories and every version not in `keep`.

        A writer keeps the version it replaced: a reader may have read CURRENT just before the
        swap and be about to load that version (deleting it failed such a request with a 500).
        """
        for path in self.root.iterdir():
            if path.is_dir() and path.name not in keep and path.name.startswith(("v-", ".tmp-")):
                shutil.rmtree(path, ignore_errors=True)


def read_manifest(directory: Path) -> Manifest:
    """The manifest of one version directory; IndexMismatch or IndexNotBuilt if it cannot be used.

    The format version is compared before any field is read, and only known fields are read: a
    manifest from a newer format may have fields this code does not know, and an unreadable one
    should say how to rebuild rather than end in a traceback.
    """
    path = directory / MANIFEST
    rebuild = f"rebuild the index with `assistant ingest PATH... --index {directory.parent} --rebuild`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError covers bad JSON and bad UTF-8
        raise IndexNotBuilt(f"cannot read index manifest {path} ({exc}); {rebuild}") from None
    if not isinstance(data, dict):
        raise IndexNotBuilt(f"index manifest {path} is not a JSON object; {rebuild}")
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"index manifest {path} has format version {data.get('format_version')!r} "
            f"and this assistant reads version {FORMAT_VERSION}; {rebuild}"
        )
    missing = [f.name for f in fields(Manifest) if f.default is MISSING and f.name not in data]
    if missing:
        raise IndexNotBuilt(f"index manifest {path} lacks {', '.join(missing)}; {rebuild}")
    return Manifest(**{f.name: data[f.name] for f in fields(Manifest) if f.name in data})


def read_articles(directory: Path) -> dict[str, StoredArticle]:
    """The article table of one version directory, by id, in vector order."""
    path = directory / ARTICLES
    try:
        with open(path, encoding="utf-8") as f:
            stored = [StoredArticle.from_json(line) for line in f if line.strip()]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # truncated or edited by hand: say how to rebuild
        raise IndexNotBuilt(f"cannot read the article table {path} ({type(exc).__name__}: {exc}); rebuild the "
                            f"index with `assistant ingest PATH... --index {directory.parent} --rebuild`") from None
    return {s.article.id: s for s in stored}


def write_articles(directory: Path, stored: list[StoredArticle]) -> None:
    with open(directory / ARTICLES, "w", encoding="utf-8") as f:
        for s in stored:
            f.write(s.to_json() + "\n")


def write_manifest(directory: Path, manifest: Manifest) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")


def _fsync_tree(path: Path) -> None:
    for sub in path.rglob("*"):
        if sub.is_file():
            with open(sub, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
