"""Where a store keeps its chunk vectors: the seam (`ChunkVectors`), FAISS segments, and the factory.

Where the chunk vectors live is the one thing that differs between the two stores: in each
segment, searched with FAISS (`SegmentVectors`, the default), or in one Milvus collection per store
directory (milvus.py, ASSISTANT_STORE=milvus). One backend per file, chosen by `VectorStore.open`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from assistant.types import Passage
from assistant.store.format import Manifest
from assistant.store.segments import Segment


class ChunkVectors(Protocol):
    """Where one store directory keeps its chunk vectors, and how they are searched.

    `SegmentVectors` (each segment holds its own, searched with FAISS) is the default;
    `assistant.store.milvus.MilvusVectors` keeps them in a Milvus collection. Keys are the
    catalog's chunk ids, which are never reused once committed.
    """

    kind: str

    def add(self, keys: np.ndarray, vectors: np.ndarray, chunks: Sequence[Passage]) -> np.ndarray | None:
        """Keep the vectors of new chunks, before the commit that adds their rows; returns what
        the new segment itself must hold (None: nothing)."""
        ...

    def forget(self, keys: np.ndarray) -> None:
        """Drop the vectors of deleted chunks, after the commit that deleted their rows."""
        ...

    def search(self, segments: Iterable[tuple[Segment, np.ndarray]], vector: np.ndarray, k: int,
               newest: int) -> list[tuple[int, float]]:
        """The k best (chunk key, inner product), best first, among one snapshot's chunks:
        `segments` are its (segment, deleted rows), `newest` its highest chunk key."""
        ...

    def drop(self) -> None:
        """Delete every vector: the store directory is being removed."""
        ...


class SegmentVectors:
    """The default: each segment holds its chunk vectors (`VectorIndex`, FAISS), hidden by tombstones."""

    kind = "faiss"

    def add(self, keys: np.ndarray, vectors: np.ndarray, chunks: Sequence[Passage]) -> np.ndarray:
        return vectors

    def forget(self, keys: np.ndarray) -> None:
        """Nothing to do: tombstones hide the vectors until a merge rewrites their segment."""

    def search(self, segments: Iterable[tuple[Segment, np.ndarray]], vector: np.ndarray, k: int,
               newest: int) -> list[tuple[int, float]]:
        scores, keys = [], []
        for segment, deleted in segments:
            if segment.vectors is None or not len(segment.vectors):
                continue
            s, rows = segment.vectors.search(vector, k, deleted if len(deleted) else None)
            found = rows[0] >= 0
            scores.append(s[0][found])
            keys.append(np.asarray(segment.chunk_ids)[rows[0][found]])
        if not scores:
            return []
        scores_all, keys_all = np.concatenate(scores), np.concatenate(keys)
        best = np.argsort(-scores_all, kind="stable")[:k]
        return [(int(keys_all[i]), float(scores_all[i])) for i in best]

    def drop(self) -> None:
        """Nothing to do: the vectors go with the store directory."""


SEGMENT_VECTORS = SegmentVectors()


@dataclass(frozen=True)
class VectorStore:
    """The configured home of chunk vectors (ASSISTANT_STORE, ASSISTANT_MILVUS_URI), opened per store directory."""

    kind: Literal["faiss", "milvus"] = "faiss"
    milvus_uri: str | None = None

    def new_collection(self) -> str | None:
        """The collection a new store directory's vectors go to; one per store directory, so a
        rebuild never mixes its vectors with those of the store readers may still be reading."""
        return f"assistant_{uuid.uuid4().hex}" if self.kind == "milvus" else None

    def open(self, manifest: Manifest, where: Path, *, create: bool = False) -> ChunkVectors:
        """The vectors of the store whose manifest this is (`create`: a new store's, made empty);
        IndexMismatch if it keeps them elsewhere."""
        manifest.check_store(self.kind, where)
        if self.kind == "faiss":
            return SEGMENT_VECTORS
        from assistant.store.milvus import MilvusVectors

        return MilvusVectors(self.milvus_uri, manifest.collection, manifest.dimension, create=create)
