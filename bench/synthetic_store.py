"""A store of any size for benchmarks: real articles embedded for real, padded with synthetic ones.

The real part (squad2-dev's 176 paragraphs) gives questions with answers, so latency is measured
on real work; the padding makes the index big. Padding articles are built from real sentences
(squad2-train's, shuffled into new paragraphs of six sentences a chunk, ten chunks an article),
and their vectors are real chunk vectors plus noise, renormalised: clustered like real
embeddings, not uniform on the sphere (which no index sees). They go through the store's own
write path (Catalog.insert, write_segment, the merge policy), not around it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from assistant.config import Settings
from assistant.embed.base import Embedder
from assistant.ingest.chunking import chunk_terms, searchable_text
from assistant.ingest.indexer import BATCH_CHUNKS
from assistant.service import Assistant
from assistant.store.catalog import StoredArticle
from assistant.store.directory import IndexDir
from assistant.store.keyword import Postings
from assistant.store.merge import merge_plan, merge_segments
from assistant.store.segments import new_segment_name, write_segment
from assistant.text.entities import extract
from assistant.types import Article, Chunk

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
SENTENCES_PER_CHUNK = 6
CHUNKS_PER_ARTICLE = 10


def real_articles(name: str = "squad2-dev") -> list[Article]:
    with open(SHARED / name / "docs.jsonl", encoding="utf-8") as f:
        return [Article(d["id"], d["title"], d["text"], d.get("url")) for d in map(json.loads, f)]


def build(root: Path, chunks: int, embedder: Embedder, seed: int = 0, progress: bool = True,
          real: int | None = None) -> Assistant:
    """An index at `root` with about `chunks` chunks; reused if one of that size is already there.

    `real` limits the squad2-dev paragraphs embedded for real (all 176 by default).
    """
    settings = Settings(index=root)
    assistant = Assistant(settings, embedder=embedder)
    index = IndexDir(root)
    if index.exists() and index.manifest().chunks >= chunks:
        return assistant
    began = time.perf_counter()
    assistant.ingest_articles(real_articles()[:real], rebuild=True)
    with index.catalog() as catalog:
        indexed = list(catalog.articles())
    real_vectors = embedder.embed([searchable_text(s.article, c) for s in indexed for c in s.chunks])
    sentences = _sentences(real_articles("squad2-train"))
    rng = np.random.default_rng(seed)
    missing = chunks - sum(len(s.chunks) for s in indexed)
    from tqdm import tqdm

    with index.lock(), index.catalog() as catalog, tqdm(total=missing, unit="chunk", desc="padding",
                                                         disable=not progress) as bar:
        serial = 0
        while missing > 0:
            batch = []
            while sum(len(s.chunks) for s in batch) < BATCH_CHUNKS and missing > 0:
                stored = _article(f"pad-{seed}-{serial}", sentences, rng)
                batch.append(stored)
                missing -= len(stored.chunks)
                serial += 1
            n = sum(len(s.chunks) for s in batch)
            centres = real_vectors[rng.integers(0, len(real_vectors), n)]
            vectors = centres + rng.normal(0, 0.6 / np.sqrt(embedder.dimension), centres.shape)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            name = new_segment_name()
            documents = [[chunk_terms(s.article, c) for c in s.chunks] for s in batch]
            with catalog.transaction():
                chunk_ids, sentence_ids = catalog.insert(batch, name, documents)
                sentence_vectors = np.repeat(vectors, SENTENCES_PER_CHUNK, axis=0)[: len(sentence_ids)]
                postings = Postings.build([t for terms in documents for t in terms])
                write_segment(catalog.directory, name, vectors, postings, np.array(chunk_ids), sentence_vectors,
                              np.array(sentence_ids))
                catalog.add_segment(name, len(chunk_ids), len(sentence_ids))
                articles, total = catalog.counts()
                manifest = catalog.manifest()
                catalog.write_manifest(type(manifest)(**{**manifest.to_dict(), "articles": articles, "chunks": total}))
            while names := merge_plan(catalog.segments(), catalog.deleted()):
                merge_segments(catalog, catalog.directory, names)
            bar.update(n)
    if progress:
        print(f"built {index.manifest().chunks} chunks at {root} in {time.perf_counter() - began:.0f} s")
    return assistant


def _sentences(articles: list[Article]) -> list[str]:
    from assistant.text.sentences import sentence_spans

    return [a.text[s:e] for a in articles for s, e in sentence_spans(a.text)]


def _article(article_id: str, sentences: list[str], rng: np.random.Generator) -> StoredArticle:
    """Ten chunks of six real sentences each, one chunk a line, with exact offsets."""
    text, chunks, spans = "", [], []
    for ordinal in range(CHUNKS_PER_ARTICLE):
        start = len(text)
        for j in rng.integers(0, len(sentences), SENTENCES_PER_CHUNK):
            text += " " if len(text) > start else ""
            spans.append((len(text), len(text) + len(sentences[j])))
            text += sentences[j]
        chunks.append(Chunk(article_id, ordinal, start, len(text), text[start:]))
        text += "\n"
    article = Article(article_id, f"Padding {article_id}", text, source="synthetic")
    # Names, descriptions and quotes as an ingest finds them (Indexer.split), for the entity index.
    return StoredArticle(article, article.content_hash, tuple(chunks), tuple(spans), extract(text, spans))
