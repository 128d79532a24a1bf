"""The writer and the searches on FAISS segments against Milvus Lite, and llama-index's Milvus writes
against pymilvus's, on one machine.

    .venv/bin/python bench/milvus_store.py [--quick] [--chunks 20000] [--questions 200]

What it answers (docs/SCALING.md): how many chunks a second the one writer of an ingest can take
(`Indexer.ingest` of articles already split and embedded, as `--ray` hands them over), on each
store; what `MilvusVectorStore.add` costs against inserting the same rows with pymilvus; and the
dense search time on each store. Articles are bench/ingest.py's synthetic squad2 collection, split
for real; vectors are random unit vectors (the model is not what is measured here). The last
line gives Milvus Lite's figures as ratios of FAISS's, same run. `--quick` (the CI smoke test):
600 chunks, 20 searches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="600 chunks and 20 searches: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.questions = 600, 20

    from ingest import synthetic

    from assistant.config import Settings
    from assistant.embed.factory import load_embedder
    from assistant.ingest.indexer import Prepared, indexer_for
    from assistant.ingest.sources import read_sources
    from assistant.store.directory import IndexDir
    from assistant.store.vectors import VectorStore

    embedder = load_embedder()
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as tmp:
        work = Path(tmp)
        docs = synthetic(args.chunks, work / "docs.jsonl")
        splitter = indexer_for(IndexDir(work / "unused"), embedder, Settings())
        prepared = []
        for article in read_sources([str(docs)]):
            stored = splitter.split(article)
            c = _unit(rng, len(stored.chunks), embedder.dimension)
            s = _unit(rng, len(stored.sentences), embedder.dimension)
            prepared.append(Prepared(stored, c, s))
        chunks = sum(len(p.stored.chunks) for p in prepared)
        print(f"{len(prepared)} articles, {chunks} chunks, split; load average {load_before:.1f} on {os.cpu_count()} CPUs")

        queries = _unit(rng, args.questions, embedder.dimension)
        rates, p50s = {}, {}
        for kind in ("faiss", "milvus"):
            store = VectorStore(kind, str(work / "milvus.db") if kind == "milvus" else None)
            index = IndexDir(work / f"index-{kind}", store)
            began = time.perf_counter()
            report = indexer_for(index, embedder, Settings()).ingest(prepared)
            seconds = time.perf_counter() - began
            from assistant.retrieve.retriever import Retriever

            retriever = Retriever(index.current(), embedder, store)
            retriever.dense("warm up", 10, queries[0])
            times = []
            for q in queries:
                t = time.perf_counter()
                retriever.dense("", 30, q)
                times.append((time.perf_counter() - t) * 1000)
            rates[kind], p50s[kind] = report.chunks / seconds, statistics.median(times)
            print(f"{kind}: writer {seconds:.1f} s for {report.chunks} chunks = {report.chunks / seconds:.0f} chunks/s; "
                  f"dense top-30 p50 {statistics.median(times):.1f} ms, p95 {np.percentile(times, 95):.1f} ms")

        print(f"milvus / faiss: writer chunks/s {rates['milvus'] / rates['faiss']:.2f}x, "
              f"dense p50 {p50s['milvus'] / p50s['faiss']:.2f}x")
        _writes(work, rng, embedder.dimension, prepared)
    print(f"load average (1 min) after: {os.getloadavg()[0]:.1f}")
    return 0


def _writes(work: Path, rng, dimension: int, prepared) -> None:
    """1,024 rows through MilvusVectorStore.add and through pymilvus's insert, same schema."""
    from pymilvus import MilvusClient

    from assistant.types import Passage
    from assistant.store.milvus import MilvusVectors

    rows = [Passage(0, c, p.stored.article.title, p.stored.article.url, 0.0) for p in prepared for c in p.stored.chunks][:1024]
    keys = np.arange(1, len(rows) + 1, dtype=np.int64)
    vectors = _unit(rng, len(rows), dimension)
    ours = MilvusVectors(str(work / "writes.db"), "through_llama_index", dimension, create=True)
    began = time.perf_counter()
    ours.add(keys, vectors, rows)
    llama = time.perf_counter() - began

    client = MilvusClient(uri=str(work / "writes.db"))
    MilvusVectors(str(work / "writes.db"), "through_pymilvus", dimension, create=True)  # the same schema
    entities = [{"id": str(k), "doc_id": r.chunk.article_id, "text": r.chunk.text, "embedding": v.tolist(), "key": int(k),
                 "ordinal": r.chunk.ordinal, "start": r.chunk.start, "end": r.chunk.end, "title": r.title,
                 "url": r.url or ""} for k, v, r in zip(keys, vectors, rows)]
    began = time.perf_counter()
    client.upsert("through_pymilvus", entities)
    raw = time.perf_counter() - began
    print(f"1,024 chunk vectors: MilvusVectorStore.add {llama * 1000:.0f} ms, pymilvus upsert {raw * 1000:.0f} ms "
          f"(llama-index builds each node's JSON and metadata dict: {llama / raw:.1f}x)")


def _unit(rng, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


if __name__ == "__main__":
    raise SystemExit(main())
