"""Keyword search: global statistics in SQLite, postings per segment; rankings match bm25s."""

import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from assistant.store.keyword import FREQUENCY, KeywordIndex, Postings
from assistant.text.terms import terms

CHUNKS = [
    "The 1973 oil crisis began when OAPEC proclaimed an oil embargo.",
    "Running dogs ran quickly across the café in Zürich.",
    "Prices of crude oil rose from three dollars to nearly twelve.",
]


@pytest.fixture
def db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    KeywordIndex.create(db)
    KeywordIndex.create(db)  # idempotent
    return db


def _index(db, chunks, split=None):
    """A KeywordIndex over `chunks`, their postings in segments of `split` rows (one segment if None)."""
    documents = [terms(c) for c in chunks]
    keyword = KeywordIndex(db)
    keyword.add(documents)
    split = split or len(documents)
    segments = [(Postings.build(documents[i : i + split]), np.zeros(0, np.int64)) for i in range(0, len(documents), split)]
    return keyword, segments


def _rows(found, split):
    return [i * split + row for i, row, _ in found]


def test_search_ranks_rows_sharing_a_term_higher_is_better(db):
    keyword, segments = _index(db, CHUNKS)
    found = keyword.search("When did the oil embargo begin?", segments, 5)
    assert _rows(found, 3)[0] == 0 and set(_rows(found, 3)) == {0, 2}
    assert found[0][2] > found[1][2] > 0
    assert keyword.search("nothing matches xylophone", segments, 5) == []


def test_the_analyzer_is_terms_including_non_ascii_stems(db):
    keyword, segments = _index(db, CHUNKS)
    assert keyword.document_frequency(terms("Zürich")[0]) == 1
    assert keyword.document_frequency(terms("running")[0]) == 1  # stemmed as terms() stems: "run"
    assert keyword.document_frequency("oil") == 2 and keyword.document_frequency("the") == 0  # stopword
    assert keyword.search("cafe zurich", segments, 5) == []  # no diacritics folding: terms() keeps them
    assert _rows(keyword.search("Zürich", segments, 5), 3) == [1]


def test_rankings_equal_bm25s_over_the_same_chunks_however_they_are_split_into_segments(db):
    import bm25s

    rng = random.Random(0)
    words = ["oil", "crisis", "embargo", "price", "river", "volga", "tea", "green", "city", "zurich", "dog", "run"]
    chunks = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(120)]
    retriever = bm25s.BM25()  # k1=1.5, b=0.75, "lucene": the scores the previous index used
    retriever.index([terms(c) for c in chunks], show_progress=False)
    keyword, segments = _index(db, chunks, split=25)

    for query in ["oil crisis", "green tea in zurich", "river volga dog", "price", "oil price, oil price again"]:
        found = keyword.search(query, segments, 10)
        ids, scores = retriever.retrieve([terms(query)], k=10, show_progress=False)
        ours = dict(zip(_rows(found, 25), (s for _, _, s in found)))
        theirs = {int(i): float(s) for i, s in zip(ids[0], scores[0])}
        assert np.allclose(sorted(ours.values()), sorted(theirs.values()), rtol=1e-4)
        above_the_cut = min(theirs.values()) * (1 + 1e-4)  # ties at the 10th score may pick other rows
        assert {r for r, s in ours.items() if s > above_the_cut} == {r for r, s in theirs.items() if s > above_the_cut}


def test_deleted_rows_are_never_found_and_their_terms_uncounted(db):
    keyword, segments = _index(db, CHUNKS)
    keyword.delete([terms(CHUNKS[0])])
    postings, _ = segments[0]

    found = keyword.search("oil embargo crisis", [(postings, np.array([0]))], 10)

    assert keyword.count() == 2 and keyword.document_frequency("embargo") == 0
    assert _rows(found, 3) == [2]
    # A term no chunk holds any more leaves no row behind; the others keep theirs.
    left = dict(db.execute(f"SELECT term, df FROM {FREQUENCY}"))
    assert "embargo" not in left and left["oil"] == 1 and min(left.values()) > 0


def test_merged_postings_score_like_postings_built_from_the_kept_rows(db):
    documents = [terms(c) for c in CHUNKS * 3]
    a, b = Postings.build(documents[:5]), Postings.build(documents[5:])
    keep_a, keep_b = np.array([0, 2, 4]), np.array([1, 3])  # rows 1, 3 of a and 0, 2 of b deleted
    merged = Postings.merge([(a, keep_a, np.array([0, 1, 2])), (b, keep_b, np.array([3, 4]))], 5)
    rebuilt = Postings.build([documents[i] for i in (0, 2, 4, 6, 8)])

    for name in ("hashes", "starts", "rows", "tf", "lengths", "posting_lengths"):
        assert np.array_equal(getattr(merged, name), getattr(rebuilt, name)), name


def test_postings_round_trip_through_disk(db, tmp_path):
    postings = Postings.build([terms(c) for c in CHUNKS])
    postings.save(tmp_path)
    loaded = Postings.load(tmp_path)
    weights = {"oil": 1.0, "embargo": 2.0}
    assert [list(x) for x in loaded.top(weights, 6.0, 3)] == [list(x) for x in postings.top(weights, 6.0, 3)]


def test_segments_written_before_postings_carried_lengths_search_the_same_and_merge_into_the_new_layout(tmp_path):
    documents = [terms(c) for c in CHUNKS * 4]
    postings = Postings.build(documents)
    postings.save(tmp_path)
    np.save(tmp_path / "posting_rows.npy", postings.rows.astype(np.int32))  # the earlier layout
    np.save(tmp_path / "posting_tf.npy", postings.tf.astype(np.float32))
    (tmp_path / "posting_lengths.npy").unlink()
    old = Postings.load(tmp_path)
    weights = {"oil": 0.5, "embargo": 2.0, "run": 1.0}

    assert old.posting_lengths is None
    assert [x.tolist() for x in old.top(weights, 6.0, 5)] == [x.tolist() for x in postings.top(weights, 6.0, 5)]
    merged = Postings.merge([(old, np.arange(len(documents)), np.arange(len(documents)))], len(documents))
    for name in ("rows", "tf", "posting_lengths"):
        assert getattr(merged, name).dtype == getattr(postings, name).dtype
        assert np.array_equal(getattr(merged, name), getattr(postings, name)), name


def test_a_question_leaves_nothing_behind_for_the_next_one_on_any_thread():
    documents = [terms(c) for c in CHUNKS * 2]
    postings = Postings.build(documents)
    oil, zurich = {"oil": 1.0, "embargo": 2.0}, {"zürich": 1.5}
    alone = [x.tolist() for x in Postings.build(documents).top(zurich, 6.0, 6)]

    postings.top(oil, 6.0, 6, deleted=np.array([1]))
    assert [x.tolist() for x in postings.top(zurich, 6.0, 6)] == alone  # no score of the last question left
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda w: [x.tolist() for x in postings.top(w, 6.0, 6)], [oil, zurich] * 20))
    assert results[1::2] == [alone] * 20 and len({str(r) for r in results[::2]}) == 1


def test_counts_roll_back_with_the_callers_transaction(db):
    keyword = KeywordIndex(db)
    db.execute("BEGIN")
    keyword.add([terms(c) for c in CHUNKS])
    db.execute("ROLLBACK")
    assert keyword.count() == 0 and keyword.document_frequency("oil") == 0


@pytest.mark.parametrize("size, nonzero", [(10, 3), (5_000, 40), (200_000, 150_000), (200_000, 20)])
def test_the_top_k_shortcut_returns_exactly_the_best_positive_scores(size, nonzero):
    from assistant.store.keyword import _top

    rng = np.random.default_rng(size + nonzero)
    scores = np.zeros(size, np.float32)
    scores[rng.choice(size, nonzero, replace=False)] = rng.random(nonzero, np.float32) + 0.01

    hit = _top(scores, 30)

    expected = np.argsort(-scores, kind="stable")[: min(30, nonzero)]
    assert np.array_equal(np.sort(scores[hit]), np.sort(scores[expected]))
    assert (scores[hit] > 0).all() and list(scores[hit]) == sorted(scores[hit], reverse=True)
