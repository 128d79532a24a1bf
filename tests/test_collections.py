"""Collections: membership in the catalog, restricted ones and read tokens beside it, and searches
that filter by what a reader may read before they rank."""

import sqlite3

import numpy as np
import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.errors import AssistantError, NotFound
from assistant.store.access import AccessStore
from assistant.store.format import ACCESS, CATALOG, MEMBERSHIP, SEGMENTS
from assistant.types import EVERYTHING, Article, Scope

GOLTS = Article("golts", "Golts", "Alexander Golts is a Moscow-based military expert.", source="golts.txt")
MERGER = Article("merger", "Merger", "The Zephyr merger with Golts Holdings closes in March.", source="merger.txt")
TEA = Article("tea", "Tea", "Green tea is brewed at 80 degrees by Golts.", source="tea.txt")
LEGAL = Scope(hidden=frozenset({"legal"}))


def _ids(passages) -> list[str]:
    return [p.chunk.article_id for p in passages]


@pytest.fixture
def split(tmp_path):
    """`merger` in a restricted `legal` collection; `golts` and `tea` public in `default`."""
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS, TEA])
    assistant.ingest_articles([MERGER], collection="legal")
    assistant.restrict("legal")
    return assistant


def test_ingest_puts_articles_in_a_collection_and_collections_counts_them(split):
    rows = {r["name"]: r for r in split.collections()}
    assert rows["default"]["articles"] == 2 and rows["legal"]["articles"] == 1
    assert rows["legal"]["restricted"] and not rows["default"]["restricted"]
    assert {r["id"]: r["collections"] for r in split.articles()}["merger"] == ["legal"]


def test_a_restricted_passage_that_would_rank_first_is_absent_and_the_next_readable_takes_its_place(split):
    query = "Zephyr merger Golts Holdings"
    assert _ids(split.search(query, 3))[0] == "merger"  # the admin's view: it ranks first
    readable = split.search(query, 3, split.scope(frozenset()))
    assert "merger" not in _ids(readable)
    assert _ids(readable) == [i for i in _ids(split.search(query, 3)) if i != "merger"][:3]
    assert _ids(split.search(query, 3, split.scope(frozenset({"legal"}))))[0] == "merger"


def test_scores_over_the_readable_part_equal_an_index_holding_only_that_part(split, tmp_path):
    alone = make_assistant(tmp_path / "alone", HashEmbedder())
    alone.ingest_articles([GOLTS, TEA])
    scope = split.scope(frozenset())
    retriever = split.retriever()
    for query in ("Golts", "Golts merger expert", "green tea degrees"):
        filtered = retriever.keyword(query, 5, scope=scope)
        expected = alone.retriever().keyword(query, 5)
        assert [(p.chunk.article_id, round(p.score, 5)) for p in filtered] == \
               [(p.chunk.article_id, round(p.score, 5)) for p in expected]
        assert _ids(retriever.dense(query, 5, scope=scope)) == _ids(alone.retriever().dense(query, 5))
    assert retriever.document_frequency("zephyr", scope=scope) == 0  # only the restricted article holds it
    assert retriever.document_frequency("zephyr") == 1
    assert retriever.idf("golt", scope=scope) == pytest.approx(alone.retriever().idf("golt"))
    assert retriever.scoped(scope).count == 2


def test_a_restricted_article_is_not_found_exactly_as_a_missing_one(split):
    hidden = split.scope(frozenset())
    with pytest.raises(NotFound) as restricted:
        split.article("merger", hidden)
    with pytest.raises(NotFound) as missing:
        split.article("nothing", hidden)
    assert str(restricted.value).replace("merger", "X") == str(missing.value).replace("nothing", "X")
    assert split.article("merger", split.scope(frozenset({"legal"}))).id == "merger"
    assert split.counts(hidden) == (2, 2) and split.counts(EVERYTHING) == (3, 3)
    with split.index.catalog() as catalog:  # what the entity index filters by
        assert catalog.readable_ids(hidden) == frozenset({"golts", "tea"}) and catalog.readable_ids(EVERYTHING) is None


def test_moving_an_article_between_collections_embeds_nothing(split):
    segments = split.index.current() / SEGMENTS
    before = sorted(p.name for p in segments.iterdir())
    split.move(["merger"], "default")
    assert sorted(p.name for p in segments.iterdir()) == before
    assert "merger" in _ids(split.search("Zephyr merger", 3, split.scope(frozenset())))
    report = split.ingest_articles([MERGER], collection="legal")  # unchanged, so moved back, not embedded
    assert report.chunks == 0 and report.unchanged == 1
    assert "merger" not in _ids(split.search("Zephyr merger", 3, split.scope(frozenset())))


def test_a_replaced_article_keeps_its_collection_and_a_removed_one_leaves_it(split):
    split.ingest_articles([Article("merger", "Merger", "The Zephyr merger closes in April.", source="merger.txt")])
    assert {r["id"]: r["collections"] for r in split.articles()}["merger"] == ["legal"]
    split.remove(["merger"])
    split.ingest_articles([MERGER])  # the same id again, without a collection: a new article, `default`
    assert {r["id"]: r["collections"] for r in split.articles()}["merger"] == ["default"]


def test_a_rebuild_keeps_collections_and_who_may_read_them(split):
    split.ingest_articles([GOLTS, TEA, MERGER], rebuild=True)
    assert {r["id"]: r["collections"] for r in split.articles()}["merger"] == ["legal"]
    assert "merger" not in _ids(split.search("Zephyr merger", 3, split.scope(frozenset())))


def test_an_index_built_before_collections_serves_as_one_public_default_collection(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS, TEA])
    with sqlite3.connect(assistant.index.current() / CATALOG) as db:  # as an older catalog is: no table
        db.execute(f"DROP TABLE {MEMBERSHIP}")
    older = make_assistant(tmp_path / "index", HashEmbedder())
    assert [r["name"] for r in older.collections()] == ["default"]
    assert _ids(older.search("green tea", 1, older.scope(frozenset()))) == ["tea"]
    assert {r["id"]: r["collections"] for r in older.articles()} == {"golts": ["default"], "tea": ["default"]}
    older.ingest_articles([MERGER], collection="legal")  # the first write gains the table
    older.restrict("legal")
    assert "merger" not in _ids(older.search("Zephyr merger", 3, older.scope(frozenset())))


def test_only_narrows_to_one_readable_collection(split):
    assert set(_ids(split.search("Golts", 5, split.scope(frozenset({"legal"}), only="legal")))) == {"merger"}
    assert split.search("Golts", 5, split.scope(frozenset(), only="legal")) == []  # not readable: nothing
    with pytest.raises(AssistantError, match="not valid"):
        split.scope(frozenset(), only="../x")


def test_tokens_are_kept_hashed_listed_revoked_and_expire(tmp_path):
    now = [1_000_000.0]
    store = AccessStore(tmp_path, clock=lambda: now[0])
    token, secret = store.create_token(["legal"], expires=now[0] + 60)
    assert store.grants(secret) == frozenset({"legal"})
    assert secret.encode() not in (tmp_path / ACCESS).read_bytes()
    assert [t.id for t in store.tokens()] == [token.id]
    assert store.grants(secret + "x") is None and store.grants("legal") is None
    now[0] += 61
    assert store.grants(secret) is None  # expired
    other, secret2 = store.create_token(["legal", "hr"])
    assert store.grants(secret2) == frozenset({"legal", "hr"})
    assert store.revoke(other.id).revoked is not None
    assert store.grants(secret2) is None
    with pytest.raises(NotFound):
        store.revoke(99)


def test_a_filtered_dense_search_builds_each_segments_bitmap_once(split):
    retriever, scope = split.retriever(), split.scope(frozenset())
    retriever.dense("Golts", 3, scope=scope)
    index = next(iter(retriever._views.values())).segments  # the cache is what is tested
    cached = [seg.vectors._excluded for seg, _ in index.values() if seg.vectors is not None]
    retriever.dense("tea", 3, scope=scope)
    again = [seg.vectors._excluded for seg, _ in index.values() if seg.vectors is not None]
    assert all(a is b for a, b in zip(cached, again))
    assert any(c is not None and np.any(c[1]) for c in again)
