"""Reading articles from files, directories, uploads and URLs, and reporting what cannot be read."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakes import drip

from assistant.errors import InputError
from assistant.ingest import parsers, sources
from assistant.ingest.fetch import Fetch
from assistant.ingest.parsers import SUPPORTED_SUFFIXES
from assistant.limits import MAX_TITLE_CHARS, MB
from assistant.ingest.sources import read_sources, read_upload
from assistant.types import Article

DATA = Path(__file__).parent / "data" / "sources"


def read(*inputs: Path | str, **kwargs) -> list[Article | InputError]:
    return list(read_sources([str(i) for i in inputs], **kwargs))


def articles(results) -> list[Article]:
    return [r for r in results if isinstance(r, Article)]


def errors(results) -> list[InputError]:
    return [r for r in results if isinstance(r, InputError)]


def only_error(results) -> InputError:
    assert len(results) == 1 and isinstance(results[0], InputError), results
    return results[0]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def make_pdf(*pages: str, title: str | None = None) -> bytes:
    """A minimal valid PDF, assembled by hand: one Helvetica text object per page, a correct xref.

    Each line of a page's text is drawn with its own Tj, 14 points below the previous one.
    """

    def escape(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: str | bytes) -> int:
        objects.append(body.encode("latin-1") if isinstance(body, str) else body)
        return len(objects)

    catalog = add("<< /Type /Catalog /Pages 2 0 R >>")
    pages_obj = add(b"")  # filled in once the page objects exist
    font = add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for page_text in pages:
        lines = [f"({escape(line)}) Tj 0 -14 Td" for line in page_text.split("\n") if line]
        stream = ("BT /F1 12 Tf 72 720 Td " + " ".join(lines) + " ET").encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        kids.append(
            add(
                f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>"
            )
        )
    objects[pages_obj - 1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    ).encode()
    info = add(f"<< /Title ({escape(title)}) >>") if title else None
    return pdf_file(objects, catalog, info)


def pdf_file(objects: list[bytes], catalog: int, info: int | None = None) -> bytes:
    """The file of numbered `objects` (object n is objects[n - 1]), with a correct xref and trailer."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root {catalog} 0 R"
    trailer += f" /Info {info} 0 R >>" if info else " >>"
    out += b"trailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (trailer.encode(), xref)
    return bytes(out)


def pages_sharing_one_stream(pages: int, lines: int) -> bytes:
    """A PDF whose `pages` pages all draw one compressed content stream of `lines` lines of text:
    100 pages of 1,000 lines are a 16 KB file holding 8.7 M characters."""
    line = b"(All work and no play makes a dull article. All work and no play makes a dull article.) Tj 0 -14 Td\n"
    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td\n" + line * lines + b"ET", 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (5 + n) for n in range(pages)), pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                b"/Contents 4 0 R >>"] * pages
    return pdf_file(objects, catalog=1)


# ── plain text ──────────────────────────────────────────────────────────────────────────────


def test_a_short_first_line_that_is_not_a_sentence_is_the_title_and_not_part_of_the_text(tmp_path):
    path = write(tmp_path / "volunteers.txt", "Russian volunteers in Syria\n\nThey went to fight.\n")

    [article] = read(path)

    assert article == Article(
        id="volunteers",
        title="Russian volunteers in Syria",
        text="They went to fight.\n",  # so no answer quotes the headline as a sentence
        source=str(path),
    )


def test_published_author_and_url_lines_under_the_title_are_metadata(tmp_path):
    path = write(tmp_path / "light.txt", "Restoring the Cape Light\npublished: 2019-05-02\nAuthor:  Jane Doe\n"
                                         "URL: https://news.example.org/cape\n\nMaria Santos led it.\nDate: later.\n")

    [article] = read(path)

    assert (article.title, article.published, article.author, article.url) == (
        "Restoring the Cape Light", "2019-05-02", "Jane Doe", "https://news.example.org/cape")
    assert article.text == "Maria Santos led it.\nDate: later.\n"  # a key further down is body text


def test_a_file_of_one_short_line_keeps_it_as_title_and_text(tmp_path):
    [article] = read(write(tmp_path / "note.txt", "Call the printer\n"))

    assert (article.title, article.text) == ("Call the printer", "Call the printer\n")


@pytest.mark.parametrize(
    "first_line",
    ["Already notorious in Ukraine, Russian volunteers now fight in Syria.", "Who are they?", "x" * 101],
)
def test_otherwise_the_title_is_the_humanized_file_name(tmp_path, first_line):
    path = write(tmp_path / "russian-volunteers_syria.txt", first_line + "\nMore text.\n")

    [article] = read(path)

    assert article.title == "Russian volunteers syria"
    assert article.id == "russian-volunteers-syria"


def test_ids_are_slugs_of_the_file_name(tmp_path):
    first = write(tmp_path / "Russian Volunteers (Syria) 2015.txt", "Text.")
    second = write(tmp_path / "Café au lait.md", "Text.")

    assert [a.id for a in read(first, second)] == ["russian-volunteers-syria-2015", "cafe-au-lait"]


def test_line_endings_become_newlines_and_the_text_is_otherwise_verbatim(tmp_path):
    path = write(tmp_path / "notes.txt", b"\xef\xbb\xbfTitle\r\n\r\n  Indented,  spaced.\rLast line \n")

    [article] = read(path)

    assert article.title == "Title"  # and the byte order mark is gone
    assert article.text == "  Indented,  spaced.\nLast line \n"


# ── Markdown ────────────────────────────────────────────────────────────────────────────────


def test_markdown_front_matter_gives_the_metadata_and_is_not_part_of_the_text(tmp_path):
    path = write(
        tmp_path / "post.md",
        "---\n"
        'title: "Volunteers: who goes to Syria"\n'
        "url: https://blog.example.org/volunteers\n"
        "published: 2015-10-21\n"
        "author: Anna Petrova\n"
        "tags:\n"
        "  - syria\n"
        "---\n"
        "# A heading that is not the title\n\nBody text.\n",
    )

    [article] = read(path)

    assert article.title == "Volunteers: who goes to Syria"
    assert article.url == "https://blog.example.org/volunteers"
    assert article.published == "2015-10-21"
    assert article.author == "Anna Petrova"
    assert article.text == "A heading that is not the title\n\nBody text."  # kept: it is not the title


def test_without_front_matter_the_first_heading_is_the_title(tmp_path):
    path = write(tmp_path / "post.markdown", "Intro line.\n\n## Section\n\n# The real title\n\nText.\n")

    [article] = read(path)

    assert article.title == "The real title"
    assert article.text == "Intro line.\n\nSection\n\nText."  # the title's heading not repeated in the text


def test_markdown_is_stored_as_the_text_a_reader_sees_and_its_title_heading_is_not_repeated(tmp_path):
    path = write(tmp_path / "keepers.md", (
        "# The last lighthouse keepers\n\n"
        "The *last* keepers left **Cape Light** in 1989, said\n[the coast guard](https://example.org/cg).\n\n"
        "## Automation Ends a Centuries-Old Trade\n\n"
        "- Lamps were automated by ![a timer](t.png) in 1983\n"
        "- Two keepers stayed on\n"
        "  1. as guides\n\n"
        "> A keeper's log, `1988`: *fog*.\n\n"
        "```\n# not a heading\nkeep()\n```\n\n"
        "| year | keepers |\n|---|---|\n| 1989 | 0 |\n\n"
        "A <b>raw</b> tag stays text &amp; an entity is read.\n"
    ))

    [article] = read(path)

    assert article.title == "The last lighthouse keepers"
    assert article.text == (
        "The last keepers left Cape Light in 1989, said the coast guard.\n\n"
        "Automation Ends a Centuries-Old Trade\n\n"
        "• Lamps were automated by a timer in 1983\n"
        "• Two keepers stayed on\n"
        "  1. as guides\n\n"
        "A keeper's log, 1988: fog.\n\n"
        "# not a heading\nkeep()\n\n"
        "year\tkeepers\n1989\t0\n\n"
        "A <b>raw</b> tag stays text & an entity is read."
    )


def test_a_first_heading_the_front_matter_title_says_is_not_repeated_in_the_text(tmp_path):
    text = "---\ntitle: <b>New</b> The Zorblax  Reactor\n---\n# The Zorblax reactor\n\nText.\n"
    path = write(tmp_path / "z.md", text)

    [article] = read(path)

    assert (article.title, article.text) == ("<b>New</b> The Zorblax Reactor", "Text.")
    [other] = read(write(tmp_path / "w.md", "---\ntitle: The Warsaw Uprising\n---\n# War\n\nText.\n"))
    assert other.text == "War\n\nText."  # a word of the title is not the title


def test_a_markdown_note_that_is_only_a_heading_is_its_title_and_its_text(tmp_path):
    [article] = read(write(tmp_path / "note.md", "# Call the harbour master\n"))

    assert (article.title, article.text) == ("Call the harbour master", "Call the harbour master")


def test_without_front_matter_or_heading_the_title_is_the_file_name(tmp_path):
    [article] = read(write(tmp_path / "meeting_notes.md", "Just some notes.\n"))

    assert article.title == "Meeting notes"


def test_a_60_kb_heading_is_cut_to_a_title_of_max_title_chars(tmp_path):
    """A title is embedded with every chunk and sent beside every passage: at 60 KB, ingest took 8 times as long."""
    heading = "word " * 12_000

    [article] = read(write(tmp_path / "long.md", f"# {heading}\n\nBody text.\n"))

    assert len(article.title) == MAX_TITLE_CHARS == 300
    assert article.title.startswith("word word ") and article.title.endswith(" word…")
    assert article.text.startswith(heading.strip())  # the text keeps the heading the title shows only the start of


@pytest.mark.parametrize("front_matter", [
    # The file: one 10 KB string repeated by reference (5,000 times took 45 s and 5.9 GB to ingest).
    'x: &x "' + "a" * 10_000 + '"\ntitle: [' + ", ".join(["*x"] * 1_000) + "]\n",
    # A billion laughs: each list nine of the one before, the title itself harmless.
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "author: *i\ntitle: Safe\n",
], ids=["repeated-string", "billion-laughs"])
def test_front_matter_with_yaml_aliases_is_refused_and_the_files_beside_it_are_read(tmp_path, front_matter):
    bomb = write(tmp_path / "bomb.md", f"---\n{front_matter}---\nBody text.\n")
    write(tmp_path / "good.md", "---\ntitle: Good\n---\nBody text.\n")

    results = read(tmp_path)

    assert [a.title for a in articles(results)] == ["Good"]
    assert str(only_error(errors(results))) == (
        f"{bomb}: front matter uses a YAML alias (*name); write each value out in full")


# ── HTML ────────────────────────────────────────────────────────────────────────────────────


def test_html_keeps_the_article_and_drops_navigation_and_footer():
    [article] = read(DATA / "article.html")

    assert article.title == "Russian volunteers head to Syria"
    assert article.author == "Anna Petrova"
    assert article.published == "2015-10-21"
    assert article.url == "https://news.example.org/world/russian-volunteers-syria"
    assert "Russian volunteers are now reportedly signing up" in article.text
    assert "few of them speak Arabic" in article.text
    for boilerplate in ("Subscribe for 1 euro", "Politics", "All rights reserved", "Cookie settings",
                        "Ten cheap flights"):
        assert boilerplate not in article.text


def test_html_without_main_text_is_reported(tmp_path):
    app_shell = (
        "<!doctype html><html><head><title>Dashboard</title><script src='/app.js'></script></head>"
        "<body><div id='root'></div></body></html>"
    )
    path = write(tmp_path / "dashboard.html", app_shell)

    assert only_error(read(path)).reason == "no main text found in HTML"


# ── PDF ─────────────────────────────────────────────────────────────────────────────────────


def test_pdf_text_is_read_page_by_page(tmp_path):
    path = write(
        tmp_path / "report.pdf",
        make_pdf("Volunteers in Syria\nFirst page text.", "Second page text.", title="The report"),
    )

    [article] = read(path)

    assert article.title == "The report"
    first, second = article.text.split("\n\n")
    assert "First page text." in first and "Volunteers in Syria" in first
    assert "Second page text." in second


def test_pdf_without_a_title_is_named_after_the_file(tmp_path):
    [article] = read(write(tmp_path / "annual-report.pdf", make_pdf("Some text.")))

    assert article.title == "Annual report"


def test_a_corrupt_pdf_is_reported_in_one_line(tmp_path, caplog):
    path = write(tmp_path / "broken.pdf", make_pdf("Some text.")[:60])

    with caplog.at_level(logging.WARNING):
        assert only_error(read(path)).reason.startswith("not a readable PDF: ")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []  # no "EOF marker not found"


def test_a_pdf_without_a_text_layer_is_reported(tmp_path):
    path = write(tmp_path / "scan.pdf", make_pdf(""))

    assert only_error(read(path)).reason == "PDF has no extractable text (scanned?)"


def test_a_pdf_whose_pages_expand_past_the_text_limit_is_refused_while_it_is_read(tmp_path, monkeypatch):
    """16 KB of PDF, 8.7 M characters: 100 pages drawing one compressed stream (9 s to extract them all).

    With the limit at 200,000 characters the refusal comes on page 3: the text is counted as it is
    extracted, not once the whole PDF has been read.
    """
    monkeypatch.setattr(parsers, "MAX_ARTICLE_CHARS", 200_000)
    bomb = write(tmp_path / "bomb.pdf", pages_sharing_one_stream(pages=100, lines=1_000))
    write(tmp_path / "good.pdf", make_pdf("Good text."))

    results = read(tmp_path)

    assert [a.id for a in articles(results)] == ["good"]
    assert str(only_error(errors(results))) == (
        f"{bomb}: the text is longer than 200,000 characters, the most one article may hold "
        "(past it by page 3 of 100); split it into several files")


def test_an_article_longer_than_the_text_limit_is_refused_and_the_next_one_read(tmp_path, monkeypatch):
    monkeypatch.setattr(parsers, "MAX_ARTICLE_CHARS", 1_000)
    lines = [{"id": "long", "text": "word " * 300}, {"id": "short", "text": "Short text."}]
    path = write(tmp_path / "batch.jsonl", "".join(json.dumps(line) + "\n" for line in lines))

    results = read(path)

    assert [a.id for a in articles(results)] == ["short"]
    assert str(only_error(errors(results))) == (
        f"{path}:1: the text is longer than 1,000 characters, the most one article may hold (it has 1,500); "
        "split it into several files")


# ── JSON Lines ──────────────────────────────────────────────────────────────────────────────


def test_jsonl_yields_good_lines_and_reports_bad_ones_with_their_line_number(tmp_path):
    lines = [
        json.dumps({"id": "a1", "title": "First", "text": "One.", "url": "https://x.org/1",
                    "published": "2015-10-21", "author": "Anna"}),
        "",
        '{"id": "a2", "text": "unterminated',
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "a4", "title": "No text"}),
        json.dumps({"id": "a5", "text": "   "}),
        json.dumps({"title": "No id", "text": "Text."}),
        json.dumps({"id": 7, "text": "Numeric id, no title."}),
    ]
    path = write(tmp_path / "batch.jsonl", "\n".join(lines) + "\n")

    results = read(path)

    assert articles(results) == [
        Article(id="a1", title="First", text="One.", url="https://x.org/1", source=f"{path}:1",
                published="2015-10-21", author="Anna"),
        Article(id="7", title="7", text="Numeric id, no title.", source=f"{path}:8"),
    ]
    reported = [(e.source, e.line, e.reason.split(":")[0]) for e in errors(results)]
    assert reported == [
        (str(path), 3, "malformed JSON"),
        (str(path), 4, "expected a JSON object, got list"),
        (str(path), 5, "missing or empty 'text'"),
        (str(path), 6, "missing or empty 'text'"),
        (str(path), 7, "missing 'id'"),
    ]
    assert str(errors(results)[0]).startswith(f"{path}:3: malformed JSON: ")


# ── directories and duplicates ──────────────────────────────────────────────────────────────


def test_directories_are_read_recursively_in_order_skipping_hidden_and_unsupported(tmp_path):
    write(tmp_path / "b.txt", "B.")
    write(tmp_path / "a" / "z.md", "Z.")
    write(tmp_path / "a" / "image.png", b"\x89PNG\x00")
    write(tmp_path / ".git" / "HEAD.txt", "ref.")
    write(tmp_path / ".draft.txt", "Draft.")
    write(tmp_path / "c.TXT", "C.")

    assert [r.id for r in read(tmp_path)] == ["a/z", "b", "c"]


def test_ids_are_paths_below_the_directory_so_files_of_one_name_in_two_folders_are_two_articles(tmp_path):
    docs = tmp_path / "docs"
    write(docs / "a" / "notes.txt", "Notes of A.")
    write(docs / "b" / "notes.txt", "Notes of B.")
    write(docs / "My Folder" / "Deep" / "Notes.md", "Deep notes.")
    write(docs / "notes.txt", "Top notes.")

    assert {a.id: a.text for a in read(docs)} == {
        "a/notes": "Notes of A.", "b/notes": "Notes of B.", "my-folder/deep/notes": "Deep notes.", "notes": "Top notes."}
    assert [a.id for a in read(docs / "a" / "notes.txt")] == ["notes"]  # a file given by itself: its stem
    assert [a.id for a in read(docs / "a")] == ["notes"]  # directly inside the directory given


def test_a_second_article_with_the_same_id_is_reported_and_not_yielded(tmp_path):
    first = write(tmp_path / "one" / "report.txt", "First.")
    write(tmp_path / "two" / "Report.md", "Second.")
    batch = write(tmp_path / "batch.jsonl", '{"id": "report", "text": "Third."}\n')

    results = read(tmp_path / "one", tmp_path / "two", batch)

    assert [a.text for a in articles(results)] == ["First."]
    assert [str(e) for e in errors(results)] == [
        f"{tmp_path / 'two' / 'Report.md'}: duplicate id 'report' (first seen in {first})",
        f"{batch}:1: duplicate id 'report' (first seen in {first})",
    ]


# ── bad inputs ──────────────────────────────────────────────────────────────────────────────


def test_a_missing_path_is_reported_and_the_run_goes_on(tmp_path):
    good = write(tmp_path / "good.txt", "Good.")

    missing, article = read(tmp_path / "nope.txt", good)

    assert str(missing) == f"{tmp_path / 'nope.txt'}: no such file or directory"
    assert article.id == "good"


def test_a_named_file_of_an_unsupported_type_is_reported_with_the_supported_ones(tmp_path):
    path = write(tmp_path / "letter.docx", b"PK\x03\x04")

    error = only_error(read(path))

    assert "'.docx'" in error.reason
    assert all(suffix in error.reason for suffix in SUPPORTED_SUFFIXES)


@pytest.mark.parametrize("suffix", sorted(SUPPORTED_SUFFIXES))
@pytest.mark.parametrize("content", [b"", b" \n\t\r\n"], ids=["empty", "blank"])
def test_an_empty_file_is_reported(tmp_path, suffix, content):
    path = write(tmp_path / f"nothing{suffix}", content)

    assert only_error(read(path)).reason == "empty file"


def test_a_text_file_holding_only_a_byte_order_mark_is_empty(tmp_path):
    path = write(tmp_path / "nothing.txt", b"\xef\xbb\xbf\n")

    assert only_error(read(path)).reason == "empty file"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".jsonl"])
def test_a_binary_file_is_reported(tmp_path, suffix):
    path = write(tmp_path / f"blob{suffix}", b"GIF89a\x01\x00\x01\x00\x00\xff")

    assert only_error(read(path)).reason == "binary file, not text"


def test_text_that_is_not_utf8_is_reported_with_the_byte_position(tmp_path):
    path = write(tmp_path / "latin1.txt", "Café crème".encode("latin-1"))

    assert only_error(read(path)).reason == "not valid UTF-8 at byte 3"


def test_an_unexpected_exception_becomes_an_input_error_for_that_source():
    def reader_that_breaks():
        yield Article(id="a", title="A", text="A.")
        raise RuntimeError("disk on fire")

    article, error = sources._guarded("a.txt", reader_that_breaks())

    assert article.id == "a"
    assert str(error) == "a.txt: unexpected error: RuntimeError: disk on fire"


# ── uploads ─────────────────────────────────────────────────────────────────────────────────


def test_uploads_are_parsed_like_files_named_after_the_upload():
    [article] = read_upload("Field Notes.md", b"# Field notes\n\nText.\n")

    assert (article.id, article.title, article.source) == ("field-notes", "Field notes", "Field Notes.md")


def test_upload_errors_are_returned_not_raised():
    pdf_error = only_error(read_upload("scan.pdf", b"%PDF-1.4 garbage"))
    type_error = only_error(read_upload("sheet.xlsx", b"PK"))
    good, duplicate = read_upload("batch.jsonl", b'{"id": "x", "text": "1"}\n{"id": "x", "text": "2"}\n')

    assert pdf_error.reason.startswith("not a readable PDF")
    assert "unsupported file type '.xlsx'" in type_error.reason
    assert good.text == "1"
    assert str(duplicate) == "batch.jsonl:2: duplicate id 'x' (first seen in batch.jsonl:1)"


# ── URLs ────────────────────────────────────────────────────────────────────────────────────


class Site(ThreadingHTTPServer):
    """A real web server on 127.0.0.1 that serves fixed pages and remembers who asked."""

    daemon_threads = True

    def __init__(self, pages: dict[str, tuple[int, str, bytes]]):
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.pages = pages
        self.user_agents: list[str] = []
        self.sent = 0  # bytes of /big pages written
        self.hung_up = threading.Event()  # a client of /drip went away

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _SiteHandler(BaseHTTPRequestHandler):
    server: Site

    def do_GET(self):
        self.server.user_agents.append(self.headers.get("User-Agent", ""))
        if self.path == "/slow":
            time.sleep(1)  # longer than the client waits; it has hung up by now
            return
        if self.path == "/drip":
            drip(self, self.server.hung_up)
            return
        if self.path.startswith(("/old-address", "/to?", "/loop")):
            self.send_response(301)
            self.send_header("Location", {"/old-address": "/world/volunteers", "/loop": "/loop"}.get(
                self.path, self.path.partition("?")[2]))
            self.end_headers()
            return
        if self.path.startswith("/big"):  # 40 MB of text (the attack), with or without a Content-Length
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            if self.path == "/big":
                self.send_header("Content-Length", str(40 * MB))
            self.end_headers()
            try:
                for _ in range(40):
                    self.wfile.write(b"word " * (MB // 5))
                    self.server.sent += MB
            except OSError:  # the client hung up at its limit
                pass
            return
        status, content_type, body = self.server.pages.get(self.path, (404, "text/plain", b"Not here"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # keep test output quiet


LOCAL = Fetch(allow_hosts=frozenset({"127.0.0.1"}))  # the test servers; every other loopback name is refused


def fetched(*urls: str, **fetch) -> list[Article | InputError]:
    return read(*urls, fetch=Fetch(**{"allow_hosts": LOCAL.allow_hosts, **fetch}))


@contextmanager
def serving(pages: dict) -> Iterator[Site]:
    server = Site(pages)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site():
    with serving(
        {
            "/world/volunteers": (200, "text/html; charset=utf-8", (DATA / "article.html").read_bytes()),
            "/notes": (200, "text/plain; charset=iso-8859-1", "Notes\n\nCafé crème.".encode("latin-1")),
            "/readme": (200, "text/markdown", b"# Read me\n\nText.\n"),
            "/papers/annual-report": (200, "application/pdf", make_pdf("Annual report text.")),
            "/data.zip": (200, "application/zip", b"PK\x03\x04"),
        }
    ) as server:
        yield server


def test_an_html_page_is_fetched_and_extracted(site):
    [article] = fetched(site.url("/old-address"))

    assert article.id == "127-0-0-1-" + str(site.server_address[1]) + "-old-address"
    assert article.title == "Russian volunteers head to Syria"
    assert article.url == site.url("/world/volunteers")  # where the redirect led
    assert article.source == site.url("/old-address")
    assert "Cookie settings" not in article.text
    assert site.user_agents[0].startswith("assistant/")


def test_text_markdown_and_pdf_pages_are_read_by_content_type(site):
    notes, readme, report = fetched(site.url("/notes"), site.url("/readme"), site.url("/papers/annual-report"))

    assert (notes.title, notes.text) == ("Notes", "Café crème.")  # decoded as the server said
    assert (readme.title, readme.text) == ("Read me", "Text.")  # as markdown: no markup, no repeated title
    assert (report.title, report.text.strip()) == ("Annual report", "Annual report text.")


def test_a_missing_page_is_reported(site):
    error = only_error(fetched(site.url("/gone")))

    assert str(error) == f"{site.url('/gone')}: could not fetch: HTTP 404 Not Found"


def test_a_page_of_an_unsupported_content_type_is_reported(site):
    assert "unsupported content type 'application/zip'" in only_error(fetched(site.url("/data.zip"))).reason


NOT_PUBLIC = "not a public address ({}); an intranet host can be allowed in ASSISTANT_FETCH_ALLOW_HOSTS"


def test_a_slow_page_is_reported_after_the_timeout(site):
    error = only_error(fetched(site.url("/slow"), timeout=0.2))

    assert error.reason == "could not fetch: no answer within 0.2 s (ASSISTANT_FETCH_TIMEOUT)"


def test_a_page_that_drips_a_byte_at_a_time_is_cut_off_at_the_deadline(site):
    """Each byte comes well within the read timeout; only the deadline for the whole fetch ends it."""
    began = time.monotonic()

    error = only_error(fetched(site.url("/drip"), timeout=5, deadline=2))

    assert error.reason == "could not fetch: the page took longer than 2 s to arrive (ASSISTANT_FETCH_DEADLINE)"
    assert time.monotonic() - began < 5  # the page goes on for 60 s
    assert site.hung_up.wait(5)


def test_a_fetch_stops_when_whoever_asked_for_it_has_gone(site):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()  # the API sets it when its client hangs up
    began = time.monotonic()

    error = only_error(fetched(site.url("/drip"), cancel=cancel))

    assert error.reason == "could not fetch: cancelled, the client that asked for it has gone"
    assert time.monotonic() - began < 3
    assert site.hung_up.wait(5)


def test_an_unreachable_server_is_reported():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/article"

    error = only_error(fetched(url))  # 127.0.0.1 allowed, as an intranet host would be: connected to

    assert error.source == url
    assert error.reason == "could not fetch: unreachable (connection refused)"


def test_a_host_name_that_does_not_resolve_is_reported():
    error = only_error(read("http://no-such-host.invalid/article"))

    assert error.reason == "could not fetch: the host name no-such-host.invalid has no address (DNS lookup failed)"


@pytest.mark.parametrize("host, said", [
    ("127.0.0.1:{port}", "127.0.0.1 is loopback"), ("localhost:{port}", "localhost is 127.0.0.1, loopback"),
    ("[::1]:{port}", "::1 is loopback"), ("127.1:{port}", "127.1 is 127.0.0.1, loopback"),
    ("[::ffff:127.0.0.1]:{port}", "::ffff:127.0.0.1 is 127.0.0.1, loopback"),
    ("169.254.169.254", "169.254.169.254 is link-local"),
    ("[::ffff:169.254.169.254]", "::ffff:169.254.169.254 is 169.254.169.254, link-local"),
    ("[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe is 169.254.169.254, link-local"),
    ("0xa9fea9fe", "0xa9fea9fe is 169.254.169.254, link-local"),
    ("2852039166", "2852039166 is 169.254.169.254, link-local"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe is 169.254.169.254, link-local"),
    ("[2002:a9fe:a9fe::]", "2002:a9fe:a9fe:: is 169.254.169.254, link-local"),
    ("10.0.0.1", "10.0.0.1 is private"), ("172.16.0.1", "172.16.0.1 is private"),
    ("192.168.1.1", "192.168.1.1 is private"), ("100.64.0.1", "100.64.0.1 is not globally routed"),
    ("[fe80::1]", "fe80::1 is link-local"), ("[fc00::1]", "fc00::1 is private"),
    ("224.0.0.1", "224.0.0.1 is multicast"),
    ("0.0.0.0", "0.0.0.0 is unspecified"), ("[::]", ":: is unspecified"), ("240.0.0.1", "240.0.0.1 is reserved"),
])
def test_loopback_private_link_local_and_metadata_addresses_are_refused_unasked_saying_which(site, host, said):
    """Checked before connecting: none of these addresses is ever contacted (the site sees no request)."""
    url = f"http://{host.format(port=site.server_address[1])}/world/volunteers"

    error = only_error(read(url))  # no host allowed

    assert error.reason == "could not fetch: " + NOT_PUBLIC.format(said)
    assert site.user_agents == []


def test_a_redirect_to_another_local_service_is_refused(site):
    with serving({"/secret": (200, "text/plain", b"Internal admin notes.")}) as internal:
        local = f"http://localhost:{internal.server_address[1]}/secret"
        for target, said in ((local, "localhost is 127.0.0.1, loopback"),
                             ("http://169.254.169.254/latest", "169.254.169.254 is link-local")):
            error = only_error(fetched(site.url(f"/to?{target}")))
            assert error.source == site.url(f"/to?{target}")
            assert error.reason == f"could not fetch: it redirects to {target}, " + NOT_PUBLIC.format(said)
        assert internal.user_agents == []


def test_redirects_end_after_five_hops(site):
    assert only_error(fetched(site.url("/loop"))).reason == "could not fetch: more than 5 redirects"


@pytest.mark.parametrize("path", ["/big", "/big-without-length"])
def test_a_page_over_the_upload_limit_is_refused_without_reading_it_all(site, path):
    error = only_error(fetched(site.url(path), max_bytes=MB))

    assert error.reason == ("could not fetch: the page is larger than 1 MB, the upload limit "
                            "(ASSISTANT_MAX_UPLOAD_MB)")
    time.sleep(0.2)
    assert site.sent < 40 * MB


def test_an_allowed_intranet_host_is_fetched_by_name(site):
    """`fetch_allow_hosts` names the hosts that may be internal; here, a wiki on this machine."""
    url = f"http://localhost:{site.server_address[1]}/readme"

    [article] = read(url, fetch=Fetch(allow_hosts=frozenset({"localhost"})))

    assert article.title == "Read me"


def test_a_fifo_named_like_an_article_is_reported_not_waited_on(tmp_path):
    import os

    os.mkfifo(tmp_path / "notes.txt")
    write(tmp_path / "good.txt", "Good\n\nText.")

    results = read(tmp_path)  # would block for ever on the FIFO

    assert [a.id for a in articles(results)] == ["good"]
    assert str(only_error(errors(results))) == f"{tmp_path / 'notes.txt'}: not a regular file (a pipe, socket or device)"


@pytest.mark.parametrize("line, reason", [
    ('{"id": "a\\nb", "text": "T"}', "'id' 'a\\nb' contains a newline or control character"),
    ('{"id": "a", "title": {"en": "T"}, "text": "T"}', "'title' must be a string, got a JSON dict"),
    ('{"id": "a", "author": ["X", "Y"], "text": "T"}', "'author' must be a string, got a JSON list"),
    ('{"id": "a/../b", "text": "T"}', "'id' 'a/../b' has a '.' or '..' part; ids are paths in links"),
])
def test_jsonl_ids_must_be_one_line_and_metadata_strings(tmp_path, line, reason):
    error = only_error(read(write(tmp_path / "a.jsonl", line + "\n")))
    assert (error.line, error.reason) == (1, reason)


def test_front_matter_lists_and_multi_line_values_are_read_as_yaml_writes_them(tmp_path):
    path = write(
        tmp_path / "post.md",
        "---\n"
        "title: >\n"
        "  Volunteers: who goes\n"
        "  to Syria\n"
        "author:\n"
        "  - Anna Petrova\n"
        "  - Ivan Sidorov\n"
        "published: 2015-10-21T10:00:00Z\n"
        "Url: https://blog.example.org/volunteers  # the canonical link\n"
        "extra: {nested: [1, 2]}\n"
        "---\n"
        "Body text.\n",
    )

    [article] = read(path)

    assert article.title == "Volunteers: who goes to Syria"
    assert article.author == "Anna Petrova, Ivan Sidorov"
    assert article.published == "2015-10-21T10:00:00Z"  # as written, not a datetime's isoformat
    assert article.url == "https://blog.example.org/volunteers"
    assert article.text == "Body text."


def test_front_matter_that_is_not_valid_yaml_is_read_line_by_line(tmp_path):
    path = write(tmp_path / "notes.md", "---\ntitle: Part 1: Before\nauthor: 'Anna'\n---\nBody text.\n")

    [article] = read(path)

    assert (article.title, article.author, article.text) == ("Part 1: Before", "Anna", "Body text.")
