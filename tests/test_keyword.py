"""KeywordIndex: BM25 in SQLite FTS5 over `terms()`, incremental and transactional."""

import sqlite3

import pytest

from assistant.keyword import KeywordIndex
from assistant.terms import terms

CHUNKS = {
    1: "The 1973 oil crisis began when OAPEC proclaimed an oil embargo.",
    2: "Running dogs ran quickly across the café in Zürich.",
    3: "Prices of crude oil rose from three dollars to nearly twelve.",
}


@pytest.fixture
def db() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", isolation_level=None)


@pytest.fixture
def index(db) -> KeywordIndex:
    KeywordIndex.create(db)
    KeywordIndex.create(db)  # idempotent
    keyword = KeywordIndex(db)
    keyword.add(CHUNKS.items())
    return keyword


def test_search_ranks_rows_sharing_a_term(index):
    found = index.search("When did the oil embargo begin?", 5)
    assert [rowid for rowid, _ in found][:1] == [1] and {r for r, _ in found} == {1, 3}
    assert found[0][1] > found[1][1] > 0  # higher is better
    assert index.search("nothing matches xylophone", 5) == []


def test_the_analyzer_is_terms_including_non_ascii_stems(index):
    assert index.document_frequency(terms("Zürich")[0]) == 1
    assert index.document_frequency(terms("café")[0]) == 1
    assert index.document_frequency(terms("running")[0]) == 1  # stemmed as terms() stems: "run"
    assert index.document_frequency("oil") == 2 and index.document_frequency("the") == 0  # stopword
    assert index.search("cafe zurich", 5) == []  # no diacritics folding: terms() keeps them
    assert [r for r, _ in index.search("Zürich", 5)] == [2]


def test_delete_removes_a_chunk_for_good(index):
    index.delete([(1, CHUNKS[1])])
    assert index.count() == 2 and index.document_frequency("embargo") == 0
    assert all(rowid != 1 for rowid, _ in index.search("oil embargo crisis", 10))


@pytest.mark.parametrize(
    "question", ['"', '"oil', "oil*", "NEAR(oil crisis)", "oil AND", "AND OR NOT", "-oil", "terms:oil", "a\" OR \"b", "(oil"]
)
def test_fts5_syntax_in_a_question_is_just_text(index, question):
    found = index.search(question, 5)
    assert all(rowid in CHUNKS for rowid, _ in found)


def test_a_rolled_back_transaction_leaves_nothing(db, index):
    db.execute("BEGIN")
    index.add([(9, "A zeppelin over Lakehurst.")])
    index.delete([(2, CHUNKS[2])])
    assert index.count() == 3 and index.search("zeppelin", 5)
    db.execute("ROLLBACK")
    assert index.count() == 3 and index.search("zeppelin", 5) == []
    assert [r for r, _ in index.search("dogs", 5)] == [2]


def test_a_postings_budget_keeps_the_rarest_terms_first(db, index):
    assert index.query_terms("oil embargo") == ["embargo", "oil"]  # df 1, then df 2
    frugal = KeywordIndex(db, budget=1)
    assert frugal.query_terms("oil embargo") == ["embargo"]
    assert frugal.query_terms("oil") == ["oil"]  # the rarest term is kept whatever its postings
    assert [r for r, _ in frugal.search("oil embargo", 5)] == [1]
