"""Turn paths and URLs into Articles: one per readable article, one InputError per failure.

A run never stops on a bad source. Every failure (a missing file, a corrupt PDF, one malformed
JSONL line, an exception nobody foresaw) becomes an `InputError` value in the stream, so the
indexer indexes what it can and reports the rest.

    inputs ─┬─ URL ───────── fetch ─ Content-Type ─┐
            ├─ directory ─── walk ──── suffix ─────┼─ parsers.parse ───── Article | InputError
            └─ file ──────────────── suffix ───────┘

URLs are fetched by fetch.py (public addresses only, every redirect hop checked); each format
is parsed by parsers.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePath
from typing import TypeVar
from urllib.parse import urlsplit

from assistant.errors import InputError
from assistant.ingest.fetch import Fetch, Page, fetch_page
from assistant.ingest.parsers import SUFFIX_BY_MEDIA_TYPE, SUPPORTED_SUFFIXES, Origin, Result, parse
from assistant.types import Article

T = TypeVar("T")


# ── public API ──────────────────────────────────────────────────────────────────────────────


def read_sources(inputs: Iterable[str], *, fetch: Fetch = Fetch()) -> Iterator[Result]:
    """Yield one Article per readable article and one InputError per failure; never raises InputError.

    Args:
        inputs: files, directories (read recursively, hidden entries skipped) or http(s) URLs.
        fetch: how URLs are fetched.
    """
    results = (
        result
        for item in inputs
        for result in _guarded(str(item), _read_input(str(item), fetch))
    )
    yield from unique_ids(results)


def read_upload(name: str, data: bytes) -> list[Result]:
    """Same parsing for bytes uploaded through the web UI or API; the suffix of `name` picks the format."""
    path = PurePath(name)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return [_unsupported_suffix(name, suffix)]
    return list(unique_ids(_guarded(name, parse(_file_origin(path), suffix, data))))


def read_page(url: str, page: Page, *, canonical: bool = False) -> Iterator[Result]:
    """The articles of a page fetched from `url`, parsed by its Content-Type (what URL ingest does
    after the fetch).

    `canonical`: the article is named after the canonical URL the page declares (`<link
    rel=canonical>`, `og:url`) when that is on the host the page came from, so two addresses of one
    page are one article (a sync's feeds and sitemaps list both). A canonical URL on another host is
    ignored: a page cannot take the place of another site's article.
    """
    if not canonical:
        yield from _parsed_page(url, page, _url_origin(url, page.url))
        return
    origin = dataclasses.replace(_url_origin(url, page.url), url=None)  # the page's own claim, if any
    fetched_host = urlsplit(page.url).netloc.lower()
    for result in _parsed_page(url, page, origin):
        if isinstance(result, Article):
            claimed = result.url if result.url and urlsplit(result.url).scheme in ("http", "https") else None
            if claimed and urlsplit(claimed).netloc.lower() == fetched_host:
                result = dataclasses.replace(result, id=page_id(claimed), url=claimed)
            else:
                result = dataclasses.replace(result, url=page.url)
        yield result


def page_id(url: str) -> str:
    """The article id of a web page: a slug of its host and path ('example.com/a/b' -> 'example-com-a-b')."""
    parts = urlsplit(url)
    return _slug(parts.netloc + parts.path)


def source_units(inputs: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """(file or URL, the directory it was found under or None) for each thing `inputs` name, in
    `read_sources`'s order: the pieces `read_unit` reads one at a time, so that reading can be
    spread over workers (`assistant ingest --ray`). Reading every unit in order and turning
    repeated ids into errors gives what `read_sources` gives."""
    for item in map(str, inputs):
        path = Path(item)
        if not item.lower().startswith(("http://", "https://")) and path.is_dir():
            yield from ((str(file), item) for file in _walk(path))
        else:
            yield item, None


def read_unit(item: str, under: str | None = None, *, fetch: Fetch = Fetch()) -> Iterator[Result]:
    """The articles (and InputErrors) of one unit from `source_units`; ids are not de-duplicated."""
    if under is None:
        yield from _guarded(item, _read_input(item, fetch))
    else:
        yield from _guarded(item, _read_file(Path(item), under=Path(under)))


# ── inputs: files, directories, URLs ────────────────────────────────────────────────────────


def _read_input(item: str, fetch: Fetch) -> Iterator[Result]:
    if item.lower().startswith(("http://", "https://")):
        yield from _read_url(item, fetch)
        return
    path = Path(item)
    if not path.exists():
        yield InputError(item, "no such file or directory")
    elif path.is_dir():
        for file in _walk(path):
            yield from _guarded(str(file), _read_file(file, under=path))
    elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
        yield _unsupported_suffix(item, path.suffix)
    else:
        yield from _read_file(path)


def _walk(directory: Path) -> Iterator[Path]:
    """Supported files under `directory`, sorted so runs are repeatable.

    Hidden entries (.git, .DS_Store) are skipped, and symlinked directories are not followed, so a
    link cycle cannot loop forever.
    """
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.is_symlink():
                yield from _walk(entry)
        elif entry.suffix.lower() in SUPPORTED_SUFFIXES:
            yield entry  # a FIFO or device too: _read_file reports it rather than blocking on it


def _read_file(path: Path, under: Path | None = None) -> Iterator[Result]:
    if not path.is_file():  # reading a FIFO named notes.txt waits for a writer for ever, holding the lock
        yield InputError(str(path), "not a regular file (a pipe, socket or device)")
        return
    try:
        data = path.read_bytes()
    except OSError as e:
        yield InputError(str(path), f"could not read: {e.strerror or e}")
        return
    yield from parse(_file_origin(path, under), path.suffix.lower(), data)


def _file_origin(path: PurePath, under: PurePath | None = None) -> Origin:
    """Name a file after its path below the directory it was found under: docs/a/notes.txt -> 'a/notes'.

    Two notes.txt in different folders are two articles, not one replacing the other. A file given
    by itself, or directly inside the directory, is named by its stem alone ('notes'), as before
    folders counted, so indexes of flat folders keep their ids.
    """
    folders = path.parent.relative_to(under).parts if under is not None else ()
    article_id = "/".join([*map(_slug, folders), _slug(path.stem)])
    return Origin(source=str(path), id=article_id, fallback_title=_humanize(path.stem))


def _read_url(url: str, fetch: Fetch) -> Iterator[Result]:
    """Fetch a page and parse it by its Content-Type, since URLs rarely end in a suffix."""
    page = fetch_page(url, fetch)
    if isinstance(page, InputError):
        yield page
        return
    yield from _parsed_page(url, page, _url_origin(url, page.url))


def _parsed_page(url: str, page: Page, origin: Origin) -> Iterator[Result]:
    media_type = page.content_type.split(";")[0].strip().lower()
    suffix = SUFFIX_BY_MEDIA_TYPE.get(media_type)
    if suffix is None:
        yield InputError(
            url,
            f"unsupported content type '{media_type or 'none'}' "
            "(expected HTML, PDF, plain text or Markdown)",
        )
        return
    # Trust a declared charset (say ISO-8859-1) over our UTF-8 default; PDFs are bytes either way.
    data = page.body
    if page.charset and suffix != ".pdf":
        with contextlib.suppress(LookupError):  # a charset Python does not know: read the bytes as UTF-8
            data = data.decode(page.charset, errors="replace").encode("utf-8")
    yield from parse(origin, suffix, data)


def _url_origin(url: str, final_url: str) -> Origin:
    """Name a page after the URL that was asked for, so its id survives a changed redirect."""
    parts = urlsplit(url)
    last_segment = PurePath(parts.path).stem
    return Origin(
        source=url,
        id=page_id(url),
        fallback_title=_humanize(last_segment) or parts.netloc,
        url=final_url,
    )


# ── formats ─────────────────────────────────────────────────────────────────────────────────


# ── helpers ─────────────────────────────────────────────────────────────────────────────────


def _article_identity(result: object) -> tuple[str, str] | None:
    return (result.id, result.source) if isinstance(result, Article) else None


def unique_ids(results: Iterable[T], identify: Callable[[T], tuple[str, str] | None] = _article_identity,
               ) -> Iterator[T | InputError]:
    """Pass results through, turning one whose id was already seen into an InputError.

    The one duplicate check: each reader applies it, and an ingest again across all its readers
    (whose items `identify` names as (id, source), or None for an item that names no article).
    """
    first_seen: dict[str, str] = {}
    for result in results:
        found = identify(result)
        if found is not None:
            article_id, source = found
            if article_id in first_seen:
                yield InputError(source, f"duplicate id '{article_id}' (first seen in {first_seen[article_id]})")
                continue
            first_seen[article_id] = source
        yield result


def _guarded(source: str, results: Iterator[Result]) -> Iterator[Result]:
    """Turn an exception nobody foresaw into an InputError, so one bad source never ends the run."""
    try:
        yield from results
    except Exception as e:  # noqa: BLE001 - that is the point: the run goes on with the next source
        yield InputError(source, f"unexpected error: {type(e).__name__}: {e}")


def _unsupported_suffix(source: str, suffix: str) -> InputError:
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    kind = f"file type '{suffix}'" if suffix else "file without an extension"
    return InputError(source, f"unsupported {kind} (supported: {supported})")


def _slug(name: str) -> str:
    """'Russian Volunteers (Syria)' -> 'russian-volunteers-syria'; accents are folded, not dropped."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    # A name with no latin letters at all ("東京") still needs a stable id.
    return slug or "article-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def _humanize(stem: str) -> str:
    """'russian-volunteers_syria' -> 'Russian volunteers syria'."""
    words = " ".join(re.split(r"[-_\s]+", stem)).strip()
    return words[:1].upper() + words[1:]


