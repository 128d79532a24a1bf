"""The API's response schemas follow the dataclasses: every key `to_dict()` writes is in /openapi.json."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import HashEmbedder
from fastapi.testclient import TestClient

from assistant.config import Settings
from assistant.errors import InputError
from assistant.ingest.indexer import IngestReport
from assistant.serve.api import create_app
from assistant.service import Assistant
from assistant.types import Answer, Chunk, Citation, Passage

TEXT = "Alexander Golts is a Moscow-based military expert."
CHUNK = Chunk("golts", 0, 0, len(TEXT), TEXT)
PASSAGE = Passage(1, CHUNK, "Golts", "https://example.com/golts", 0.03)
ANSWER = Answer("who is Golts?", "Golts is an expert [1].", False,
                (Citation(1, "golts", "Golts", None, CHUNK.id, TEXT, 0, len(TEXT)),), (PASSAGE,),
                {"total": 1.0}, ("He is also the president.",), "Showing the offline answer.")
REPORT = IngestReport(added=1, errors=[InputError("a.txt", "empty")], replaced=["a: b.txt"], migrated=2)


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    assistant = Assistant(Settings(index=tmp_path_factory.mktemp("schemas") / "index"), embedder=HashEmbedder())
    with TestClient(create_app(assistant, ui=False)) as client:
        return client.get("/openapi.json").json()


def response_schema(openapi: dict, method: str, path: str) -> dict:
    responses = openapi["paths"][path][method]["responses"]
    return next(r for code, r in responses.items() if code.startswith("2"))["content"]["application/json"]["schema"]


def missing(data: Any, schema: dict, openapi: dict, where: str = "") -> list[str]:
    """The keys of `data`, at any depth, that `schema` does not declare."""
    while "$ref" in schema or "anyOf" in schema:
        if "$ref" in schema:
            schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        else:
            schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
    if isinstance(data, dict) and "properties" in schema:
        out = []
        for key, value in data.items():
            if key not in schema["properties"]:
                out.append(f"{where}.{key}")
            else:
                out += missing(value, schema["properties"][key], openapi, f"{where}.{key}")
        return out
    if isinstance(data, list) and data and "items" in schema:
        return missing(data[0], schema["items"], openapi, f"{where}[]")
    return []


def test_every_key_of_an_answer_is_in_the_ask_schema(openapi):
    data = ANSWER.to_dict(id="q1")
    assert {"note", "unsupported", "citations", "passages"} <= set(data)  # the sample fills every field

    assert missing(data, response_schema(openapi, "post", "/api/ask"), openapi) == []


def test_every_key_of_a_search_and_an_ingest_report_is_in_their_schemas(openapi):
    search = {"query": "Golts", "passages": [PASSAGE.to_dict()]}

    assert missing(search, response_schema(openapi, "post", "/api/search"), openapi) == []
    assert missing(REPORT.to_dict(), response_schema(openapi, "post", "/api/articles"), openapi) == []
    assert missing(REPORT.to_dict(), response_schema(openapi, "delete", "/api/articles/{article_id}"), openapi) == []


def test_the_check_sees_a_key_the_schema_lacks(openapi):
    data = ANSWER.to_dict() | {"confidence": 0.9}

    assert missing(data, response_schema(openapi, "post", "/api/ask"), openapi) == [".confidence"]


def test_what_every_answer_has_is_required_and_a_note_is_optional(openapi):
    schema = openapi["components"]["schemas"]["AnswerOut"]

    assert set(schema["required"]) == set(ANSWER.to_dict()) - {"id", "note"}
