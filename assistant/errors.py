"""Errors the assistant reports to people; translated only at the edges (CLI, API, UI).

    AssistantError
    ├── InputError          an article could not be read (file, line, reason)
    │   ├── Unreachable     no page at that address: not a public one, no such host, refused, or no answer
    │   ├── TooLarge        a page, feed or sitemap past its size limit
    │   ├── UnsafeXML       a feed or sitemap declaring entities (billion laughs) or external ones
    │   └── SitemapLoop     a sitemap index that points at itself or nests too deep
    ├── IndexUnavailable    the index on disk cannot be used now
    │   ├── IndexNotBuilt   no index at the path yet
    │   ├── IndexMismatch   built with another model or chunking
    │   ├── IndexLocked     another ingest is writing
    │   └── StoreUnreachable the vector store (Milvus) cannot be reached or refused a request
    ├── NotFound            an article id that is not indexed (or not readable: the same message)
    ├── NotAuthorized       a read token that is unknown, revoked or expired
    ├── PromptError         a prompt template is missing or broken
    └── LLMError            the optional LLM backend failed (callers fall back)

Each message says what failed, the value, and what to do next. Messages about the index name its
directory, which the operator needs; `without_paths` is what anyone else (an anonymous API caller,
a reader of the chat) sees instead.
"""

from __future__ import annotations

import os
from pathlib import Path


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


class Unreachable(InputError):
    """No page at that address: not a public address, a host name without one, unreachable, or no
    answer in time; the message says which (why that maps no internal ports: fetch.py)."""


class TooLarge(InputError):
    """A page, feed or sitemap larger than its limit; nothing of it was used."""


class UnsafeXML(InputError):
    """A feed or sitemap that declares XML entities: refused before any is expanded."""


class SitemapLoop(InputError):
    """A sitemap index that lists itself (or one already read this run), or nests past the limit."""


class IndexUnavailable(AssistantError):
    """Something is wrong with the index on disk: not built, built otherwise, or being written."""


class IndexNotBuilt(IndexUnavailable):
    pass


class IndexMismatch(IndexUnavailable):
    pass


class IndexLocked(IndexUnavailable):
    pass


class StoreUnreachable(IndexUnavailable):
    pass


class NotFound(AssistantError):
    pass


class NotAuthorized(AssistantError):
    pass


class PromptError(AssistantError):
    pass


class LLMError(AssistantError):
    """The optional LLM backend failed; callers fall back to the offline answer.

    The message is the whole story, for the server's log and the operator (which server, what it
    replied); `summary` is what a reader of the answer may see ("answered HTTP 502"): no address,
    key or upstream text.
    """

    def __init__(self, message: str, summary: str = "failed"):
        self.summary = summary
        super().__init__(message)


def without_paths(message: str, root: Path) -> str:
    """`message` with the index directory `root` (as given, and absolute) reduced to its name.

    "no index at /srv/qa/index: build one ... --index /srv/qa/index" -> "no index at index: ...
    --index index": where the server keeps its files is nobody's business but the operator's.
    """
    root = Path(root)
    name = root.absolute().name or "the index"
    for form in sorted({str(root), str(root.absolute()), str(root.resolve())}, key=len, reverse=True):
        if os.sep in form:  # a bare name ("index") says nothing, and "." must not be replaced everywhere
            message = message.replace(form, name)
    return message
