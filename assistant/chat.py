"""Conversation handling: turn a follow-up question into one that stands alone for retrieval.

"what does he think about Syria?" after "who is Alexander Golts?" retrieves nothing useful on its
own; carrying over the names of the previous turn ("Alexander Golts") makes it findable. This is
the offline condenser; an LLM backend may rewrite the question instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Turn

_REFERRING = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|this|that|these|those|there|then|"
    r"the same|the former|the latter)\b", re.I)
# Capitalised word runs ("Alexander Golts", "Bashar al-Assad"), minus sentence-initial question words.
_NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:al-|de |von |van )?[A-Z][\w’'-]*)*")
_QUESTION_WORDS = {"Who", "What", "When", "Where", "Why", "How", "Which", "Is", "Are", "Was", "Were", "Do",
                   "Does", "Did", "Can", "Tell", "And", "But", "The", "A", "An", "I"}


def names(text: str) -> list[str]:
    """Proper-noun phrases of a text, in order, without leading question words."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group().split()
        while words and words[0] in _QUESTION_WORDS:
            words.pop(0)
        if words:
            found.append(" ".join(words))
    return found


def condense(question: str, history: Sequence[Turn]) -> str:
    """The question, plus the names of the latest earlier question when it refers back to them."""
    if not history:
        return question
    own = names(question)
    if own and not _REFERRING.search(question):
        return question
    for turn in reversed(history):
        carried = [n for n in names(turn.question) if n not in own]
        if carried:
            return f"{question} ({', '.join(carried)})"
    return question
