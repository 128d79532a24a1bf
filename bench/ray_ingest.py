"""Ingest through Ray against the local path, one run: what `assistant ingest --ray` costs on one machine.

    .venv/bin/python bench/ray_ingest.py [--quick] [--repeats 3] [--chunks 4000] [--json OUT]

Collections: ../shared/eval/squad2-dev/docs.jsonl (176 articles, 200 chunks) and a synthetic one
of at least --chunks of our chunks (bench/ingest.py's: squad2 sentences dealt into new articles).
Pipelines, each in a process of its own, interleaved and repeated (medians printed):

- `local`: `assistant ingest PATH --index TMP --json`;
- `ray`: `assistant ingest --ray PATH ...`: a local Ray started and stopped by the command,
  as a one-machine user runs it;
- `ray warm`: the same pipeline with Ray already running (started off the clock), which is what
  `--ray-address` to a running cluster costs.

Clocks: e2e = process start to exit (imports, model load, Ray start, workers loading the model);
in-process = the ingest report's seconds (Ray's start included for `ray`, excluded for `ray warm`).
overhead = ray / local - 1. `--quick` (the CI smoke test): 40 articles, one repeat, no synthetic set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

PIPELINES = ["local", "ray", "ray warm"]
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# `ray warm`: Ray started before the clock, then the ingest the CLI runs.
WARM = """
import json, os, sys, time
import ray
ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="WARNING")
from assistant.config import Settings
from assistant.service import Assistant
began = time.perf_counter()
report = Assistant(Settings(index=sys.argv[2])).ingest([sys.argv[1]], ray=True)
print(json.dumps(report.to_dict() | {"wall": time.perf_counter() - began}))
ray.shutdown()
"""


def run(pipeline: str, docs: Path, work: Path) -> dict:
    """One ingest into a fresh index: e2e seconds, in-process seconds, chunks."""
    index = work / f"index-{pipeline.replace(' ', '-')}-{time.monotonic_ns()}"
    if pipeline == "ray warm":
        command = [sys.executable, "-c", WARM, str(docs), str(index)]
    else:
        command = [sys.executable, "-m", "assistant", "ingest", str(docs), "--index", str(index), "--json"]
        command += ["--ray"] if pipeline == "ray" else []
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=3600)
    e2e = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{pipeline} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"e2e": e2e, "ingest": report["seconds"], "chunks": report["chunks"]}


def measure(docs: Path, repeats: int, work: Path) -> dict:
    runs: dict[str, list[dict]] = {p: [] for p in PIPELINES}
    for _ in range(repeats):
        for pipeline in PIPELINES:
            runs[pipeline].append(run(pipeline, docs, work))
    return {p: {"e2e": statistics.median(r["e2e"] for r in rs), "ingest": statistics.median(r["ingest"] for r in rs),
                "chunks": rs[0]["chunks"], "runs": rs} for p, rs in runs.items()}


def table(results: dict) -> str:
    lines = ["| collection | chunks | pipeline | e2e s | in-process s | chunks/s (in-process) | overhead e2e | overhead in-process |",
             "|---|---|---|---|---|---|---|---|"]
    for name, found in results.items():
        local = found["local"]
        for pipeline in PIPELINES:
            r = found[pipeline]
            over = "" if pipeline == "local" else (f"{r['e2e'] / local['e2e'] - 1:+.1%}",
                                                   f"{r['ingest'] / local['ingest'] - 1:+.1%}")
            lines.append(f"| {name} | {r['chunks']} | {pipeline} | {r['e2e']:.1f} | {r['ingest']:.1f} | "
                         f"{r['chunks'] / r['ingest']:.1f} | {over[0] if over else '-'} | {over[1] if over else '-'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 40 articles, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=4000, help="size of the synthetic collection (0: none)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    from ingest import head, synthetic

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        docs = EVAL / "squad2-dev" / "docs.jsonl"
        collections = {"squad2-dev": docs}
        if args.quick:
            collections = {"squad2-dev (40 articles)": head(docs, 40, work / "head.jsonl")}
        elif args.chunks:
            collections[f"synthetic {args.chunks}"] = synthetic(args.chunks, work / "synthetic.jsonl")
        repeats = 1 if args.quick else args.repeats
        results = {name: measure(path, repeats, work) for name, path in collections.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(table(results))
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')} commit {commit}, {os.cpu_count()} CPUs, {repeats} repeat(s), medians; "
          f"load average (1 min) before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}")
    for name, found in results.items():
        print(f"ray / local, {name}: e2e {found['ray']['e2e'] / found['local']['e2e']:.2f}, "
              f"in-process {found['ray']['ingest'] / found['local']['ingest']:.2f}; "
              f"warm ray / local in-process {found['ray warm']['ingest'] / found['local']['ingest']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "commit": commit, "cpus": os.cpu_count(),
                                         "load_average_before_after": [load_before[0], os.getloadavg()[0]]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
