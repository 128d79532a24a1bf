"""Misspelled question words respelled from the passages retrieved for them: "Frensh" -> "French".

People misspell names and long words ("Shirly", "develpment", "astronaughts": all from SQuAD's
questions). A misspelled word matches no keyword, counts as missing from every sentence and reads
as a different word to the reader, so the answerer abstains on a question it could answer. Dense
retrieval still finds the passage, so its words are where the right spelling is.

A word is respelled only when neither the articles (its stem's document frequency) nor the
embedding model's English vocabulary know it, and exactly one word of the retrieved passages is
closest to it: one edit away (a swap of two letters counts as one; two edits for words of nine
letters or more), starting with the same letter. "deceleration" is never made "acceleration".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import regex

from assistant.config import MODELS
from assistant.text.terms import terms
from assistant.types import Passage

VOCABULARY = MODELS / "reader-tokenizer.json"  # MiniLM's uncased word pieces
_WORD = regex.compile(r"\p{L}+")
SHORTEST = 5  # shorter words are too often another real word one edit away ("safe", "same")


@cache
def english(path: Path = VOCABULARY) -> frozenset[str]:
    """The whole words of a word-piece vocabulary (lower case): about 20,000 common English words."""
    vocabulary = json.loads(path.read_text())["model"]["vocab"]
    return frozenset(w for w in vocabulary if w.isalpha())


def respelled(question: str, passages: Sequence[Passage], document_frequency: Callable[[str], int]) -> str:
    """The question with each word that nothing knows replaced by its passages' spelling, if any."""
    from rapidfuzz import process
    from rapidfuzz.distance import DamerauLevenshtein

    known = english()
    unknown = {w for w in _WORD.findall(question) if len(w) >= SHORTEST and w.lower() not in known}
    unknown = {w for w in unknown if not any(document_frequency(t) for t in terms(w))}
    if not unknown:
        return question
    spelled = {w.lower(): w for p in reversed(passages) for w in reversed(_WORD.findall(p.chunk.text))
               if len(w) >= SHORTEST - 1}  # each word as the best passage first writes it
    words = sorted(spelled)
    for word in sorted(unknown):
        lower = word.lower()
        limit = 2 if len(lower) >= 9 else 1
        close = [(w, d) for w, d, _ in process.extract(lower, words, scorer=DamerauLevenshtein.distance,
                                                       score_cutoff=limit, limit=None) if w[0] == lower[0]]
        nearest = min((d for _, d in close), default=None)
        best = [w for w, d in close if d == nearest]
        if len(best) == 1:
            spelling = spelled[best[0]][0].upper() + spelled[best[0]][1:] if word[0].isupper() else best[0]
            question = regex.sub(rf"\b{regex.escape(word)}\b", spelling, question)
    return question
