"""Segments: immutable batches of chunk vectors, keyword postings and sentence vectors, by id.

Each ingest batch writes one segment directory beside the catalog, fsynced and renamed into place
before the transaction that inserts its rows registers it; merges (merge.py) rewrite several as one.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from assistant.store.durable import fsync_dir, fsync_tree
from assistant.store.format import CHUNK_IDS, SEGMENTS, SENTENCE_IDS, SENTENCE_VECTORS
from assistant.store.keyword import Postings
from assistant.store.vector_index import VectorIndex


class Segment:
    """One immutable batch: chunk vectors and postings (searchable), sentence vectors, by id."""

    def __init__(self, name: str, vectors: VectorIndex | None, postings: Postings, chunk_ids: np.ndarray,
                 sentence_vectors: np.ndarray, sentence_ids: np.ndarray):
        self.name = name
        self.vectors = vectors  # None when the chunk vectors live in Milvus
        self.postings = postings  # rows are vector rows
        self.chunk_ids = chunk_ids  # ascending, one per vector row
        self.sentence_vectors = sentence_vectors
        self.sentence_ids = sentence_ids  # ascending, one per sentence vector row

    @classmethod
    def load(cls, directory: Path) -> Segment:
        """Memory-maps what numpy and faiss allow: start-up reads headers, not every vector."""
        return cls(
            directory.name,
            VectorIndex.load(directory) if VectorIndex.saved_in(directory) else None,
            Postings.load(directory),
            np.load(directory / CHUNK_IDS, mmap_mode="r"),
            np.load(directory / SENTENCE_VECTORS, mmap_mode="r"),
            np.load(directory / SENTENCE_IDS, mmap_mode="r"),
        )

    def sentence_vector(self, sentence_id: int) -> np.ndarray:
        row = int(np.searchsorted(self.sentence_ids, sentence_id))
        return np.asarray(self.sentence_vectors[row], dtype=np.float32)

    def rows_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        """Vector rows of the given chunk ids (which must be in this segment)."""
        return np.searchsorted(self.chunk_ids, chunk_ids)


def new_segment_name() -> str:
    """A fresh segment name; rows name their segment before its files are written."""
    return f"seg-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def write_segment(store: Path, name: str, chunk_vectors: np.ndarray | None, postings: Postings,
                  chunk_ids: np.ndarray, sentence_vectors: np.ndarray, sentence_ids: np.ndarray) -> None:
    """Write a complete segment directory: fsynced, then renamed into place.

    Ids must ascend. The caller registers the name in the catalog in the transaction that makes
    the rows visible; until then the directory is invisible to readers. `chunk_vectors` is None
    when they are kept elsewhere (`ChunkVectors.add` says).
    """
    segments = store / SEGMENTS
    segments.mkdir(parents=True, exist_ok=True)
    tmp = segments / f".tmp-{name}"
    tmp.mkdir()
    try:
        if chunk_vectors is not None:
            VectorIndex.build(np.ascontiguousarray(chunk_vectors, dtype=np.float32)).save(tmp)
        postings.save(tmp)
        np.save(tmp / CHUNK_IDS, np.asarray(chunk_ids, dtype=np.int64))
        np.save(tmp / SENTENCE_VECTORS, np.asarray(sentence_vectors, dtype=np.float16))
        np.save(tmp / SENTENCE_IDS, np.asarray(sentence_ids, dtype=np.int64))
        fsync_tree(tmp)
        os.rename(tmp, segments / name)
        fsync_dir(segments)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
