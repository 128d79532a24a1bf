"""Turn paths and URLs into Articles: one per readable article, one InputError per failure.

A run never stops on a bad source. Every failure (a missing file, a corrupt PDF, one malformed
JSONL line, an exception nobody foresaw) becomes an `InputError` value in the stream, so the
indexer indexes what it can and reports the rest.

    inputs ─┬─ URL ───────── fetch ─ Content-Type ─┐
            ├─ directory ─── walk ──── suffix ─────┼─ _PARSERS[suffix] ─ Article | InputError
            └─ file ──────────────── suffix ───────┘

A URL is fetched only from a public address: the host is resolved, every address checked
(loopback, private, link-local, multicast, reserved and unspecified ones refused, IPv4 inside IPv6
included), and the connection made to the address that was checked, so a second DNS answer cannot
swap in another. Each redirect hop is checked the same way. The body is read up to the upload
limit. Every way of not getting a page from a host reads the same, so errors cannot map which
internal ports are open. Intranet hosts are allowed by name (`Fetch.allow_hosts`).

trafilatura, pypdf and httpx are imported where they are used: together they take about half a
second to import, which `assistant --help` should not pay.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import logging
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urljoin, urlsplit

from assistant import __version__
from assistant.errors import InputError
from assistant.types import Article

if TYPE_CHECKING:
    import httpx

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}
)
USER_AGENT = f"assistant/{__version__} (article question-answering assistant)"

# A title is a short line that is not a sentence: "Russian volunteers in Syria", not "They went.".
MAX_TITLE_CHARS = 100
SENTENCE_END = (".", "!", "?", "…")
# Like git and grep: a NUL byte among the first 8 KB means the file is not text.
BINARY_SNIFF_BYTES = 8192

Result = Article | InputError
T = TypeVar("T")
MB = 1024 * 1024
MAX_UPLOAD_FILES = 20  # files in one upload, through the API or the page
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetch:
    """How URLs are fetched: how long to wait, how many bytes to read, which hosts may be internal."""

    timeout: float = 20.0
    max_bytes: int = 20 * MB  # the upload limit: a page is no bigger than a file
    allow_hosts: frozenset[str] = frozenset()  # names (or addresses) fetched even when not public


@dataclass(frozen=True)
class _Origin:
    """Where some bytes came from, and what to call them when the content does not say."""

    source: str  # for messages and Article.source: a path or the URL as given
    id: str
    fallback_title: str
    url: str | None = None  # for fetched pages: the final URL after redirects


Parser = Callable[[_Origin, bytes], Iterator[Result]]


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
    return list(unique_ids(_guarded(name, _parse(_file_origin(path), suffix, data))))


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
    yield from _parse(_file_origin(path, under), path.suffix.lower(), data)


def _file_origin(path: PurePath, under: PurePath | None = None) -> _Origin:
    """Name a file after its path below the directory it was found under: docs/a/notes.txt -> 'a/notes'.

    Two notes.txt in different folders are two articles, not one replacing the other. A file given
    by itself, or directly inside the directory, is named by its stem alone ('notes'), as before
    folders counted, so indexes of flat folders keep their ids.
    """
    folders = path.parent.relative_to(under).parts if under is not None else ()
    article_id = "/".join([*map(_slug, folders), _slug(path.stem)])
    return _Origin(source=str(path), id=article_id, fallback_title=_humanize(path.stem))


@dataclass(frozen=True)
class _Page:
    url: str  # after redirects
    content_type: str
    charset: str | None
    body: bytes


def _read_url(url: str, fetch: Fetch) -> Iterator[Result]:
    """Fetch a page and parse it by its Content-Type, since URLs rarely end in a suffix."""
    page = _fetch(url, fetch)
    if isinstance(page, InputError):
        yield page
        return
    media_type = page.content_type.split(";")[0].strip().lower()
    suffix = _SUFFIX_BY_MEDIA_TYPE.get(media_type)
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
    yield from _parse(_url_origin(url, page.url), suffix, data)


def _fetch(url: str, fetch: Fetch) -> _Page | InputError:
    """GET from public addresses only, each redirect hop checked, at most `fetch.max_bytes` read."""
    import httpx

    unreachable = InputError(url, f"could not fetch: no page at this address (unreachable, no answer within "
                                  f"{fetch.timeout:g} s, or not a public address; an intranet host can be allowed "
                                  "in ASSISTANT_FETCH_ALLOW_HOSTS)")
    too_big = InputError(url, f"could not fetch: the page is larger than {fetch.max_bytes / MB:g} MB, "
                              "the upload limit (ASSISTANT_MAX_UPLOAD_MB)")
    # trust_env=False: a proxy from the environment would connect wherever the URL says, unchecked.
    client = httpx.Client(timeout=fetch.timeout, follow_redirects=False, trust_env=False,
                          headers={"User-Agent": USER_AGENT})
    try:
        with client:
            for _ in range(MAX_REDIRECTS + 1):
                target = httpx.URL(url)
                address = _checked_address(target, fetch.allow_hosts)
                if address is None:
                    return unreachable
                # To the checked address, under the host's name (Host header, TLS name check).
                request = client.build_request(
                    "GET", target.copy_with(host=address), headers={"Host": target.netloc.decode("ascii")},
                    extensions={"sni_hostname": target.host},
                )
                response = client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        url = urljoin(url, response.headers["location"])
                        continue
                    response.raise_for_status()
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > fetch.max_bytes:
                        return too_big
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        if len(body) > fetch.max_bytes:
                            return too_big
                    return _Page(url, response.headers.get("content-type", ""), response.charset_encoding,
                                 bytes(body))
                finally:
                    response.close()
            return InputError(url, f"could not fetch: more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPStatusError as e:
        return InputError(url, f"could not fetch: HTTP {e.response.status_code} {e.response.reason_phrase}")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError, ValueError):
        return unreachable


def _checked_address(url: httpx.URL, allow_hosts: frozenset[str]) -> str | None:
    """The address to connect to for `url`: its first, if every address of its host is public
    (or the host is allowed by name); None otherwise."""
    if url.scheme not in ("http", "https") or not url.host:
        return None
    try:
        infos = socket.getaddrinfo(url.host, url.port or (443 if url.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        return None
    if url.host.lower() not in allow_hosts and not all(map(is_public, addresses)):
        return None
    return str(addresses[0])


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routed unicast address; IPv4 carried inside IPv6 (::ffff:, 6to4, Teredo, NAT64)
    is judged as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_private)


_SUFFIX_BY_MEDIA_TYPE = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}


def _url_origin(url: str, final_url: str) -> _Origin:
    """Name a page after the URL that was asked for, so its id survives a changed redirect."""
    parts = urlsplit(url)
    last_segment = PurePath(parts.path).stem
    return _Origin(
        source=url,
        id=_slug(parts.netloc + parts.path),
        fallback_title=_humanize(last_segment) or parts.netloc,
        url=final_url,
    )


# ── formats ─────────────────────────────────────────────────────────────────────────────────


def _parse(origin: _Origin, suffix: str, data: bytes) -> Iterator[Result]:
    if not data.strip():
        yield InputError(origin.source, "empty file")
        return
    yield from _PARSERS[suffix](origin, data)


def _parse_txt(origin: _Origin, text: str) -> Iterator[Result]:
    """Plain text: a short first line that is not a sentence is the title, and `published:`,
    `author:` or `url:` lines right under it are metadata; neither stays in the text, where the
    answerer would quote a headline or a date as if it were a sentence of the article."""
    lines = text.lstrip("\n").split("\n")
    first_line = lines[0].strip()
    if len(first_line) > MAX_TITLE_CHARS or first_line.endswith(SENTENCE_END) or len(lines) == 1:
        yield _article(origin, text, title=None)
        return
    meta, rest = {}, 1
    while rest < len(lines) and rest <= TXT_META_LINES:
        line = lines[rest].strip()
        match = _TXT_META.fullmatch(line)
        if match:
            meta[_TXT_META_KEYS[match.group(1).lower()]] = match.group(2).strip()
        elif line:
            break
        rest += 1
    body = "\n".join(lines[rest:]).lstrip("\n")
    if not body.strip():  # a one-line note: its line is the title and the text
        body = text
    yield _article(origin, body, title=first_line, **meta)


# "published: 2019-05-02", "Author: Jane Doe" under a plain-text title; `date:` as in front matter.
TXT_META_LINES = 6
_TXT_META_KEYS = {"published": "published", "date": "published", "author": "author", "url": "url"}
_TXT_META = re.compile(r"(published|date|author|url)[ \t]*:[ \t]*(\S.*)", re.IGNORECASE)


def _parse_markdown(origin: _Origin, text: str) -> Iterator[Result]:
    """Markdown: title from front matter, else from the first `# ` heading."""
    meta, body = _split_front_matter(text)
    if not body.strip():
        yield InputError(origin.source, "no text after the front matter")
        return
    heading = _FIRST_H1.search(body)
    yield _article(
        origin,
        body,
        title=meta.get("title") or (heading.group(1).rstrip(" \t#") if heading else None),
        url=meta.get("url"),
        published=meta.get("published") or meta.get("date"),
        author=meta.get("author"),
    )


# `---` on the first line, simple `key: value` lines, then `---` on a line of its own.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*(?:\n|\Z)", re.MULTILINE | re.DOTALL)
# The closing "#"s and blanks are stripped after the match: a lazy `(.+?)[ \t#]*$` backtracked
# quadratically ("# a" + 60,000 spaces + "b" took 27.6 s).
_FIRST_H1 = re.compile(r"^#[ \t]+([^\n]+)", re.MULTILINE)


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The front matter static-site generators write, as text fields, and the text after it.

    YAML, so lists (`author: [A, B]`, or one `- item` a line) and multi-line values (`title: >`)
    read as written. PyYAML's BaseLoader keeps every scalar the text it is ("2015-10-21T10:00Z"
    stays that, not a datetime; "yes" is not True) and builds no objects; only strings and lists of
    strings are taken, so a nested or aliased structure is never walked. Front matter YAML refuses
    (`title: Part 1: Before`, hand-written) is read as the `key: value` lines it looks like.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        parsed = yaml.load(match.group(1), Loader=yaml.BaseLoader)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        return _front_matter_lines(match.group(1)), text[match.end() :]
    meta = {str(key).lower(): _text_value(value) for key, value in parsed.items()}
    return {key: value for key, value in meta.items() if value}, text[match.end() :]


def _text_value(value: object) -> str | None:
    """A front-matter value as one line of text: a string, or a list of strings joined ("A, B")."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ", ".join(v.strip() for v in value if v.strip())
    return " ".join(value.split()) if isinstance(value, str) else None


def _front_matter_lines(block: str) -> dict[str, str]:
    """`key: value` lines, for front matter that is not valid YAML."""
    meta = {}
    for line in block.split("\n"):
        key, sep, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if sep and value and not line[:1].isspace():
            meta[key.strip().lower()] = value
    return meta


def _parse_html(origin: _Origin, html: str) -> Iterator[Result]:
    """HTML: trafilatura keeps the article and drops navigation, ads and footers."""
    import trafilatura

    text = trafilatura.extract(
        html, url=origin.url, output_format="txt", include_comments=False
    )
    if not text or not text.strip():
        yield InputError(origin.source, "no main text found in HTML")
        return
    meta = trafilatura.extract_metadata(html, default_url=origin.url)
    yield _article(
        origin,
        text,
        title=meta.title,
        url=meta.url,
        published=meta.date,
        author=meta.author,
    )


def _parse_pdf(origin: _Origin, data: bytes) -> Iterator[Result]:
    """PDF: the text layer of each page, pages separated by a blank line."""
    import pypdf

    try:
        with _quiet("pypdf"):  # its warnings ("EOF marker not found") repeat our one-line error
            reader = pypdf.PdfReader(io.BytesIO(data))
            pages = [page.extract_text() or "" for page in reader.pages]
            info = reader.metadata  # None when the PDF carries no document information
    except Exception as e:  # noqa: BLE001 - pypdf raises many types for broken files; all mean the same here
        reason = str(e).split("\n")[0][:120] or type(e).__name__
        yield InputError(origin.source, f"not a readable PDF: {reason}")
        return
    text = "\n\n".join(pages)
    if not text.strip():
        yield InputError(origin.source, "PDF has no extractable text (scanned?)")
        return
    title, author = (info.title, info.author) if info else (None, None)
    yield _article(origin, text, title=title, author=_str_or_none(author))


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a library's warnings for the duration of one parse."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse_jsonl(origin: _Origin, text: str) -> Iterator[Result]:
    """JSON Lines: one article per line; a bad line is reported and the others still count."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield _jsonl_article(origin.source, number, line)


def _jsonl_article(path: str, number: int, line: str) -> Result:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return InputError(path, f"malformed JSON: {e.msg} (column {e.colno})", line=number)
    if not isinstance(record, dict):
        kind = type(record).__name__
        return InputError(path, f"expected a JSON object, got {kind}", line=number)
    if record.get("id") in (None, ""):
        return InputError(path, "missing 'id'", line=number)
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return InputError(path, "missing or empty 'text'", line=number)
    for key in ("title", "url", "published", "author"):
        if isinstance(record.get(key), (dict, list)):  # would be stored as its repr
            return InputError(path, f"'{key}' must be a string, got a JSON {type(record[key]).__name__}", line=number)
    article_id = str(record["id"])
    if not article_id.isprintable():  # a newline breaks `assistant articles` and DELETE /api/articles/{id}
        return InputError(path, f"'id' {article_id!r} contains a newline or control character", line=number)
    if {".", ".."} & set(article_id.split("/")):  # /articles/a/../b is /articles/b to a browser
        return InputError(path, f"'id' {article_id!r} has a '.' or '..' part; ids are paths in links", line=number)
    origin = _Origin(source=f"{path}:{number}", id=article_id, fallback_title=article_id)
    optional = {key: _str_or_none(record.get(key)) for key in ("url", "published", "author")}
    return _article(origin, text, title=_str_or_none(record.get("title")), **optional)


def _text_format(parse: Callable[[_Origin, str], Iterator[Result]]) -> Parser:
    """Let a parser of text take bytes: decoded, checked, with \\n line endings."""

    def parse_bytes(origin: _Origin, data: bytes) -> Iterator[Result]:
        text = _decode(origin.source, data)
        if isinstance(text, InputError):
            yield text
        elif not text.strip():  # a BOM and blank lines pass the check on bytes
            yield InputError(origin.source, "empty file")
        else:
            yield from parse(origin, _normalize_newlines(text))

    return parse_bytes


_PARSERS: dict[str, Parser] = {
    ".txt": _text_format(_parse_txt),
    ".md": _text_format(_parse_markdown),
    ".markdown": _text_format(_parse_markdown),
    ".html": _text_format(_parse_html),
    ".htm": _text_format(_parse_html),
    ".pdf": _parse_pdf,
    ".jsonl": _text_format(_parse_jsonl),
}


# ── helpers ─────────────────────────────────────────────────────────────────────────────────


def _decode(source: str, data: bytes) -> str | InputError:
    """Bytes of a text format to str, or the reason they are not text."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return InputError(source, "binary file, not text")
    try:
        # Plain utf-8 rather than utf-8-sig, whose error positions skip the BOM: here byte N is
        # byte N of the file. The BOM (which some Windows editors write) is dropped after.
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return InputError(source, f"not valid UTF-8 at byte {e.start}")
    return text.removeprefix("\ufeff")


def _article(
    origin: _Origin,
    text: str,
    *,
    title: str | None,
    url: str | None = None,
    published: str | None = None,
    author: str | None = None,
) -> Article:
    """The Article for `origin`: line endings become \\n, the text is otherwise kept verbatim.

    Without a title, the article is named after its file or URL. Verbatim because citations later
    quote `text[start:end]`. A fetched page keeps the URL it was fetched from, not the canonical
    link it claims.
    """
    return Article(
        id=origin.id,
        title=(title or "").strip() or origin.fallback_title,
        text=_normalize_newlines(text),
        url=origin.url or url,
        source=origin.source,
        published=published,
        author=author,
    )


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


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


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
