"""Markdown -> the plain text an article stores: what a reader sees, without the markup.

Citations are character offsets into the stored text, so the text is converted once, at ingest,
and every passage, quote and article view shows the same characters: "## Sub-heading" is the line
"Sub-heading", "**bold**" is "bold", "[the manual](https://...)" is "the manual", "![a mural](m.png)"
is "a mural", a code fence is its code. Blocks are separated by a blank line; a paragraph's wrapped
lines are joined with a space, as a browser shows them, so the sentence splitter (which splits lines
first) sees whole sentences. List items keep a bullet ("• ") or their number ("2. "): without it the
items of a list would read as one run of fragments.

Raw HTML is not markup here but text: with `html` off, markdown-it reads "<img onerror=...>" as the
characters it is, and every presenter escapes them. markdown-it-py (CommonMark, with GitHub's tables
and strikethrough) rather than regexes: emphasis, nested lists and fences have edge cases a few
regexes get wrong, and a "# comment" in a code fence is not a heading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

from assistant.limits import MAX_TITLE_CHARS


@dataclass(frozen=True)
class PlainMarkdown:
    """A Markdown text as plain text, and its first top-level heading (the title when none is given)."""

    text: str
    heading: str | None


@dataclass(frozen=True)
class _Block:
    text: str
    listed: bool  # a list item or table row: held to its neighbours by one newline, not a blank line
    top_heading: bool = False


def plain_text(markdown: str, *, title: str | None = None) -> PlainMarkdown:
    """The text of `markdown` without its markup.

    The first top-level heading is the title when `title` is None; either way, a first `# heading`
    whose words the title says (the front matter's "<b>New</b>: The Zorblax reactor" says "# The
    Zorblax reactor") is dropped, so it does not repeat under the title, unless it is all there is
    (a one-line note is its title and its text, as in a plain-text file) or longer than a title may
    be (the title shows only its start).
    """
    blocks = _blocks(_parser().parse(markdown))
    first = next((i for i, b in enumerate(blocks) if b.top_heading), None)
    heading = blocks[first].text if first is not None else None
    if (first is not None and len(blocks) > 1 and len(blocks[first].text) <= MAX_TITLE_CHARS
            and f" {_words(blocks[first].text)} " in f" {_words(title or blocks[first].text)} "):
        del blocks[first]
    parts: list[str] = []
    for before, block in zip([None, *blocks], blocks):
        if parts:
            parts.append("\n" if before is not None and before.listed and block.listed else "\n\n")
        parts.append(block.text)
    return PlainMarkdown("".join(parts), heading)


class _Reader(MarkdownIt):
    """CommonMark with GitHub's tables and strikethrough, raw HTML read as text, every link a link.

    markdown-it leaves a link to a javascript: or data: address as its raw text, to keep it out of
    an href; here no href is made, only the link's words are kept, so every link is read as one.
    """

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": False})
        self.enable(["table", "strikethrough"])

    def validateLink(self, url: str) -> bool:
        return True


@cache
def _parser() -> MarkdownIt:
    return _Reader()


def _blocks(tokens: Sequence[Token]) -> list[_Block]:
    """One block per heading, paragraph, list item, code block and table row, in order."""
    blocks: list[_Block] = []
    lists = 0  # depth of list nesting
    marker = ""  # the bullet or number of the list item whose first line comes next
    row: list[str] | None = None
    top = False
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists -= 1
        elif kind == "list_item_open":
            bullet = "• " if token.markup in ("-", "*", "+") else f"{token.info}{token.markup} "
            marker = "  " * (lists - 1) + bullet
        elif kind == "heading_open":
            top = token.tag == "h1"
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            blocks.append(_Block("\t".join(row), listed=True))
            row = None
        elif kind == "inline":
            text = _inline(token.children or [])
            if row is not None:
                row.append(text)
            elif text.strip():
                blocks.append(_Block(marker + text, listed=bool(lists), top_heading=top))
            marker, top = "", False
        elif kind in ("fence", "code_block") and token.content.strip():
            blocks.append(_Block(token.content.rstrip("\n"), listed=False))
    return blocks


def _inline(children: Sequence[Token]) -> str:
    """The text of an inline run: emphasis and link syntax dropped, an image's alt text kept."""
    out = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
        elif child.type == "image":
            out.append(_inline(child.children or []))
    return "".join(out)


def _words(text: str) -> str:
    return " ".join(text.split()).casefold()
