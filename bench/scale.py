"""How vector and keyword search scale from 10k to 1M chunks, against exact search and bm25s.

    .venv/bin/python bench/scale.py [--quick] [--sizes 10000,100000,1000000] [--work DIR] [--json FILE]

Vectors: a clustered synthetic set (Gaussian mixture in a 48-d subspace of 384-d, plus isotropic
noise, normalised), validated against real all-MiniLM-L6-v2 embeddings of squad2 text when
`--real DIR` holds `real_docs.npy` and `real_queries.npy`: at the same size the approximate index
must find the synthetic set no easier than the real one. Text: ~150-word chunks recombined from
squad2 sentences (a small vocabulary, so posting lists are denser than in a real collection: a hard
case for keyword search); queries are squad2-dev questions. Latencies are medians over repeated
single queries in one process; the machine is shared, so compare ratios within one run.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting turn 2 shared cores into a queue: building a 5,000-row
# IVF-PQ took 31.7 s with 2 spinning threads against 1.1 s with passive ones (2.4 s with 1 thread).
# Read once, when faiss first loads its OpenMP runtime, so it is set before any import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import re
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.store.keyword import KeywordIndex, Postings  # noqa: E402
from assistant.store.vector_index import EXACT_THRESHOLD, VectorIndex  # noqa: E402
from assistant.text.terms import terms  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DIM = 384
SUBSPACE = 48
SPREAD = 1.5  # cluster radius relative to the spread of the centres: tuned against real vectors
NOISE = 0.3  # isotropic noise share of a row's norm


def clustered(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows and queries from one Gaussian mixture (n/500 clusters), unit norm, float32.
    Queries are fresh draws from the same mixture, so their neighbours are not copies of themselves."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((DIM, SUBSPACE)))[0].T.astype(np.float32)  # (s, d)
    centres = rng.standard_normal((max(16, n // 500), SUBSPACE)).astype(np.float32)

    def draw(m: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((m, DIM), np.float32)
        for start in range(0, m, 100_000):  # bounded memory at 1M
            size = min(100_000, m - start)
            local = centres[rng.integers(len(centres), size=size)]
            local += SPREAD * rng.standard_normal((size, SUBSPACE), dtype=np.float32)
            rows = local @ basis
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            noise = rng.standard_normal((size, DIM), dtype=np.float32)
            noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
            rows += noise
            out[start : start + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return out

    return draw(n, rng), draw(queries, np.random.default_rng(seed + 1))


def cached(path: Path, make):
    if path.exists():
        return np.load(path)
    value = make()
    np.save(path, value)
    return value


def exact_top(docs: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = []
    for start in range(0, len(queries), 256):
        s = queries[start : start + 256] @ docs.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        out.append(np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, 1), 1), 1))
    return np.concatenate(out)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def timed(fn, items, repeat: int = 1) -> tuple[float, float, list]:
    """p50 and p95 milliseconds of fn(item) over items, repeated; and the first pass's results."""
    times, results = [], []
    for r in range(repeat):
        for item in items:
            start = time.perf_counter()
            out = fn(item)
            times.append((time.perf_counter() - start) * 1000)
            if r == 0:
                results.append(out)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), results


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def directory_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.iterdir()) / 2**20


def vector_case(docs: np.ndarray, queries: np.ndarray, work: Path, threshold: int, k: int = 10) -> dict:
    """Build, save, reload (memory-mapped), then time single queries against exact top-k."""
    truth = exact_top(docs, queries, k)
    start = time.perf_counter()
    index = VectorIndex.build(docs, threshold=threshold)
    build_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        index.save(Path(tmp))
        disk = directory_mb(Path(tmp))
        before = rss_mb()
        start = time.perf_counter()
        loaded = VectorIndex.load(Path(tmp))
        load_ms = (time.perf_counter() - start) * 1000
        loaded.search(queries[:50], k)  # page in what a query touches
        p50, p95, found = timed(lambda q: loaded.search(q, k)[1][0], queries, repeat=2)
        resident = rss_mb() - before
        exclude = np.random.default_rng(0).choice(len(docs), len(docs) // 100, replace=False)
        x50, _, _ = timed(lambda q: loaded.search(q, k, exclude=exclude), queries[:200])
        sweep = {}
        if loaded.approximate:  # the recall/time trade-off around the default nprobe
            base = loaded.nprobe
            for p in sorted({max(1, base // 2), base * 2, base * 4}):
                s50, _, got = timed(lambda q: loaded.search(q, k, nprobe=p)[1][0], queries[:200])
                sweep[p] = {"p50_ms": round(s50, 3), "recall_at_10": round(recall(np.array(got), truth[:200]), 4)}
    return {
        "n": len(docs), "approximate": loaded.approximate, "build_s": round(build_s, 2),
        "load_ms": round(load_ms, 1), "p50_ms": round(p50, 3), "p95_ms": round(p95, 3),
        "p50_ms_exclude_1pct": round(x50, 3), "recall_at_10": round(recall(np.array(found), truth), 4),
        "disk_mb": round(disk, 1), "rss_growth_mb": round(resident, 1),
        "nprobe": loaded.nprobe if loaded.approximate else None, "nprobe_sweep": sweep,
    }


def sentences() -> list[list[str]]:
    """squad2 sentences as term lists (each analysed once; a chunk's terms are its sentences')."""
    out = []
    for name in ("squad2-train", "squad2-dev"):
        for line in (EVAL / name / "docs.jsonl").open():
            text = json.loads(line)["text"]
            out += [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 3]
    return out


def chunk_texts(n: int, seed: int = 0) -> list[str]:
    """n chunks of ~150 words, each a random run of squad2 sentences."""
    pool = sentences()
    lengths = np.array([len(s.split()) for s in pool])
    rng = np.random.default_rng(seed)
    out = []
    for first in rng.integers(len(pool), size=n):
        words, parts, i = 0, [], first
        while words < 150:
            parts.append(pool[i % len(pool)])
            words += lengths[i % len(pool)]
            i = i + 1 if rng.random() < 0.7 else rng.integers(len(pool))
        out.append(" ".join(parts))
    return out


def questions() -> list[str]:
    return [json.loads(line)["question"] for line in (EVAL / "squad2-dev" / "qa.jsonl").open()]


def keyword_case(texts: list[str], queries: list[str], work: Path, k: int = 10) -> dict:
    """The store's keyword search (SQLite statistics + segment postings, assistant.keyword) and
    bm25s over the same chunks and analyzer: latency, build, incremental adds, agreement of the top 10."""
    import bm25s

    result: dict = {"n": len(texts)}
    path = work / f"keyword-{len(texts)}.sqlite3"
    for p in work.glob(f"keyword-{len(texts)}.sqlite3*"):
        p.unlink()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    KeywordIndex.create(db)
    index = KeywordIndex(db)
    start = time.perf_counter()
    tokens = [terms(t) for t in texts]
    analyse_s = time.perf_counter() - start
    start = time.perf_counter()
    parts = []
    for first in range(0, len(texts), 10_000):  # one transaction and one segment per batch, then a merge
        batch = tokens[first : first + 10_000]
        db.execute("BEGIN")
        index.add(batch)
        db.execute("COMMIT")
        parts.append(Postings.build(batch))
    sizes = np.cumsum([0] + [len(p.lengths) for p in parts])
    postings = Postings.merge([(p, np.arange(len(p.lengths)), np.arange(len(p.lengths)) + sizes[i])
                               for i, p in enumerate(parts)], len(texts))
    segment = work / f"postings-{len(texts)}"
    segment.mkdir(exist_ok=True)
    postings.save(segment)
    postings = Postings.load(segment)  # memory-mapped, as a reader opens it
    result["ours_build_s"] = round(time.perf_counter() - start, 2)
    result["ours_disk_mb"] = round((path.stat().st_size + sum(f.stat().st_size for f in segment.iterdir())) / 2**20, 1)
    segments = [(postings, np.zeros(0, np.int64))]
    index.search(queries[0], segments, k)
    o50, o95, found = timed(lambda q: [r for _, r, _ in index.search(q, segments, k)], queries, repeat=2)
    extra = chunk_texts(11, seed=99)
    start = time.perf_counter()
    db.execute("BEGIN")
    new = [terms(t) for t in extra[:10]]
    index.add(new)
    db.execute("COMMIT")
    (segment / "new").mkdir(exist_ok=True)
    Postings.build(new).save(segment / "new")  # a new segment's postings
    result["ours_add_10_chunks_ms"] = round((time.perf_counter() - start) * 1000, 2)
    db.close()

    before = rss_mb()
    start = time.perf_counter()
    bm25 = bm25s.BM25()  # the defaults llama-index's BM25Retriever uses (k1=1.5, b=0.75, lucene)
    bm25.index(tokens, show_progress=False)
    result["bm25s_build_s"] = round(time.perf_counter() - start, 2)
    result["analyse_s"] = round(analyse_s, 2)
    del tokens
    result["bm25s_rss_growth_mb"] = round(rss_mb() - before, 1)
    query_tokens = [terms(q) or ["\x00"] for q in queries]

    def bm25_search(tokens: list[str]) -> list[int]:
        rows, scores = bm25.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        return [int(r) for r, s in zip(rows[0], scores[0]) if s > 0]

    b50, b95, theirs = timed(bm25_search, query_tokens, repeat=2)
    overlap = [len(set(a) & set(b)) / max(1, min(k, len(b))) for a, b in zip(found, theirs) if b]
    result |= {"ours_p50_ms": round(o50, 3), "ours_p95_ms": round(o95, 3), "bm25s_p50_ms": round(b50, 3),
               "bm25s_p95_ms": round(b95, 3), "ours_over_bm25s_p50": round(o50 / b50, 2),
               "overlap_at_10": round(float(np.mean(overlap)), 3)}
    return result


def validate(real: Path, work: Path) -> dict:
    """Approximate-index recall and latency on real embeddings and on synthetic ones of the same size."""
    docs, queries = np.load(real / "real_docs.npy"), np.load(real / "real_queries.npy")[:1000]
    synthetic_docs, synthetic_queries = clustered(len(docs), len(queries))
    return {
        "real": vector_case(docs, queries, work, threshold=0),
        "synthetic": vector_case(synthetic_docs, synthetic_queries, work, threshold=0),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 chunks, for the smoke test")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-scale"))
    parser.add_argument("--real", type=Path, help="directory with real_docs.npy, real_queries.npy")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--skip-keyword", action="store_true")
    parser.add_argument("--skip-vector", action="store_true")
    args = parser.parse_args(argv)
    sizes = [5_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    qs = questions()[: 50 if args.quick else 300]
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "threshold": EXACT_THRESHOLD,
                     "vector": [], "keyword": []}
    real = [json.loads(line)["text"] for line in (EVAL / "squad2-dev" / "docs.jsonl").open()]
    results["agreement_real"] = keyword_case(real, questions(), args.work)
    print("agreement on squad2-dev", json.dumps(results["agreement_real"]), flush=True)
    if args.real:
        results["validation"] = validate(args.real, args.work)
        print("validation", json.dumps(results["validation"]), flush=True)
    for n in sizes:
        if not args.skip_vector:
            nq = 100 if args.quick else 500
            docs = cached(args.work / f"docs-{n}.npy", lambda: clustered(n, nq)[0])
            queries = cached(args.work / f"queries-{n}.npy", lambda: clustered(n, nq)[1])
            threshold = 1_000 if args.quick else EXACT_THRESHOLD  # --quick exercises the approximate path
            row = vector_case(docs, queries, args.work, threshold)
            if row["approximate"] and n <= 100_000:
                row["exact_p50_ms"] = vector_case(docs, queries[:100], args.work, threshold=n)["p50_ms"]
            results["vector"].append(row)
            print("vector", json.dumps(row), flush=True)
            del docs
        if not args.skip_keyword:
            row = keyword_case(chunk_texts(n), qs[:100] if n > 100_000 else qs, args.work)
            results["keyword"].append(row)
            print("keyword", json.dumps(row), flush=True)
        print(f"max RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
