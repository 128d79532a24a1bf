"""The Milvus store benchmark's --quick mode: both stores write and search, and the ratios come out."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # Milvus Lite's engine starts in a child process: about 30 s on 2 cores
def test_quick_bench_writes_and_searches_both_stores_and_prints_the_ratios():
    if not (ROOT.parent / "shared" / "eval" / "squad2-dev").exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "milvus_store.py"), "--quick"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in ("faiss: writer", "milvus: writer", "milvus / faiss: writer chunks/s", "MilvusVectorStore.add"):
        assert line in done.stdout
