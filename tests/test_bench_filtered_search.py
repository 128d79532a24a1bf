"""bench/filtered_search.py --quick: filtered against unfiltered search on a small store, in one run."""

import json

from benchrun import run_bench


def test_quick_filtered_search_reports_both_latencies_their_ratio_and_recall(tmp_path):
    out = tmp_path / "filtered.json"
    printed = run_bench("filtered_search.py", "--quick", "--work", str(tmp_path), "--json", str(out))
    result = json.loads(out.read_text())
    assert result["readable_chunks"] < result["chunks"] and result["hidden_articles"] > 0
    assert result["search_ms"]["filtered"]["p50"] > 0 and result["search_ms"]["unfiltered"]["p50"] > 0
    assert result["recall_at_10"]["filtered"] == 1.0  # exact search below the IVF threshold
    assert "filtered / unfiltered p50" in printed
