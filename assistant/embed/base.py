"""Text -> unit-norm vectors. One required method (`embed`); the rest has working defaults.

The backends are one file each: the bundled model as int8 ONNX (onnx.py), any other
sentence-transformers model through torch (torch.py); `factory.load_embedder` picks one. llama.py
hands an Embedder to llama-index.

Late chunking (`embed_with_spans`, `pool_spans`): one forward pass per chunk also yields its
sentences' vectors, by mean-pooling the chunk's word-piece outputs over each sentence. On
squad2-dev that replaced 835 sentence forward passes beside 205 chunk ones.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from assistant.text.sentences import Span

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD_CACHE = 50_000

# One text as the model reads it: word-piece ids (with [CLS]/[SEP]) and each piece's character
# span in the text ((0, 0) for the special tokens).
Encoding = tuple[Sequence[int], Sequence[Span]]
# Padded ids and attention mask (batch, tokens), int64 -> last hidden state (batch, tokens, dimension).
Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Embedder(ABC):
    """Turns texts into unit-norm float32 rows; cosine similarity is then a dot product."""

    name: str = "embedder"
    dimension: int
    max_tokens: int = 254
    # Whether `count_tokens` of texts joined by a blank is the sum of their counts, so the chunker
    # need not count its chunks again (see `splits_at_blanks`); unknown for a tokenizer, so no.
    counts_add_up: bool = False

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension), each row of unit length."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model sees them; the default counts words and punctuation."""
        return [len(_TOKEN.findall(t)) for t in texts]

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """Unit vectors of single words, for matching a question's words to a sentence's words
        ("began" ~ "started"). The default embeds each word alone; models override it cheaply."""
        return self.embed(list(words)) if words else np.zeros((0, self.dimension), np.float32)

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of `texts`, and of every character span `spans[i]` inside `texts[i]` (in order, flat).

        The default embeds each span's substring on its own; mean-pooling models override it with
        late chunking (one forward pass per text, see `pool_spans`).
        """
        pieces = [t[a:b] for t, own in zip(texts, spans) for a, b in own]
        return self._embed_or_empty(texts), self._embed_or_empty(pieces)

    def _embed_or_empty(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(list(texts)) if texts else np.zeros((0, self.dimension), np.float32)


def pool_spans(forward: Forward, encodings: Sequence[Encoding], spans: Sequence[Sequence[Span]],
               batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pooled unit vectors of each encoded text and of each span's word pieces, in input order.

    Texts run shortest first, `batch_size` at a time, so a batch pads only to its own longest text.
    A span's pieces are those overlapping it; special tokens count for the text, not for spans.
    A span with no piece in the window (cut off by truncation) gets a row of NaN: the caller
    embeds those on their own.
    """
    starts = np.cumsum([0, *(len(s) for s in spans)])
    text_rows = span_rows = np.zeros((0, 0), np.float32)  # sized by the first batch, which knows the width
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i][0]))
    for b in range(0, len(order), batch_size):
        rows = order[b : b + batch_size]
        width = max(len(encodings[i][0]) for i in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for r, i in enumerate(rows):
            ids[r, : len(encodings[i][0])] = encodings[i][0]
            mask[r, : len(encodings[i][0])] = 1
        hidden = forward(ids, mask)
        if b == 0:
            text_rows = np.zeros((len(encodings), hidden.shape[-1]), np.float32)
            span_rows = np.full((int(starts[-1]), hidden.shape[-1]), np.nan, np.float32)
        for r, i in enumerate(rows):
            tokens = hidden[r, : len(encodings[i][0])]
            text_rows[i] = tokens.mean(0)
            offsets = np.asarray(encodings[i][1], dtype=np.int64).reshape(-1, 2)
            for k, (a, e) in enumerate(spans[i]):
                inside = (offsets[:, 0] < e) & (offsets[:, 1] > a)
                if inside.any():
                    span_rows[starts[i] + k] = tokens[inside].mean(0)
    if not order:  # no texts
        return text_rows, span_rows
    return _unit(text_rows), _unit(span_rows)


def fill_missing(embedder: Embedder, texts: Sequence[str], spans: Sequence[Sequence[Span]],
                 vectors: np.ndarray) -> np.ndarray:
    """Embed on their own the spans `pool_spans` left as NaN (a title so long the chunk was cut)."""
    missing = np.flatnonzero(np.isnan(vectors[:, 0]))
    if len(missing):
        pieces = [t[a:b] for t, own in zip(texts, spans) for a, b in own]
        vectors[missing] = embedder.embed([pieces[m] for m in missing])
    return vectors


def splits_at_blanks(tokenizer: Any) -> bool:
    """Whether a `tokenizers` Tokenizer cuts text into words at blanks and punctuation before its
    model reads each word (BERT's pre-tokenizer, after BERT's character-wise normalizer): then the
    word pieces of texts joined by a blank are the two texts' pieces, and counts add up."""
    normalizer = type(tokenizer.normalizer).__name__ if tokenizer.normalizer is not None else None
    return type(tokenizer.pre_tokenizer).__name__ == "BertPreTokenizer" and normalizer in (None, "BertNormalizer")


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def cached_word_vectors(cache: dict[str, np.ndarray], words: Sequence[str], tokenize: Callable[[list[str]], list],
                        rows: Callable[[Sequence[int]], np.ndarray], dimension: int) -> np.ndarray:
    """The mean of each word's word-piece rows of an input embedding table, unit length, cached.

    A table lookup, not a forward pass: the answerer matches hundreds of words per question
    within its time budget. Cached per word (a lookup costs 6 ms per 150 words uncached,
    mostly tokenizer calls), up to _WORD_CACHE words (about 75 MB).
    """
    found = {w: cache.get(w) for w in words}  # a local view: safe if another thread clears
    new = [w for w, v in found.items() if v is None]
    if new:
        if len(cache) + len(new) > _WORD_CACHE:  # a long-running server meets ever more words
            cache.clear()
        for word, ids in zip(new, tokenize(new)):
            v = rows(ids).mean(0) if len(ids) else np.zeros(dimension, np.float32)
            found[word] = cache[word] = v / (np.linalg.norm(v) or 1.0)
    return np.array([found[w] for w in words], dtype=np.float32).reshape(len(words), dimension)


