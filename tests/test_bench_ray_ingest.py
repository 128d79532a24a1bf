"""The Ray ingest benchmark's --quick mode: the local and Ray pipelines run and the overhead comes out."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # three child processes, two of which start a local Ray: about a minute on 2 cores
def test_quick_bench_prints_local_and_ray_times_and_the_overhead(tmp_path):
    if not (ROOT.parent / "shared" / "eval" / "squad2-dev").exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ray_ingest.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for row in ("| local |", "| ray |", "| ray warm |", "ray / local, squad2-dev (40 articles): e2e "):
        assert row in done.stdout
    assert out.exists()
