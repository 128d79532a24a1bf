"""LLM answers that stay grounded: number the sources, ask the model, verify every citation.

A model can cite a source it was not given ("[9]" of five), cite one that does not say what the
sentence says, or obey instructions planted in an article. None of that reaches the reader:

    reply ─ split into sentences ─ parse [n] ─ drop n outside 1..k
          ─ support(sentence, passage n) ≥ SUPPORT_THRESHOLD ? keep, quoting the passage's best sentence
                                                             : drop the citation
          ─ a sentence left without a citation leaves the answer; it is listed as unsupported
          ─ renumber the kept citations 1..m in order of appearance ─ Answer

"Not in the sources" becomes the fixed abstention. A reply that keeps no citation, or repeats the
system prompt, is a failure like a server error: the caller shows the offline answer with a note.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from assistant.answer.candidates import Evidence
from assistant.answer.chat import condense
from assistant.answer.citations import LEADING, MARKERS, cited, number, place_markers, strip_markers, tidy
from assistant.answer.decision import DECLINES, NOT_FOUND, declines, words
from assistant.embed.base import Embedder
from assistant.errors import LLMError
from assistant.llm.client import LLM
from assistant.llm.prompts import Prompts, sources
from assistant.text.sentences import sentence_spans
from assistant.text.terms import terms, weighted_share
from assistant.types import Answer, Citation, Passage, Quote, Turn

log = logging.getLogger(__name__)

# support = LEXICAL_WEIGHT * (idf-weighted share of the sentence's terms found in the passage
# sentence and its neighbours) + (1 - LEXICAL_WEIGHT) * cosine(sentence, passage sentence).
# Calibrated by scripts/calibrate_grounding.py on squad2-dev (239 claims "question + gold answer"
# against their gold passage; negatives: the same claims against the retrieved passages that lack the
# answer, and claims with another question's answer against the gold passage). At 0.57: recall 0.90,
# precision 0.85 on a pool of equal parts supported/unsupported; 0.7% of wrong-passage and 31% of
# wrong-fact claims pass (a changed name or number in a long sentence is the hard case).
SUPPORT_THRESHOLD = 0.57
LEXICAL_WEIGHT = 0.5

LEAK_WORDS = 8  # this many consecutive words of the system prompt in a reply = it leaked
# An answer is a few sentences; a reply longer than this (about 3,000 words) is a runaway model,
# and reading, verifying and embedding it would cost seconds of CPU for nothing.
MAX_REPLY_CHARS = 20_000


@dataclass(frozen=True)
class Support:
    """How well one passage supports a claim, and the sentence of the passage that supports it best."""

    score: float
    start: int
    end: int
    quote: str


def support(claim: str, vector: np.ndarray, passage: Passage, evidence: Evidence,
            lexical_weight: float = LEXICAL_WEIGHT) -> Support | None:
    """The best-supporting sentence of `passage` for `claim` (None if the passage has no sentences).

    Args:
        claim: a sentence of the model's reply, without citation markers.
        vector: the claim's unit-norm embedding (same model as the index's sentence vectors).
        passage: the passage the claim cites.
        evidence: the index's sentence spans, vectors and term idf (the Retriever).
        lexical_weight: share of the lexical part in the score (calibration varies it).
    """
    weights = {t: evidence.idf(t) for t in set(terms(claim))}
    chunk = passage.chunk
    sentences = evidence.sentences(chunk)
    texts = [chunk.text[s - chunk.start : e - chunk.start] for s, e, _ in sentences]
    sentence_terms = [set(terms(t)) for t in texts]
    best: Support | None = None
    for i, (start, end, sentence_vector) in enumerate(sentences):
        window = sentence_terms[i].union(*sentence_terms[max(0, i - 1) : i + 2])
        lexical = weighted_share(weights, window)
        score = lexical_weight * lexical + (1 - lexical_weight) * float(sentence_vector @ vector)
        if best is None or score > best.score:
            best = Support(score, start, end, texts[i])
    return best


@dataclass(frozen=True)
class Sentence:
    """One sentence of a reply: its parts, each a piece of text followed by the numbers it cites."""

    parts: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def text(self) -> str:
        """The sentence without citation markers."""
        return tidy("".join(text for text, _ in self.parts))

    def claim(self, index: int) -> str:
        """What the citations after part `index` vouch for: the clause before them, or the sentence if short."""
        clause = tidy(self.parts[index][0])
        return clause if len(terms(clause)) >= 3 else self.text


def sentences(reply: str) -> list[Sentence]:
    """The reply's sentences, with markers placed after a full stop ('He left. [1]') moved back to it."""
    pieces: list[str] = []
    for start, end in sentence_spans(reply):
        piece = reply[start:end]
        lead = LEADING.match(piece)
        if lead and pieces:
            pieces[-1] += " " + lead.group().strip()
            piece = piece[lead.end() :]
        if piece.strip():
            pieces.append(piece)
    out = []
    for piece in pieces:
        parts, at = [], 0
        for match in MARKERS.finditer(piece):
            parts.append((piece[at : match.start()], cited(match.group())))
            at = match.end()
        parts.append((piece[at:], ()))
        out.append(Sentence(tuple(parts)))
    return out


@dataclass(frozen=True)
class Verified:
    """A reply after verification: text with renumbered markers, the citations, what lost support."""

    answer: str
    citations: tuple[Citation, ...]
    unsupported: tuple[str, ...]


def verify(reply: str, passages: Sequence[Passage], evidence: Evidence, embedder: Embedder) -> Verified:
    """Keep only citations that are in range and supported; renumber them 1..m in order of appearance."""
    said = sentences(reply)
    claims = [(si, pi) for si, s in enumerate(said) for pi, (_, numbers) in enumerate(s.parts) if numbers]
    vectors = embedder.embed([said[si].claim(pi) for si, pi in claims]) if claims else np.zeros((0, 0), np.float32)
    supported: list[tuple[tuple[int, int], Quote]] = []  # (sentence, part) -> a quote it is kept for
    for (si, pi), vector in zip(claims, vectors):
        for n in dict.fromkeys(said[si].parts[pi][1]):
            if not 1 <= n <= len(passages):
                continue  # a source the model was never given
            passage = passages[n - 1]
            found = support(said[si].claim(pi), vector, passage, evidence)
            if found is not None and found.score >= SUPPORT_THRESHOLD:
                supported.append(((si, pi), Quote(passage, found.start, found.end, found.quote)))
    numbers, citations = number([quote for _, quote in supported])
    kept: dict[tuple[int, int], list[int]] = {}
    for (part, _), n in zip(supported, numbers):
        if n not in kept.setdefault(part, []):
            kept[part].append(n)
    texts, unsupported = [], []
    for si, sentence in enumerate(said):
        if not any(kept.get((si, pi)) for pi in range(len(sentence.parts))):
            # Not in the answer at all, only listed apart: a reader takes what is in the answer as sourced.
            if not DECLINES.search(sentence.text):
                unsupported.append(sentence.text)
            continue
        out = ""
        for pi, (text, _) in enumerate(sentence.parts):
            out += text + "".join(f"[{n}]" for n in kept.get((si, pi), ()))
        texts.append(place_markers(out))
    return Verified(" ".join(t for t in texts if t), citations, tuple(unsupported))


def repeats(reply: str, secret: str, allowed: str = "") -> bool:
    """Does the reply contain LEAK_WORDS consecutive words of `secret` that are not in `allowed`?"""
    grams = _ngrams(secret) - _ngrams(allowed)
    return bool(grams & _ngrams(reply))


@dataclass(frozen=True)
class Query:
    """A question ready for retrieval: `search` stands alone; `failure` says why the LLM can't be used."""

    question: str
    history: tuple[Turn, ...]
    search: str
    failure: LLMError | None = None


class GroundedAnswerer:
    """Answers with an LLM over retrieved passages and shows only what the passages support."""

    def __init__(self, llm: LLM, prompts: Prompts):
        self.llm = llm
        self.prompts = prompts

    def condense(self, question: str, history: Sequence[Turn]) -> Query:
        """Rewrite a follow-up to stand alone with the condense prompt; offline `condense` if that fails.

        A failed call also marks the query, so the answer falls back at once instead of waiting for
        a second timeout from the same server.
        """
        history = tuple(Turn(t.question, strip_markers(t.answer)) for t in history)
        if not history:
            return Query(question, history, question)
        try:
            reply = self.llm.complete(self.prompts.condense_messages(question, history))
        except LLMError as exc:
            return Query(question, history, condense(question, history), exc)
        lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
        rewritten = ""
        if lines:
            rewritten = re.sub(r"^(standalone question|question)\s*:\s*", "", lines[0], flags=re.I).strip(" \"'“”")
        if not rewritten or len(rewritten) > 500:  # not a question: use the offline rewrite
            return Query(question, history, condense(question, history))
        return Query(question, history, rewritten)

    def stream(self, query: Query, passages: Sequence[Passage], evidence: Evidence, embedder: Embedder,
               offline: Answer) -> Iterator[str | Answer]:
        """The model's text as it arrives, then the verified Answer (or `offline` with a note why)."""
        if query.failure:
            yield _fallback(offline, query.failure)
            return
        if not passages:
            yield offline  # nothing retrieved: nothing an LLM could cite
            return
        messages = self.prompts.answer_messages(query.question, query.history, passages, NOT_FOUND)
        system = messages[0].content
        secret = _ngrams(system) - _ngrams(sources(passages) + " " + NOT_FOUND)
        reply, shown, scan = "", 0, 0
        try:
            for piece in self.llm.stream(messages):
                reply += piece
                if len(reply) > MAX_REPLY_CHARS:
                    raise LLMError(f"the language model {self.llm.name!r} wrote more than {MAX_REPLY_CHARS} "
                                   "characters; an answer is a few sentences",
                                   f"wrote more than {MAX_REPLY_CHARS} characters")
                # Only n-grams from `scan` on can be new: it is where the LEAK_WORDS-th last word
                # began at the previous piece. (Rescanning the whole reply per piece was quadratic.)
                if secret & _ngrams(reply[scan:]):
                    raise self._leak()
                starts = [m.start() for m in _WORD.finditer(reply, scan)]
                scan = starts[-LEAK_WORDS] if len(starts) >= LEAK_WORDS else scan
                # Hold back the last LEAK_WORDS - 1 words: they could be the start of a leak that
                # the next piece completes, and what has been shown cannot be taken back.
                safe = starts[-(LEAK_WORDS - 1)] if len(starts) >= LEAK_WORDS - 1 else 0
                if safe > shown:
                    yield reply[shown:safe]
                    shown = safe
            if reply[shown:]:
                yield reply[shown:]
            answer = self.ground(query.question, reply, passages, evidence, embedder, system)
        except LLMError as exc:
            yield _fallback(offline, exc)
            return
        yield answer

    def ground(self, question: str, reply: str, passages: Sequence[Passage], evidence: Evidence,
               embedder: Embedder, system: str) -> Answer:
        """The reply as a verified Answer; raises LLMError when it cannot be shown."""
        if not reply.strip():
            raise LLMError(f"the language model {self.llm.name!r} sent an empty reply", "sent an empty reply")
        if declines(reply):
            return Answer(question, NOT_FOUND, True, (), tuple(passages))
        if repeats(reply, system, sources(passages) + " " + NOT_FOUND):
            raise self._leak()
        verified = verify(reply, passages, evidence, embedder)
        if not verified.citations:
            raise LLMError(f"the language model {self.llm.name!r} wrote an answer that no retrieved passage "
                           "supports (it cited none, or only sources it was not given)",
                           "wrote an answer that no retrieved passage supports")
        return Answer(question, verified.answer, False, verified.citations, tuple(passages),
                      unsupported=verified.unsupported)


    def _leak(self) -> LLMError:
        return LLMError(f"the language model {self.llm.name!r} repeated its instructions instead of "
                        "answering (an article may contain instructions aimed at it)",
                        "repeated its instructions instead of answering")


def _fallback(offline: Answer, failure: LLMError) -> Answer:
    """The offline answer, noting in general terms why; the whole message (server, reply) goes to the log."""
    log.warning("showing the offline answer: %s", failure)
    return replace(offline, note=f"Showing the offline answer: the language model {failure.summary}.")


_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z0-9]+)*", re.I)  # "don't" is one word, as in decision.words


def _ngrams(text: str) -> set[tuple[str, ...]]:
    tokens = words(text).split()
    return {tuple(tokens[i : i + LEAK_WORDS]) for i in range(len(tokens) - LEAK_WORDS + 1)}
