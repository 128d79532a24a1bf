"""Load test: N concurrent clients asking questions through POST /api/ask for a fixed time.

    python scripts/loadtest.py                       # starts `assistant serve --index index` itself
    python scripts/loadtest.py --url http://127.0.0.1:7860 --clients 16 --seconds 30
    python scripts/loadtest.py --ingest samples/articles ../shared/eval/squad2-dev/docs.jsonl

With --ingest, the given paths are ingested into the server's index again and again while the
clients ask (each run alternately adds them and removes them again), so readers and the writer
are measured together: answers must keep coming, with 0 errors, while commits land.

Each client sends its next question as soon as the previous answer arrives (a closed loop), so
throughput is what the server sustains at that concurrency, and latency includes queueing.
Prints throughput, latency percentiles and errors; exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

# Questions about the bundled sample article, and two it does not answer (abstentions cost the same work).
QUESTIONS = [
    "who is Alexander Golts?",
    "How many applications does the recruiter's group receive per day?",
    "Why is Syria less appealing to Russian volunteers than Ukraine?",
    "How many Russian nationals are fighting for the Islamic State?",
    "What does Golts think the Kremlin will do in Syria?",
    "Who visited Moscow on Tuesday?",
    "What is the boiling point of liquid nitrogen?",
    "Who won the 1998 football world cup?",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server; default: start `assistant serve` on a free port")
    parser.add_argument("--index", default="index", help="index for the server this script starts (default: index)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ingest", nargs="+", metavar="PATH", help="keep ingesting and removing these during the load")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        server, url = start_server(args.index)
    writer = Writer(args.index, args.ingest) if args.ingest else None
    try:
        if writer:
            writer.start()
        results = asyncio.run(load(url.rstrip("/"), args.clients, args.seconds))
        if server is not None:
            results["server_peak_rss_mb"] = peak_rss_mb(server.pid)
    finally:
        if writer:
            results_writer = writer.stop()
        if server is not None:
            server.terminate()
            server.wait(30)
    if writer:
        results["writes"] = results_writer
    results["server_started_by_script"] = server is not None
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 1 if results["errors"] or (writer and results["writes"]["failures"]) else 0


async def load(url: str, clients: int, seconds: float) -> dict:
    """Run `clients` closed-loop clients for `seconds`; latencies in ms."""
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        (await http.get("/api/health")).raise_for_status()
        await http.post("/api/ask", json={"question": QUESTIONS[0]})  # warm caches before the clock starts
        deadline = time.perf_counter() + seconds

        async def client(number: int) -> None:
            turn = number
            while time.perf_counter() < deadline:
                question = QUESTIONS[turn % len(QUESTIONS)]
                turn += 1
                began = time.perf_counter()
                try:
                    response = await http.post("/api/ask", json={"question": question})
                    elapsed = (time.perf_counter() - began) * 1000
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                        continue
                    latencies.append(elapsed)
                    server_ms.append(response.json()["timing_ms"]["total"])
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        began = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
        wall = time.perf_counter() - began

    ordered = sorted(latencies)
    return {
        "url": url, "clients": clients, "seconds": round(wall, 1),
        "requests": len(latencies), "errors": len(errors), "first_errors": errors[:5],
        "throughput_rps": round(len(latencies) / wall, 1),
        "latency_ms": {
            "p50": round(_percentile(ordered, 50), 1), "p95": round(_percentile(ordered, 95), 1),
            "p99": round(_percentile(ordered, 99), 1), "max": round(ordered[-1], 1) if ordered else 0.0,
        },
        "server_ms_p50": round(statistics.median(server_ms), 1) if server_ms else 0.0,
        "cpus": os.cpu_count(),
    }


class Writer(threading.Thread):
    """Ingests `paths` into `index`, then removes what it added, in a loop until stopped."""

    def __init__(self, index: str, paths: list[str]):
        super().__init__(daemon=True)
        self.index, self.paths = index, paths
        self.done = threading.Event()
        self.runs: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        root = Path(__file__).resolve().parent.parent
        before = self._ids(env, root)
        while not self.done.is_set():
            began = time.perf_counter()
            command = [sys.executable, "-m", "assistant", "ingest", *self.paths, "--index", self.index]
            step = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True)
            added = sorted(self._ids(env, root) - before)
            if step.returncode == 0 and added:
                step = subprocess.run([sys.executable, "-m", "assistant", "remove", *added, "--index", self.index],
                                      env=env, cwd=root, capture_output=True, text=True)
            if step.returncode != 0:
                self.failures.append(step.stderr.strip().splitlines()[-1] if step.stderr.strip() else "failed")
            self.runs.append(time.perf_counter() - began)

    def _ids(self, env: dict, root: Path) -> set[str]:
        listed = subprocess.run([sys.executable, "-m", "assistant", "articles", "--json", "--index", self.index],
                                env=env, cwd=root, capture_output=True, text=True, check=True)
        return {a["id"] for a in json.loads(listed.stdout)}

    def stop(self) -> dict:
        self.done.set()
        self.join(600)
        return {"ingest_and_remove_runs": len(self.runs), "failures": self.failures[:5],
                "seconds_per_run": round(statistics.median(self.runs), 1) if self.runs else None}


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def start_server(index: str) -> tuple[subprocess.Popen, str]:
    """`assistant serve` on a free port of 127.0.0.1, once /api/health answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # All 16 clients come from 127.0.0.1, one rate-limit bucket: the limit is off for the measurement.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_RATE_LIMIT": "0"}
    command = [sys.executable, "-m", "assistant", "serve", "--index", index, "--port", str(port)]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / "loadtest-server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=Path(__file__).resolve().parent.parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"Error: the server exited ({server.returncode}); see {log.name}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.terminate()
    sys.exit(f"Error: the server did not become healthy within 180 s; see {log.name}")


def report(r: dict) -> str:
    lines = [
        f"{r['clients']} clients x {r['seconds']} s against {r['url']}/api/ask ({r['cpus']} CPUs)",
        f"  requests   {r['requests']}  ({r['throughput_rps']} per second)",
        f"  errors     {r['errors']}",
        f"  latency    p50 {r['latency_ms']['p50']} ms   p95 {r['latency_ms']['p95']} ms   "
        f"p99 {r['latency_ms']['p99']} ms   max {r['latency_ms']['max']} ms",
        f"  server     p50 {r['server_ms_p50']} ms per answer (timing_ms.total)",
    ]
    if "server_peak_rss_mb" in r:
        lines.append(f"  server     peak RSS {r['server_peak_rss_mb']:.0f} MB")
    if "writes" in r:
        w = r["writes"]
        lines.append(f"  writes     {w['ingest_and_remove_runs']} ingest+remove runs during the load "
                     f"({w['seconds_per_run']} s each), failures {len(w['failures'])}")
        lines += [f"  write failure: {f}" for f in w["failures"]]
    lines += [f"  error: {e}" for e in r["first_errors"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
