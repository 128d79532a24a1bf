"""Conversation handling: turn a follow-up question into one that stands alone for retrieval.

"what does he think about Syria?" after "who is Alexander Golts?" retrieves nothing useful on its
own; carrying over the names of the previous turn ("Alexander Golts") makes it findable. Names are
carried only into a question that points back (a pronoun, "there", "the same") or is too short
to stand alone ("and his age?"): borrowed into "How far can the light be seen?", they pulled a
Golts quote into the lighthouse answer. This is the offline condenser; an LLM backend may
rewrite the question instead.
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
# "and in 2015?", "what about Ukraine?": this short, a question leans on the one before it.
ELLIPTICAL_WORDS = 3
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
    if not _REFERRING.search(question) and (own or len(question.split()) > ELLIPTICAL_WORDS):
        return question
    for turn in reversed(history):
        carried = [n for n in names(turn.question) if n not in own]
        if carried:
            return f"{question} ({', '.join(carried)})"
    return question
