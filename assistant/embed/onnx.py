"""The bundled all-MiniLM-L6-v2 as int8 ONNX, run by onnxruntime: no torch to import or run.

`scripts/export_embedder.py` writes the files in assistant/models/ (23 MB). Per-channel int8
keeps the mean cosine to the fp32 model at 0.994 on squad2-dev paragraphs (worst 0.989). The
model returns word-piece outputs, so one pass per chunk also yields its sentences' vectors
(late chunking, see `embedding.pool_spans`). Its name carries the backend
("all-MiniLM-L6-v2@onnx-int8"), so the index manifest records it and an index built by the
torch backend refuses to load until rebuilt: vectors and questions come from one backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.config import MODELS
from assistant.embed.base import Embedder, Span, cached_word_vectors, fill_missing, pool_spans, splits_at_blanks

MODEL_DIR = MODELS
MODEL_FILE = "embedder.onnx"
WORDS_FILE = "embedder-words.npy"  # the 8-bit word-piece table (uint8 with a zero point), fed to the model
TOKENIZER_FILE = "embedder-tokenizer.json"
CONFIG_FILE = "embedder.json"
WORDS_INPUT = "word_table"


def bundled(directory: Path = MODEL_DIR) -> bool:
    """Whether the exported model is present (a source checkout before the export lacks it)."""
    return all((directory / f).exists() for f in (MODEL_FILE, WORDS_FILE, TOKENIZER_FILE, CONFIG_FILE))


def load_session(model: Path = MODEL_DIR / MODEL_FILE, threads: int = 0):
    """An onnxruntime session on the CPU for a model file (the embedder, the reader); `threads` 0
    means one per core. The one place sessions are built, so both models run with these options.

    Idle worker threads sleep instead of spinning: on 2 cores shared with other jobs, 96
    paragraphs ran in 4.1-5.3 s without spinning against 5.8-6.3 s with it (same run).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2, int8, on onnxruntime's CPU provider; mean pooling as sentence-transformers does."""

    def __init__(self, directory: Path = MODEL_DIR, batch_size: int = 32, threads: int = 0):
        from tokenizers import Tokenizer

        config = json.loads((directory / CONFIG_FILE).read_text())
        self.name = config["name"]
        self.dimension = int(config["dimension"])
        self.max_tokens = int(config["max_seq_length"]) - 2  # [CLS] and [SEP]
        self._zero_point = int(config["words_zero_point"])
        self._batch_size = batch_size
        self._session = load_session(directory / MODEL_FILE, threads)
        self._table = np.load(directory / WORDS_FILE)  # uint8 (30522, 384): 11.7 MB
        # The file pads and truncates to 128 as the hub saved it; batches are padded by `pool_spans`,
        # counts must see whole texts, and the model reads its full window.
        self._counter = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self._counter.no_padding()
        self._counter.no_truncation()
        self.counts_add_up = splits_at_blanks(self._counter)
        self._tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens + 2)
        self._words: dict[str, np.ndarray] = {}

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask, WORDS_INPUT: self._table}
        return self._session.run(None, feeds)[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._pooled(texts, [()] * len(texts))[0]

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> tuple[np.ndarray, np.ndarray]:
        vectors, span_vectors = self._pooled(texts, spans)
        return vectors, fill_missing(self, texts, spans, span_vectors)

    def _pooled(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> tuple[np.ndarray, np.ndarray]:
        if not texts:
            return np.zeros((0, self.dimension), np.float32), np.zeros((0, self.dimension), np.float32)
        encodings = [(e.ids, e.offsets) for e in self._tokenizer.encode_batch(list(texts))]
        vectors, span_vectors = pool_spans(self._forward, encodings, spans, self._batch_size)
        return vectors, span_vectors.reshape(-1, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch_fast(list(texts), add_special_tokens=False)]

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """Word-piece rows of the 8-bit table the model reads (see `embedding.cached_word_vectors`);
        the table's scale drops out when the mean is normalised, so only the zero point is applied."""
        def rows(ids: Sequence[int]) -> np.ndarray:
            return self._table[list(ids)].astype(np.float32) - self._zero_point

        def tokenize(new: list[str]) -> list:
            return [e.ids for e in self._counter.encode_batch(new, add_special_tokens=False)]

        return cached_word_vectors(self._words, words, tokenize, rows, self.dimension)
