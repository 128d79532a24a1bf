"""One contract, two stores: every test here runs on FAISS segments and on Milvus (Milvus Lite, the
Milvus engine embedded, at a file under tmp_path), and must give the same results on both."""

import numpy as np
import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.errors import IndexMismatch, IndexNotBuilt, StoreUnreachable
from assistant.retrieve.retriever import Retriever
from assistant.store.directory import IndexDir
from assistant.store.merge import MERGE_FACTOR
from assistant.types import Article

GOLTS = Article("golts", "Golts", "Alexander Golts is a Moscow-based military expert.", source="golts.txt",
                url="https://example.org/golts")
TEA = Article("tea", "Tea", "Green tea is brewed at 80 degrees.", source="tea.txt")
RIVERS = Article("rivers", "Rivers", "The Volga is the longest river in Europe.", source="rivers.txt")


@pytest.fixture(params=["faiss", "milvus"])
def store(request, tmp_path) -> dict:
    """The settings that choose a store: each test runs once per backend."""
    if request.param == "faiss":
        return {"store": "faiss"}
    return {"store": "milvus", "milvus_uri": str(tmp_path / "milvus.db")}


def _assistant(tmp_path, store, embedder=None):
    return make_assistant(tmp_path / "index", embedder or HashEmbedder(), **store)


def _found(retriever, query: str) -> list[str]:
    return [p.chunk.article_id for p in retriever.search(query, 5)]


def test_dense_and_keyword_search_find_articles_with_their_offsets_title_and_url(tmp_path, store):
    assistant = _assistant(tmp_path, store)
    assert assistant.ingest_articles([GOLTS, TEA, RIVERS]).added == 3

    retriever = assistant.retriever()
    dense = retriever.dense("Alexander Golts military expert", 2)
    assert dense[0].chunk.article_id == "golts" and dense[0].score == pytest.approx(1.0, abs=0.3)
    assert (dense[0].title, dense[0].url) == ("Golts", "https://example.org/golts")
    assert GOLTS.text[dense[0].chunk.start : dense[0].chunk.end] == dense[0].chunk.text
    assert [h.chunk.article_id for h in retriever.keyword("Volga", 5)] == ["rivers"]
    assert assistant.info()["store"] == store["store"]
    assert assistant.ask("At what temperature is green tea brewed?").answer.startswith("Green tea is brewed at 80 degrees")


def test_a_reader_inside_a_snapshot_does_not_see_a_commit_until_its_next_snapshot(tmp_path, store):
    embedder = HashEmbedder()
    writer = _assistant(tmp_path, store, embedder)
    writer.ingest_articles([GOLTS])
    reader = Retriever(writer.index.current(), embedder, writer.index.vectors)

    with reader.snapshot():
        assert _found(reader, "green tea brewed") == ["golts"]
        writer.ingest_articles([TEA])  # commits (and, on Milvus, writes its vectors) mid-answer
        assert _found(reader, "green tea brewed") == ["golts"]
        assert [h.chunk.article_id for h in reader.dense("green tea brewed", 5)] == ["golts"]
        assert reader.count == 1

    assert _found(reader, "green tea brewed")[0] == "tea"
    assert reader.count == 2


def test_an_updated_article_is_found_by_its_new_text_once_and_its_old_vectors_are_gone(tmp_path, store):
    assistant = _assistant(tmp_path, store)
    assistant.ingest_articles([GOLTS, TEA])
    report = assistant.ingest_articles([Article("tea", "Tea", "Black tea is brewed at 95 degrees.", source="tea.txt")])

    assert (report.updated, report.unchanged) == (1, 0)
    hits = assistant.retriever().dense("tea brewed degrees", 5)
    assert [h.chunk.article_id for h in hits] == ["tea", "golts"]
    assert hits[0].chunk.text == "Black tea is brewed at 95 degrees."
    assert _stored_vectors(assistant) in (None, 2)  # Milvus holds exactly the live chunks


def test_a_removed_articles_vectors_are_never_returned(tmp_path, store):
    assistant = _assistant(tmp_path, store)
    assistant.ingest_articles([GOLTS, TEA])
    assistant.remove(["golts"])

    retriever = assistant.retriever()
    assert [h.chunk.article_id for h in retriever.dense("Alexander Golts", 5)] == ["tea"]
    assert retriever.keyword("Alexander Golts", 5) == []
    assert retriever.document_frequency("golt") == 0
    assert _stored_vectors(assistant) in (None, 1)


def test_small_segments_merge_and_search_still_finds_every_live_article(tmp_path, store):
    assistant = _assistant(tmp_path, store)
    ids = [f"note{i}" for i in range(MERGE_FACTOR + 2)]
    for i, article_id in enumerate(ids):
        assistant.ingest_articles([Article(article_id, f"Note {i}", f"Item number {i} is called zork{i}.")])
    assistant.remove(["note3"])
    assert assistant.compact()[1] == 1

    for i, article_id in enumerate(ids):
        found = [p.chunk.article_id for p in assistant.search(f"zork{i}", 3)]
        assert (article_id in found) == (article_id != "note3")
    assert _stored_vectors(assistant) in (None, len(ids) - 1)


def test_an_unchanged_article_is_skipped_and_a_rebuild_starts_a_new_vector_store(tmp_path, store):
    assistant = _assistant(tmp_path, store)
    assistant.ingest_articles([GOLTS, TEA])
    first = assistant.info().get("collection")
    assert assistant.ingest_articles([GOLTS, TEA]).unchanged == 2

    assistant.ingest_articles([RIVERS], rebuild=True)
    second = assistant.info().get("collection")
    assistant.ingest_articles([TEA], rebuild=True)  # the first store (and collection) is now stale

    assert [a["id"] for a in assistant.articles()] == ["tea"]
    assert _found(assistant.retriever(), "green tea") == ["tea"]
    if store["store"] == "milvus":
        assert len({first, second, assistant.info()["collection"]}) == 3
        assert set(_collections(store)) == {second, assistant.info()["collection"]}


def test_a_replica_with_the_same_settings_answers_the_same(tmp_path, store):
    writer = _assistant(tmp_path, store)
    writer.ingest_articles([GOLTS, TEA, RIVERS])
    answer = writer.ask("Which is the longest river in Europe?")

    replica = _assistant(tmp_path, store)  # nothing shared with the writer but the settings
    again = replica.ask("Which is the longest river in Europe?")

    assert again.answer == answer.answer and not again.abstained
    assert [p.chunk.id for p in again.passages] == [p.chunk.id for p in answer.passages]


def test_an_index_opened_with_the_other_store_is_refused_in_one_line_saying_what_to_set(tmp_path, store):
    _assistant(tmp_path, store).ingest_articles([GOLTS])
    other = {"store": "faiss"} if store["store"] == "milvus" else {"store": "milvus",
                                                                       "milvus_uri": str(tmp_path / "m.db")}
    with pytest.raises(IndexMismatch, match=f"keeps its vectors in {store['store']} and the settings say "
                                            f"{other['store']}: set ASSISTANT_STORE={store['store']}") as refused:
        _assistant(tmp_path, other).ask("who is Alexander Golts?")
    assert "\n" not in str(refused.value)
    with pytest.raises(IndexMismatch):
        _assistant(tmp_path, other).ingest_articles([TEA])


def test_both_stores_score_the_same_chunks_the_same(tmp_path):
    articles = [Article(f"a{i}", f"Article {i}", f"Sentence {i} mentions zork{i % 7} and blorp{i % 5}.")
                for i in range(40)]
    scores = {}
    for name, store in {"faiss": {"store": "faiss"},
                        "milvus": {"store": "milvus", "milvus_uri": str(tmp_path / "m.db")}}.items():
        assistant = make_assistant(tmp_path / name, HashEmbedder(), **store)
        assistant.ingest_articles(articles)
        hits = assistant.retriever().dense("zork3 blorp2", 10)
        scores[name] = [(h.chunk.id, round(h.score, 4)) for h in hits]
    assert [s for _, s in scores["milvus"]] == pytest.approx([s for _, s in scores["faiss"]], abs=1e-4)
    assert {c for c, s in scores["milvus"] if s > scores["faiss"][-1][1]} \
        == {c for c, s in scores["faiss"] if s > scores["faiss"][-1][1]}


# --- Milvus only ---------------------------------------------------------------------------


def test_vectors_of_a_writer_that_died_before_its_commit_are_never_found_and_later_overwritten(tmp_path,
                                                                                              monkeypatch):
    import assistant.ingest.indexer as indexer

    store = {"store": "milvus", "milvus_uri": str(tmp_path / "milvus.db")}
    assistant = _assistant(tmp_path, store)
    assistant.ingest_articles([GOLTS])

    def die(*args):  # after the vectors went to Milvus, before the rows commit
        raise KeyboardInterrupt

    monkeypatch.setattr(indexer, "write_segment", die)
    with pytest.raises(KeyboardInterrupt):
        assistant.ingest_articles([Article("ghost", "Ghost", "Green tea is brewed at 80 degrees.")])
    monkeypatch.undo()

    assert _stored_vectors(assistant) == 2  # the dead writer's vector is in Milvus...
    assert [h.chunk.article_id for h in assistant.retriever().dense("green tea brewed", 5)] == ["golts"]
    assistant.ingest_articles([RIVERS])  # ...until the next writer reuses its key
    assert _stored_vectors(assistant) == 2
    assert [h.chunk.article_id for h in assistant.retriever().dense("green tea brewed", 5)] == ["golts", "rivers"] \
        or [h.chunk.article_id for h in assistant.retriever().dense("green tea brewed", 5)] == ["rivers", "golts"]


def test_the_milvus_collection_is_a_llama_index_vector_store_with_text_and_metadata(tmp_path):
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.milvus import MilvusVectorStore

    store = {"store": "milvus", "milvus_uri": str(tmp_path / "milvus.db")}
    embedder = HashEmbedder()
    assistant = _assistant(tmp_path, store, embedder)
    assistant.ingest_articles([GOLTS, TEA])

    milvus = MilvusVectorStore(uri=store["milvus_uri"], collection_name=assistant.info()["collection"],
                               use_async_client=False)
    query = embedder.embed(["Golts\nAlexander Golts is a Moscow-based military expert."])[0]
    found = milvus.query(VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=1))
    node = found.nodes[0]
    assert node.get_content() == GOLTS.text and node.ref_doc_id == "golts"
    assert {k: node.metadata[k] for k in ("start", "end", "title", "url")} == {
        "start": 0, "end": len(GOLTS.text), "title": "Golts", "url": "https://example.org/golts"}


def test_an_unreachable_milvus_is_one_clear_error(tmp_path):
    with pytest.raises(StoreUnreachable, match=r"^cannot reach Milvus at http://127\.0\.0\.1:9: .*"
                                               r"set ASSISTANT_MILVUS_URI to where it runs$"):
        _assistant(tmp_path, {"store": "milvus", "milvus_uri": "http://127.0.0.1:9"}).ingest_articles([GOLTS])
    with pytest.raises(StoreUnreachable, match="ASSISTANT_STORE=milvus needs ASSISTANT_MILVUS_URI"):
        _assistant(tmp_path, {"store": "milvus"}).ingest_articles([GOLTS])


def test_a_milvus_without_the_indexs_collection_is_refused_not_searched_empty(tmp_path):
    _assistant(tmp_path, {"store": "milvus", "milvus_uri": str(tmp_path / "a.db")}).ingest_articles([GOLTS])

    with pytest.raises(IndexNotBuilt, match=r"Milvus at .*b\.db has no collection assistant_\w+, where this index "
                                            r"keeps its vectors: point ASSISTANT_MILVUS_URI at the Milvus"):
        _assistant(tmp_path, {"store": "milvus", "milvus_uri": str(tmp_path / "b.db")}).ask("who is Golts?")


def _stored_vectors(assistant) -> int | None:
    """Vectors in the Milvus collection (None on FAISS, whose segments keep deleted ones until a merge)."""
    if assistant.settings.store != "milvus":
        return None
    manifest = IndexDir(assistant.settings.index).manifest()
    return assistant.index.vectors.open(manifest, assistant.settings.index).count()


def _collections(store) -> list[str]:
    from pymilvus import MilvusClient

    return MilvusClient(uri=store["milvus_uri"]).list_collections()


def test_dense_scores_of_milvus_are_those_of_float16_rounded_vectors(tmp_path):
    """The reason both stores score alike: Milvus gets the vectors rounded as the segments keep them."""
    store = {"store": "milvus", "milvus_uri": str(tmp_path / "milvus.db")}
    embedder = HashEmbedder()
    assistant = _assistant(tmp_path, store, embedder)
    assistant.ingest_articles([GOLTS])
    query = embedder.embed(["Alexander Golts"])[0]
    stored = embedder.embed(["Golts\n" + GOLTS.text])[0].astype(np.float16).astype(np.float32)
    assert assistant.retriever().dense("Alexander Golts", 1, query)[0].score == pytest.approx(float(stored @ query),
                                                                                              abs=1e-5)


def test_a_reader_s_dense_search_leaves_out_what_it_may_not_read_before_ranking(tmp_path, store):
    assistant = _assistant(tmp_path, store)
    assistant.ingest_articles([GOLTS, TEA])
    assistant.ingest_articles([RIVERS], collection="private")
    assistant.restrict("private")
    retriever, scope = assistant.retriever(), assistant.scope(frozenset())
    assert [p.chunk.article_id for p in retriever.dense("Volga longest river Europe", 1)] == ["rivers"]
    found = retriever.dense("Volga longest river Europe", 1, scope=scope)
    assert len(found) == 1 and found[0].chunk.article_id != "rivers"  # k readable ones, not k minus the hidden
    assert "rivers" not in _found(retriever.scoped(scope), "Volga longest river Europe")
