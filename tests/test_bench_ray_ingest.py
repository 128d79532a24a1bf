"""The Ray ingest benchmark's --quick mode: the local and Ray pipelines run and the overhead comes out."""

import pytest
from benchrun import run_bench


@pytest.mark.slow  # three child processes, two of which start a local Ray: about a minute on 2 cores
def test_quick_bench_prints_local_and_ray_times_and_the_overhead(tmp_path):
    out = tmp_path / "bench.json"
    printed = run_bench("ray_ingest.py", "--quick", "--json", str(out))
    for row in ("| local |", "| ray |", "| ray warm |", "ray / local, squad2-dev (40 articles): e2e "):
        assert row in printed
    assert out.exists()
