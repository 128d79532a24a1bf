"""Ingest throughput: the assistant's ingest against llama-index's default pipeline, in one run.

    python scripts/bench_ingest.py [DOCS.jsonl]

Both embed with the same model on the same machine. The assistant also embeds every sentence
(for choosing answer sentences at question time) and writes a versioned index to disk; the
baseline embeds SentenceSplitter's default chunks into an in-memory index. Prints seconds,
texts per second and the ratio of wall times.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings  # noqa: E402
from assistant.embedding import SentenceTransformerEmbedder, as_llama_embedding  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.sources import read_sources  # noqa: E402


def main() -> int:
    docs = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "eval" / "squad2-dev" / "docs.jsonl"
    articles = [a for a in read_sources([str(docs)])]
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    # One-time costs are paid before either clock starts: importing llama-index (about 1.7 s)
    # would otherwise be charged to whichever pipeline runs first.
    import llama_index.core  # noqa: F401
    import llama_index.retrievers.bm25  # noqa: F401
    import llama_index.vector_stores.faiss  # noqa: F401

    from assistant.chunking import sentence_spans

    sentence_spans("Loads the sentence splitter. Once.")

    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(Settings(index=Path(tmp) / "index"), embedder=embedder)
        began = time.perf_counter()
        report = assistant.ingest_articles(articles)
        ours = time.perf_counter() - began
        sentences = sum(len(s.sentences) for s in assistant.index.articles().values())

    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter

    began = time.perf_counter()
    nodes = SentenceSplitter().get_nodes_from_documents([Document(text=a.text, id_=a.id) for a in articles])
    VectorStoreIndex(nodes, embed_model=as_llama_embedding(embedder))
    baseline = time.perf_counter() - began

    print(f"{len(articles)} articles from {docs}")
    print(f"assistant ingest:          {ours:6.2f} s  {report.total_chunks} chunks + {sentences} sentences "
          f"({report.total_chunks / ours:.1f} chunks/s, {(report.total_chunks + sentences) / ours:.1f} texts/s)")
    print(f"llama-index default ingest: {baseline:6.2f} s  {len(nodes)} chunks ({len(nodes) / baseline:.1f} chunks/s)")
    print(f"ratio (assistant / baseline wall time): {ours / baseline:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
