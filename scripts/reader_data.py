"""Training pairs for the reader from paragraphs: squad11's answerable questions, squad2's real
unanswerable ones, and unanswerable questions made from squad11's.

The setting is `../shared/eval/NOTES.md`'s: a question against the sentences of its own paragraph
(the product's sentence splitter), plus hard negatives from the article's other paragraphs. A pair
is `Pair(question, text, label, answer=(start, end))`: `text` is what the reader reads
(`reader_text`: the sentence, then its title), `answer` the short answer's characters in `text`
for a positive whose answer offset is known (squad11) or found (squad2), for the span head.

Unanswerable questions made from answerable ones, each a flag of `training_pairs` so each can be
ablated (the kinds SQuAD 2.0's writers used; Rajpurkar, Jia & Liang 2018, table 2):
- `entity`: a name, number or date of the question that the answering sentence also holds,
  replaced by another of the same kind from the same article that the sentence does not hold.
- `role`: two names of the question that the answering sentence holds, swapped (subject/object).
- `negation`: an antonym ("largest" -> "smallest") or "not" after the first auxiliary.
- `paragraph`: the question itself against another paragraph of its article.
Each made question is paired with the sentence that answered the original (label 0: the hard
case) and one other sentence of the paragraph, or, for `paragraph`, the two sentences of the other
paragraph that share most words with it.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

from assistant.text.sentences import sentence_spans
from assistant.answer.evaluation import contains_answer, normalize
from assistant.answer.reader import reader_text

MADE_KINDS = ("entity", "role", "negation", "paragraph")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((  # noqa: SIM905 - a word list reads better as one string
    "a an the of in on at to for by with from and or is was are were be been did do does what which "
    "who whom whose when where why how that this these those it its as into than then there their "
    "they he she his her").split())
# Kinds of swappable things, most specific first: a year is not swapped for a count.
_KINDS = {
    "year": re.compile(r"\b1[0-9]{3}\b|\b20[0-9]{2}\b"),
    "number": re.compile(r"\b\d[\d,.]*\b"),
    "month": re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November"
                        r"|December)\b"),
    "name": re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|the\s+)?[A-Z][a-z]+)*\b"),
}
_AUXILIARY = re.compile(r"\b(is|was|are|were|did|does|do|can|could|has|have|had|will|would|should)\b(?= \w)")
_OPPOSITES = [("largest", "smallest"), ("biggest", "smallest"), ("first", "last"), ("before", "after"),
              ("most", "least"), ("highest", "lowest"), ("earliest", "latest"), ("increase", "decrease"),
              ("increased", "decreased"), ("north", "south"), ("east", "west"), ("older", "younger"),
              ("oldest", "youngest"), ("more", "less"), ("longest", "shortest"), ("best", "worst"),
              ("early", "late"), ("major", "minor"), ("win", "lose"), ("won", "lost"), ("maximum", "minimum"),
              ("higher", "lower"), ("larger", "smaller"), ("start", "end"), ("began", "ended"), ("inside", "outside")]
ANTONYMS = {a: b for x, y in _OPPOSITES for a, b in ((x, y), (y, x))}
_ANTONYM = re.compile(r"\b(" + "|".join(sorted(ANTONYMS, key=len, reverse=True)) + r")\b")


class Pair(NamedTuple):
    """One training example: does `text` answer `question`; where, if known (characters of `text`).

    A named tuple, not a dataclass: the older pairs were plain (question, text, label[, log-odds])
    tuples, and code and caches that index them keep working.
    """

    question: str
    text: str
    label: int
    first_stage: float | None = None  # the first stage's log-odds, for `--residual` pairs
    answer: tuple[int, int] | None = None

    @classmethod
    def of(cls, row) -> Pair:
        """From a cached row: a dict, or the older (question, text, label[, log-odds]) list."""
        if isinstance(row, Pair):
            return row
        if isinstance(row, dict):
            return cls(row["question"], row["text"], int(row["label"]), row.get("first_stage"),
                       tuple(row["answer"]) if row.get("answer") else None)
        return cls(row[0], row[1], int(row[2]), float(row[3]) if len(row) > 3 else None)

    def to_json(self) -> dict:
        return {k: v for k, v in self._asdict().items() if v is not None}


@dataclass(frozen=True)
class Paragraph:
    id: str
    article: str
    title: str
    text: str
    sentences: tuple[tuple[int, int], ...]

    def texts(self) -> list[str]:
        return [reader_text(self.text[s:e], self.title) for s, e in self.sentences]


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def paragraphs(docs: Path) -> dict[str, Paragraph]:
    """Every paragraph of a docs file, split into sentences as the product splits them."""
    out = {}
    for d in read_jsonl(docs):
        article = d["id"].split("__")[0]
        out[d["id"]] = Paragraph(d["id"], article, d["title"], d["text"], tuple(sentence_spans(d["text"])))
    return out


def sample_by_article(qa: list[dict], n: int | None, seed: int = 0) -> list[dict]:
    """The first `n` questions of whole articles taken in a seeded order (the last one cut short).

    Whole articles keep each article's pool of names and paragraphs for the made questions, and a
    smaller sample is the start of a larger one, so learning-curve points are nested.
    """
    by_article: dict[str, list[dict]] = {}
    for q in qa:
        by_article.setdefault(q["article_id"], []).append(q)
    order = sorted(by_article)
    random.Random(seed).shuffle(order)
    out = [q for a in order for q in by_article[a]]
    return out if n is None else out[:n]


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def find_answer(sentence: str, answers: Iterable[str]) -> tuple[int, int] | None:
    """Characters of the first gold answer found in `sentence` (case-sensitive first), or None."""
    for a in answers:
        a = a.strip()
        if not a:
            continue
        for hay, needle in ((sentence, a), (sentence.lower(), a.lower())):
            i = hay.find(needle)
            if i >= 0:
                return i, i + len(a)
    return None


def _sentence_at(p: Paragraph, offset: int) -> int | None:
    for i, (s, e) in enumerate(p.sentences):
        if s <= offset < e:
            return i
    return None


@cache
def _sentence_words(text: str) -> frozenset[str]:
    return frozenset(words(text.split(" [SEP] ")[0]))


def _hardest(question: str, candidates: list[str], k: int, answers: list[str]) -> list[str]:
    """The `k` candidates sharing most words with the question, none holding an answer."""
    q = words(question)
    ranked = sorted(candidates, key=lambda t: -len(q & _sentence_words(t)))
    out = []
    for t in ranked:  # the answer check is the slow part: only on the best few
        if len(out) == k:
            break
        if not contains_answer(t.split(" [SEP] ")[0], answers):
            out.append(t)
    return out


@cache
def _things(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for kind, pattern in _KINDS.items():
        found[kind] = list(dict.fromkeys(m.strip() for m in pattern.findall(text)))
    return found


def _asked(question: str) -> dict[str, list[str]]:
    """The question's things; its first word ("Did", "Who") is capitalised as a question word, not a name."""
    return _things(question[:1].lower() + question[1:])


def _kind(value: str) -> str:
    for kind, pattern in _KINDS.items():
        if pattern.fullmatch(value):
            return kind
    return "name"


def entity_swap(question: str, sentence: str, article_text: str, rng: random.Random) -> str | None:
    """A name, number or date the question and sentence share, swapped for another of the article's."""
    shared = [t for kind in _KINDS for t in _asked(question)[kind] if t in sentence and len(t) > 1]
    rng.shuffle(shared)
    pool = _things(article_text)
    for old in shared:
        others = [t for t in pool[_kind(old)] if t != old and t not in sentence and t not in question]
        if others:
            return re.sub(rf"\b{re.escape(old)}\b", rng.choice(others), question, count=1)
    return None


def role_swap(question: str, sentence: str) -> str | None:
    """Two names of the question that the sentence also holds, swapped."""
    names = [t for t in _asked(question)["name"] if t in sentence]
    if len(names) < 2:
        return None
    a, b = names[0], names[1]
    swapped = re.sub(rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group(0) == a else a, question)
    return swapped if swapped != question else None


def negated(question: str) -> str | None:
    """An antonym swapped in, else "not" after the first auxiliary verb."""
    if _ANTONYM.search(question):
        return _ANTONYM.sub(lambda m: ANTONYMS[m.group(0)], question, count=1)
    if " not " in question or "n't" in question:
        return None
    m = _AUXILIARY.search(question)
    return question[: m.end()] + " not" + question[m.end():] if m else None


def squad11_pairs(qa: list[dict], paras: dict[str, Paragraph], seed: int = 0, negatives: int = 2,
                  other: int = 1, made: Iterable[str] = MADE_KINDS, made_share: float = 0.25) -> list[Pair]:
    """Pairs for answerable squad11 questions and the unanswerable ones made from them.

    Per question: the answering sentence (with the answer's offsets), the `negatives` sentences of
    its paragraph sharing most words with it, the `other` such sentences of the article's other
    paragraphs; each made kind with probability `made_share` where it applies.
    """
    rng = random.Random(seed)
    made = set(made)
    assert made <= set(MADE_KINDS), f"unknown made kinds {made - set(MADE_KINDS)}; choose from {MADE_KINDS}"
    by_article: dict[str, list[Paragraph]] = {}
    for p in paras.values():
        by_article.setdefault(p.article, []).append(p)
    article_text = {a: " ".join(p.text for p in ps) for a, ps in by_article.items()}
    texts_of = {p.id: p.texts() for p in paras.values()}
    pairs: list[Pair] = []
    for q in qa:
        p = paras[q["doc_ids"][0]]
        answer, start = q["answers"][0], q["answer_starts"][0]
        i = _sentence_at(p, start)
        if i is None or start + len(answer) > p.sentences[i][1]:
            continue  # an answer across a sentence break: no one sentence answers
        texts = texts_of[p.id]
        s0 = p.sentences[i][0]
        positive = texts[i]
        lead = len(p.text[s0 : p.sentences[i][1]]) - len(p.text[s0 : p.sentences[i][1]].lstrip())
        span = (start - s0 - lead, start - s0 - lead + len(answer))
        assert positive[span[0] : span[1]] == answer, (positive, answer)
        question = q["question"]
        pairs.append(Pair(question, positive, 1, answer=span))
        rest = [t for j, t in enumerate(texts) if j != i]
        near = _hardest(question, rest, negatives, [answer])
        pairs += [Pair(question, t, 0) for t in near]
        if other:
            elsewhere = [t for o in by_article[p.article] if o.id != p.id for t in texts_of[o.id]]
            pairs += [Pair(question, t, 0) for t in _hardest(question, elsewhere, other, [answer])]
        sentence = p.text[p.sentences[i][0] : p.sentences[i][1]]
        variants = []
        if "entity" in made and rng.random() < made_share:
            variants.append(entity_swap(question, sentence, article_text[p.article], rng))
        if "role" in made and rng.random() < made_share:
            variants.append(role_swap(question, sentence))
        if "negation" in made and rng.random() < made_share:
            variants.append(negated(question))
        for v in variants:
            if v and v != question:
                pairs += [Pair(v, positive, 0)] + [Pair(v, t, 0) for t in near[:1]]
        if "paragraph" in made and rng.random() < made_share:
            others = [o for o in by_article[p.article] if o.id != p.id]
            if others:
                o = rng.choice(others)
                pairs += [Pair(question, t, 0) for t in _hardest(question, texts_of[o.id], 2, [answer])]
    return pairs


def squad2_pairs(qa: list[dict], paras: dict[str, Paragraph]) -> list[Pair]:
    """Each squad2 question against every sentence of its paragraph; unanswerable ones all negative.

    A sentence is positive when it holds a gold answer (NOTES.md's definition); its span is the
    first gold answer found in it.
    """
    pairs: list[Pair] = []
    for q in qa:
        answers = q["answers"] if q["answerable"] else []
        p = paras[q["doc_ids"][0]]
        for (s, e), text in zip(p.sentences, p.texts()):
            sentence = p.text[s:e]
            label = int(bool(answers) and contains_answer(sentence, answers))
            pairs.append(Pair(q["question"], text, label, answer=find_answer(sentence, answers) if label else None))
    return pairs


def exact_match(prediction: str, answers: Iterable[str]) -> bool:
    """SQuAD's exact match: equal to some gold answer after normalisation."""
    return any(normalize(prediction) == normalize(a) for a in answers)
