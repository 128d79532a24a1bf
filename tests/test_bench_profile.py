"""bench/who_profiles.py and bench/entities.py run end to end and print every figure they promise."""

import re

import pytest
from benchrun import run_bench


@pytest.mark.slow
def test_the_profile_benchmark_quick_mode_prints_latency_extraction_and_routing(tmp_path):
    out = run_bench("who_profiles.py", "--quick", "--work", str(tmp_path))
    assert re.search(r"index: 2,\d{3} chunks; [\d,]+ entities, [\d,]+ mentions", out)
    for label in ("who is NAME\\?", "what did NAME say\\?", "who is SURNAME\\?"):
        assert re.search(rf"{label}\s+(p50 [\d.]+  p95 [\d.]+  max [\d.]+ ms|none)", out)
    assert re.search(r"extraction at ingest: [\d.]+ MB/s", out)
    assert re.search(r"squad2-dev: \d+ of \d+ questions are who/what-does-X-say questions", out)


def test_the_entity_measure_prints_its_table():
    out = run_bench("entities.py")
    assert re.search(r"descriptions: recall [\d.]+, precision [\d.]+", out)
    assert re.search(r"quotations: \d+/25 found, \d+/25 with the right speaker", out)
