"""Split articles into sentence-aligned chunks that fit the embedding model, keeping offsets.

Every chunk is a verbatim slice of its article (`article.text[start:end] == chunk.text`), so a
citation can point at the exact characters it came from. Chunks never exceed `max_tokens` of the
embedder's tokenizer: all-MiniLM-L6-v2 silently truncates past 256 word pieces, and truncated
text would be unsearchable. Nor do they exceed `max_chars`: a word piece tokenizer counts an
unbroken run of any length as one token ([UNK]), and a 50 MB file without blanks became one
52 MB "chunk" that every answer retrieving it returned whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.text.sentences import Span, answerable, sentence_spans
from assistant.text.terms import terms
from assistant.types import Article, Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]

_WORD = re.compile(r"\S+")
_NON_BLANK = re.compile(r"\S")
# What every word-piece tokenizer reads as a word break. Not all of Python's whitespace: BERT
# deletes control characters such as "\x0b" and "\x1c" before it splits, joining their neighbours.
_BLANK = re.compile(r"[ \t\n\r]")
# The character cap of a chunk, per token of the model's window: 5 x 254 = 1270 characters for
# all-MiniLM-L6-v2, above the longest sample chunk (1062 characters at 200 tokens), so only text
# the tokenizer reads as few long tokens is cut by characters.
CHARS_PER_TOKEN = 5


@dataclass(frozen=True)
class Chunker:
    """Packs whole sentences into chunks of at most `max_tokens` and `max_chars`, overlapping by
    whole sentences.

    `counts_add_up`: the tokenizer cuts words at blanks before it reads them (BERT's word pieces),
    so a slice of units that are separated by a blank counts exactly the sum of their counts, and
    only chunks holding a gap without one are counted again (`Embedder.counts_add_up`).
    """

    count_tokens: TokenCounter
    max_tokens: int
    overlap_tokens: int
    max_chars: int
    counts_add_up: bool = False

    def sentences(self, text: str) -> list[Span]:
        """Sentence spans, any sentence longer than `max_chars` or `max_tokens` cut at word boundaries.

        These are the units chunks are made of; all but the headings are what the answerer quotes.
        """
        return self._units(text)[0]

    def split(self, article: Article) -> tuple[list[Span], list[Chunk]]:
        """The units an answer may quote (`sentences` less the headings) and the chunks, which hold
        the headings too (they are found by them), counting each unit's tokens once."""
        units, sizes = self._units(article.text)
        return answerable(article.text, units), self._chunks(article, units, sizes)

    def chunk(self, article: Article, units: list[Span] | None = None) -> list[Chunk]:
        """Chunks of whole units; pass `units` when `sentences()` was already called."""
        if units is None:
            return self.split(article)[1]
        text = article.text
        return self._chunks(article, units, self.count_tokens([text[s:e] for s, e in units]) if units else [])

    def _units(self, text: str) -> tuple[list[Span], list[int]]:
        """The units and their token counts, in as few tokenizer calls as the text allows (20
        sentences: 0.62 ms in one call, 0.96 ms in twenty)."""
        pieces = [piece for sentence in sentence_spans(text) for piece in self._cut_chars(text, *sentence)]
        sizes = self.count_tokens([text[s:e] for s, e in pieces]) if pieces else []
        units: list[Span] = []
        unit_sizes: list[int] = []
        recount: list[int] = []  # units cut from an over-long sentence, counted afterwards
        for (s, e), size in zip(pieces, sizes):
            if size <= self.max_tokens:
                units.append((s, e))
                unit_sizes.append(size)
                continue
            for cut in self._cut(text, s, e):
                recount.append(len(units))
                units.append(cut)
                unit_sizes.append(0)
        if recount:
            for i, n in zip(recount, self.count_tokens([text[units[i][0] : units[i][1]] for i in recount])):
                unit_sizes[i] = n
        return units, unit_sizes

    def _chunks(self, article: Article, units: list[Span], sizes: list[int]) -> list[Chunk]:
        """Chunks of whole units. Token counts of neighbouring spans add up for word-piece
        tokenizers, but the real slice is checked where a tokenizer may merge across the gap (every
        gap, unless `counts_add_up`): all those chunks at once, and one by one only when one of
        them is over. Counting every chunk again was 17% of an ingest's work besides the model."""
        if not units:
            return []
        text = article.text

        def piece(first: int, last: int) -> str:
            return text[units[first][0] : units[last][1]]

        def may_merge(first: int, last: int) -> bool:
            return not self.counts_add_up or any(
                _BLANK.search(text, units[i][1], units[i + 1][0]) is None for i in range(first, last))

        spans = self._pack(units, sizes, lambda first, last: True)
        joined = [(first, last) for first, last in spans if last > first and may_merge(first, last)]
        counts = self.count_tokens([piece(*span) for span in joined]) if joined else []
        if any(n > self.max_tokens for n in counts):
            spans = self._pack(units, sizes, lambda a, b: self.count_tokens([piece(a, b)])[0] <= self.max_tokens)
        return [Chunk(article.id, i, units[first][0], units[last][1], piece(first, last))
                for i, (first, last) in enumerate(spans)]

    def _pack(self, units: list[Span], sizes: list[int], fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
        """(first, last) units of each chunk: as many as the token and character budgets take,
        fewer while `fits` says no, the next chunk overlapping by whole units."""
        spans: list[tuple[int, int]] = []
        first = 0
        while first < len(units):
            last = first  # inclusive; a unit alone always fits (see _units)
            total = sizes[first]
            while (last + 1 < len(units) and total + sizes[last + 1] <= self.max_tokens
                   and units[last + 1][1] - units[first][0] <= self.max_chars):
                last += 1
                total += sizes[last]
            while last > first and not fits(first, last):
                last -= 1
            spans.append((first, last))
            if last + 1 >= len(units):
                break
            first = self._next_first(first, last, sizes)
        return spans

    def _next_first(self, first: int, last: int, sizes: list[int]) -> int:
        """Start the next chunk with as many trailing sentences as fit in the overlap budget."""
        nxt = last + 1
        budget = self.overlap_tokens
        while nxt - 1 > first and sizes[nxt - 1] <= budget:
            budget -= sizes[nxt - 1]
            nxt -= 1
        return nxt

    def _cut_chars(self, text: str, start: int, end: int) -> list[Span]:
        """Pieces of at most `max_chars` covering every non-blank of `text[start:end]`, cut at the
        last blank that fits, else mid-word."""
        pieces: list[Span] = []
        while end - start > self.max_chars:
            limit = start + self.max_chars
            blank = max(text.rfind(" ", start, limit + 1), text.rfind("\t", start, limit + 1))
            cut = blank if blank > start else limit
            pieces.append((start, start + len(text[start:cut].rstrip())))
            found = _NON_BLANK.search(text, cut, end)
            start = found.start() if found else end
        if start < end:
            pieces.append((start, end))
        return pieces

    def _cut(self, text: str, start: int, end: int) -> list[Span]:
        """Greedy word-boundary pieces of an over-long sentence; over-long words by characters."""
        words = [(m.start() + start, m.end() + start) for m in _WORD.finditer(text[start:end])]
        pieces: list[Span] = []
        for ws, we in words:
            if self.count_tokens([text[ws:we]])[0] > self.max_tokens:
                # A token covers at least one character, so max_tokens characters always fit.
                pieces.extend((p, min(p + self.max_tokens, we)) for p in range(ws, we, self.max_tokens))
            elif pieces and self.count_tokens([text[pieces[-1][0] : we]])[0] <= self.max_tokens:
                pieces[-1] = (pieces[-1][0], we)
            else:
                pieces.append((ws, we))
        return pieces


# The chunking rule's other half: what a chunk is found by, in vectors and keywords alike.
def searchable_text(article: Article, chunk: Chunk) -> str:
    """What a chunk is found by, in vectors and in keywords: its article's title gives it its topic
    (a pronoun-heavy paragraph is otherwise hard to find)."""
    return f"{article.title}\n{chunk.text}"


def chunk_terms(article: Article, chunk: Chunk) -> list[str]:
    """The terms a chunk is found by in keyword search."""
    return terms(searchable_text(article, chunk))
