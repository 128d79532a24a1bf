"""bench/scale.py --quick: the scale benchmark runs end to end in seconds and reports every figure."""

import json

from benchrun import run_bench


def test_quick_scale_benchmark_reports_vector_and_keyword_figures(tmp_path):
    out = tmp_path / "scale.json"
    run_bench("scale.py", "--quick", "--work", str(tmp_path), "--json", str(out), timeout=120)
    results = json.loads(out.read_text())
    (vector,), (keyword,) = results["vector"], results["keyword"]
    assert vector["approximate"] and vector["recall_at_10"] > 0.5 and vector["p50_ms"] > 0
    assert keyword["ours_p50_ms"] > 0 and keyword["bm25s_p50_ms"] > 0 and keyword["overlap_at_10"] > 0.9
    assert results["agreement_real"]["overlap_at_10"] > 0.95  # the same BM25 as bm25s, on squad2-dev
