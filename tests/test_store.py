"""The index directory: versions stay loadable for readers, and a bad manifest says how to rebuild."""

import json

import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.errors import IndexMismatch, IndexNotBuilt
from assistant.retrieval import Retriever
from assistant.store import IndexDir, read_manifest
from assistant.types import Article

GOLTS = Article("golts", "Golts", "Alexander Golts is a Moscow-based military expert.", source="golts.txt")
TEA = Article("tea", "Tea", "Green tea is brewed at 80 degrees.", source="tea.txt")
RIVERS = Article("rivers", "Rivers", "The Volga is the longest river in Europe.", source="rivers.txt")


def test_a_reader_that_read_current_just_before_a_swap_can_still_load_that_version(tmp_path):
    embedder = HashEmbedder()
    writer = make_assistant(tmp_path / "index", embedder)
    writer.ingest_articles([GOLTS])
    read_before_the_swap = writer.index.current()

    writer.ingest_articles([TEA])  # completes and swaps CURRENT while the reader is still loading

    assert writer.index.current() != read_before_the_swap
    retriever = Retriever(read_before_the_swap, embedder, read_manifest(read_before_the_swap).chunks)
    query = "who is Alexander Golts?"
    passages = retriever.search(query, 5, embedder.embed([query])[0])
    assert [p.chunk.article_id for p in passages] == ["golts"]  # that version, without the newer article


def test_each_ingest_keeps_the_live_version_and_the_one_it_replaced_only(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    versions = []
    for item in (GOLTS, TEA, RIVERS):
        assistant.ingest_articles([item])
        versions.append(assistant.index.current().name)

    on_disk = {p.name for p in (tmp_path / "index").iterdir() if p.name.startswith("v-")}
    assert on_disk == set(versions[1:])


def _manifest_of(tmp_path):
    """A built index and the manifest file of its live version."""
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS])
    return assistant, assistant.index.current() / "manifest.json"


def test_a_manifest_of_a_newer_format_is_refused_with_how_to_rebuild(tmp_path):
    assistant, manifest = _manifest_of(tmp_path)
    newer = {**json.loads(manifest.read_text()), "format_version": 2, "shards": 4}
    manifest.write_text(json.dumps(newer))

    with pytest.raises(IndexMismatch, match=r"manifest\.json has format version 2 and this assistant reads "
                                            r"version 1; rebuild the index with .* --rebuild`") as refused:
        make_assistant(tmp_path / "index", HashEmbedder()).ask("who is Alexander Golts?")
    assert "\n" not in str(refused.value)
    assert assistant.ingest_articles([TEA], rebuild=True).added == 1


def test_a_manifest_field_this_format_does_not_know_is_ignored(tmp_path):
    assistant, manifest = _manifest_of(tmp_path)
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "shards": 4}))

    assert IndexDir(tmp_path / "index").manifest().articles == 1
    assert "shards" not in assistant.info()


@pytest.mark.parametrize("text, says", [
    ("{not json", r"cannot read index manifest .*manifest\.json \(Expecting property name"),
    ("[1, 2]", r"manifest\.json is not a JSON object"),
    ('{"format_version": 1, "model": "hash-embedder"}', r"manifest\.json lacks dimension, chunking, articles, chunks"),
])
def test_a_corrupt_manifest_is_reported_in_one_line_with_how_to_rebuild(tmp_path, text, says):
    assistant, manifest = _manifest_of(tmp_path)
    manifest.write_text(text)

    with pytest.raises(IndexNotBuilt, match=says + r".*--rebuild`$") as refused:
        assistant.info()
    assert "\n" not in str(refused.value)
    assert assistant.ingest_articles([TEA], rebuild=True).added == 1


def test_a_truncated_article_table_says_how_to_rebuild_instead_of_a_traceback(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS, TEA])
    table = assistant.index.current() / "articles.jsonl"
    table.write_bytes(table.read_bytes()[:-40])  # a disk that filled up, a copy cut short

    with pytest.raises(IndexNotBuilt, match=r"cannot read the article table .*articles.jsonl \(JSONDecodeError") as e:
        assistant.articles()
    assert "--rebuild" in str(e.value)
