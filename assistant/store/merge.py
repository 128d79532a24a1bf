"""When segments merge, and the merge itself: tiered, as Lucene does it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.store.catalog import Catalog
from assistant.store.format import SEGMENTS
from assistant.store.keyword import Postings
from assistant.store.segments import Segment, new_segment_name, write_segment
from assistant.store.vectors import SEGMENT_VECTORS, ChunkVectors


# Tiered merging, as Lucene does it: segments of about the same size (the same power of
# MERGE_FACTOR, counted in ingest batches of TIER_BASE chunks) merge once MERGE_FACTOR of them
# exist. Each vector is then rewritten about log4(n / 1024) times in its life (4 at 1,000,000
# chunks), and a search visits at most MERGE_FACTOR - 1 segments per tier. Searching a segment
# costs about 1 ms of fixed work on 2 cores (measured at 100,000 chunks: 22 segments under a
# factor of 10 took 30 ms a search, one took 6.7 ms), so few segments beat cheap merges.
MERGE_FACTOR = 4
TIER_BASE = 1024
# A segment with this share of its vectors deleted is rewritten alone, without them.
MAX_DELETED_SHARE = 0.3


def merge_plan(sizes: dict[str, int], deleted: dict[str, int]) -> list[str]:
    """The segments to merge next (empty: none). `sizes` counts every vector a segment stores."""
    tiers: dict[int, list[str]] = {}
    for name, size in sizes.items():
        tiers.setdefault(int(math.log(max(size, TIER_BASE) / TIER_BASE, MERGE_FACTOR) + 1e-9), []).append(name)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= MERGE_FACTOR:
            return sorted(tiers[tier], key=lambda n: (sizes[n], n))[:MERGE_FACTOR]
    return [n for n, size in sizes.items() if size and deleted.get(n, 0) / size >= MAX_DELETED_SHARE][:1]


def merge_segments(catalog: Catalog, store: Path, names: Sequence[str], vectors: ChunkVectors | None = None) -> str:
    """Rewrite `names` as one segment of their live vectors and postings; the catalog then points at it.

    Call under the writer lock. Costs time in proportion to the merged segments only. Vectors kept
    outside the segments (`vectors`, Milvus) stay where they are; those of the merged segments'
    deleted chunks are dropped there first, so a writer killed between a delete's commit and its
    `forget` leaves nothing behind once the segment merges.
    """
    vectors = vectors or SEGMENT_VECTORS
    segments = [Segment.load(store / SEGMENTS / name) for name in names]
    live = [catalog.live_ids(name) for name in names]
    chunk_ids = np.concatenate([c for c, _ in live])
    order = np.argsort(chunk_ids, kind="stable")  # merged rows ascend by id
    new_row = np.empty(len(order), np.int64)
    new_row[order] = np.arange(len(order))
    dimension = catalog.manifest().dimension
    parts, held, at = [], [], 0
    for segment, (ids, _) in zip(segments, live):
        rows = segment.rows_of(ids)
        parts.append((segment.postings, rows, new_row[at : at + len(ids)]))
        if segment.vectors is not None:
            held.append(np.asarray(segment.vectors.vectors()[rows], np.float32))
        at += len(ids)
    merged_vectors = np.vstack(held).reshape(-1, dimension)[order] if len(held) == len(segments) else None
    sentence_ids = np.concatenate([s for _, s in live])
    sentence_vectors = np.vstack([
        np.asarray(seg.sentence_vectors[np.searchsorted(seg.sentence_ids, s)], np.float16).reshape(-1, dimension)
        for seg, (_, s) in zip(segments, live)
    ])
    by_sentence = np.argsort(sentence_ids, kind="stable")
    merged = new_segment_name()
    write_segment(store, merged, merged_vectors, Postings.merge(parts, len(order)), chunk_ids[order],
                  sentence_vectors[by_sentence], sentence_ids[by_sentence])
    vectors.forget(np.concatenate([catalog.tombstones(name) for name in names]))
    with catalog.transaction():
        catalog.replace_segments(names, merged, len(order), len(sentence_ids))
    return merged
