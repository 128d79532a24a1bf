"""Question latency, HTTP overhead, memory and one-article adds on a big index, in one run.

    .venv/bin/python bench/query.py [--chunks 100000] [--questions 100] [--quick]

Builds (once, cached under --work) an index of about --chunks chunks: squad2-dev's paragraphs
embedded for real plus synthetic padding (bench/synthetic_store.py), then with the index loaded:

- `Assistant.ask` on squad2-dev questions: p50/p95 of the whole call, and of the answerer's
  reader model alone (the issue's budget excludes it), against the targets 30 ms / 60 ms;
- `POST /api/ask` on a real `assistant serve` on 127.0.0.1: what HTTP adds over the in-process
  call (target <= 10 ms), and the server's peak RSS (target <= 1.5 GB at 100,000 chunks);
- adding one new article (embedding it included, model loaded): target <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
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
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-bench"))
    parser.add_argument("--quick", action="store_true",
                        help="2,000 chunks around 20 real paragraphs, 10 questions (seconds; the CI smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.questions = 2_000, 10
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    embedder = load_embedder()
    root = args.work / (f"index-{args.chunks}" + ("-quick" if args.quick else ""))
    assistant = synthetic_store.build(root, args.chunks, embedder, progress=not args.quick,
                                      real=20 if args.quick else None)
    chunks = assistant.index.manifest().chunks
    questions = _questions(args.questions)

    began = time.perf_counter()
    assistant.ask(questions[0])  # loads the reader and opens the segments
    first = time.perf_counter() - began
    spent = [0.0]  # milliseconds inside the reader model so far
    score = assistant.reader.score

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return score(*a, **k)
        finally:
            spent[0] += (time.perf_counter() - t) * 1000

    assistant.reader.score = timed
    ask_ms, reader_ms = [], []
    for q in questions:
        before, t = spent[0], time.perf_counter()
        assistant.ask(q)
        ask_ms.append((time.perf_counter() - t) * 1000)
        reader_ms.append(spent[0] - before)
    assistant.reader.score = score
    without_reader = [a - r for a, r in zip(ask_ms, reader_ms)]

    adds = []
    for i in range(3 if args.quick else 5):
        article = Article(f"bench-add-{i}", f"Bench article {i}", f"A new article number {i} about lighthouses. " * 40)
        t = time.perf_counter()
        assistant.ingest_articles([article])
        adds.append(time.perf_counter() - t)
    assistant.remove([f"bench-add-{i}" for i in range(len(adds))])

    http_ms, rss = _http(root, questions)
    results = {
        "chunks": chunks, "questions": len(questions), "first_answer_s": first,
        "ask_ms": _stats(ask_ms), "ask_without_reader_ms": _stats(without_reader), "reader_ms": _stats(reader_ms),
        "http_ms": _stats(http_ms), "http_adds_ms": float(np.median(http_ms) - np.median(ask_ms)),
        "serve_peak_rss_mb": rss, "add_one_article_s": {"p50": float(np.median(adds)), "max": float(max(adds))},
    }
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _questions(n: int) -> list[str]:
    with open(synthetic_store.SHARED / "squad2-dev" / "qa.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f][:n]


def _http(index: Path, questions: list[str]) -> tuple[list[float], float]:
    """Client-side latency of POST /api/ask on a real server, and that server's peak RSS (MB)."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ASSISTANT_RATE_LIMIT": "0", "ASSISTANT_INDEX": str(index)}
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("assistant serve did not start")
                time.sleep(0.2)
            client.post("/api/ask", json={"question": questions[0]})  # warm: reader, segments
            latencies = []
            for q in questions:
                t = time.perf_counter()
                response = client.post("/api/ask", json={"question": q})
                latencies.append((time.perf_counter() - t) * 1000)
                response.raise_for_status()
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
        return latencies, rss
    finally:
        server.terminate()
        server.wait(timeout=30)


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}


def _print(r: dict) -> None:
    print(f"index: {r['chunks']:,} chunks; {r['questions']} squad2-dev questions; first answer "
          f"{r['first_answer_s']:.2f} s after loading")
    rows = [
        ("Assistant.ask, whole", r["ask_ms"], None),
        ("  of which the reader model", r["reader_ms"], None),
        ("  without the reader (target 30 / 60 ms)", r["ask_without_reader_ms"], (30, 60)),
        ("POST /api/ask, client side", r["http_ms"], None),
    ]
    print(f"{'':44} {'p50 ms':>8} {'p95 ms':>8} {'p50/target':>11} {'p95/target':>11}")
    for name, stats, target in rows:
        ratio = f"{stats['p50'] / target[0]:11.2f} {stats['p95'] / target[1]:11.2f}" if target else ""
        print(f"{name:44} {stats['p50']:8.1f} {stats['p95']:8.1f} {ratio}")
    print(f"HTTP adds (p50 difference, target <= 10 ms): {r['http_adds_ms']:.1f} ms")
    print(f"assistant serve peak RSS (target <= 1536 MB): {r['serve_peak_rss_mb']:.0f} MB "
          f"({r['serve_peak_rss_mb'] / 1536:.2f} of target)")
    adds = r["add_one_article_s"]
    print(f"add one article (target <= 2 s): p50 {adds['p50']:.2f} s, max {adds['max']:.2f} s "
          f"({adds['p50'] / 2:.2f} of target)")


if __name__ == "__main__":
    raise SystemExit(main())
