"""The ingest benchmark's --quick mode: every pipeline runs and the table and ratios come out."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # six child processes, three of which load torch: about a minute on 2 cores
def test_quick_bench_prints_each_pipeline_and_the_ratios(tmp_path):
    if not (ROOT.parent / "shared" / "eval" / "squad2-dev").exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for row in ("| ours |", "| llama-index |", "| forward onnx |", "ours / llama-index chunks/s, e2e",
                "ours / forward onnx tokens/s, in-process"):
        assert row in done.stdout
    assert out.exists()
