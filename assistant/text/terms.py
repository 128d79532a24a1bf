"""Content terms of a text, normalised the way the BM25 index normalises them.

The answerer compares a question with sentences term by term; using BM25's own token pattern,
stopwords and stemmer means a term's document frequency can be read from the BM25 index.
"""

from __future__ import annotations

import re
from functools import cache

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # llama-index BM25Retriever's default token_pattern


@cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@cache
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def weighted_share(weights: dict[str, float], present: set[str]) -> float:
    """The share of the terms' total weight (idf) that `present` holds; 0 when there is no weight."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def terms(text: str) -> list[str]:
    """Stemmed lower-case content words, stopwords removed, in order."""
    stop = stopwords()
    words = [w for w in TOKEN.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words)
