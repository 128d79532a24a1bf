"""bench/query.py runs end to end in its quick mode and prints every figure it promises."""

import re

import pytest
from benchrun import run_bench


@pytest.mark.slow
def test_the_query_benchmark_quick_mode_prints_latency_http_memory_and_adds(tmp_path):
    out = run_bench("query.py", "--quick", "--work", str(tmp_path))
    assert re.search(r"index: 2,\d{3} chunks; 10 squad2-dev questions", out)
    assert re.search(r"without the reader \(target 30 / 60 ms\)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+", out)
    assert re.search(r"HTTP adds \(p50 difference, target <= 10 ms\): -?[\d.]+ ms", out)
    assert re.search(r"peak RSS \(target <= 1536 MB\): \d+ MB", out)
    assert re.search(r"add one article \(target <= 2 s\): p50 [\d.]+ s", out)
