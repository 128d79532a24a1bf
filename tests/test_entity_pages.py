"""Where people see a profile: GET /api/entities, /api/entities/{id}, the /entities/{id} page, the chat card."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.serve.api import create_app
from assistant.serve.html import answer_html, plain_answer
from assistant.types import Article

DATA = Path(__file__).resolve().parent / "data" / "entities" / "articles"
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "articles"
EVIL = "<img src=x onerror=alert(1)>[x](javascript:alert(2))"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    assistant = make_assistant(tmp_path_factory.mktemp("pages") / "index", HashEmbedder())
    assistant.ingest([str(DATA), str(SAMPLES)])
    assistant.ingest_articles([Article("evil", EVIL, f"Nina Vale, a {EVIL} economist, left.", source="evil.txt")])
    with TestClient(create_app(assistant)) as client:
        client.assistant = assistant
        yield client


def test_the_api_finds_entities_by_name_and_returns_a_profile(client):
    found = client.get("/api/entities", params={"q": "petrova"}).json()
    assert [(e["id"], e["name"], e["kind"], e["articles"]) for e in found] == [
        ("anna-petrova", "Anna Petrova", "person", 5), ("maria-petrova", "Maria Petrova", "person", 3)]
    profile = client.get("/api/entities/alexander-golts").json()
    assert profile["entity"]["name"] == "Alexander Golts"
    assert [d["text"] for d in profile["descriptions"]] == ["is a Moscow-based military expert",
                                                            "is the military analyst"]
    assert len(profile["quotes"]) == 2
    [article] = profile["articles"]
    assert article["id"] == "russian-volunteers-syria" and article["mentions"] == [[1017, 1032], [3158, 3163]]
    assert article["contexts"][0][1] == "Alexander Golts"
    cited = {c["n"]: c for c in profile["citations"]}
    text = client.assistant.article("russian-volunteers-syria").text
    assert all(text[c["start"]:c["end"]] == c["quote"] for c in cited.values())
    assert profile == client.assistant.entity("alexander-golts").to_dict()  # the same data as the page's


def test_the_api_refuses_an_unknown_entity_and_an_empty_query(client):
    assert client.get("/api/entities/nobody").status_code == 404
    assert client.get("/api/entities", params={"q": ""}).status_code in (400, 422)
    assert client.get("/api/entities", params={"q": "x" * 5000}).status_code in (400, 422)
    assert client.get("/api/entities", params={"q": "zzzz"}).json() == []


def test_the_entity_page_lists_every_mention_linking_to_the_article_there(client):
    page = client.get("/entities/alexander-golts")
    assert page.status_code == 200
    assert "<h1>Alexander Golts</h1>" in page.text
    assert "is a Moscow-based military expert" in page.text
    assert 'href="../articles/russian-volunteers-syria?start=1017&amp;end=1032#cited"' in page.text
    assert "<mark>Alexander Golts</mark>" in page.text and "<mark>Golts</mark>" in page.text
    missing = client.get("/entities/nobody")
    assert missing.status_code == 404 and "no person or organisation" in missing.text


def test_untrusted_titles_and_descriptions_stay_text(client):
    page = client.get("/entities/nina-vale").text
    assert "<img" not in page and html.escape(EVIL, quote=True) in page
    card = answer_html(client.assistant.ask("who is Nina Vale?"))
    assert "<img" not in card and "javascript:alert" not in html.unescape(card).split("qa-data")[0].replace(
        html.unescape(html.escape(EVIL)), "")


def test_the_chat_card_shows_the_entity_its_lines_and_linked_articles(client):
    answer = client.assistant.ask("who is Anna Petrova?")
    card = answer_html(answer, "https://wiki.example.org/assistant/")
    assert '<a class="qa-entity" href="https://wiki.example.org/assistant/entities/anna-petrova"' in card
    assert card.count('class="qa-line"') == 3  # one a description
    assert 'href="https://wiki.example.org/assistant/articles/energy-forum-2024?start=' in card
    assert plain_answer(card) == answer.answer  # a follow-up reads back the answer's own text


def test_a_quote_answer_is_a_card_of_one_quotation_a_line(client):
    answer = client.assistant.ask("what does Golts say?")
    card = answer_html(answer)
    assert card.count('class="qa-line"') == 2 and 'class="qa-line qa-mentioned"' in card
    assert plain_answer(card) == answer.answer
