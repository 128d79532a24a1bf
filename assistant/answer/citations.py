"""Citations, in one place: the `[n]` markers and numbering quotes.

Both answerers end the same way: a list of quoted sentences, in the order the answer says them,
becomes citations numbered 1..m. `number` is that step for both, so the offline answer and a
verified LLM answer cite the same quote the same way. A quote is a span of an article, not of a
chunk: overlapping chunks hold the same sentence, and read from either it is one citation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Citation, Quote

MARKER = re.compile(r"\[(\d+)\]")  # a marker of a final answer: one number each, as `number` writes them
GROUP = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")  # [3] or [1, 2]: how a model may cite
# "[1]", "[1, 2]" and runs of them. `(?<!\s)`: a match starts only where a run of blanks does, or
# every start inside 60,000 blanks rescans the rest of them (quadratic).
MARKERS = re.compile(r"(?:(?<!\s)\s*\[\d+(?:\s*,\s*\d+)*\])+")
LEADING = re.compile(r"^(?:\[\d+(?:\s*,\s*\d+)*\]\s*)+")  # markers a model put after the full stop: 'He left. [1]'
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<!\s)\s+([.,;:!?])")
_AFTER_MARKER = re.compile(r"(?<=\]\.|\] ) ")  # the blank after "[1]." or "[1] "


def number(quotes: Sequence[Quote]) -> tuple[list[int], tuple[Citation, ...]]:
    """Each quote's citation number, and the citations: 1..m in order of first appearance.

    A sentence quoted again (the same article and start, from whichever chunk) keeps its number.
    """
    numbers: list[int] = []
    citations: list[Citation] = []
    by_span: dict[tuple[str, int], int] = {}
    for q in quotes:
        chunk = q.passage.chunk
        key = (chunk.article_id, q.start)
        if key not in by_span:
            by_span[key] = len(citations) + 1
            citations.append(Citation(by_span[key], chunk.article_id, q.passage.title, q.passage.url, chunk.id,
                                      q.text, q.start, q.end))
        numbers.append(by_span[key])
    return numbers, tuple(citations)


def markers(text: str) -> list[int]:
    """The citation numbers `[n]` of an answer's text, in order: the one parser of final answers."""
    return [int(n) for n in MARKER.findall(text)]


def cited(run: str) -> tuple[int, ...]:
    """The numbers of a run of markers a model wrote: '[1, 2][3]' -> (1, 2, 3)."""
    return tuple(int(n) for group in GROUP.findall(run) for n in group.split(","))


def strip_markers(text: str) -> str:
    """'He left [1].' -> 'He left.': for earlier answers fed back to a model, and for footnotes
    ("[4]") in article text, which in an answer would read as citations that do not exist."""
    return tidy(MARKERS.sub("", text))


def with_marker(sentence: str, n: int) -> str:
    """'He left.' -> 'He left [1].'; a sentence ending in a quote or '?' keeps it before the marker."""
    sentence = sentence.strip()
    if sentence.endswith(".") and not sentence.endswith(".."):
        return f"{sentence[:-1]} [{n}]."
    return f"{sentence} [{n}]"


def place_markers(sentence: str) -> str:
    """Tidy spacing, and put markers before the closing full stop: 'He left.[1]' -> 'He left [1].'"""
    sentence = tidy(sentence)
    sentence = re.sub(r"(?<!\s)\s*\.\s*((?:\[\d+\])+)$", r" \1.", sentence)
    return re.sub(r"(?<!\s)\s*((?:\[\d+\])+)", r" \1", sentence).strip()


def tidy(text: str) -> str:
    """Blanks collapsed, and none before punctuation: what is left where markers were taken out."""
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))


def stream_pieces(answer: str) -> list[str]:
    """An answer's text cut after each marker ('He left [1]. She stayed [2].' -> two pieces): what
    the offline answer streams, a sentence at a time."""
    return _AFTER_MARKER.split(answer)
