"""Question answering over article collections, with every claim cited to its passage.

The library in a few names (the README has an example)::

    from assistant import Assistant, Settings
    answer = Assistant(Settings(index="index")).ask("who is Alexander Golts?")

`Assistant` is the service the CLI, API and UI present; `Embedder` and `LLM` are the seams a
caller may fill (one required method each); `Answer` is what comes back; every error meant for a
person is an `AssistantError`.
"""

import os

# OpenMP threads (faiss, torch) that spin while waiting for work starve everything else on a
# laptop's few cores: a 5,000-vector index build took 31.7 s spinning and 1.1 s waiting
# passively on 2 shared cores. It must be set before the OpenMP runtime loads, hence here,
# the one module every entry point imports first; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Imported on first use: `assistant --help` imports this package, and importing the service
# eagerly (numpy, llama-index's settings, pydantic models) took it from 0.2 s to 0.4 s.
_PUBLIC = {
    "Assistant": "assistant.service",
    "Settings": "assistant.config",
    "Answer": "assistant.types",
    "Embedder": "assistant.embed.base",
    "LLM": "assistant.llm.client",
    "AssistantError": "assistant.errors",
}
__all__ = ["LLM", "Answer", "Assistant", "AssistantError", "Embedder", "Settings", "__version__"]

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.embed.base import Embedder
    from assistant.errors import AssistantError
    from assistant.llm.client import LLM
    from assistant.service import Assistant
    from assistant.types import Answer


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
