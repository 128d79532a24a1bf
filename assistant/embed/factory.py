"""Which backend embeds: the bundled model as int8 ONNX, any other through torch (ASSISTANT_EMBED_BACKEND)."""

from __future__ import annotations

from typing import Literal

from assistant.config import DEFAULT_MODEL
from assistant.embed.base import Embedder
from assistant.embed.onnx import OnnxEmbedder, bundled
from assistant.embed.torch import SentenceTransformerEmbedder
from assistant.errors import AssistantError


def load_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32,
                  backend: Literal["auto", "onnx", "torch"] = "auto", threads: int = 0) -> Embedder:
    """The embedder for `model`: the shipped int8 ONNX export for the bundled model unless `backend`
    is "torch", sentence-transformers for any other model (or "torch"). `threads` (0: one per core)
    is for onnxruntime: a Ray worker given one CPU must not start a thread per core of the machine."""
    default = model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")
    if backend != "torch" and default and bundled():
        return OnnxEmbedder(batch_size=batch_size, threads=threads)
    if backend == "onnx":
        raise AssistantError(
            f"the onnx embedding backend runs only the bundled {DEFAULT_MODEL} (model is {model!r}); "
            "set ASSISTANT_EMBED_BACKEND=auto or torch"
        )
    return SentenceTransformerEmbedder(model, batch_size)
