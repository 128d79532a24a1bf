"""Ingest is incremental, removal is real, and the index survives crashes and concurrent writers."""

import subprocess
import time
from pathlib import Path

import pytest
from conftest import make_assistant
from crash import child, kill_9_while_writing
from fakes import HashEmbedder

from assistant.errors import IndexLocked, IndexMismatch, InputError, NotFound
from assistant.store.directory import IndexDir
from assistant.types import Article

ROOT = Path(__file__).resolve().parent.parent


class CountingEmbedder(HashEmbedder):
    """Counts what it embeds, to show unchanged articles are never re-embedded."""

    def __init__(self):
        super().__init__()
        self.embedded: list[str] = []

    def embed(self, texts):
        self.embedded.extend(texts)
        return super().embed(texts)


def article(id, text, title=None):
    return Article(id=id, title=title or id.title(), text=text, source=f"{id}.txt")


GOLTS = article("golts", "Alexander Golts is a Moscow-based military expert. He doubts volunteers will go to Syria.")
TEA = article("tea", "Green tea is brewed at 80 degrees. Black tea takes boiling water.")


def test_unchanged_articles_are_skipped_without_re_embedding(tmp_path):
    embedder = CountingEmbedder()
    assistant = make_assistant(tmp_path / "index", embedder)

    first = assistant.ingest_articles([GOLTS, TEA])
    embedder.embedded.clear()
    second = assistant.ingest_articles([GOLTS, TEA])

    assert (first.added, first.chunks) == (2, 2)
    assert (second.added, second.updated, second.unchanged, second.chunks) == (0, 0, 2, 0)
    assert embedder.embedded == []


def test_a_changed_article_replaces_its_chunks_and_others_keep_their_vectors(tmp_path):
    embedder = CountingEmbedder()
    assistant = make_assistant(tmp_path / "index", embedder)
    assistant.ingest_articles([GOLTS, TEA])
    embedder.embedded.clear()

    report = assistant.ingest_articles([article("tea", "Oolong tea is partly oxidised. It is brewed at 90 degrees.")])

    assert (report.updated, report.added) == (1, 0)
    assert all("tea" in t.lower() or "oxidised" in t or "brewed" in t for t in embedder.embedded)
    texts = [p.chunk.text for p in assistant.search("oolong oxidised", 5)]
    assert any("Oolong" in t for t in texts) and not any("Green tea" in t for t in texts)
    golts = [p for p in assistant.search("Golts military expert", 5) if p.chunk.article_id == "golts"]
    assert golts and golts[0].rank == 1  # copied vectors still find their chunk first


def test_removed_articles_are_gone_from_search_and_listing(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS, TEA])

    report = assistant.remove(["golts"])

    assert report.removed == 1
    assert [a["id"] for a in assistant.articles()] == ["tea"]
    assert all(p.chunk.article_id != "golts" for p in assistant.search("Alexander Golts", 5))
    with pytest.raises(NotFound, match="no article with id 'golts'"):
        assistant.remove(["golts"])


def test_bad_items_are_reported_and_good_ones_indexed_without_losing_the_old(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS])

    report = assistant.ingest_articles([InputError("bad.jsonl", "malformed JSON: Expecting value", line=3), TEA])

    assert (report.added, report.failed) == (1, 1)
    assert str(report.errors[0]) == "bad.jsonl:3: malformed JSON: Expecting value"
    assert {a["id"] for a in assistant.articles()} == {"golts", "tea"}


class BrittleTokenizer(HashEmbedder):
    """A tokenizer that fails on one text, as Punkt's regex clock failed on a 12 MB line."""

    def count_tokens(self, texts):
        if any("\u2603" in t for t in texts):
            raise TimeoutError("regular-expression match exceeded its 5.0s time limit")
        return super().count_tokens(texts)


def test_an_article_that_cannot_be_chunked_costs_only_itself(tmp_path):
    files = tmp_path / "in"
    files.mkdir()
    (files / "good.txt").write_text(GOLTS.text)
    (files / "snowman.txt").write_text("A snowman \u2603 melts.")
    (files / "tea.txt").write_text(TEA.text)
    assistant = make_assistant(tmp_path / "index", BrittleTokenizer())

    report = assistant.ingest([str(files)])

    assert (report.added, report.failed) == (2, 1)
    assert str(report.errors[0]) == (f"{files / 'snowman.txt'}: could not split into sentences: "
                                     "TimeoutError: regular-expression match exceeded its 5.0s time limit")
    assert {a["id"] for a in assistant.articles()} == {"good", "tea"}


def test_front_matter_aliases_cost_only_their_file_and_a_long_heading_reaches_answers_cut(tmp_path):
    """The issue's two Markdown files: a title repeating 10 KB by alias, and a 60 KB heading."""
    files = tmp_path / "in"
    files.mkdir()
    (files / "aliases.md").write_text('---\nx: &x "' + "a" * 10_000 + '"\ntitle: [' + ", ".join(["*x"] * 1_000)
                                      + "]\n---\nGreen tea is brewed at 80 degrees.\n")
    (files / "heading.md").write_text("# " + "tea " * 15_000 + "\n\nGreen tea is brewed at 80 degrees.\n")
    (files / "golts.txt").write_text(GOLTS.text)
    assistant = make_assistant(tmp_path / "index", HashEmbedder())

    report = assistant.ingest([str(files)])

    assert (report.added, report.failed) == (2, 1)
    assert str(report.errors[0]) == (f"{files / 'aliases.md'}: front matter uses a YAML alias (*name); "
                                     "write each value out in full")
    assert {a["id"] for a in assistant.articles()} == {"heading", "golts"}
    passages = assistant.search("green tea", top_k=50)
    assert passages and {len(p.title) for p in passages} == {300}  # each passage carries its title, cut


def test_a_file_without_blanks_becomes_chunks_the_size_of_the_models_window(tmp_path):
    files = tmp_path / "in"
    files.mkdir()
    (files / "run.txt").write_text("x" * 3_000_000)  # one token to the tokenizer
    (files / "tea.txt").write_text(TEA.text)
    assistant = make_assistant(tmp_path / "index", HashEmbedder())

    report = assistant.ingest([str(files)])

    assert (report.added, report.failed) == (2, 0)
    chunks = assistant.index.articles()["run"].chunks
    assert max(c.end - c.start for c in chunks) <= 5 * HashEmbedder().max_tokens
    assert sum(c.end - c.start for c in chunks) == 3_000_000


def test_a_rebuild_from_inputs_that_all_fail_leaves_the_index_as_it_was(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS])
    before = assistant.index.current()

    report = assistant.ingest([str(tmp_path / "no-such-dir")], rebuild=True)  # a mistyped path

    assert (report.added, report.failed, report.total_chunks) == (0, 1, 1)
    assert str(report.errors[0]).endswith("no-such-dir: no such file or directory")
    assert assistant.index.current() == before
    assert [a["id"] for a in assistant.articles()] == ["golts"]


def test_one_id_twice_in_a_run_is_an_error_not_a_silent_overwrite(tmp_path):
    # Two uploads in one request are read separately, so only the indexer sees both.
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    other = Article("golts", "Other", "A different text under the same id.", source="other.txt")

    report = assistant.ingest_articles([GOLTS, other])

    assert (report.added, report.failed) == (1, 1)
    assert str(report.errors[0]) == "other.txt: duplicate id 'golts' (first seen in golts.txt)"
    assert assistant.index.articles()["golts"].article.text == GOLTS.text


def test_index_refuses_other_chunking_and_says_how_to_rebuild(tmp_path):
    make_assistant(tmp_path / "index", HashEmbedder()).ingest_articles([GOLTS])
    other = make_assistant(tmp_path / "index", HashEmbedder(), chunk_tokens=64)

    with pytest.raises(IndexMismatch, match=r"chunking .* --rebuild"):
        other.ask("who is Alexander Golts?")
    with pytest.raises(IndexMismatch):
        other.ingest_articles([TEA])
    assert other.ingest_articles([TEA], rebuild=True).added == 1
    assert [a["id"] for a in other.articles()] == ["tea"]


def test_manifest_records_model_dimension_chunking_and_counts(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([GOLTS, TEA])

    info = assistant.info()

    assert info["model"] == "hash-embedder" and info["dimension"] == 256
    assert info["chunking"] == {"chunk_tokens": 200, "chunk_overlap_tokens": 40}
    assert (info["articles"], info["chunks"], info["format_version"]) == (2, 2, 2)


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("rebuild", [False, True], ids=["segment-written-not-committed", "rebuild-half-written"])
def test_kill_9_while_writing_leaves_the_previous_index_complete(tmp_path, rebuild):
    index = tmp_path / "index"
    make_assistant(index, HashEmbedder()).ingest_articles([GOLTS, TEA])
    before = IndexDir(index).current()

    kill_9_while_writing(index, "assistant.ingest_articles("
                                f"[Article('new', 'New', 'A new article about rivers.')], rebuild={rebuild})")

    after = make_assistant(index, HashEmbedder())
    assert IndexDir(index).current() == before
    assert {a["id"] for a in after.articles()} == {"golts", "tea"}
    assert after.search("Golts", 1)[0].chunk.article_id == "golts"
    assert after.search("new article about rivers", 5)[0].chunk.article_id != "new"
    # The next ingest cleans up the dead writer's leftovers and works.
    assert after.ingest_articles([article("new", "A new article about rivers.")]).added == 1
    assert after.search("new article about rivers", 1)[0].chunk.article_id == "new"
    leftovers = [p for p in index.rglob(".tmp-*")]
    assert leftovers == []
    with IndexDir(index).catalog() as catalog:
        assert {p.name for p in (before / "segments").iterdir()} == set(catalog.segments())


def test_a_second_ingest_at_once_is_refused_with_a_clear_message(tmp_path):
    index = tmp_path / "index"
    make_assistant(index, HashEmbedder()).ingest_articles([GOLTS])
    proc = subprocess.Popen(child(index, """
        with assistant.index.lock():
            print("locked", flush=True)
            time.sleep(60)
    """), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLocked, match="another ingest is writing .* wait for it to finish"):
            make_assistant(index, HashEmbedder()).ingest_articles([TEA])
    finally:
        proc.kill()
        proc.wait()
    assert [a["id"] for a in make_assistant(index, HashEmbedder()).articles()] == ["golts"]


def test_squad_dev_docs_jsonl_ingests(tmp_path):
    docs = ROOT.parent / "shared" / "eval" / "squad2-dev" / "docs.jsonl"
    if not docs.exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    report = make_assistant(tmp_path / "index", HashEmbedder()).ingest([str(docs)])
    assert (report.added, report.failed) == (176, 0)
    assert report.total_chunks >= 176


def test_an_article_replaced_by_one_from_another_file_is_reported_not_silent(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([Article("notes", "Notes", "Tea notes.", source="a/notes.txt")])

    report = assistant.ingest_articles([Article("notes", "Notes", "River notes.", source="b/notes.txt")])

    assert report.updated == 1
    assert report.replaced == ["notes: b/notes.txt replaced the article read from a/notes.txt"]
    assert report.to_dict()["replaced"] == report.replaced
    again = assistant.ingest_articles([Article("notes", "Notes", "River notes, revised.", source="b/notes.txt")])
    assert again.replaced == []  # the same file changing is an ordinary update


class FailingEmbedder(HashEmbedder):
    """Fails on its `fail_at`-th call: a model error in the middle of an ingest."""

    def __init__(self, fail_at):
        super().__init__()
        self.calls, self.fail_at = 0, fail_at

    def embed(self, texts):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the model ran out of memory")
        return super().embed(texts)


def test_a_model_error_in_a_later_batch_keeps_the_batches_written_before_it(tmp_path, monkeypatch):
    monkeypatch.setattr("assistant.ingest.indexer.BATCH_CHUNKS", 1)  # one article a batch: embedded while the last is written
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([TEA])
    failing = make_assistant(tmp_path / "index", FailingEmbedder(fail_at=3))
    many = [article(f"a{i}", f"Article {i} is about lighthouse number {i}.") for i in range(5)]

    with pytest.raises(RuntimeError, match="out of memory"):
        failing.ingest_articles(many)

    ids = {a["id"] for a in make_assistant(tmp_path / "index", HashEmbedder()).articles()}
    assert {"tea", "a0"} <= ids and not ids & {"a2", "a3", "a4"}  # a1 was written (or not) whole
    assert make_assistant(tmp_path / "index", HashEmbedder()).search("lighthouse number 0", 1)[0].chunk.article_id == "a0"

