"""`assistant ingest --ray` builds the index a local ingest builds: same articles, chunks, ids and
segments, embeddings equal within the model's own tolerance, on one machine with a local Ray."""

import json
import shutil

import numpy as np
import pytest
from conftest import READER, SAMPLES, make_assistant

from assistant.config import Settings
from assistant.serve import cli
from assistant.service import Assistant
from assistant.store.directory import IndexDir
from assistant.store.format import SEGMENTS
from assistant.store.segments import Segment

pytestmark = pytest.mark.slow  # a local Ray (about 4 s to start) and its workers, which load the model


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for every test here: starting one costs ~4 s on 2 cores, and each ingest
    would otherwise start and stop its own."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Files in nested directories, a JSONL collection, and an id two files share."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copy(next(SAMPLES.glob("*.txt")), root / "syria.txt")
    (root / "a").mkdir()
    (root / "a" / "notes.md").write_text("# Field notes\n\nThe Volga is the longest river in Europe. "
                                         "It flows into the Caspian Sea.\n")
    lines = [json.dumps({"id": f"doc{i}", "title": f"Document {i}",
                         "text": " ".join(f"Sentence {j} of document {i} mentions topic {(i * j) % 11}."
                                          for j in range(5 + i % 30))})
             for i in range(40)]
    lines.append(json.dumps({"id": "a/notes", "title": "Same id as a/notes.md", "text": "A duplicate."}))
    (root / "docs.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _contents(index) -> tuple[dict, list]:
    """Articles with their chunks and sentences, and each segment's (chunk ids, vectors, sentence ids, vectors)."""
    index = IndexDir(index)
    with index.catalog() as catalog:
        names = list(catalog.segments())
    segments = [Segment.load(index.current() / SEGMENTS / name) for name in names]
    return index.articles(), [(np.asarray(s.chunk_ids), np.asarray(s.vectors.vectors(), np.float32),
                               np.asarray(s.sentence_ids), np.asarray(s.sentence_vectors, np.float32))
                              for s in segments]


def _assert_same_index(local, distributed, min_cosine: float = 0.0, mean_cosine: float = 0.0, atol: float = 2.0):
    (articles, segments), (ray_articles, ray_segments) = _contents(local), _contents(distributed)
    assert ray_articles == articles  # texts, chunks with offsets, sentence spans, hashes
    assert len(ray_segments) == len(segments)
    for (ids, vectors, sentence_ids, sentences), (r_ids, r_vectors, r_sentence_ids, r_sentences) in zip(
            segments, ray_segments):
        assert np.array_equal(r_ids, ids) and np.array_equal(r_sentence_ids, sentence_ids)
        for ours, theirs in ((vectors, r_vectors), (sentences, r_sentences)):
            cosines = (ours * theirs).sum(1)
            assert cosines.min() >= min_cosine and cosines.mean() >= mean_cosine


def test_ray_ingest_builds_the_index_a_local_ingest_builds(tmp_path, corpus, local_ray, real_embedder):
    local = make_assistant(tmp_path / "local", real_embedder).ingest([str(corpus)])
    distributed = make_assistant(tmp_path / "ray", real_embedder).ingest([str(corpus)], ray=True)

    assert distributed.to_dict() | {"seconds": 0} == local.to_dict() | {"seconds": 0}
    assert (local.added, local.failed) == (42, 1) and "duplicate id 'a/notes'" in str(local.errors[0])
    # The int8 model quantises activations per batch, so a vector depends on its batch mates, and Ray's
    # batches are not the local path's. Embedding squad2-dev locally in other groups moves vectors as
    # much: chunks to cosine 0.991 at worst, late-chunked sentences to 0.977 (1st percentile 0.988).
    _assert_same_index(tmp_path / "local", tmp_path / "ray", min_cosine=0.95, mean_cosine=0.99)


def test_ray_ingest_embeddings_equal_the_local_ones_within_float_tolerance_with_a_batch_free_model(
        tmp_path, corpus, local_ray):
    from assistant.embed.factory import load_embedder

    torch = load_embedder(backend="torch")  # fp32: a vector does not depend on its batch mates
    make_assistant(tmp_path / "local", torch, embed_backend="torch").ingest([str(corpus)])
    make_assistant(tmp_path / "ray", torch, embed_backend="torch").ingest([str(corpus)], ray=True)

    # Stored as float16 (a step of 1.2e-4 below 0.25): float32 noise can flip a value by one step.
    _assert_same_index(tmp_path / "local", tmp_path / "ray", atol=5e-4, min_cosine=0.9995)


def test_ray_ingest_skips_unchanged_articles_and_updates_changed_ones(tmp_path, corpus, local_ray, real_embedder):
    assistant = make_assistant(tmp_path / "index", real_embedder)
    assistant.ingest([str(corpus)], ray=True)
    (corpus / "a" / "notes.md").write_text("# Field notes\n\nThe Danube flows through ten countries.\n")
    try:
        again = assistant.ingest([str(corpus)], ray=True)
    finally:
        (corpus / "a" / "notes.md").write_text("# Field notes\n\nThe Volga is the longest river in Europe. "
                                               "It flows into the Caspian Sea.\n")
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 1, 41, 1)
    assert assistant.search("Which river flows through ten countries?", 1)[0].chunk.article_id == "a/notes"


def test_the_cli_ingests_with_ray_into_milvus_and_keeps_manifest_and_keywords_in_the_index_dir(
        tmp_path, corpus, local_ray, monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_STORE", "milvus")
    monkeypatch.setenv("ASSISTANT_MILVUS_URI", str(tmp_path / "milvus.db"))
    index = tmp_path / "index"

    assert cli.main(["ingest", "--ray", str(corpus), "--index", str(index), "--json"]) == 1  # the duplicate
    report = json.loads(capsys.readouterr().out)
    assert (report["added"], report["failed"]) == (42, 1)

    assistant = Assistant(Settings(index=index), reader=READER)
    assert assistant.info()["store"] == "milvus" and (index / "CURRENT").is_file()
    assert assistant.retriever().keyword("Caspian", 1)[0].chunk.article_id == "a/notes"
    assert assistant.search("the longest river in Europe", 1)[0].chunk.article_id == "a/notes"


def test_a_ray_address_where_nothing_listens_is_one_clear_error(tmp_path, capsys):
    assert cli.main(["ingest", "--ray-address", "127.0.0.1:1", str(SAMPLES), "--index", str(tmp_path / "i")]) == 1
    assert capsys.readouterr().err.startswith("Error: no Ray cluster answers at 127.0.0.1:1 (Connection refused)")
