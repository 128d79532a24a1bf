"""The abstention decision, for both answerers: what to say, or the one fixed "not found" answer.

    offline  the reader's best sentence is improbable (`abstain_below`) or contradicts the
             question -> abstain; else it, and the runner-up when nearly as probable (`decide`)
    LLM      the model says the sources don't answer, citing nothing -> abstain (`declines`);
             a claim that says the opposite of the sentence it cites loses that citation
             (`text.opposites.contrary`, applied in llm/grounding.py)

Either way the answer is NOT_FOUND with `abstained: true`. The offline thresholds are chosen on
squad2-dev by scripts/train_reader.py and shipped in models/reader.json (`ReaderConfig`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from assistant.answer.chat import names
from assistant.answer.citations import GROUP
from assistant.text.terms import terms, weighted_share
from assistant.types import Passage, Quote

NOT_FOUND = "The indexed articles don't answer this question."  # the one abstention, offline and LLM alike
# What an abstention says instead of related reading when no passage shares the question's subject.
NOTHING_RELATED = "Nothing in the indexed articles is about this."
# A question without a name is on a passage's subject when the passage holds half its words' idf weight.
ON_SUBJECT_SHARE = 0.5


def decide(read: list[Quote], abstain_below: float, second_within: float,
           contradiction: bool = True) -> list[Quote]:
    """The sentences to say from the reader's scores (best first); none means abstain.

    `contradiction=False` turns the contradiction check off, for the training script's ablation.
    """
    if not read or read[0].score < abstain_below or (contradiction and contradicts(read[0])):
        return []
    return choose(read, second_within)


def choose(ranked: list[Quote], second_within: float) -> list[Quote]:
    """The best sentence, and the runner-up when nearly as likely and sharing words with the question.

    A runner-up that shares no word with the question is context, not part of the answer.
    """
    if len(ranked) > 1 and ranked[1].score >= ranked[0].score - second_within and ranked[1].features["coverage"] > 0:
        return ranked[:2]
    return ranked[:1]


def on_subject(question: str, passages: Sequence[Passage], idf: Callable[[str], float]) -> list[Passage]:
    """The passages that share the question's subject: the related reading an abstention may show.

    Retrieval always returns its top passages, however far from the question: "what is the capital
    of Peru?" brought back a lighthouse, a reactor and Syria. The subject of a question with names
    is its names: a passage must hold a word of one of them ("Peru"; "Golts" or "Alexander", as an
    article names a person in full once and by surname after). Without a name, a passage must hold
    `ON_SUBJECT_SHARE` of the question's idf weight ("boiling point of liquid nitrogen": a passage
    with only "point" holds a fraction of it).
    """
    named = {word for name in names(question) for word in terms(name)}
    if named:
        return [p for p in passages if named & set(terms(p.chunk.text))]
    weights = {t: idf(t) for t in terms(question)}
    return [p for p in passages if weighted_share(weights, set(terms(p.chunk.text))) >= ON_SUBJECT_SHARE]


def contradicts(best: Quote) -> bool:
    """The best sentence says the opposite of what the question presumes, or not what it asks about.

    A negated question ("what do pharmacists *not* specialize in?") over a sentence with no
    negation (one in a neighbour does not count: "not just" two sentences away), a question word
    whose prefixed opposite the sentence uses ("abnormal" vs "normal"), a figure the question
    quotes that neither the sentence nor the one before holds ("the Royal Proclamation of 1736"
    against "of 1763"), or a listed opposite of a question word there instead of it ("what
    *increases* ..." against "... decreases"; another month, number word or unit: "in *June*"
    against "in July"): the sentence cannot answer it, however many words it shares. On
    squad2-train, before any threshold was chosen, the figure check fired on the first stage's best
    sentence for 3 of 1,321 answerable questions and 82 of 1,216 unanswerable ones, the opposites
    on 7 and 92 (78 before the mutually exclusive sets), the negation check on 6 and 108 (5 and 96
    when a negation in either neighbour counted).
    """
    f = best.features
    return bool(f["negation_missing_here"] or f["antonym"] or f["figure_missing"] or f["opposite"])


# "The sources do not say ...", "not mentioned in the articles": the model declining to answer.
_SOURCES = r"(?:sources?|articles?|passages?|context|documents?|texts?)"
DECLINES = re.compile(
    rf"\b{_SOURCES}\s+(?:do|does|did)(?:\s+not|n['’]t)\s+(?:say|mention|state|contain|answer|include|provide|"
    r"specify|give|discuss|cover|address)"
    rf"|\bnot\s+(?:mentioned|stated|found|given|provided|specified|covered|addressed)\s+in\s+the\s+{_SOURCES}"
    rf"|\b(?:no|nothing)\s+(?:information|mention)\b[^.]{{0,200}}\b{_SOURCES}\b"  # bounded: linear in a long reply
    r"|\b(?:cannot|can['’]t|unable to)\s+(?:answer|tell|say|find)\b", re.I)


def declines(reply: str, not_found: str = NOT_FOUND) -> bool:
    """Did the model say the sources don't answer (and cite nothing)?"""
    if GROUP.search(reply):
        return False
    said = words(reply)
    return words(not_found) in said or (bool(DECLINES.search(reply)) and len(said.split()) <= 40)


def words(text: str) -> str:
    """Lower-case words, apostrophes removed: the unit the decline check (and the LLM's leak check) counts."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'", "")))
