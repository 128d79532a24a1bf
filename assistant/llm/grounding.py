"""LLM answers that stay grounded: number the sources, ask the model, verify every claim.

A model can cite a source it was not given ("[9]" of five), cite one that does not say what its
clause says, or says the opposite ("much to gain" where it says "little"), write markup, or obey
instructions planted in an article. None of that reaches the reader, not even while it streams:

    reply, as it streams ─ markup out (markup.plain) ─ cut into whole sentences (Sentences)
      each sentence ─ parse [n] ─ its claims: the clause before each run of markers
                                  (the whole sentence when that clause is short)
        each claim and n ─ n in 1..k, and the claim and each of its clauses supported by passage n:
                           support ≥ SUPPORT_THRESHOLD and not `contrary` to the sentence it quotes ?
                           keep n, quoting that sentence : drop n
        a claim left with no n leaves the sentence, as does a clause after the last marker;
        a sentence left with no claim leaves the answer ─ what left is listed as unsupported
      ─ what is left, numbered 1..m in order of appearance (Verifier) ─ streamed, sentence by sentence
    ─ Answer: the streamed sentences and their citations

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
from assistant.llm.markup import plain, unclosed
from assistant.text.opposites import contrary
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
    return [_sentence(piece) for _, piece in _pieces(reply)]


def _pieces(reply: str) -> list[tuple[int, str]]:
    """The reply's sentences as (where each begins, its text), markers after a full stop moved back."""
    pieces: list[tuple[int, str]] = []
    for start, end in sentence_spans(reply):
        piece = reply[start:end]
        lead = LEADING.match(piece)
        if lead and pieces:
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + " " + lead.group().strip())
            piece, start = piece[lead.end() :], start + lead.end()
        if piece.strip():
            pieces.append((start, piece))
    return pieces


def _sentence(piece: str) -> Sentence:
    """One sentence's text cut at its runs of markers: 'He left [1].' -> ('He left', (1,)), ('.', ())."""
    parts, at = [], 0
    for match in MARKERS.finditer(piece):
        parts.append((piece[at : match.start()], cited(match.group())))
        at = match.end()
    parts.append((piece[at:], ()))
    return Sentence(tuple(parts))


_END = re.compile(r"[.!?\n]")  # where a sentence may end; Punkt decides whether it does


class Sentences:
    """A streamed reply cut into whole sentences as it arrives, its markup taken out first."""

    def __init__(self) -> None:
        self.text = ""  # the reply since the last whole sentence, markup out up to where it is still open
        self.decided = 0  # a full stop before this offset was judged with the word after it whole
        self.waiting = False  # for the first word after a full stop to be whole

    def add(self, piece: str) -> list[Sentence]:
        """The sentences that `piece` completes.

        A sentence is whole once the word after it is: Punkt decides a full stop by that word
        ("U.S. Army"), and markers after a full stop ("He left. [1]") still belong to it. Nothing
        inside markup still open counts: '<img alt="x. Y' may hide a full stop.
        """
        self.text += piece
        if not (self.waiting and any(c.isspace() for c in piece)) and not _END.search(self.text, self.decided):
            self.decided = len(self.text)  # nothing to judge again: Punkt runs once per full stop
            return []
        cut = unclosed(self.text)
        head = plain(self.text[:cut])
        self.text = head + self.text[cut:]
        pieces = _pieces(head)
        if len(pieces) > 1 and any(c.isspace() for c in head[pieces[-1][0] :].lstrip()):
            self.text, self.decided, self.waiting = self.text[pieces[-1][0] :], 0, False
            return [_sentence(text) for _, text in pieces[:-1]]
        self.waiting = len(pieces) > 1
        # The word before the last one ends here: a full stop there waits for the last word.
        end = len(head.rstrip())
        blank = max(head.rfind(c, 0, end) for c in " \t\r\n")
        self.decided = max(0, len(head[:blank].rstrip()) - 1)
        return []

    def rest(self) -> list[Sentence]:
        """The sentences left when the reply has ended; markup never closed is not part of them."""
        return sentences(plain(self.text[: unclosed(self.text)]))


# A clause boundary inside one claim: 'X was jailed for fraud, and he is an expert [2]' is two claims.
# `(?<!\s)`: a match starts where a run of blanks does, or each blank of a long run rescans the rest.
_CLAUSE = re.compile(r"(?<!\s)\s*(?:;|,(?=\s*(?:and|but|while|whereas|although|though|yet)\b))\s*", re.I)
# How a clause left at the start of a sentence begins once the clause before it is gone: ", and he".
_JOINER = re.compile(r"^[\s,;:–—-]*(?:(?:and|but|or|so|yet|while|whereas)\b\s*)?", re.I)
_ENDS = re.compile(r"[.!?][\"'”’)]*$")  # a sentence that still ends as a sentence does


class Verifier:
    """Verifies a reply sentence by sentence; the citations kept are numbered 1..m in order across them."""

    def __init__(self, passages: Sequence[Passage], evidence: Evidence, embedder: Embedder):
        self.passages = passages
        self.evidence = evidence
        self.embedder = embedder
        self.quotes: list[Quote] = []  # one per marker kept, in order; `number` makes them citations
        self.kept: list[str] = []
        self.unsupported: list[str] = []

    @property
    def answer(self) -> str:
        return " ".join(self.kept)

    @property
    def citations(self) -> tuple[Citation, ...]:
        return number(self.quotes)[1]

    def add(self, sentence: Sentence) -> str:
        """The sentence as the answer says it: its supported claims, renumbered ("" if none is).

        Each run of markers vouches for the claim before it; a claim whose markers are all dropped
        leaves the sentence, and so does text after the last marker that says something of its
        own. What leaves is listed as unsupported: a reader takes what is in the answer as sourced.
        """
        parts = sentence.parts
        marked = [i for i, (_, numbers) in enumerate(parts) if numbers]
        claims = {i: sentence.claim(i) for i in marked}
        clauses = {i: [c for c in _CLAUSE.split(claims[i]) if len(terms(c)) >= 3] for i in marked}
        texts = list(dict.fromkeys(t for i in marked for t in [claims[i], *clauses[i]]))
        vectors = dict(zip(texts, self.embedder.embed(texts))) if texts else {}
        quotes = {i: [q for n in dict.fromkeys(parts[i][1]) if (q := self._quote(claims[i], clauses[i], n, vectors))]
                  for i in marked}
        if not any(quotes.values()) or any(not quotes[i] for i in marked if claims[i] == sentence.text):
            if not DECLINES.search(sentence.text):  # "the sources don't say": true, and no claim
                self.unsupported.append(sentence.text)
            return ""
        whole = any(claims[i] == sentence.text for i in marked)  # one claim checked for all of it
        out = ""
        for i, (text, numbers) in enumerate(parts):
            if quotes.get(i):
                new = number([*self.quotes, *quotes[i]])[0][len(self.quotes) :]
                self.quotes += quotes[i]
                out += text + "".join(f"[{n}]" for n in dict.fromkeys(new))
            elif numbers or (terms(text) and not whole):  # its markers dropped, or it cites nothing
                self.unsupported.append(tidy(_JOINER.sub("", text)))
            else:
                out += text  # punctuation, or words that the sentence's one claim vouches for
        if not quotes.get(0):  # the clause that began the sentence is gone: ", and he is" -> "He is"
            out = _JOINER.sub("", out)
            out = out[:1].upper() + out[1:]
        end = sentence.text[-1:]
        if end in (".", "!", "?") and not _ENDS.search(strip_markers(out)):  # its full stop went with a clause
            out += end
        self.kept.append(place_markers(out))
        return self.kept[-1]

    def _quote(self, claim: str, clauses: list[str], n: int, vectors: dict[str, np.ndarray]) -> Quote | None:
        """The sentence of passage n that supports `claim`, if n supports it and each of its clauses."""
        if not 1 <= n <= len(self.passages):
            return None  # a source the model was never given
        passage = self.passages[n - 1]
        quote = None
        for text in [claim, *clauses] if len(clauses) > 1 else [claim]:
            found = support(text, vectors[text], passage, self.evidence)
            if found is None or found.score < SUPPORT_THRESHOLD or contrary(text, found.quote):
                return None
            quote = quote or Quote(passage, found.start, found.end, found.quote)
        return quote


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
        """Each sentence of the answer once it is whole and verified, then the Answer (or `offline`
        with a note why). Nothing else the model writes is shown, not even for a moment."""
        if query.failure:
            yield _fallback(offline, query.failure)
            return
        if not passages:
            yield offline  # nothing retrieved: nothing an LLM could cite
            return
        messages = self.prompts.answer_messages(query.question, query.history, passages, NOT_FOUND)
        system = messages[0].content
        secret = _ngrams(system) - _ngrams(sources(passages) + " " + NOT_FOUND)
        said, verifier = Sentences(), Verifier(passages, evidence, embedder)
        reply, scan = "", 0
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
                yield from _shown(verifier, said.add(piece))
            yield from _shown(verifier, said.rest())
            answer = self.ground(query.question, reply, passages, verifier, system)
        except LLMError as exc:
            yield _fallback(offline, exc)
            return
        yield answer

    def ground(self, question: str, reply: str, passages: Sequence[Passage], verifier: Verifier,
               system: str) -> Answer:
        """The whole reply, its sentences verified, as an Answer; raises LLMError when it cannot be shown."""
        if not reply.strip():
            raise LLMError(f"the language model {self.llm.name!r} sent an empty reply", "sent an empty reply")
        if declines(reply):
            return Answer(question, NOT_FOUND, True, (), tuple(passages))
        if repeats(reply, system, sources(passages) + " " + NOT_FOUND):
            raise self._leak()
        if not verifier.citations:
            raise LLMError(f"the language model {self.llm.name!r} wrote an answer that no retrieved passage "
                           "supports (it cited none, or only sources it was not given)",
                           "wrote an answer that no retrieved passage supports")
        return Answer(question, verifier.answer, False, verifier.citations, tuple(passages),
                      unsupported=tuple(verifier.unsupported))

    def _leak(self) -> LLMError:
        return LLMError(f"the language model {self.llm.name!r} repeated its instructions instead of "
                        "answering (an article may contain instructions aimed at it)",
                        "repeated its instructions instead of answering")


def _shown(verifier: Verifier, said: Sequence[Sentence]) -> Iterator[str]:
    """The sentences as the answer says them, each with the blank that separates it from the next."""
    for sentence in said:
        if text := verifier.add(sentence):
            yield text + " "


def _fallback(offline: Answer, failure: LLMError) -> Answer:
    """The offline answer, noting in general terms why; the whole message (server, reply) goes to the log."""
    log.warning("showing the offline answer: %s", failure)
    return replace(offline, note=f"Showing the offline answer: the language model {failure.summary}.")


_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z0-9]+)*", re.I)  # "don't" is one word, as in decision.words


def _ngrams(text: str) -> set[tuple[str, ...]]:
    tokens = words(text).split()
    return {tuple(tokens[i : i + LEAK_WORDS]) for i in range(len(tokens) - LEAK_WORDS + 1)}
