"""Sync: keep the index in step with a feed, a sitemap, a list of pages or a folder, fetching only what changed.

    source ─┬─ feed ───── conditional GET ─ 304: done ─ entries ─ id + updated seen? ─┐
            ├─ sitemap ── conditional GET ─ 304: done ─ <url>s ─── lastmod seen? ─────┼─ conditional GET ─ read_page ─┐
            ├─ pages ─────────────────────────────────────────────────────────────────┘       (canonical URL = id)  │
            └─ folder ─── size and mtime seen? ─ hash seen? ─ read_unit ─────────────────────────────────────────────┤
                                                                                                                    v
                     write(articles, gone ids): one ingest, the index's own hash check and writer lock ─ then the
                     documents' new validators and the run record, in one transaction of sources.sqlite3

Change detection, cheapest first: a 304 for the feed or sitemap ends the run (one request); an entry
whose id and updated time, or a URL whose <lastmod>, are as last read is not fetched; a page
fetched again is asked for conditionally (ETag, Last-Modified), and one whose text is the same is
not embedded (the indexer's hash check). Files: size and mtime, then a hash of the bytes.

Every fetch goes through fetch.py's guard (public addresses only, each redirect hop, size and time
limits), feeds and sitemaps with the smaller MAX_FEED_BYTES; robots.txt is honoured per host
unless the source says not to, and requests to one host are spaced by `host_delay`.

Pages that left a sitemap, or files that left a folder, are removed only when the source has
`remove_missing` and every sitemap was read whole this run; feeds only add and update (a feed
drops its old entries as new ones come).

The state is written after the index commits: a run killed half way (`kill -9`) leaves the
index as it was (a run of fewer than BATCH_CHUNKS chunks is one transaction) and the state as it
was, and the next run does it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from assistant.errors import AssistantError, InputError, SitemapLoop
from assistant.ingest.feeds import Listed, kind_of, parse_feed, parse_sitemap, robots_rules
from assistant.ingest.fetch import USER_AGENT, Fetch, Page, fetch_page, open_client
from assistant.ingest.indexer import IngestReport
from assistant.ingest.sources import read_page, read_unit, source_units
from assistant.limits import (
    BACKOFF_CAP, BACKOFF_START, MAX_FEED_BYTES, MAX_SITEMAP_DEPTH, MAX_SITEMAPS, MAX_SYNC_FETCHES, MB,
)
from assistant.store.sources import Document, Run, Source, SourceStore
from assistant.types import Article

log = logging.getLogger(__name__)

# Writes the articles read and removes the gone ids, as one ingest (Assistant.ingest_articles).
Write = Callable[[list[Article], list[str]], IngestReport]

_SITEMAP = "sitemap\n"  # a document row's marker prefix for a sitemap (not a page) of a sitemap index
# The marker of a page listed but not read (it failed, or the run reached MAX_SYNC_FETCHES): the
# next run fetches it even when its feed or sitemap answers 304.
_PENDING = "pending\n"
MIN_EVERY = 60.0  # seconds: no source is polled more often than once a minute
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str | float) -> float:
    """'30m' -> 1800.0; '2h', '1d', '90s' or plain seconds; at least MIN_EVERY."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = re.fullmatch(r"(\d{1,9}(?:\.\d{1,6})?) ?([smhd]?)", str(text).strip().lower())
        if not match:
            raise AssistantError(f"interval {text!r} is not a duration like 30m, 2h, 1d or 90s")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < MIN_EVERY:
        raise AssistantError(f"interval {text!r} is shorter than {MIN_EVERY:g} s; sync a source at most once a minute")
    return seconds


def next_run(source: Source, failed: bool, now: float, rng: random.Random | None = None) -> tuple[int, float]:
    """(failures in a row, when to run next): the interval after a success, an exponential back-off
    after failures (1 min, 2, 4, ... up to the interval or BACKOFF_CAP, whichever is longer); each
    with ±10% jitter, so sources added together do not stay in step."""
    rng = rng or random.Random()
    failures = source.failures + 1 if failed else 0
    delay = min(BACKOFF_START * 2 ** (failures - 1), max(source.every, BACKOFF_CAP)) if failed else source.every
    return failures, now + delay * rng.uniform(0.9, 1.1)


# ── fetching, politely ──────────────────────────────────────────────────────────────────────


class Fetcher:
    """One run's requests: one client, fetch.py's guard on each, counted, spaced per host, robots.txt
    honoured. Only this run's thread uses it."""

    def __init__(self, fetch: Fetch, run: Run, *, host_delay: float, robots: bool):
        self.fetch, self.run, self.host_delay, self.robots = fetch, run, host_delay, robots
        self._client = open_client(fetch)
        self._last: dict[str, float] = {}  # host -> when its last request went out
        self._rules: dict[str, object | None] = {}  # host -> its robots.txt rules (None: none)

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, known: Document | None = None, *, listing: bool = False) -> Page | InputError:
        """GET `url`, conditionally when `known` has validators; `listing`: a feed or sitemap (MAX_FEED_BYTES)."""
        headers = {}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        fetch = self.fetch
        if listing:
            fetch = dataclasses.replace(fetch, max_bytes=min(fetch.max_bytes, MAX_FEED_BYTES),
                                        limit_name=f"the limit for feeds and sitemaps ({MAX_FEED_BYTES // MB} MB)")
        self._wait(url)
        self.run.requests += 1
        return fetch_page(url, fetch, headers=headers, client=self._client)

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets this assistant fetch `url` (fetched once per host and run)."""
        if not self.robots:
            return True
        rules = self._robots(url)
        return rules is None or rules.can_fetch(USER_AGENT, url)

    def _robots(self, url: str):
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._rules:
            page = self.get(host + "/robots.txt")
            # No robots.txt (or none readable): everything is allowed, as crawlers read it.
            self._rules[host] = robots_rules(page.body.decode("utf-8", "replace")) \
                if isinstance(page, Page) and page.status == 200 else None
        return self._rules[host]

    def _wait(self, url: str) -> None:
        host = urlsplit(url).netloc.lower()
        delay = self.host_delay
        rules = self._rules.get(f"{urlsplit(url).scheme}://{urlsplit(url).netloc}")
        if rules is not None:
            delay = max(delay, min(float(rules.crawl_delay(USER_AGENT) or 0), 60.0))  # type: ignore[attr-defined]
        if host in self._last:
            time.sleep(max(0.0, self._last[host] + delay - time.monotonic()))
        self._last[host] = time.monotonic()


def named(error: InputError, *, with_source: bool = True) -> str:
    """'UnsafeXML: http://…/feed.xml: refused: …': a run record names the kind of error where there is one."""
    text = str(error) if with_source else error.reason
    return text if type(error) is InputError else f"{type(error).__name__}: {text}"


# ── one run of one source ───────────────────────────────────────────────────────────────────


@dataclass
class _Pass:
    """What one run has found so far."""

    source: Source
    run: Run
    known: dict[str, Document]
    fetcher: Fetcher | None = None
    articles: list[Article] = field(default_factory=list)
    changed: list[Document] = field(default_factory=list)  # documents read anew, written after the index commits
    listings: list[Document] = field(default_factory=list)  # feeds and sitemaps read anew: kept if the run succeeds
    seen: set[str] = field(default_factory=set)  # URLs or files listed this run
    ids: dict[str, str] = field(default_factory=dict)  # article id -> the URL that gave it (canonical duplicates)
    whole: bool = True  # every sitemap (or the folder) was read whole: what was not seen is gone
    fetches: int = 0


def sync_source(source: Source, store: SourceStore, fetch: Fetch, write: Write, *,
                host_delay: float = 0.5) -> Run:
    """Run one source once: fetch what changed, write it through `write`, record the run.

    Never raises for what a source does (unreachable, refused, malformed): that is the run's
    `error` (the source could not be read) or one of its `errors` (a page could not).
    IndexLocked and other index errors end the run as failed too.
    """
    run = store.start(source.id)
    state = _Pass(source, run, store.documents(source.id))
    try:
        if source.kind == "folder":
            _folder(state)
        else:
            state.fetcher = Fetcher(fetch, run, host_delay=host_delay, robots=source.robots)
            try:
                _web(state, store)
            finally:
                state.fetcher.close()
        gone = _gone(state) if run.error is None else {}
        if state.articles or gone:
            report = write(state.articles, sorted({i for ids in gone.values() for i in ids}))
            run.added, run.updated, run.removed = report.added, report.updated, report.removed
            run.unchanged += report.unchanged
            for error in report.errors:
                run.page_error(error.source, error.reason)
        # A feed's or sitemap's validators are kept only after a run without error: a 304 next time
        # must mean that everything it lists was read.
        store.finish(run, state.changed + (state.listings if run.error is None else []), gone)
    except Exception as exc:  # a run records its failure; the scheduler goes on with the others
        if not isinstance(exc, AssistantError):
            log.exception("sync of source %s failed", source.id)
        run.error = str(exc) if isinstance(exc, AssistantError) else f"unexpected error: {type(exc).__name__}: {exc}"
        store.finish(run)  # the documents as they were: the next run does this one again
    return run


def _web(state: _Pass, store: SourceStore) -> None:
    source, run = state.source, state.run
    if source.kind == "pages":
        for url in source.location.split():
            _listed(state, Listed(url, None), parent=None)
        return
    page = _listing(state, source.location, parent=None)
    if page is None:
        return
    if page.status == 304:  # nothing changed: what it listed is still listed
        _still_listed(state, source.location, depth=1)
        return
    kind = kind_of(page.body, page.content_type)
    if source.kind == "url":  # learnt from the first read
        store.set_kind(source.id, "pages" if kind == "page" else kind)
    if kind == "feed":
        listed = parse_feed(page.url, page.body)
        if isinstance(listed, InputError):
            run.error = named(listed)
            return
        state.whole = False  # a feed drops old entries: never a reason to remove
        for entry in listed:
            _listed(state, entry, parent=source.location)
    elif kind == "sitemap":
        _sitemap(state, source.location, page, depth=1, visited={source.location})
    else:
        _page(state, source.location, page, parent=None, marker=None)


def _listing(state: _Pass, url: str, parent: str | None, marker: str | None = None) -> Page | None:
    """A feed or sitemap, conditionally; its document row noted; None (and the run failed) if unreadable."""
    assert state.fetcher is not None
    known = state.known.get(url)
    state.seen.add(url)
    page = state.fetcher.get(url, known, listing=True)
    if isinstance(page, InputError):
        state.run.error = named(page)
        state.whole = False
        return None
    if page.status != 304:
        state.listings.append(Document(url, parent, page.etag, page.last_modified, marker, None, ()))
    return page


def _sitemap(state: _Pass, url: str, page: Page, depth: int, visited: set[str]) -> None:
    """Read a sitemap (or a sitemap index, and the sitemaps it lists, each conditionally)."""
    parsed = parse_sitemap(url, page.body)
    if isinstance(parsed, InputError):
        state.run.error, state.whole = named(parsed), False
        return
    for child in parsed.sitemaps:
        if child.url in visited or depth >= MAX_SITEMAP_DEPTH or len(visited) >= MAX_SITEMAPS:
            why = ("it lists a sitemap already read this run" if child.url in visited else
                   f"sitemap indexes nest deeper than {MAX_SITEMAP_DEPTH}" if depth >= MAX_SITEMAP_DEPTH else
                   f"more than {MAX_SITEMAPS} sitemaps")
            state.run.error, state.whole = named(SitemapLoop(url, f"refused {child.url}: {why}")), False
            continue
        visited.add(child.url)
        known = state.known.get(child.url)
        if known is not None and child.marker and known.marker == _SITEMAP + child.marker:
            _still_listed(state, child.url, depth + 1)  # its <lastmod> in the index is as last read
            continue
        sub = _listing(state, child.url, parent=url, marker=_SITEMAP + (child.marker or ""))
        if sub is None:
            continue
        if sub.status == 304:
            _still_listed(state, child.url, depth + 1)
        else:
            _sitemap(state, child.url, sub, depth + 1, visited)
    for entry in parsed.pages:
        _listed(state, entry, parent=url)


def _still_listed(state: _Pass, url: str, depth: int) -> None:
    """A feed or sitemap unchanged since the last run: everything it listed counts as seen (not gone)."""
    state.seen.add(url)
    for doc in list(state.known.values()):
        if doc.parent != url or doc.url in state.seen:
            continue
        if doc.marker == _PENDING:
            _listed(state, Listed(doc.url, None), parent=url)
            continue
        state.seen.add(doc.url)
        if doc.marker and doc.marker.startswith(_SITEMAP):
            if depth < MAX_SITEMAP_DEPTH:
                _still_listed(state, doc.url, depth + 1)
        else:
            state.run.unchanged += 1


def _listed(state: _Pass, entry: Listed, parent: str | None) -> None:
    """A page a feed, sitemap or the source lists: fetched only if its marker says it may have changed."""
    if entry.url in state.seen:
        return
    state.seen.add(entry.url)
    known = state.known.get(entry.url)
    if known is not None and entry.marker is not None and known.marker == entry.marker:
        state.run.unchanged += 1
        return
    if state.fetches >= MAX_SYNC_FETCHES:  # the rest next run
        _pending(state, entry.url, known, parent)
        return
    assert state.fetcher is not None
    if not state.fetcher.allowed(entry.url):
        state.run.page_error(entry.url, "not fetched: robots.txt disallows it (the source can ignore robots.txt)")
        return
    state.fetches += 1
    page = state.fetcher.get(entry.url, known)
    if isinstance(page, InputError):
        state.run.page_error(entry.url, named(page, with_source=False))
        _pending(state, entry.url, known, parent)
        return
    if page.status == 304:
        state.run.unchanged += 1
        if known is not None:
            state.changed.append(dataclasses.replace(known, parent=parent, marker=entry.marker))
        return
    _page(state, entry.url, page, parent, entry.marker)


def _page(state: _Pass, url: str, page: Page, parent: str | None, marker: str | None) -> None:
    """A fetched page's article, named by its canonical URL; a second URL of one article adds nothing."""
    state.seen.add(url)
    ids = []
    for result in read_page(url, page, canonical=True):
        if isinstance(result, InputError):
            state.run.page_error(url, result.reason)
            continue
        ids.append(result.id)
        if result.id in state.ids:  # the same canonical URL as a page already read: one article
            continue
        state.ids[result.id] = url
        state.articles.append(result)
    if ids:
        state.changed.append(Document(url, parent, page.etag, page.last_modified, marker, None, tuple(ids)))
    else:
        _pending(state, url, state.known.get(url), parent)


def _pending(state: _Pass, url: str, known: Document | None, parent: str | None) -> None:
    """Note a listed page as not read, so the next run fetches it whatever its feed or sitemap says."""
    base = known or Document(url)
    state.changed.append(dataclasses.replace(base, parent=parent, marker=_PENDING, etag=None, last_modified=None))


# ── folders ─────────────────────────────────────────────────────────────────────────────────


def _folder(state: _Pass) -> None:
    """Each supported file under the folder: read again only if its size or mtime, then its hash, changed."""
    root = Path(state.source.location)
    if not root.is_dir():
        state.run.error = f"{root}: no such folder (was it moved? remove the source and add it again)"
        state.whole = False
        return
    for name, under in source_units([str(root)]):
        state.seen.add(name)
        known = state.known.get(name)
        try:
            stat = Path(name).stat()
            marker = f"{stat.st_size}:{stat.st_mtime_ns}"
            if known is not None and known.marker == marker:
                state.run.unchanged += 1
                continue
            digest = hashlib.sha256(Path(name).read_bytes()).hexdigest()
        except OSError as exc:
            state.run.page_error(name, f"could not read: {exc.strerror or exc}")
            continue
        if known is not None and known.hash == digest:  # touched, not changed
            state.run.unchanged += 1
            state.changed.append(dataclasses.replace(known, marker=marker))
            continue
        ids = []
        for result in read_unit(name, under):
            if isinstance(result, InputError):
                state.run.page_error(name, result.reason)
            elif result.id not in state.ids:
                state.ids[result.id] = name
                state.articles.append(result)
                ids.append(result.id)
        if ids:
            state.changed.append(Document(name, None, None, None, marker, digest, tuple(ids)))


def _gone(state: _Pass) -> dict[str, tuple[str, ...]]:
    """Documents no longer listed, and the article ids to remove with them (none still given by another)."""
    if not (state.source.remove_missing and state.whole) or state.source.kind in ("feed", "pages"):
        return {}
    gone = {url: doc.articles for url, doc in state.known.items() if url not in state.seen}
    kept = {i for url, doc in state.known.items() if url in state.seen for i in doc.articles} | set(state.ids)
    return {url: tuple(i for i in ids if i not in kept) for url, ids in gone.items()}


# ── the schedule ────────────────────────────────────────────────────────────────────────────


def loop(run_due: Callable[[], float], stop: threading.Event, *, wake: threading.Event | None = None,
         idle: float = 30.0) -> None:
    """Run due sources until `stop` is set; `run_due` syncs what is due and says how long until the next.

    It looks again after at most `idle` seconds (a source added by another process), or as soon as
    `wake` is set (a source added here; set it with `stop` to end the loop at once).
    """
    wake = wake or stop
    while not stop.is_set():
        try:
            wait = run_due()
        except Exception:  # the loop outlives any one failure (an index being rebuilt, a full disk)
            log.exception("sync: a scheduled run failed")
            wait = idle
        wake.wait(max(1.0, min(wait, idle)))
        if wake is not stop:
            wake.clear()


def due(sources: Sequence[Source], now: float) -> list[Source]:
    """The sources whose time has come, the longest overdue first."""
    return sorted((s for s in sources if s.next_run <= now), key=lambda s: s.next_run)
