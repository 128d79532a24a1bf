"""Sentences of a text as character spans: what chunks are aligned to and what answers quote.

Both sides use it: the write path aligns chunks to sentences and stores their spans, and the LLM
answerer splits a model's reply with it, so a reply's sentences are cut as the articles' are.
A sub-heading ("THE NUMBERS BEHIND THE CUTS") is a span too, kept in its chunk to be found by,
but `answerable` leaves it out: quoted as an answer, it reads as a sentence that says nothing.
"""

from __future__ import annotations

import re
from functools import cache

Span = tuple[int, int]

_LINE = re.compile(r"[^\n]+")
# A short line that does not end as a sentence does is a heading or a title: "Russian volunteers in
# Syria", "Automation Ends a Centuries-Old Trade", not "They went." nor "“Who goes?”".
HEADING_CHARS = 100
SENTENCE_END = (".", "!", "?", "…")
_CLOSERS = "\"'”’»)]"
# "• item", "- item", "2. item", "b) item": a list item without a full stop is still an item.
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_LIST_ITEM = re.compile(r"(?:[•*+‣◦–-]|\d{1,3}[.)]|[a-zA-Z][.)])\s")
# Punkt scans a text under nltk's 5 s wall-clock regex limit, and the clock runs while Punkt
# handles each sentence: one 1 MB line of short sentences took 6 s and raised TimeoutError, which
# ended the whole ingest. Long lines are fed in blocks of this size instead (about 0.1 s each),
# cut after the last sentence end or blank in the block, where Punkt would split anyway.
PUNKT_BLOCK_CHARS = 10_000


@cache
def _punkt():
    """Punkt sentence splitter, from the copy llama-index bundles (no nltk download at run time).

    The one use of two libraries' internals, checked against llama-index-core 0.14.25 (its
    `_static/nltk_cache` folder holds punkt_tab) and nltk 3.10.4 (`PunktTokenizer._params`, the
    learned parameters, whose `abbrev_types` set is read on every split).
    """
    import importlib.util
    from pathlib import Path

    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    core = importlib.util.find_spec("llama_index.core")
    assert core is not None and core.origin is not None, "llama-index-core is a dependency"
    bundled = Path(core.origin).parent / "_static" / "nltk_cache"
    if str(bundled) not in nltk.data.path:
        nltk.data.path.append(str(bundled))
    tokenizer = PunktTokenizer("english")
    # Abbreviations Punkt's English model misses; a split at "e.g." would quote half a sentence.
    tokenizer._params.abbrev_types.update({"e.g", "i.e", "etc", "vs", "cf", "approx", "ca", "al", "fig"})
    return tokenizer


def sentence_spans(text: str) -> list[Span]:
    """Character spans of the sentences of `text`, whitespace excluded.

    Lines are split first: articles put headings, list items and paragraphs on their own lines,
    and Punkt would otherwise glue a heading without a full stop to the next sentence.
    """
    splitter = _punkt()
    spans: list[Span] = []
    for line in _LINE.finditer(text):
        line_spans: list[Span] = []
        for base, block_end in _blocks(text, line.start(), line.end()):
            block = text[base:block_end]
            for s, e in splitter.span_tokenize(block):
                piece = block[s:e]
                stripped = piece.strip()
                if not stripped:
                    continue
                lead = len(piece) - len(piece.lstrip())
                span = (base + s + lead, base + s + lead + len(stripped))
                # Punkt ends a sentence at a quoted question ('...for Assad?” says Golts') and at the
                # "!" of a markdown image ('painted by ![a](b.png)'); neither piece is a new sentence.
                image = stripped[0] == "[" and text[span[0] - 1 : span[0]] == "!"
                if line_spans and (stripped[0].islower() or image):
                    line_spans[-1] = (line_spans[-1][0], span[1])
                else:
                    line_spans.append(span)
        spans.extend(line_spans)
    return spans


def _blocks(text: str, start: int, end: int) -> list[Span]:
    """`text[start:end]` in spans of at most PUNKT_BLOCK_CHARS, cut after a sentence end or a blank."""
    blocks = []
    while end - start > PUNKT_BLOCK_CHARS:
        limit = start + PUNKT_BLOCK_CHARS
        cut = max(text.rfind(". ", start, limit), text.rfind("? ", start, limit), text.rfind("! ", start, limit))
        cut = cut + 1 if cut > start else max(text.rfind(" ", start, limit), text.rfind("\t", start, limit))
        cut = cut if cut > start else limit
        blocks.append((start, cut))
        start = cut
    blocks.append((start, end))
    return blocks


def reads_as_heading(line: str) -> bool:
    """A short line that does not end as a sentence does (closing quotes and brackets aside)."""
    line = line.strip()
    return 0 < len(line) <= HEADING_CHARS and not line.rstrip(_CLOSERS).endswith(SENTENCE_END)


def answerable(text: str, spans: list[Span]) -> list[Span]:
    """The sentence spans an answer may quote: all but the headings."""
    return [span for span in spans if not _is_heading(text, *span)]


def _is_heading(text: str, start: int, end: int) -> bool:
    """A span alone on its line that reads as a heading, after a blank line or a sentence's end,
    and before a blank line, or before a capital when its own words are capitalised.

    A line of hard-wrapped prose ("She rebuilt the lantern room and") runs on from the line above
    or into the one below; a heading does neither.
    """
    if not reads_as_heading(text[start:end]) or _LIST_ITEM.match(text, start):
        return False
    first = start  # each blank is walked once: spans are disjoint, and only the blanks beside one are read
    while first > 0 and text[first - 1] in " \t":
        first -= 1
    last = end
    while last < len(text) and text[last] in " \t":
        last += 1
    if (first > 0 and text[first - 1] != "\n") or (last < len(text) and text[last] != "\n"):
        return False  # shares its line with another sentence
    above = text[text.rfind("\n", 0, max(0, first - 1)) + 1 : max(0, first - 1)].strip()
    below_end = text.find("\n", last + 1)
    below = text[last + 1 : below_end if below_end >= 0 else len(text)].strip()
    if above and not above.rstrip(_CLOSERS).endswith(SENTENCE_END):
        return False
    return not below or (not below[:1].islower() and _capitalised(text[start:end]))


def _capitalised(line: str) -> bool:
    """Every word of more than three letters starts with a capital: "Automation Ends a Centuries-Old
    Trade", "THE NUMBERS BEHIND THE CUTS"."""
    return all(word[0].isupper() for word in _WORD.findall(line) if len(word) > 3)
