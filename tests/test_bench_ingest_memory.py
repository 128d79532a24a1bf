"""The ingest memory benchmark's --quick mode: both sizes ingest and the ratios come out."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # two `assistant ingest` child processes: about 40 s on 2 cores
def test_quick_bench_prints_peak_rss_per_size_and_the_ratio(tmp_path):
    if not (ROOT.parent / "shared" / "eval" / "squad2-dev").exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    out = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest_memory.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| chunks | seconds | peak RSS MB |" in done.stdout
    assert "largest / smallest: chunks" in done.stdout
    result = json.loads(out.read_text())
    small, large = result["rows"]
    assert large["chunks"] > small["chunks"] > 0
    assert small["peak_rss_mb"] > 100  # a real process's peak (the model alone is tens of MB), not zero
