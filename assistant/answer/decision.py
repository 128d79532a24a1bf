"""The abstention decision: which of the read sentences to say, or none (the fixed "not found" answer).
"""

from __future__ import annotations

from assistant.answer.candidates import Candidate


def decide(read: list[Candidate], abstain_below: float, second_within: float,
           contradiction: bool = True) -> list[Candidate]:
    """The sentences to say from the reader's scores (best first); none means abstain.

    `contradiction=False` turns the contradiction check off, for the training script's ablation.
    """
    if not read or read[0].score < abstain_below or (contradiction and contradicts(read[0])):
        return []
    return choose(read, second_within)


def choose(ranked: list[Candidate], second_within: float) -> list[Candidate]:
    """The best sentence, and the runner-up when nearly as likely and sharing words with the question.

    A runner-up that shares no word with the question is context, not part of the answer.
    """
    if len(ranked) > 1 and ranked[1].score >= ranked[0].score - second_within and ranked[1].features["coverage"] > 0:
        return ranked[:2]
    return ranked[:1]


def contradicts(best: Candidate) -> bool:
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
