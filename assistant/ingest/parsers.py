"""The file formats: bytes of .txt, .md, .html, .pdf or .jsonl -> Articles, or one InputError each.

    parse(origin, suffix, data) ─ PARSERS[suffix] ─ Article | InputError

Each article's text is kept verbatim (line endings aside), because citations quote `text[start:end]`;
Markdown is the one exception, stored as the plain text a reader sees (`markdown.py`), so what is
quoted is that text, never its markup.

Small inputs must not make huge work: front matter with YAML aliases is refused (a 30 KB file whose
title repeated one 10 KB string 5,000 times by reference took 45 s and 5.9 GB), titles are cut to
`MAX_TITLE_CHARS`, and an article whose text runs past `MAX_ARTICLE_CHARS` is refused, a PDF while
its pages are extracted (a 19.7 KB PDF whose 100 pages share one compressed stream expands to 97 MB).

trafilatura and pypdf are imported where they are used: they take long to import, which
`assistant --help` should not pay.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from assistant.errors import InputError
from assistant.ingest.markdown import plain_text
from assistant.limits import MAX_ARTICLE_CHARS, MAX_TITLE_CHARS
from assistant.text.sentences import reads_as_heading
from assistant.types import Article

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}
)


# Like git and grep: a NUL byte among the first 8 KB means the file is not text.
BINARY_SNIFF_BYTES = 8192


Result = Article | InputError


@dataclass(frozen=True)
class Origin:
    """Where some bytes came from, and what to call them when the content does not say."""

    source: str  # for messages and Article.source: a path or the URL as given
    id: str
    fallback_title: str
    url: str | None = None  # for fetched pages: the final URL after redirects


Parser = Callable[[Origin, bytes], Iterator[Result]]


SUFFIX_BY_MEDIA_TYPE = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}


def parse(origin: Origin, suffix: str, data: bytes) -> Iterator[Result]:
    if not data.strip():
        yield InputError(origin.source, "empty file")
        return
    yield from PARSERS[suffix](origin, data)


def _parse_txt(origin: Origin, text: str) -> Iterator[Result]:
    """Plain text: a short first line that is not a sentence is the title, and `published:`,
    `author:` or `url:` lines right under it are metadata; neither stays in the text, where the
    answerer would quote a headline or a date as if it were a sentence of the article."""
    lines = text.lstrip("\n").split("\n")
    first_line = lines[0].strip()
    if not reads_as_heading(first_line) or len(lines) == 1:
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


def _parse_markdown(origin: Origin, text: str) -> Iterator[Result]:
    """Markdown: stored as plain text (`markdown.plain_text`); the title from front matter, else
    from the first `# heading`, which is not repeated in the text."""
    split = _split_front_matter(origin.source, text)
    if isinstance(split, InputError):
        yield split
        return
    meta, body = split
    if len(body) > MAX_ARTICLE_CHARS:  # before parsing: markdown-it reads about 3 MB a second
        yield _too_long(origin.source, f"it has {len(body):,}")
        return
    plain = plain_text(body, title=meta.get("title"))
    if not plain.text.strip():
        yield InputError(origin.source, "no text after the front matter")
        return
    yield _article(
        origin,
        plain.text,
        title=meta.get("title") or plain.heading,
        url=meta.get("url"),
        published=meta.get("published") or meta.get("date"),
        author=meta.get("author"),
    )


# `---` on the first line, simple `key: value` lines, then `---` on a line of its own.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*(?:\n|\Z)", re.MULTILINE | re.DOTALL)


def _split_front_matter(source: str, text: str) -> tuple[dict[str, str], str] | InputError:
    """The front matter static-site generators write, as text fields, and the text after it.

    YAML, so lists (`author: [A, B]`, or one `- item` a line) and multi-line values (`title: >`)
    read as written. PyYAML's BaseLoader keeps every scalar the text it is ("2015-10-21T10:00Z"
    stays that, not a datetime; "yes" is not True) and builds no objects; only strings and lists of
    strings are taken. Aliases (`*name`) are refused before anything is built: `title: [*a, *a, ...]`
    repeats a 10 KB string thousands of times from a few bytes each. Front matter YAML refuses
    (`title: Part 1: Before`, hand-written) is read as the `key: value` lines it looks like.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(match.group(1), Loader=yaml.BaseLoader)):
            return InputError(source, "front matter uses a YAML alias (*name); write each value out in full")
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


def _parse_html(origin: Origin, html: str) -> Iterator[Result]:
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


def _parse_pdf(origin: Origin, data: bytes) -> Iterator[Result]:
    """PDF: the text layer of each page, pages separated by a blank line."""
    import pypdf

    try:
        with _quiet("pypdf"):  # its warnings ("EOF marker not found") repeat our one-line error
            reader = pypdf.PdfReader(io.BytesIO(data))
            pages = _pdf_pages(reader)
            info = reader.metadata  # None when the PDF carries no document information
    except _TooLong as e:
        yield _too_long(origin.source, f"past it by page {e.page} of {len(reader.pages)}")
        return
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


class _TooLong(Exception):
    """A PDF's text ran past `MAX_ARTICLE_CHARS` while page `page` was extracted."""

    def __init__(self, page: int):
        self.page = page


def _pdf_pages(reader) -> list[str]:
    """The text of each page; _TooLong the moment the text passes `MAX_ARTICLE_CHARS`.

    Counted as pypdf extracts, not after: pages can share one content stream, and a page can draw
    one form many times, so a few kilobytes of PDF can hold gigabytes of text.
    """
    extracted, number = 0, 0

    def count(text: str, *_: object) -> None:  # pypdf's visitor_text: each piece of text as it is found
        nonlocal extracted
        extracted += len(text)
        if extracted > MAX_ARTICLE_CHARS:
            raise _TooLong(number)

    pages = []
    for number, page in enumerate(reader.pages, start=1):  # noqa: B007 - `count` reads the page number
        pages.append(page.extract_text(visitor_text=count) or "")
    return pages


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


def _parse_jsonl(origin: Origin, text: str) -> Iterator[Result]:
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
    origin = Origin(source=f"{path}:{number}", id=article_id, fallback_title=article_id)
    optional = {key: _str_or_none(record.get(key)) for key in ("url", "published", "author")}
    return _article(origin, text, title=_str_or_none(record.get("title")), **optional)


def _text_format(parse: Callable[[Origin, str], Iterator[Result]]) -> Parser:
    """Let a parser of text take bytes: decoded, checked, with \\n line endings."""

    def parse_bytes(origin: Origin, data: bytes) -> Iterator[Result]:
        text = _decode(origin.source, data)
        if isinstance(text, InputError):
            yield text
        elif not text.strip():  # a BOM and blank lines pass the check on bytes
            yield InputError(origin.source, "empty file")
        else:
            yield from parse(origin, _normalize_newlines(text))

    return parse_bytes


PARSERS: dict[str, Parser] = {
    ".txt": _text_format(_parse_txt),
    ".md": _text_format(_parse_markdown),
    ".markdown": _text_format(_parse_markdown),
    ".html": _text_format(_parse_html),
    ".htm": _text_format(_parse_html),
    ".pdf": _parse_pdf,
    ".jsonl": _text_format(_parse_jsonl),
}


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
    origin: Origin,
    text: str,
    *,
    title: str | None,
    url: str | None = None,
    published: str | None = None,
    author: str | None = None,
) -> Result:
    """The Article for `origin`: line endings become \\n, the text is otherwise kept as given.

    Without a title, the article is named after its file or URL; a title longer than
    `MAX_TITLE_CHARS` is cut, with an ellipsis. Verbatim because citations later quote
    `text[start:end]`. A fetched page keeps the URL it was fetched from, not the canonical link it
    claims. A text longer than `MAX_ARTICLE_CHARS` is an InputError instead.
    """
    if len(text) > MAX_ARTICLE_CHARS:
        return _too_long(origin.source, f"it has {len(text):,}")
    title = (title or "").strip() or origin.fallback_title
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return Article(
        id=origin.id,
        title=title,
        text=_normalize_newlines(text),
        url=origin.url or url,
        source=origin.source,
        published=published,
        author=author,
    )


def _too_long(source: str, detail: str) -> InputError:
    return InputError(source, f"the text is longer than {MAX_ARTICLE_CHARS:,} characters, the most one article "
                              f"may hold ({detail}); split it into several files")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
