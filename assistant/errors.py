"""Errors the assistant reports to people; translated only at the edges (CLI, API, UI).

    AssistantError
    ├── InputError          an article could not be read (file, line, reason)
    ├── IndexError_
    │   ├── IndexNotBuilt   no index at the path yet
    │   ├── IndexMismatch   built with another model or chunking
    │   └── IndexLocked     another ingest is writing
    ├── NotFound            an article id that is not indexed
    ├── PromptError         a prompt template is missing or broken
    └── LLMError            the optional LLM backend failed (callers fall back)

Each message says what failed, the value, and what to do next.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error meant for a person, not a stack trace."""


class InputError(AssistantError):
    """One article source that could not be read; the rest of the run goes on."""

    def __init__(self, source: str, reason: str, line: int | None = None):
        self.source = source
        self.reason = reason
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


class IndexError_(AssistantError):
    """Something is wrong with the index on disk (named to avoid the builtin IndexError)."""


class IndexNotBuilt(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


class IndexLocked(IndexError_):
    pass


class NotFound(AssistantError):
    pass


class PromptError(AssistantError):
    pass


class LLMError(AssistantError):
    pass
