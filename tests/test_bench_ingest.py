"""The ingest benchmark's --quick mode: every pipeline runs and the table and ratios come out."""

import pytest
from benchrun import run_bench


@pytest.mark.slow  # six child processes, three of which load torch: about a minute on 2 cores
def test_quick_bench_prints_each_pipeline_and_the_ratios(tmp_path):
    out = tmp_path / "bench.json"
    printed = run_bench("ingest.py", "--quick", "--json", str(out))
    for row in ("| ours |", "| llama-index |", "| forward onnx |", "ours / llama-index chunks/s, e2e",
                "ours / forward onnx tokens/s, in-process"):
        assert row in printed
    assert out.exists()
