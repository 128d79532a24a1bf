"""The entity index (assistant/store/entities.py): written with its article, read within `readable`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.store.format import CATALOG
from assistant.types import Article

COLLECTION = Path(__file__).resolve().parent / "data" / "entities" / "articles"


def article(id: str, text: str, published: str | None = None) -> Article:
    return Article(id=id, title=id.title(), text=text, source=f"{id}.txt", published=published)


RUNNER = article("runner", "Maria Petrova, a long-distance runner, won. “I felt fast,” Petrova said.", "2021-05-16")
ECONOMIST = article("economist", "Anna Petrova, a senior economist, spoke. Petrova is the author of a report.",
                    "2019-01-14")


@pytest.fixture
def assistant(tmp_path):
    return make_assistant(tmp_path / "index", HashEmbedder())


def test_an_ingest_indexes_names_descriptions_and_quotes(assistant):
    assistant.ingest_articles([RUNNER, ECONOMIST])
    with assistant.index.catalog() as catalog:
        found = catalog.entities.find("Petrova")
        facts = catalog.entities.facts("anna-petrova")
        mentions = catalog.entities.mentions("maria-petrova")
    assert sorted(e.id for e in found) == ["anna-petrova", "maria-petrova"]
    assert [(f.form, f.text) for f in facts] == [("apposition", "a senior economist"),
                                                 ("copula", "the author of a report")]
    assert all(ECONOMIST.text[f.start:f.end] == f.text for f in facts)
    with assistant.index.catalog() as catalog:
        for f in facts:
            chunk, sentence = catalog.entities.cited(f)
            assert ECONOMIST.text[f.sentence_start:f.sentence_end] == sentence
            assert chunk.start <= f.sentence_start and f.sentence_end <= chunk.end
    assert [(m.id, [RUNNER.text[s:e] for s, e in m.mentions]) for m in mentions] == [
        ("runner", ["Maria Petrova", "Petrova"])]


def test_a_replaced_article_replaces_its_rows_and_a_removed_one_takes_them(assistant):
    assistant.ingest_articles([RUNNER, ECONOMIST])
    assistant.ingest_articles([article("runner", "Maria Petrova, the national champion, won.", "2021-05-16")])
    with assistant.index.catalog() as catalog:
        assert [f.text for f in catalog.entities.facts("maria-petrova")] == ["the national champion"]
    assistant.remove(["runner"])
    with assistant.index.catalog() as catalog:
        assert [e.id for e in catalog.entities.find("Petrova")] == ["anna-petrova"]
        assert catalog.entities.entity("maria-petrova") is None
        assert catalog.db.execute("SELECT count(*) FROM entity_mentions").fetchone()[0] == 2  # Anna Petrova, Petrova


def test_rows_are_written_in_the_articles_transaction(assistant, monkeypatch):
    assistant.ingest_articles([ECONOMIST])
    import assistant.ingest.indexer as indexer

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(indexer, "write_segment", fail)
    with pytest.raises(OSError):
        assistant.ingest_articles([RUNNER])
    with assistant.index.catalog() as catalog:
        assert catalog.entities.find("Maria Petrova") == []
        assert catalog.entities.entity("anna-petrova") is not None


def test_readable_articles_bound_every_read(assistant):
    assistant.ingest_articles([RUNNER, ECONOMIST])
    only = frozenset({"economist"})
    with assistant.index.catalog() as catalog:
        assert [e.id for e in catalog.entities.find("Petrova", only)] == ["anna-petrova"]
        assert catalog.entities.entity("maria-petrova", only) is None
        assert catalog.entities.facts("maria-petrova", only) == []
        assert catalog.entities.mentions("maria-petrova", only) == []
        assert catalog.entities.find("petrova", frozenset()) == []


def test_an_index_from_before_the_entity_index_serves_then_compact_indexes_it(assistant):
    assistant.ingest_articles([RUNNER, ECONOMIST])
    path = assistant.index.current() / CATALOG
    with sqlite3.connect(path) as db:  # as a catalog written before this change
        db.executescript("DROP TABLE entities; DROP TABLE entity_mentions; DROP TABLE entity_facts;"
                         " DROP TABLE entity_articles;")
    with assistant.index.catalog() as catalog:
        assert catalog.entities.find("Petrova") == [] and catalog.entities.facts("anna-petrova") == []
    assert assistant.ask("who is Anna Petrova?").question  # today's path answers
    assistant.compact()
    with assistant.index.catalog() as catalog:
        assert sorted(e.id for e in catalog.entities.find("Petrova")) == ["anna-petrova", "maria-petrova"]
    assistant.compact()  # nothing left to index: the rows are not doubled
    with assistant.index.catalog() as catalog:
        assert len(catalog.entities.facts("anna-petrova")) == 2
