"""The offline answerer: pick the sentences that answer the question and cite each one.

No LLM is involved. Two stages, cheap then careful:

1. Every sentence of the retrieved passages is scored by features (candidates.py): how much of
   the question it covers (idf-weighted, so "Golts" counts more than "said"), whether it holds the
   kind of thing the question asks for (a year for "when"), its passage's rank, its embedding
   similarity; the best few are looked at again with word vectors, which see paraphrase.
2. The learned reader (reader.py, a cross-encoder) reads the question with each of the first
   stage's best few sentences and gives the probability that it answers, combined with the first
   stage's. The answer is the most probable sentence, plus the runner-up when nearly as probable;
   when even the best is improbable, or it contradicts the question, it abstains (decision.py).
   A who/what-is question is answered as a definition (definition.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from assistant.answer.candidates import RERANK, Calibration, Evidence, WordAlignment, candidates
from assistant.answer.citations import number, strip_markers, with_marker
from assistant.answer.decision import NOT_FOUND, decide
from assistant.answer.definition import definition
from assistant.answer.reader import Reader, combine, log_odds, reader_text
from assistant.types import Citation, Passage, Quote


@dataclass(frozen=True)
class Draft:
    """The answerer's choice before numbering: sentences to say, each with the candidate it quotes."""

    sentences: tuple[tuple[str, Quote], ...]
    abstained: bool


class ExtractiveAnswerer:
    """Chooses answer sentences from retrieved passages, or abstains.

    `reader` may be None for callers that only rank (the training script collecting candidates).
    """

    def __init__(self, evidence: Evidence, reader: Reader | None, calibration: Calibration | None = None):
        self.evidence = evidence
        self.reader = reader
        self.calibration = calibration or Calibration.load()

    def candidates(self, question: str, vector: np.ndarray, passages: Sequence[Passage]) -> list[Quote]:
        """Every sentence of the passages once, with its features, in passage order."""
        return candidates(question, vector, passages, self.evidence)

    def rank(self, question: str, candidates: list[Quote]) -> list[Quote]:
        """Candidates by the probability that they hold the answer, best first.

        Two stages: the ranker scores every sentence; the reranker looks again at the best few,
        adding how well the question's words are matched (a cost worth paying for five, not fifty).
        """
        first = sorted((replace(c, score=self.calibration.ranker(c.features)) for c in candidates), key=lambda c: -c.score)
        reranker = self.calibration.reranker
        if reranker is None or not first:
            return first
        head = [replace(c, score=reranker(c.features)) for c in self.head(question, first)]
        return sorted(head, key=lambda c: -c.score) + first[RERANK:]

    def head(self, question: str, first: list[Quote]) -> list[Quote]:
        """The first stage's best few, with what the reranker reads added to their features."""
        align = WordAlignment(question, self.evidence)
        # floor 1e-9: the reranker was fitted on log-odds kept that close to 0 and 1
        return [replace(c, features={**c.features, "stage1": float(log_odds(c.score, floor=1e-9)), **align(c.text)})
                for c in first[:RERANK]]

    def read(self, question: str, ranked: list[Quote]) -> list[Quote]:
        """The first stage's best few, scored by the reader with the first stage, best first."""
        assert self.reader is not None, "reading needs a Reader"
        config = self.reader.config
        head = ranked[: config.read]
        probabilities = combine(self.reader.score(question, reader_texts(head, config.previous)),
                                np.array([c.score for c in head]), config.first_stage_weight)
        return sorted((replace(c, score=float(p)) for c, p in zip(head, probabilities)), key=lambda c: -c.score)

    def draft(self, question: str, vector: np.ndarray, passages: Sequence[Passage]) -> Draft:
        """What to say: the best sentence or two (a who/what-is question as a definition), or abstain."""
        assert self.reader is not None, "drafting needs a Reader"
        config = self.reader.config
        chosen = decide(self.read(question, self.rank(question, self.candidates(question, vector, passages))),
                        config.abstain_below, config.second_within)
        if not chosen:
            return Draft((), True)
        said = [(definition(question, chosen[0].text) or chosen[0].text, chosen[0])]
        if len(chosen) > 1 and said[0][0] == chosen[0].text:  # a definition stands alone
            said.append((chosen[1].text, chosen[1]))
            said.sort(key=lambda pair: (pair[1].passage.rank, pair[1].start))  # read in article order
        return Draft(tuple(said), False)


def reader_texts(candidates: Sequence[Quote], previous: bool) -> list[str]:
    """What the reader reads for each candidate: with the sentence before only if it was trained so."""
    return [reader_text(c.text, c.passage.title, c.before if previous else "") for c in candidates]


def cite(draft: Draft) -> tuple[str, tuple[Citation, ...]]:
    """Number the quoted sentences [1], [2], ... and put each marker before the sentence's end;
    an abstention is NOT_FOUND, citing nothing."""
    if draft.abstained:
        return NOT_FOUND, ()
    numbers, citations = number([quote for _, quote in draft.sentences])
    # strip_markers: not the article's own "[4]" footnotes
    text = " ".join(with_marker(strip_markers(said), n) for (said, _), n in zip(draft.sentences, numbers))
    return text, citations
