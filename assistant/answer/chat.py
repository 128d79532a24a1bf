"""Conversation handling: turn a follow-up question into one that stands alone for retrieval.

"what does he think about Syria?" after "who is Alexander Golts?" retrieves nothing useful on its
own; carrying over the names of the turn it refers to ("Alexander Golts") makes it findable. Names are
carried only into a question that points back (a pronoun, "there", "the same") or is too short
to stand alone ("and his age?"): borrowed into "How far can the light be seen?", they pulled a
Golts quote into the lighthouse answer.

The turn referred to is the most recent one with a matching referent: a person for "he", "she",
"his" (a name the turn asks "who is" about, or that its answer describes: "Maria Santos, an
engineer"), a thing for "it", "there", anything for "they" or "and in 2015?". A turn that names
nothing lends its own words: "when did it end?" after "When did the 1973 oil crisis begin?" is
about the oil crisis, not about a name three turns back, which is what carrying the latest *name*
did. The service names what was searched in the answer's note. This is the offline condenser; an
LLM backend may rewrite the question instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Turn

_REFERRING = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|this|that|these|those|there|then|"
    r"the same|the former|the latter)\b", re.I)
_PERSONAL = re.compile(r"\b(he|she|him|her|his|hers|himself|herself)\b", re.I)
_THING = re.compile(r"\b(it|its|itself|this|that|these|those|there|then)\b", re.I)
# Capitalised word runs ("Alexander Golts", "Bashar al-Assad"), minus sentence-initial question words.
_NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:al-|de |von |van )?[A-Z][\w’'-]*)*")
# "and in 2015?", "what about Ukraine?": this short, a question leans on the one before it.
ELLIPTICAL_WORDS = 3
_QUESTION_WORDS = {"Who", "What", "When", "Where", "Why", "How", "Which", "Is", "Are", "Was", "Were", "Do",
                   "Does", "Did", "Can", "Tell", "And", "But", "The", "A", "An", "I"}
# Words a borrowed question lends besides its names: not question words, pronouns or auxiliaries.
_FUNCTION_WORDS = {w.lower() for w in _QUESTION_WORDS} | {
    "is", "was", "be", "been", "of", "in", "on", "at", "to", "for", "from", "by", "with", "about", "as", "far",
    "much", "many", "long", "did", "does", "do", "has", "have", "had", "will", "would", "could", "should",
    "it", "its", "he", "she", "they", "his", "her", "their", "this", "that", "there", "me", "you", "first"}


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


def is_person(name: str, turn: Turn) -> bool:
    """Whether the turn speaks of `name` as a person: "who is NAME?", "NAME, an engineer", "says NAME"."""
    n = re.escape(name)
    return bool(re.search(rf"\bwho\s+(?:is|was)\s+{n}\b", turn.question, re.I) or re.search(
        rf"{n}(?:,\s+(?:a|an|the)\s|\s+(?:is|was)\s+(?:a|an)\s|,?\s+(?:says|said|told|believes|thinks)\b)"
        rf"|\b(?:says|said|told|by)\s+{n}\b", f"{turn.question} {turn.answer}"))


def condense(question: str, history: Sequence[Turn]) -> str:
    """The question, plus what the turn it refers to was about (see the module docstring).

    Earlier follow-ups count as they were searched: after "where is he based?" was searched as
    "... (Alexander Golts)", the next "he" is still Golts.
    """
    resolved: list[Turn] = []
    for turn in history:
        resolved.append(Turn(_condensed(turn.question, resolved), turn.answer))
    return _condensed(question, resolved)


def _condensed(question: str, history: Sequence[Turn]) -> str:
    if not history:
        return question
    own = names(question)
    if not _REFERRING.search(question) and (own or len(question.split()) > ELLIPTICAL_WORDS):
        return question
    person, thing = bool(_PERSONAL.search(question)), bool(_THING.search(question))
    for turn in reversed(history):
        if person:
            found = dict.fromkeys(names(turn.question) + names(turn.answer))
            carried = [n for n in found if n not in own and is_person(n, turn)]
        else:
            named = [n for n in names(turn.question) if n not in own]
            carried = [n for n in named if not (thing and is_person(n, turn))]
            if named and not carried:
                continue  # that turn was about a person, and "it" is no person
            if not named:  # the latest turn is what "it" is about, named or not: it lends its words
                asked = set(re.findall(r"[\w’'-]+", question.lower()))
                lent = [w for w in re.findall(r"[\w’'-]+", turn.question)
                        if w.lower() not in _FUNCTION_WORDS and w.lower() not in asked]
                return f"{question} ({' '.join(lent)})" if lent else question
        if carried:
            return f"{question} ({', '.join(carried)})"
    return question
