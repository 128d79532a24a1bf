"""The API's JSON shapes: what it accepts (checked, strict) and what it answers (derived).

Requests are the trust boundary: pydantic models that refuse unknown fields and out-of-range
values. Responses are the dataclasses' own `to_dict()`; their schemas are derived from the
dataclass fields by `wire`, so a field added to `Answer` or `IngestReport` reaches the client and
/docs without a second declaration here (`response_model` drops any key its model lacks).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, create_model

from assistant.ingest.indexer import IngestReport
from assistant.limits import (
    MAX_ANSWER_CHARS, MAX_CITATIONS, MAX_COLLECTION_CHARS, MAX_COMMENT_CHARS, MAX_HISTORY_TURNS, MAX_QUESTION_CHARS,
    MAX_SOURCE_URLS, MAX_URL_CHARS,
)
from assistant.store.sources import Run, Source
from assistant.types import Answer, Chunk, Citation, EntityRef, Passage, Profile

# ── requests ────────────────────────────────────────────────────────────────────────────────


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A collection's name, as store/access.py checks it; `None`: every collection the caller may read.
Collection = Annotated[str | None, Field(max_length=MAX_COLLECTION_CHARS, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                         description="one collection (to narrow a search to, or to add into)")]


class TurnIn(_In):
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answer: str = Field("", max_length=MAX_ANSWER_CHARS)


class AskIn(_In):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, examples=["who is Alexander Golts?"])
    history: list[TurnIn] = Field([], max_length=MAX_HISTORY_TURNS,
                                  description="earlier turns, oldest first, for follow-ups")
    # Strict: "3", 3.0 and true are refused, not read as 3 (or 1); "yes" is not true.
    top_k: StrictInt | None = Field(None, ge=1, le=50, description="passages to retrieve (default: the server's top_k)")
    stream: StrictBool = Field(False, description="answer as server-sent events: `token` pieces, then one `answer`")
    collection: Collection = None


class SearchIn(_In):
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, examples=["Russian volunteers in Syria"])
    top_k: StrictInt | None = Field(None, ge=1, le=50)
    collection: Collection = None


class UrlIn(_In):
    url: str = Field(pattern=r"^https?://\S+$", max_length=MAX_URL_CHARS,
                     examples=["https://example.com/article.html"])
    collection: Collection = None


class SourceIn(_In):
    """A source to sync: a feed, sitemap or page URL, or several page URLs (folders: the CLI only)."""

    urls: list[Annotated[str, Field(pattern=r"^https?://\S+$", max_length=MAX_URL_CHARS)]] = Field(
        min_length=1, max_length=MAX_SOURCE_URLS, examples=[["https://example.com/feed.xml"]])
    collection: str = Field("default", max_length=MAX_COLLECTION_CHARS, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    every: str = Field("1h", max_length=20, description="how often: 30m, 2h, 1d (at least 60 s)")
    remove_missing: StrictBool = Field(False, description="remove articles whose page leaves the sitemap")
    robots: StrictBool = Field(True, description="honour robots.txt")


class FeedbackIn(_In):
    answer_id: str = Field(min_length=17, max_length=64, description="the `answer_id` the answer came with")
    vote: Literal["up", "down"]
    comment: str = Field("", max_length=MAX_COMMENT_CHARS)
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: str = Field(max_length=MAX_ANSWER_CHARS)
    citations: list[Citation] = Field([], max_length=MAX_CITATIONS)


# ── responses ───────────────────────────────────────────────────────────────────────────────


def fields_of(cls: type, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`create_model` fields for dataclass `cls`: each field's annotation and default (required if none)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in drop:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ...
        out[f.name] = (hints[f.name], default)
    return out


def wire(cls: type, name: str, *, drop: frozenset[str] = frozenset(), sent_as: dict[str, Any] | None = None,
         added: dict[str, Any] | None = None) -> type[BaseModel]:
    """The schema of `cls.to_dict()`: the dataclass's fields, as `to_dict` changes them.

    Args:
        cls: the dataclass.
        name: the schema's name in /openapi.json.
        drop: fields `to_dict` leaves out.
        sent_as: fields sent in another type than their own (a tuple of Passages as PassageOut items).
        added: keys `to_dict` adds, as (type, default).
    """
    # `to_dict` writes every field, so each is required, except where None means "left out" (a note).
    fields = {key: (kind, None if default is None else ...) for key, (kind, default) in fields_of(cls, drop).items()}
    for key, kind in (sent_as or {}).items():
        fields[key] = (kind, fields[key][1])
    return create_model(name, **fields, **(added or {}))  # type: ignore[call-overload]  # fields by name


# A passage is sent flat: its chunk's offsets, text and ids beside its rank and score.
PassageOut = wire(Passage, "PassageOut", drop=frozenset({"chunk"}),
                  added={**fields_of(Chunk, drop=frozenset({"ordinal"})), "chunk_id": (str, ...)})
AnswerOut = wire(Answer, "AnswerOut", sent_as={"passages": list[PassageOut]},  # type: ignore[valid-type]
                 added={"id": (Any, None)})
EntityOut = wire(EntityRef, "EntityOut")
ProfileOut = wire(Profile, "ProfileOut")
ReportOut = wire(IngestReport, "ReportOut", sent_as={"errors": list[str]})
RunOut = wire(Run, "RunOut")
SourceOut = wire(Source, "SourceOut", added={"last_run": (RunOut | None, None)})


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]  # type: ignore[valid-type]


class ArticleOut(BaseModel):
    id: str
    title: str
    url: str | None
    chunks: int
    collections: list[str]


class HealthOut(BaseModel):
    status: str
    version: str
    articles: int
    chunks: int
    admin: bool
    index: dict[str, Any]


class ErrorBody(BaseModel):
    status: int
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: the one error shape under each status it may answer."""
    return {code: {"model": ErrorOut} for code in codes}
