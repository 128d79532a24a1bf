"""Chunk vectors in Milvus (ASSISTANT_STORE=milvus), through llama-index's MilvusVectorStore.

One collection per store directory (its name is in the manifest), one entity per chunk: the
catalog's chunk key as primary key, the vector, the chunk text, and the article id (llama-index's
`doc_id`), ordinal, offsets, title and url as typed scalar fields. So the collection is a
llama-index vector store in its own right (a `VectorStoreIndex` over it finds chunks with their
text and metadata), and any number of app replicas can search one Milvus.

Only the vectors move. The catalog, the keyword postings and the sentence vectors stay in the
index directory (see index/README.md), because keyword scores must stay equal to bm25s's with our
analyzer (`terms.py`) and the answerer reads per-term document frequencies, which Milvus's BM25
function neither shares nor exposes; docs/SCALING.md gives the numbers.

Consistency with the catalog, which Milvus cannot join in a transaction:
- new chunks are upserted before the commit that adds their rows: once a reader can see a row,
  its vector is there (the collection reads at "Strong" consistency);
- a search asks only for keys up to the reader's snapshot's highest key, so vectors of a later
  commit, or of a writer that died before its commit, are never returned (committed keys are
  never reused; a dead writer's uncommitted ones are, and the upsert overwrites its vectors);
- deleted chunks' vectors are deleted after the commit that deleted their rows, and the retriever
  drops any key its snapshot lacks; a merge deletes its segments' tombstoned keys again, so a
  writer killed in between leaves nothing behind for long.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import IndexNotBuilt, StoreUnreachable

if TYPE_CHECKING:
    from assistant.types import Passage
    from assistant.store.segments import Segment

# Fields beside llama-index's own (id, doc_id, text, embedding, _node_content): typed, so a cluster
# can index and filter them. VARCHAR lengths are bytes; a chunk is at most ~1,500 characters.
_SCALARS = {"key": "INT64", "ordinal": "INT64", "start": "INT64", "end": "INT64", "title": "VARCHAR", "url": "VARCHAR"}
# Ids per delete expression: `id in [...]` is parsed by the proxy; 1,000 keeps each under ~10 KB.
_DELETE_BATCH = 1000


class MilvusVectors:
    """The chunk vectors of one store directory, in one Milvus collection."""

    kind = "milvus"

    def __init__(self, uri: str | None, collection: str | None, dimension: int, *, create: bool = False):
        if not uri:
            raise StoreUnreachable(
                "ASSISTANT_STORE=milvus needs ASSISTANT_MILVUS_URI: a Milvus server (http://HOST:19530) "
                "or a Milvus Lite file (./milvus.db)"
            )
        if not collection:
            raise IndexNotBuilt("the index's manifest names no Milvus collection; rebuild it with"
                                " ASSISTANT_STORE=milvus and `assistant ingest PATH... --rebuild`")
        self.uri, self.collection, self.dimension = uri, collection, dimension
        self._store = _open(uri, collection, dimension, create)

    def add(self, keys: np.ndarray, vectors: np.ndarray, chunks: Sequence[Passage]) -> None:
        """Upsert one batch's vectors with their metadata; the segment then holds none."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        # Rounded through float16 as the FAISS segments store them, so both backends score alike.
        rows = np.asarray(vectors, np.float32).astype(np.float16).astype(np.float32)
        nodes = []
        for key, vector, row in zip(keys, rows, chunks):
            c = row.chunk
            node = TextNode(
                id_=str(int(key)), text=c.text, embedding=vector.tolist(),
                metadata={"key": int(key), "ordinal": c.ordinal, "start": c.start, "end": c.end,
                          "title": row.title, "url": row.url or ""},
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=c.article_id)},
            )
            nodes.append(node)
        if nodes:
            self._call("write to", self._store.add, nodes)
        return None

    def forget(self, keys: np.ndarray) -> None:
        """Delete the vectors of deleted chunks (absent keys are no error)."""
        ids = [str(int(k)) for k in np.asarray(keys).reshape(-1)]
        for at in range(0, len(ids), _DELETE_BATCH):
            self._call("delete from", self._store.delete_nodes, node_ids=ids[at : at + _DELETE_BATCH])

    def search(self, segments: Iterable[tuple[Segment, np.ndarray]], vector: np.ndarray, k: int,
               newest: int) -> list[tuple[int, float]]:
        """The k nearest chunks with keys up to `newest` (the reader's snapshot), by inner product,
        leaving out the segments' skipped rows in the search itself (a filter expression), so a
        reader's k are k it may read."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        if k <= 0 or newest <= 0:
            return []
        skipped = [int(key) for segment, rows in segments if len(rows)
                   for key in np.asarray(segment.chunk_ids)[np.asarray(rows)]]
        expression = f"key <= {int(newest)}" + (f" and key not in {skipped}" if skipped else "")
        query = VectorStoreQuery(query_embedding=np.asarray(vector, np.float32).tolist(), similarity_top_k=k,
                                 output_fields=["key"])
        result = self._call("search", self._store.query, query, string_expr=expression)
        return [(int(i), float(s)) for i, s in zip(result.ids or [], result.similarities or [])]

    def count(self) -> int:
        """Entities in the collection (deleted ones excluded), for tests and `assistant info`-style checks."""
        rows = self._call("count", self._store.client.query, self.collection, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def drop(self) -> None:
        self._call("drop a collection in", self._store.clear)

    def _call(self, doing: str, method, *args, **kwargs) -> Any:
        from pymilvus.exceptions import MilvusException

        try:
            return method(*args, **kwargs)
        except MilvusException as exc:
            raise StoreUnreachable(f"could not {doing} Milvus collection {self.collection} at {self.uri}: "
                                   f"{_reason(exc)}") from None


def _open(uri: str, collection: str, dimension: int, create: bool):
    """llama-index's MilvusVectorStore over the collection; a reader is refused a missing one, which
    MilvusVectorStore would otherwise create empty (a replica pointed at the wrong Milvus would
    then answer from nothing)."""
    from pymilvus import DataType, MilvusClient
    from pymilvus.exceptions import MilvusException

    # pymilvus logs a connection failure at ERROR before raising; the raised error is reported.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        if not create and not MilvusClient(uri=uri).has_collection(collection):
            raise IndexNotBuilt(
                f"Milvus at {uri} has no collection {collection}, where this index keeps its vectors: point "
                "ASSISTANT_MILVUS_URI at the Milvus it was built with, or rebuild it with "
                "`assistant ingest PATH... --rebuild`"
            )
        from llama_index.vector_stores.milvus import MilvusVectorStore

        return MilvusVectorStore(
            uri=uri, collection_name=collection, dim=dimension,
            similarity_metric="IP",  # unit vectors: the cosine, as the FAISS segments score
            consistency_level="Strong",  # a committed row's vector is visible to every replica at once
            upsert_mode=True,  # a dead writer's uncommitted keys are reused: overwrite its vectors
            index_config={"index_type": "AUTOINDEX"},  # Milvus picks: FLAT in Lite, HNSW-based on a cluster
            scalar_field_names=list(_SCALARS),
            scalar_field_types=[getattr(DataType, t) for t in _SCALARS.values()],
            use_async_client=False,
        )
    except MilvusException as exc:
        lite = "" if "://" in uri else " (a Milvus Lite file opens in one process at a time: is another using it?)"
        raise StoreUnreachable(f"cannot reach Milvus at {uri}: {_reason(exc)}{lite}; start it, or set "
                               "ASSISTANT_MILVUS_URI to where it runs") from None


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())
