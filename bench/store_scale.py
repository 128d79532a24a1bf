"""How the whole store's costs grow with its size: 10k -> 100k -> 1M chunks, in one run.

    .venv/bin/python bench/store_scale.py [--sizes 10000,100000,1000000] [--quick] [--plot docs/scale.png]

For each size, on an index built by bench/synthetic_store.py (cached under --work):
- start to first answer: a fresh `python -m assistant ask` process, model load included
  (target at 1,000,000 chunks: <= 10 s);
- `Retriever.search` (dense over the segments + BM25, fused; question vectors precomputed):
  p50/p95 (target at 1,000,000: p50 <= 5 ms), on a first pass over the questions and again (the
  postings' pages mapped: a running server's state), against the baseline of both searches one
  after the other, each fetching its rows;
- `Assistant.ask` with the index loaded: p50/p95;
- adding one article, model loaded: seconds (target at 100,000: <= 2 s);
- the store's size on disk and the vectors' resident size after the questions.
Prints a table, writes JSON, and draws the log-log plot with --plot (matplotlib, a dev dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import synthetic_store  # noqa: E402

from assistant.embed.factory import load_embedder  # noqa: E402
from assistant.types import Article  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-bench"))
    parser.add_argument("--quick", action="store_true", help="sizes 1,000 and 3,000, 10 questions (the CI smoke test)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="write a log-log PNG of each cost against size")
    args = parser.parse_args()
    sizes = [1_000, 3_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    questions = _questions(10 if args.quick else args.questions)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder = load_embedder()
    vectors = embedder.embed(questions)

    rows = []
    for size in sizes:
        root = args.work / (f"index-{size}" + ("-quick" if args.quick else ""))
        began = time.perf_counter()
        assistant = synthetic_store.build(root, size, embedder, progress=not args.quick,
                                          real=20 if args.quick else None)
        built = time.perf_counter() - began
        row = {"size": assistant.index.manifest().chunks, "build_or_reuse_s": built,
               "start_to_answer_s": _start_to_answer(root, questions[0])}
        retriever = assistant.retriever()
        retriever.search(questions[0], 5, vectors[0])  # opens the segments
        search = [_timed(lambda q=q, v=v: retriever.search(q, 5, v)) for q, v in zip(questions, vectors)]
        again = [_timed(lambda q=q, v=v: retriever.search(q, 5, v)) for q, v in zip(questions, vectors)]
        # The baseline: both searches one after the other, each fetching its 30 rows (search before d19041d).
        serial = [_timed(lambda q=q, v=v: (retriever.dense(q, 30, v), retriever.keyword(q, 30)))
                  for q, v in zip(questions, vectors)]
        assistant.ask(questions[0])
        ask = [_timed(lambda q=q: assistant.ask(q)) for q in questions]
        adds = []
        for i in range(3):
            article = Article(f"scale-add-{i}", f"Scale add {i}", f"Article {i} about lighthouses and ships. " * 40)
            adds.append(_timed(lambda a=article: assistant.ingest_articles([a])) / 1000)
        assistant.remove([f"scale-add-{i}" for i in range(3)])
        store = assistant.index.current()
        row |= {
            "search_ms": _stats(search), "search_again_ms": _stats(again), "serial_ms": _stats(serial),
            "ask_ms": _stats(ask), "add_one_article_s": float(np.median(adds)),
            "disk_mb": sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 2**20,
            "rss_mb": _rss_mb(),
        }
        rows.append(row)
        _print_row(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.plot:
        _plot(rows, args.plot)
    return 0


def _questions(n: int) -> list[str]:
    with open(synthetic_store.SHARED / "squad2-dev" / "qa.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f][:n]


def _start_to_answer(index: Path, question: str) -> float:
    """Seconds from launching `assistant ask` to its answer: imports, model, reader and index."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assistant", "ask", question, "--index", str(index)],
                   check=True, capture_output=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - began


def _timed(call) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024


def _print_row(r: dict) -> None:
    print(f"{r['size']:>9,} chunks | start->answer {r['start_to_answer_s']:5.1f} s | search p50 "
          f"{r['search_ms']['p50']:6.1f} ms p95 {r['search_ms']['p95']:6.1f} (again {r['search_again_ms']['p50']:.1f} / "
          f"{r['search_again_ms']['p95']:.1f}; serial baseline {r['serial_ms']['p50']:.1f}, "
          f"{r['serial_ms']['p50'] / r['search_again_ms']['p50']:.2f}x) | ask p50 {r['ask_ms']['p50']:6.1f} ms "
          f"p95 {r['ask_ms']['p95']:6.1f} | add one {r['add_one_article_s']:4.2f} s | disk {r['disk_mb']:7.0f} MB | "
          f"RSS {r['rss_mb']:5.0f} MB", flush=True)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in rows]
    series = {
        "search p50 (ms)": [r["search_ms"]["p50"] for r in rows],
        "ask p50 (ms)": [r["ask_ms"]["p50"] for r in rows],
        "add one article (ms)": [r["add_one_article_s"] * 1000 for r in rows],
        "start to answer (ms)": [r["start_to_answer_s"] * 1000 for r in rows],
        "disk (MB)": [r["disk_mb"] for r in rows],
        "RSS (MB)": [r["rss_mb"] for r in rows],
    }
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in series.items():
        ax.loglog(sizes, values, marker="o", label=label)
    ax.set_xlabel("chunks in the index")
    ax.set_title("Cost against index size (log-log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
