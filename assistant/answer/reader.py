"""The learned reader: a cross-encoder that reads a question and a candidate sentence together.

Overlap and embedding features say a sentence is *about* the question; only a model that reads
both at once can tell that "the 58 richest people" is not "the 85 richest people", which is what
SQuAD 2.0's unanswerable questions (and users' questions about things an article does not say)
turn on. The model is all-MiniLM-L6-v2 fine-tuned by `scripts/train_reader.py` on squad2-train,
exported to int8 ONNX (23 MB, shipped in the package) and run with onnxruntime: no torch at
question time, and 2.7x faster than fp32 torch in one measurement here (8 pairs of 64 word
pieces, 289 ms against 786 ms, on 2 cores under load).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import MODELS
from assistant.embed.onnx import load_session

MODEL_DIR = MODELS
MODEL_FILE = "reader.onnx"
TOKENIZER_FILE = "reader-tokenizer.json"
CONFIG_FILE = "reader.json"
# Question + sentence + title: 128 word pieces hold nearly every squad2-train pair whole.
MAX_TOKENS = 128


def reader_text(sentence: str, title: str = "", before: str = "") -> str:
    """What the reader sees beside the question: the sentence, its article's title, the sentence before.

    The title and the sentence before say what "it" and "they" stand for ("They were founded in
    911" - who?). The candidate comes first, so truncation to MAX_TOKENS cuts the context, never
    the sentence. A reader trained without the sentence before (`ReaderConfig.previous` false)
    is given none.
    """
    sentence, title, before = sentence.strip(), title.strip(), before.strip()
    if before:
        return f"{sentence} [SEP] {title} [SEP] {before}"
    return f"{sentence} [SEP] {title}" if title else sentence


def load_tokenizer(path: Path):
    """The model's word-piece tokenizer, encoding (question, text) pairs truncated to MAX_TOKENS."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
    tokenizer.enable_padding()
    return tokenizer


def encode(tokenizer, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Model inputs for (question, text) pairs, padded to the longest pair."""
    encodings = tokenizer.encode_batch(list(pairs))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


@dataclass(frozen=True)
class ReaderConfig:
    """How the answerer uses the reader's probabilities; chosen on squad2-dev by the training script."""

    read: int  # sentences the reader looks at: the first stage's best few
    abstain_below: float  # abstain when the best sentence's probability is under this
    second_within: float  # add the runner-up when its probability is this close to the best
    first_stage_weight: float  # how much the first stage's log-odds add to the reader's (see `combine`)
    trained: dict  # provenance: data, epochs, time, figures
    previous: bool = False  # trained with the sentence before each candidate (see `reader_text`)

    @classmethod
    def load(cls, path: Path) -> ReaderConfig:
        d = json.loads(path.read_text())
        return cls(int(d["read"]), float(d["abstain_below"]), float(d["second_within"]),
                   float(d.get("first_stage_weight", 0.0)), d.get("trained", {}), bool(d.get("previous", False)))


def log_odds(p: np.ndarray | float, floor: float = 1e-6) -> np.ndarray:
    """log(p / (1 - p)), with p kept within `floor` of 0 and 1 so that a certain score stays finite.

    The one conversion of probabilities to log-odds: the reader's and the first stage's are added
    with it (`combine`), and the first stage's is a feature of the reranker (with floor 1e-9).
    """
    p = np.clip(p, floor, 1 - floor)
    return np.log(p / (1 - p))


def combine(reader: np.ndarray, first_stage: np.ndarray, weight: float) -> np.ndarray:
    """One probability from the reader's and the first stage's, by adding log-odds.

    The two err differently: the reader reads the words together (a swapped number), the first
    stage counts what the question asks for (a year for "when"); on squad2-dev questions held out
    from the report sample the sum abstained on 0.32 of unanswerable questions against 0.30 and 0.27
    for each alone, at the same 0.08 false-abstention budget.
    """
    return 1.0 / (1.0 + np.exp(-(log_odds(reader) + weight * log_odds(first_stage))))


class Reader:
    """The shipped cross-encoder, loaded on first use (about 0.3 s) and then shared by every question.

    Loading waits for the first question so that commands and scripts that only rank or search
    never pay for it.
    """

    def __init__(self, directory: Path = MODEL_DIR, threads: int = 0):
        self.directory = directory
        self._threads = threads  # 0: onnxruntime's default, one per core
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, ReaderConfig] | None = None

    def _load(self) -> tuple[Any, Any, ReaderConfig]:
        with self._lock:
            if self._loaded is None:
                session = load_session(self.directory / MODEL_FILE, self._threads)
                self._loaded = (session, load_tokenizer(self.directory / TOKENIZER_FILE),
                                ReaderConfig.load(self.directory / CONFIG_FILE))
            return self._loaded

    @property
    def config(self) -> ReaderConfig:
        return self._load()[2]

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """The probability that each text (see `reader_text`) answers the question, in one batch."""
        if not texts:
            return np.zeros(0, dtype=np.float64)
        session, tokenizer, _ = self._load()
        (logits,) = session.run(None, encode(tokenizer, [(question, text) for text in texts]))
        return 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float64)))
