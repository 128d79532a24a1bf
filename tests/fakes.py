"""Deterministic fakes injected through constructors (no mocks)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler

import numpy as np

from assistant.answer.reader import ReaderConfig
from assistant.embed.base import Embedder

_WORD = re.compile(r"\w+")


class HashEmbedder(Embedder):
    """Bag of hashed words, unit-norm: texts sharing words are close, so rankings mean something."""

    name = "hash-embedder"

    def __init__(self, dimension: int = 256, max_tokens: int = 120):
        self.dimension = dimension
        self.max_tokens = max_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.sha256(word.encode()).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dimension] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else np.eye(1, self.dimension, 0, dtype=np.float32)
        return out


class OverlapReader:
    """Scores a sentence by the share of the question's words it holds: a reader whose choices
    a test can predict."""

    config = ReaderConfig(read=5, abstain_below=0.5, second_within=0.1, first_stage_weight=0.0, trained={})

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        asked = set(_WORD.findall(question.lower()))
        return np.array([len(asked & set(_WORD.findall(t.split(" [SEP] ")[0].lower()))) / max(1, len(asked))
                         for t in texts])


def drip(handler: BaseHTTPRequestHandler, hung_up: threading.Event) -> None:
    """Answer with a byte every half second for a minute: never quiet long enough for a read to time
    out, so only a deadline on the whole fetch ends it; `hung_up` is set when the client leaves."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.end_headers()
    try:
        for _ in range(120):
            handler.wfile.write(b"x")
            time.sleep(0.5)
    except OSError:
        hung_up.set()
