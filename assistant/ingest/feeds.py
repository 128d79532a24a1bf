"""Feeds, sitemaps and robots.txt -> the pages they list and what says whether each changed.

    body ── kind_of ─┬─ feed ──── no entities (defusedxml) ─ feedparser ───── [Listed(url, id + updated)]
                     ├─ sitemap ─ no entities (defusedxml) ─ <urlset> ──────── [Listed(url, lastmod)]
                     │                                     └ <sitemapindex> ── [Listed(sitemap, lastmod)]
                     └─ page

Libraries, not hand parsing: feedparser reads RSS 0.9x-2.0, RSS 1.0 and Atom, including the many
feeds that are not well-formed XML; defusedxml parses sitemaps, and checks every feed before
feedparser sees it. Either refuses a document that declares entities (`UnsafeXML`): no feed or
sitemap needs one, and "billion laughs" (ten entities each ten times the one before: 3 KB that
expand to 1 GB) is the reason. Bounds: the bytes read are capped by the fetch (MAX_FEED_BYTES),
the entries taken by MAX_SYNC_ENTRIES; nesting and loops of sitemap indexes are ingest/sync.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

from assistant.errors import InputError, UnsafeXML
from assistant.limits import MAX_SYNC_ENTRIES


@dataclass(frozen=True)
class Listed:
    """A page (or a sitemap) a feed or sitemap lists, with what changes when it changes."""

    url: str
    marker: str | None  # a feed entry's id and updated time, a sitemap's <lastmod>; None: unknown


@dataclass(frozen=True)
class Sitemap:
    pages: list[Listed]
    sitemaps: list[Listed]  # what a sitemap index lists


# The root element's name, after an XML declaration, comments, processing instructions and a DOCTYPE.
_ROOT = re.compile(rb"^(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*<([A-Za-z_][\w.:-]*)", re.S)
_FEED_ROOTS = {b"rss", b"feed", b"rdf:RDF", b"RDF", b"channel"}
_SITEMAP_ROOTS = {b"urlset", b"sitemapindex"}


def kind_of(body: bytes, content_type: str = "") -> Literal["feed", "sitemap", "page"]:
    """What a fetched document is, by its root element (Content-Types of feeds vary too much to trust)."""
    head = body[:65536].lstrip(b"\xef\xbb\xbf")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: read the root's name as ASCII
        head = head[2:].replace(b"\x00", b"")
    match = _ROOT.match(head)
    root = match.group(1) if match else b""
    local = root.split(b":")[-1]
    if local in _SITEMAP_ROOTS:
        return "sitemap"
    if root in _FEED_ROOTS or local in _FEED_ROOTS:
        return "feed"
    return "page"


def parse_feed(url: str, body: bytes) -> list[Listed] | InputError:
    """The pages a feed lists (its entries' links), newest as the feed orders them, at most MAX_SYNC_ENTRIES."""
    import feedparser

    if (refused := _entities(url, body, well_formed_only=False)) is not None:
        return refused
    # Bytes, never a str: feedparser.parse reads a str as a URL or file name and would open it.
    parsed = feedparser.parse(body, response_headers={"content-location": url}, sanitize_html=False)
    if not parsed.entries and parsed.get("bozo") and not parsed.get("feed"):
        return InputError(url, f"not a feed: {parsed.get('bozo_exception') or 'no entries'}")
    listed = []
    for entry in parsed.entries[:MAX_SYNC_ENTRIES]:
        link = _http_url(urljoin(url, entry.get("link") or ""))
        if link is None:
            continue
        updated = entry.get("updated") or entry.get("published") or ""
        listed.append(Listed(link, f"{entry.get('id') or link}\n{updated}"))
    return listed


def parse_sitemap(url: str, body: bytes) -> Sitemap | InputError:
    """A sitemap's pages, or a sitemap index's sitemaps, with their <lastmod>s."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        return _unsafe(url, exc)
    except ParseError as exc:
        return InputError(url, f"not a sitemap: the XML is not well-formed ({exc})")
    pages: list[Listed] = []
    sitemaps: list[Listed] = []
    into = sitemaps if _local(root.tag) == "sitemapindex" else pages
    for element in root:
        if len(pages) + len(sitemaps) >= MAX_SYNC_ENTRIES:
            break
        fields = {_local(child.tag): (child.text or "").strip() for child in element}
        loc = _http_url(urljoin(url, fields.get("loc", "")))
        if loc is not None:
            into.append(Listed(loc, fields.get("lastmod") or None))
    return Sitemap(pages, sitemaps)


def robots_rules(text: str):
    """robots.txt as a `urllib.robotparser.RobotFileParser` (can_fetch, crawl_delay)."""
    from urllib.robotparser import RobotFileParser

    rules = RobotFileParser()
    rules.parse(text.splitlines())
    return rules


def _entities(url: str, body: bytes, *, well_formed_only: bool) -> InputError | None:
    """UnsafeXML if the document declares entities. A feed that is not well-formed XML (feedparser
    reads many) passes only without any <!ENTITY, in UTF-8 or UTF-16."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        return _unsafe(url, exc)
    except ParseError:
        if b"<!ENTITY" in body.replace(b"\x00", b"").upper():
            return UnsafeXML(url, "refused: the document declares XML entities (and is not well-formed XML)")
    return None


def _unsafe(url: str, exc: Exception) -> UnsafeXML:
    return UnsafeXML(url, f"refused: the document declares XML entities, which feeds and sitemaps never need "
                          f"(an entity expansion bomb is the usual reason): {type(exc).__name__}")


def _local(tag: object) -> str:
    """'{http://www.sitemaps.org/schemas/sitemap/0.9}loc' -> 'loc'."""
    return str(tag).rsplit("}", 1)[-1]


def _http_url(url: str) -> str | None:
    url = url.strip()
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None
