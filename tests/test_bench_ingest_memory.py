"""The ingest memory benchmark's --quick mode: both sizes ingest and the ratios come out."""

import json

import pytest
from benchrun import run_bench


@pytest.mark.slow  # two `assistant ingest` child processes: about 40 s on 2 cores
def test_quick_bench_prints_peak_rss_per_size_and_the_ratio(tmp_path):
    out = tmp_path / "memory.json"
    printed = run_bench("ingest_memory.py", "--quick", "--json", str(out))
    assert "| chunks | seconds | peak RSS MB |" in printed
    assert "largest / smallest: chunks" in printed
    result = json.loads(out.read_text())
    small, large = result["rows"]
    assert large["chunks"] > small["chunks"] > 0
    assert small["peak_rss_mb"] > 100  # a real process's peak (the model alone is tens of MB), not zero
