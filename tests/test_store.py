"""The store: commits are all-or-nothing for readers, writes cost what they add, and a bad
catalog says how to rebuild."""

import json
import sqlite3

import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.errors import IndexMismatch, IndexNotBuilt
from assistant.retrieve.retriever import Retriever
from assistant.store.directory import IndexDir
from assistant.store.format import CATALOG, SEGMENTS
from assistant.store.merge import MERGE_FACTOR, merge_plan
from assistant.types import Article

GOLTS = Article("golts", "Golts", "Alexander Golts is a Moscow-based military expert.", source="golts.txt")
TEA = Article("tea", "Tea", "Green tea is brewed at 80 degrees.", source="tea.txt")
RIVERS = Article("rivers", "Rivers", "The Volga is the longest river in Europe.", source="rivers.txt")


def _found(retriever: Retriever, query: str) -> list[str]:
    return [p.chunk.article_id for p in retriever.search(query, 5)]


def test_a_reader_inside_a_snapshot_does_not_see_a_commit_until_its_next_snapshot(tmp_path):
    embedder = HashEmbedder()
    writer = make_assistant(tmp_path / "index", embedder)
    writer.ingest_articles([GOLTS])
    reader = Retriever(writer.index.current(), embedder)

    with reader.snapshot():
        assert _found(reader, "green tea brewed") == ["golts"]
        writer.ingest_articles([TEA])  # commits while the reader is in the middle of an answer
        assert _found(reader, "green tea brewed") == ["golts"]
        assert reader.count == 1

    assert _found(reader, "green tea brewed")[0] == "tea"
    assert reader.count == 2


def test_a_reader_of_the_store_a_rebuild_replaced_can_still_search_it(tmp_path):
    embedder = HashEmbedder()
    writer = make_assistant(tmp_path / "index", embedder)
    writer.ingest_articles([GOLTS])
    replaced = writer.index.current()

    writer.ingest_articles([TEA], rebuild=True)  # a new store swapped in while a reader still has the old

    assert writer.index.current() != replaced
    assert _found(Retriever(replaced, embedder), "who is Alexander Golts?") == ["golts"]
    assert [a["id"] for a in writer.articles()] == ["tea"]


def test_adding_an_article_writes_one_new_segment_and_leaves_the_others_untouched(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS, TEA])
    segments = assistant.index.current() / SEGMENTS
    before = {p: p.stat().st_mtime_ns for p in segments.rglob("*") if p.is_file()}

    assistant.ingest_articles([RIVERS])

    after = {p: p.stat().st_mtime_ns for p in segments.rglob("*") if p.is_file()}
    assert {p: after[p] for p in before} == before
    assert len({p.parent for p in after} - {p.parent for p in before}) == 1
    assert assistant.search("longest river Volga", 1)[0].chunk.article_id == "rivers"


def test_small_segments_merge_and_search_still_finds_every_live_article(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    ids = [f"note{i}" for i in range(MERGE_FACTOR + 2)]
    for i, article_id in enumerate(ids):
        assistant.ingest_articles([Article(article_id, f"Note {i}", f"Item number {i} is called zork{i}.")])
    assistant.remove(["note3"])

    with IndexDir(tmp_path / "index").catalog() as catalog:
        segments = catalog.segments()
    assert len(segments) < MERGE_FACTOR
    on_disk = {p.name for p in (assistant.index.current() / SEGMENTS).iterdir()}
    assert set(segments) <= on_disk
    for i, article_id in enumerate(ids):
        found = [p.chunk.article_id for p in assistant.search(f"zork{i}", 3)]
        assert (article_id in found) == (article_id != "note3")


def test_the_merge_policy_merges_a_full_tier_and_rewrites_a_mostly_deleted_segment():
    assert merge_plan({f"s{i}": 5 for i in range(MERGE_FACTOR - 1)}, {}) == []
    assert len(merge_plan({f"s{i}": 5 for i in range(MERGE_FACTOR)} | {"big": 50_000}, {})) == MERGE_FACTOR
    assert merge_plan({f"s{i}": 50_000 for i in range(MERGE_FACTOR - 1)} | {"small": 10}, {}) == []
    assert merge_plan({"big": 50_000, "small": 10}, {"big": 20_000}) == ["big"]


def test_a_removed_articles_vectors_are_never_returned_though_still_in_their_segment(tmp_path):
    embedder = HashEmbedder()
    assistant = make_assistant(tmp_path / "index", embedder)
    assistant.ingest_articles([GOLTS, TEA])
    assistant.remove(["golts"])

    retriever = Retriever(assistant.index.current(), embedder)
    assert [h.chunk.article_id for h in retriever.dense("Alexander Golts", 5)] == ["tea"]
    assert retriever.keyword("Alexander Golts", 5) == []
    assert retriever.document_frequency("golt") == 0


def _catalog_of(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS])
    return assistant, assistant.index.current() / CATALOG


def _set_manifest(path, text):
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (text,))


def _manifest(path):
    with sqlite3.connect(path) as db:
        return json.loads(db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()[0])


def test_a_manifest_of_a_newer_format_is_refused_with_how_to_rebuild(tmp_path):
    assistant, catalog = _catalog_of(tmp_path)
    _set_manifest(catalog, json.dumps({**_manifest(catalog), "format_version": 3, "shards": 4}))

    with pytest.raises(IndexMismatch, match=r"catalog\.sqlite3 has format version 3 and this assistant reads "
                                            r"version 2; rebuild the index with .* --rebuild`") as refused:
        make_assistant(tmp_path / "index", HashEmbedder()).ask("who is Alexander Golts?")
    assert "\n" not in str(refused.value)
    assert assistant.ingest_articles([TEA], rebuild=True).added == 1


def test_a_manifest_field_this_format_does_not_know_is_ignored(tmp_path):
    assistant, catalog = _catalog_of(tmp_path)
    _set_manifest(catalog, json.dumps({**_manifest(catalog), "shards": 4}))

    assert IndexDir(tmp_path / "index").manifest().articles == 1
    assert "shards" not in assistant.info()


@pytest.mark.parametrize("text, says", [
    ("{not json", r"cannot read the manifest in .*catalog\.sqlite3 \(Expecting property name"),
    ("[1, 2]", r"catalog\.sqlite3 has no manifest"),
    ('{"format_version": 2, "model": "hash-embedder"}', r"catalog\.sqlite3 lacks dimension, chunking, articles, chunks"),
])
def test_a_corrupt_manifest_is_reported_in_one_line_with_how_to_rebuild(tmp_path, text, says):
    assistant, catalog = _catalog_of(tmp_path)
    _set_manifest(catalog, text)

    with pytest.raises(IndexNotBuilt, match=says + r".*--rebuild`$") as refused:
        assistant.info()
    assert "\n" not in str(refused.value)
    assert assistant.ingest_articles([TEA], rebuild=True).added == 1


def test_a_catalog_that_is_not_a_database_says_how_to_rebuild_instead_of_a_traceback(tmp_path):
    assistant, catalog = _catalog_of(tmp_path)
    for leftover in catalog.parent.glob(CATALOG + "-*"):
        leftover.unlink()
    catalog.write_bytes(b"not a database, a disk that filled up" * 100)

    with pytest.raises(IndexNotBuilt, match=r"cannot read index catalog .*catalog\.sqlite3 .*--rebuild`$") as e:
        assistant.articles()
    assert "\n" not in str(e.value)


def test_an_index_of_the_previous_format_asks_for_a_rebuild_and_the_next_ingest_carries_its_articles(tmp_path):
    root = tmp_path / "index"
    old = root / "v-20261126T101010-abcdef"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text('{"format_version": 1}')
    old_golts = {"id": "golts", "title": "Golts", "text": "An old text about Golts.", "url": None,
                 "source": "golts.txt", "published": None, "author": None, "content_hash": "x", "chunks": []}
    old_rivers = {**old_golts, "id": "rivers", "title": "Rivers", "text": RIVERS.text, "source": "rivers.txt"}
    (old / "articles.jsonl").write_text(json.dumps(old_golts) + "\n" + json.dumps(old_rivers) + "\n")
    (root / "CURRENT").write_text(old.name + "\n")
    assistant = make_assistant(root, HashEmbedder())

    with pytest.raises(IndexMismatch, match=r"format version 1 .* reads version 2; rebuild .*--rebuild`$"):
        assistant.articles()
    report = assistant.ingest_articles([GOLTS, TEA])

    assert (report.migrated, report.added) == (2, 3)
    assert [a["id"] for a in assistant.articles()] == ["golts", "tea", "rivers"]
    assert assistant.article("golts").text == GOLTS.text  # what was read wins over the old copy
    assert assistant.search("longest river Volga", 1)[0].chunk.article_id == "rivers"


def test_compact_merges_every_segment_into_one_without_the_deleted_vectors(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    for item in (GOLTS, TEA, RIVERS):
        assistant.ingest_articles([item])
    assistant.remove(["tea"])

    before, after, _ = assistant.compact()

    with IndexDir(tmp_path / "index").catalog() as catalog:
        assert (before, after, len(catalog.segments()), catalog.deleted()) == (3, 1, 1, {})
    assert [p.chunk.article_id for p in assistant.search("Volga river Golts", 5)] in (["rivers", "golts"],
                                                                                       ["golts", "rivers"])
