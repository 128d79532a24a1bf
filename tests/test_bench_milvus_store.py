"""The Milvus store benchmark's --quick mode: both stores write and search, and the ratios come out."""

import pytest
from benchrun import run_bench


@pytest.mark.slow  # Milvus Lite's engine starts in a child process: about 30 s on 2 cores
def test_quick_bench_writes_and_searches_both_stores_and_prints_the_ratios():
    printed = run_bench("milvus_store.py", "--quick")
    for line in ("faiss: writer", "milvus: writer", "milvus / faiss: writer chunks/s", "MilvusVectorStore.add"):
        assert line in printed
