"""bench/scale.py --quick: the scale benchmark runs end to end in seconds and reports every figure."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_quick_scale_benchmark_reports_vector_and_keyword_figures(tmp_path):
    if not (ROOT.parent / "shared" / "eval" / "squad2-dev").exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    out = tmp_path / "scale.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--quick", "--work", str(tmp_path), "--json", str(out)],
        check=True, timeout=120, capture_output=True,
    )
    results = json.loads(out.read_text())
    (vector,), (keyword,) = results["vector"], results["keyword"]
    assert vector["approximate"] and vector["recall_at_10"] > 0.5 and vector["p50_ms"] > 0
    assert keyword["ours_p50_ms"] > 0 and keyword["bm25s_p50_ms"] > 0 and keyword["overlap_at_10"] > 0.9
    assert results["agreement_real"]["overlap_at_10"] > 0.95  # the same BM25 as bm25s, on squad2-dev
