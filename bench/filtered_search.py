"""Search filtered by collection against unfiltered search, at 100,000 chunks, in one run.

    .venv/bin/python bench/filtered_search.py [--chunks 100000] [--hidden 0.5] [--questions 200] [--quick]

Builds (once, cached under --work) the synthetic store of bench/synthetic_store.py, puts a share
`--hidden` of its articles (every n-th, so each segment holds some) in a restricted collection,
then asks squad2-dev questions with the real model, and prints:

- p50 and p95 of `Retriever.search` (dense and BM25, fused) for the admin (no filter) and for a
  reader who may not read the restricted collection, and their ratio (target: p50 <= 1.5x);
- recall@10 of the filtered dense search against the exact filtered answer (every readable vector
  scored, float32), on the segments' IVF path (target >= 0.95); the unfiltered recall beside it,
  which the filter should not lower;
- the one-off cost of a reader's filtered view (its masks and bitmaps, once per index commit).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import synthetic_store  # noqa: E402

from assistant.embed.factory import load_embedder  # noqa: E402
from assistant.types import EVERYTHING, Scope  # noqa: E402

RESTRICTED = "restricted"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--hidden", type=float, default=0.5, help="share of articles the reader may not read")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-bench"))
    parser.add_argument("--quick", action="store_true", help="3,000 chunks, 20 questions (the smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.questions = 3_000, 20
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    embedder = load_embedder()
    root = args.work / (f"index-{args.chunks}" + ("-quick" if args.quick else ""))
    assistant = synthetic_store.build(root, args.chunks, embedder, progress=not args.quick,
                                      real=20 if args.quick else None)
    ids = [row["id"] for row in assistant.articles()]
    # spread evenly (each segment holds some): article k is hidden when the running share steps up
    hidden_ids = [i for k, i in enumerate(ids) if int((k + 1) * args.hidden) > int(k * args.hidden)]
    assistant.move(hidden_ids, RESTRICTED)
    assistant.move(sorted(set(ids) - set(hidden_ids)), "default")  # a cached store may hold an earlier run's
    assistant.restrict(RESTRICTED)
    scope = assistant.scope(frozenset())
    retriever = assistant.retriever()

    questions = _questions(args.questions)
    vectors = embedder.embed(questions)
    with retriever.snapshot():
        began = time.perf_counter()
        retriever.search(questions[0], 10, vectors[0], scope=scope)  # builds the reader's view
        view_ms = (time.perf_counter() - began) * 1000
    for q, v in zip(questions[:10], vectors[:10]):  # warm both paths
        retriever.search(q, 10, v)
        retriever.search(q, 10, v, scope=scope)
    timings: dict[str, list[float]] = {"unfiltered": [], "filtered": []}
    for q, v in zip(questions, vectors):  # interleaved, so both see the same machine load
        for name, s in (("unfiltered", EVERYTHING), ("filtered", scope)):
            began = time.perf_counter()
            retriever.search(q, 10, v, scope=s)
            timings[name].append((time.perf_counter() - began) * 1000)

    recall = {name: _recall(retriever, vectors, s) for name, s in (("unfiltered", EVERYTHING), ("filtered", scope))}
    result = {
        "chunks": assistant.index.manifest().chunks,
        "hidden_articles": len(hidden_ids), "articles": len(ids),
        "readable_chunks": retriever.scoped(scope).count,
        "approximate_segments": sum(seg.vectors is not None and seg.vectors.approximate
                                    for seg, _ in _view(retriever).segments.values()),
        "search_ms": {name: _percentiles(t) for name, t in timings.items()},
        "p50_ratio": round(float(np.median(timings["filtered"]) / np.median(timings["unfiltered"])), 3),
        "recall_at_10": recall,
        "first_filtered_search_ms": round(view_ms, 1),
    }
    print(f"{result['chunks']:,} chunks, {result['readable_chunks']:,} readable ({len(hidden_ids):,} of "
          f"{len(ids):,} articles restricted), {result['approximate_segments']} IVF segment(s)")
    for name in ("unfiltered", "filtered"):
        p = result["search_ms"][name]
        print(f"  {name:10} search p50 {p['p50']:.2f} ms  p95 {p['p95']:.2f} ms  dense recall@10 {recall[name]:.3f}")
    print(f"  filtered / unfiltered p50: {result['p50_ratio']:.2f}x (target <= 1.5x); filtered recall@10 "
          f"{recall['filtered']:.3f} (target >= 0.95); first filtered search {view_ms:.0f} ms "
          "(its view, once a commit)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _view(retriever):
    with retriever._reading() as (_, view):  # the loaded segments, to score every vector exactly
        return view


def _recall(retriever, vectors: np.ndarray, scope: Scope) -> float:
    """Mean share of the exact top 10 (every readable live vector scored) that dense search returns."""
    with retriever.snapshot(), retriever._reading(scope) as (_, view):
        keys, rows = [], []
        for segment, skipped in view.segments.values():
            if segment.vectors is None:
                continue
            keep = np.setdiff1d(np.arange(len(segment.vectors)), skipped)
            keys.append(np.asarray(segment.chunk_ids)[keep])
            rows.append(np.asarray(segment.vectors.vectors()[keep], np.float32))
        all_keys, matrix = np.concatenate(keys), np.vstack(rows)
        found = []
        for vector in vectors:
            exact = set(all_keys[np.argsort(-(matrix @ vector))[:10]].tolist())
            got = {key for key, _ in retriever._dense_keys(view, vector, 10)}
            found.append(len(exact & got) / 10)
    return round(float(np.mean(found)), 4)


def _percentiles(ms: list[float]) -> dict:
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p95": round(float(np.percentile(ms, 95)), 3)}


def _questions(n: int) -> list[str]:
    with open(synthetic_store.SHARED / "squad2-dev" / "qa.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f][:n]


if __name__ == "__main__":
    raise SystemExit(main())
