"""bench/store_scale.py --quick: two small stores, every cost measured and the plot drawn."""

import json

import pytest
from benchrun import run_bench


@pytest.mark.slow  # builds two small stores and starts `assistant ask` twice: under a minute
def test_quick_store_scale_reports_each_cost_per_size_and_draws_the_plot(tmp_path):
    out, plot = tmp_path / "scale.json", tmp_path / "scale.png"
    run_bench("store_scale.py", "--quick", "--work", str(tmp_path), "--json", str(out), "--plot", str(plot))
    rows = json.loads(out.read_text())
    assert [r["size"] for r in rows] == sorted(r["size"] for r in rows) and rows[-1]["size"] >= 3000
    for r in rows:
        assert r["start_to_answer_s"] > 0 and r["search_ms"]["p50"] > 0 and r["ask_ms"]["p50"] > 0
        assert r["add_one_article_s"] > 0 and r["disk_mb"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
