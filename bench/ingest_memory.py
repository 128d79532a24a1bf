"""Ingest memory: peak RSS of `assistant ingest` against the size of the collection, one run.

    .venv/bin/python bench/ingest_memory.py [--quick] [--sizes 2000,8000] [--json FILE]

Ingest streams articles in batches of `indexer.BATCH_CHUNKS` chunks, one transaction and one
segment each, so its peak memory should be set by that batch and not by how many articles are
ingested. Each size is a synthetic collection (squad2 sentences recombined, `bench/ingest.py`'s
generator) ingested by `python -m assistant ingest` in a fresh child process into a fresh index;
the child's peak RSS comes from the kernel (`wait4`'s ru_maxrss). Printed: chunks, seconds and
peak RSS per size, then the ratio of the largest size's RSS to the smallest's beside the ratio of
their chunk counts (bounded: the first stays near 1 while the second grows).

`--quick` (the CI smoke test) ingests 150 and 600 chunks: below one batch, so it shows that the
script runs, not the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ingest import synthetic  # noqa: E402  (bench/ingest.py: the same synthetic collection)


def ingest_once(docs: Path, index: Path, log: Path) -> dict:
    """One `assistant ingest` in a child process: its report and its peak RSS in MB."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    began = time.perf_counter()
    with log.open("w+") as out:
        child = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(docs), "--index", str(index), "--json"],
                                 stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)  # reaped here, not by Popen, to read its rusage
        seconds = time.perf_counter() - began
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"assistant ingest {docs} failed: {text[-500:]}")
    report = json.loads(text)
    return {"chunks": report["total_chunks"], "seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000", help="collection sizes in chunks, comma-separated")
    parser.add_argument("--quick", action="store_true", help="150 and 600 chunks: a smoke run, below one batch")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sizes = [150, 600] if args.quick else [int(s) for s in args.sizes.split(",")]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            docs = synthetic(size, Path(tmp) / f"synthetic-{size}.jsonl")
            rows.append({"wanted": size, **ingest_once(docs, Path(tmp) / f"index-{size}", Path(tmp) / f"log-{size}")})
            print(f"ingested {rows[-1]['chunks']} chunks in {rows[-1]['seconds']} s", file=sys.stderr)

    print("| chunks | seconds | peak RSS MB |\n|---:|---:|---:|")
    for r in rows:
        print(f"| {r['chunks']:,} | {r['seconds']} | {r['peak_rss_mb']} |")
    small, large = rows[0], rows[-1]
    result = {"rows": rows, "chunks_ratio": round(large["chunks"] / small["chunks"], 2),
              "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2)}
    print(f"largest / smallest: chunks {result['chunks_ratio']}x, peak RSS {result['peak_rss_ratio']}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
