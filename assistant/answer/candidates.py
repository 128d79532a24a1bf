"""The first stage: every sentence of the retrieved passages, with the features that rank it.

How much of the question a sentence covers (idf-weighted, so "Golts" counts more than "said"),
whether it holds the kind of thing the question asks for (a year for "when"), its passage's rank,
its embedding similarity, whether it contradicts the question; the best few are looked at again
with word vectors, which see paraphrase (`WordAlignment`). The weights are fitted by
scripts/calibrate.py (models/calibration.json).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import numpy as np
import regex  # \p{Lu}: names start with a capital in any script, not only A-Z

from assistant.config import MODELS
from assistant.text.opposites import LETTERS, NEGATION, flipped, opposed
from assistant.text.terms import stopwords, terms, weighted_share
from assistant.types import Chunk, Passage, Quote

CALIBRATION = MODELS / "calibration.json"


RERANK = 5  # sentences the second stage looks at again
# The fusion constant (retrieve.retriever.RRF_K) that calibration.json and the reader were fitted
# with: the "fused" feature is a passage's fused score rescaled by it (1.0 when dense and keyword
# search both put the passage first). Kept here, not imported, so that changing fusion cannot
# silently shift the answerer: tests/test_answering.py fails until the models are refitted.
FITTED_RRF_K = 60


_WORD = re.compile(r"\w+")


_WH = re.compile(r"\b(who|whom|whose|what|which|when|where|why|how)\b", re.I)


_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")


_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"spring|summer|autumn|fall|winter|century|centuries|decade|BC|AD|BCE|CE)\b", re.I)


_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|dozens|half|several|many|few)\b", re.I)


_CAPITAL = regex.compile(r"(?<![.!?]\s)(?<!^)\b\p{Lu}[\p{L}'’-]+")


# Names and numbers a question is about: runs of capitalised words (not the first word), and figures.
_FIGURE = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")  # "1736", "2,000", "3"; not "20th"


_ENTITY = regex.compile(r"(?<!^)\b\p{Lu}[\w'’-]*(?:\s+(?:of\s+|de\s+|the\s+)?\p{Lu}[\w'’-]*)*|" + _FIGURE.pattern)


_EXCLUSIVE = re.compile(r"\b(only|first|last|largest|smallest|most|least|best|worst|never|always)\b", re.I)


def answer_type(question: str) -> str:
    """What kind of thing the question asks for: time, number, person, place or other."""
    q = question.lower()
    if re.search(r"\bwhen\b|\bwhat (year|years|date|day|month|time|century|decade|era|period)\b|\bwhich (year|century|decade)\b|\bhow long ago\b", q):
        return "time"
    if re.search(r"\bhow (many|much|long|far|old|tall)\b|\bwhat (percentage|percent|number|amount|proportion|fraction)\b", q):
        return "number"
    if re.search(r"\bwho\b|\bwhom\b|\bwhose\b", q):
        return "person"
    if re.search(r"\bwhere\b|\bwhat (country|city|state|region|place|continent|area|location)\b", q):
        return "place"
    return "other"


def has_type(kind: str, sentence: str, question: str) -> bool:
    """Does the sentence hold a new (not in the question) instance of the asked-for kind?"""
    if kind == "time":
        years = set(_YEAR.findall(sentence)) - set(_YEAR.findall(question))
        return bool(years) or bool({m.lower() for m in _MONTH.findall(sentence)} - {m.lower() for m in _MONTH.findall(question)})
    if kind == "number":
        return bool({m.group().lower() for m in _NUMBER.finditer(sentence)} - {m.group().lower() for m in _NUMBER.finditer(question)})
    if kind in ("person", "place"):
        known = {w.lower() for w in regex.findall(r"[\p{L}'’-]+", question)}
        return any(w.lower() not in known for w in _CAPITAL.findall(sentence))
    return True


class Evidence(Protocol):
    """What the answerer reads from the index (the Retriever provides it)."""

    def idf(self, term: str) -> float: ...

    def document_frequency(self, term: str) -> int: ...

    def sentences(self, chunk: Chunk) -> list[tuple[int, int, np.ndarray]]: ...

    def word_vectors(self, words: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class LinearModel:
    """A logistic model over named features, fitted by scripts/calibrate.py on squad2-dev."""

    weights: dict[str, float]
    bias: float

    def __call__(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Calibration:
    """The fitted first stage: the sentence ranker and the reranker of its best few."""

    ranker: LinearModel
    reranker: LinearModel | None

    @classmethod
    def load(cls, path: Path = CALIBRATION) -> Calibration:
        d = json.loads(path.read_text())
        return cls(
            ranker=LinearModel(d["ranker"]["weights"], d["ranker"]["bias"]),
            reranker=LinearModel(d["reranker"]["weights"], d["reranker"]["bias"]) if "reranker" in d else None,
        )


class WordAlignment:
    """How well each content word of the question is matched by some word of a sentence.

    Exact term overlap misses paraphrase ("began" / "started"); word vectors see it, and they
    also see when the question's odd word out has no counterpart at all ("self-aware" against
    "self-generating"). Reported as the mean, the idf-weighted mean and the worst match over the
    question's words.
    """

    NAMES = ("align_mean", "align_min", "align_idf")

    def __init__(self, question: str, evidence: Evidence):
        self._evidence = evidence
        # Question words ("when", "how") have no counterpart in an answer; stopwords match anything.
        words = [w for w in _WORD.findall(question.lower()) if w not in stopwords() and not _WH.fullmatch(w)]
        self._question = evidence.word_vectors(words)
        idf = np.array([max((evidence.idf(t) for t in terms(w)), default=0.0) for w in words])
        self._idf = idf / idf.sum() if idf.sum() else np.full(len(words), 1.0 / max(1, len(words)))

    def __call__(self, sentence: str) -> dict[str, float]:
        words = _WORD.findall(sentence.lower())
        if not words or not len(self._question):
            return {"align_mean": 0.0, "align_min": 0.0, "align_idf": 0.0}
        best = (self._question @ self._evidence.word_vectors(words).T).max(1)
        return {"align_mean": float(best.mean()), "align_min": float(best.min()), "align_idf": float(best @ self._idf)}


def candidates(question: str, vector: np.ndarray, passages: Sequence[Passage], evidence: Evidence) -> list[Quote]:
    """Every sentence of the passages once, with its features, in passage order."""
    q_sequence = terms(question)
    q_terms = set(q_sequence)
    q_bigrams = set(pairwise(q_sequence))
    weights = {t: evidence.idf(t) for t in q_terms}
    kind = answer_type(question)
    q_neg = bool(NEGATION.search(question))
    q_exclusive = {m.lower() for m in _EXCLUSIVE.findall(question)}
    q_entities = {m.lower() for m in _ENTITY.findall(question.strip())}
    q_words = set(LETTERS.findall(question.lower()))
    q_figures = {f.replace(",", "") for f in _FIGURE.findall(question)}  # "2000" is "2,000"
    # Terms the collection never mentions: the question is about something that is not here.
    absent = sum(1 for t in q_terms if evidence.document_frequency(t) == 0)
    seen: set[tuple[str, int]] = set()
    out: list[Quote] = []
    for passage in passages:
        chunk = passage.chunk
        sentences = evidence.sentences(chunk)
        texts = [chunk.text[s - chunk.start : e - chunk.start] for s, e, _ in sentences]
        sequences = [terms(t) for t in texts]
        sent_terms = [set(seq) for seq in sequences]
        letters = [set(LETTERS.findall(t.lower())) for t in texts]  # each sentence's words, once
        plain = [t.replace(",", "") for t in texts]  # figures compared without thousands separators
        passage_terms = set().union(*sent_terms)
        dense = [float(v @ vector) for _, _, v in sentences]
        passage_dense = max(dense, default=0.0)
        covered_passage = weighted_share(weights, passage_terms)
        missing = max((w for t, w in weights.items() if t not in passage_terms), default=0.0)
        lowered = chunk.text.lower()
        missing_entities = sum(1 for e in q_entities if e not in lowered) / max(1, len(q_entities))
        for i, (start, end, _) in enumerate(sentences):
            if (chunk.article_id, start) in seen:
                continue
            seen.add((chunk.article_id, start))
            here = sent_terms[i]
            near = here | (sent_terms[i - 1] if i else set()) | (sent_terms[i + 1] if i + 1 < len(texts) else set())
            around = " ".join(texts[max(0, i - 1) : i + 2])
            around_words = set().union(*letters[max(0, i - 1) : i + 2])
            negated_here = bool(NEGATION.search(texts[i]))
            features = {
                "coverage": weighted_share(weights, here),
                "bigrams": len(q_bigrams & set(pairwise(sequences[i]))) / max(1, len(q_bigrams)),
                "near_coverage": weighted_share(weights, near),
                "passage_coverage": covered_passage,
                "max_missing_idf": missing,
                "type_match": float(has_type(kind, texts[i], question)),
                "negation_mismatch": float(q_neg != negated_here),
                "negation_unmatched": float(q_neg and not NEGATION.search(around)),
                "negation_missing_here": float(q_neg and not negated_here),
                "exclusive_unmatched": float(bool(q_exclusive - {m.lower() for m in _EXCLUSIVE.findall(around)})),
                "missing_entities": missing_entities,
                "absent_terms": float(absent),
                "antonym": float(flipped(q_words, around_words)),
                "entity_missing_here": float(any(e not in around.lower() for e in q_entities)),
                # A figure the question quotes, or the opposite of a word it uses, in neither this
                # sentence nor the one before.
                "figure_missing": float(any(f not in plain[i] and (not i or f not in plain[i - 1]) for f in q_figures)),
                "opposite": float(opposed(q_words, set().union(*letters[max(0, i - 1) : i + 1]))),
                "near_missing_idf": max((w for t, w in weights.items() if t not in near), default=0.0),
                "inverse_rank": 1.0 / passage.rank,
                # 1.0 when dense and keyword search both put this passage first.
                "fused": passage.score * (FITTED_RRF_K + 1) / 2,
                "dense": dense[i],
                "dense_gap": passage_dense - dense[i],
                "dense_neighbours": max(dense[max(0, i - 1) : i + 2]),
                "first": float(i == 0),
                "log_words": math.log1p(len(texts[i].split())),
            }
            out.append(Quote(passage, start, end, texts[i], features, before=texts[i - 1] if i else ""))
    return out
