"""The data that flows through the pipeline: articles -> chunks -> passages -> quotes -> cited answers.

Frozen dataclasses, so a value seen in one stage cannot change under another.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Article:
    """One source document, as read from a file, a JSONL line or a URL."""

    id: str
    title: str
    text: str
    url: str | None = None
    source: str = ""  # where it was read from (path, path:line, or URL), for messages
    published: str | None = None
    author: str | None = None

    @property
    def content_hash(self) -> str:
        """Hash of what the index depends on; unchanged hash = skip re-embedding."""
        h = hashlib.sha256()
        for part in (self.title, self.url or "", self.published or "", self.author or "", self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A span of an article: `article.text[start:end] == text` always holds."""

    article_id: str
    ordinal: int
    start: int
    end: int
    text: str

    @cached_property
    def id(self) -> str:
        """Derived from content, so an unchanged chunk keeps its id across re-ingests (hashed once)."""
        digest = hashlib.sha256(f"{self.start}:{self.end}:{self.text}".encode()).hexdigest()[:12]
        return f"{self.article_id}#{self.ordinal}-{digest}"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with what a reader needs to see where it came from."""

    rank: int
    chunk: Chunk
    title: str
    url: str | None
    score: float

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "article_id": self.chunk.article_id,
            "chunk_id": self.chunk.id,
            "title": self.title,
            "url": self.url,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(float(self.score), 6),
        }


@dataclass(frozen=True)
class Quote:
    """A sentence of `passage` at article offsets start..end, before it has a citation number.

    The offline answerer scores candidate quotes (`features`, `score`; `before` is the sentence
    before it in its passage, which the reader may read with it); the LLM answerer quotes the
    sentence that supports a claim. `answer.citations.number` makes Citations of them.
    """

    passage: Passage
    start: int
    end: int
    text: str
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    before: str = ""


@dataclass(frozen=True)
class Citation:
    """A checkable citation: `article.text[start:end] == quote`."""

    n: int
    article_id: str
    title: str
    url: str | None
    chunk_id: str
    quote: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EntityRef:
    """A person or organisation in the entity index, and how many articles name them."""

    id: str
    name: str
    kind: str  # "person" or "organisation"
    articles: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EntityArticle:
    """An article that names an entity, with where: each mention's span and the text around it
    (the entity page links to each)."""

    id: str
    title: str
    url: str | None
    published: str | None
    mentions: tuple[tuple[int, int], ...] = ()
    contexts: tuple[tuple[str, str, str], ...] = ()  # per mention: the text before it, its own, the text after

    def to_dict(self) -> dict:
        return {**asdict(self), "mentions": [list(m) for m in self.mentions],
                "contexts": [list(c) for c in self.contexts]}


@dataclass(frozen=True)
class ProfileLine:
    """One distinct description, or one quotation, of a profile: `text` without markers, the
    citation numbers of every article that says it, and the newest of their dates."""

    text: str
    citations: tuple[int, ...]
    published: str | None

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": list(self.citations), "published": self.published}


@dataclass(frozen=True)
class Profile:
    """Who someone is across the collection: descriptions and quotations newest first, each cited,
    and every article that names them."""

    entity: EntityRef
    descriptions: tuple[ProfileLine, ...]
    quotes: tuple[ProfileLine, ...]
    citations: tuple[Citation, ...]
    articles: tuple[EntityArticle, ...]

    def to_dict(self) -> dict:
        return {
            "entity": self.entity.to_dict(),
            "descriptions": [d.to_dict() for d in self.descriptions],
            "quotes": [q.to_dict() for q in self.quotes],
            "citations": [c.to_dict() for c in self.citations],
            "articles": [a.to_dict() for a in self.articles],
        }


@dataclass(frozen=True)
class Answer:
    """The one answer shape shared by the CLI, the API and the UI."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timing_ms: dict[str, float] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()  # sentences an LLM wrote that no passage supports
    note: str | None = None  # e.g. why an LLM answer fell back to the offline one
    answer_id: str = ""  # what a vote on this answer names (feedback.FeedbackStore.sign); "" until issued
    profile: Profile | None = None  # a who-is answer's profile (answer/profile.py), for the chat's card

    def to_dict(self, id: object = None) -> dict:
        data = {
            "id": id,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timing_ms": {k: round(v, 3) for k, v in self.timing_ms.items()},
            "unsupported": list(self.unsupported),
            "answer_id": self.answer_id,
        }
        if self.note:
            data["note"] = self.note
        if self.profile is not None:
            data["profile"] = self.profile.to_dict()
        return data


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation, for resolving follow-up questions."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Scope:
    """The part of the index one request may read: every collection but `hidden`, narrowed to
    `only` when set (`/embed/?collection=NAME`). Searches filter by it before ranking.

    A deny list rather than an allow list, so a collection nobody has restricted is public without
    being listed; an article is readable when any of its collections is.
    """

    hidden: frozenset[str] = frozenset()
    only: str | None = None

    @property
    def everything(self) -> bool:
        """Reads the whole index: the searches take their unfiltered, default path."""
        return not self.hidden and self.only is None

    def readable(self, collections: frozenset[str]) -> bool:
        """Whether an article in these collections may be read."""
        if self.only is not None:
            return self.only in collections and self.only not in self.hidden
        return bool(collections - self.hidden)


EVERYTHING = Scope()
