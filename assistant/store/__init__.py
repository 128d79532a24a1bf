"""The index on disk: a SQLite catalog beside immutable segments (index/README.md).

    format.py        the on-disk format: every file name, the catalog's tables, the manifest
    directory.py     one index directory: the live store (CURRENT), the writer lock, atomic swaps
    catalog.py       the SQLite catalog: articles, chunks, sentences, segments, tombstones
    segments.py      immutable batches of chunk vectors, keyword postings and sentence vectors
    merge.py         which segments merge when, and the merge
    vectors.py       where chunk vectors live (`ChunkVectors`): FAISS segments or Milvus, by factory
    vector_index.py  one segment's chunk vectors: exact search, or FAISS IVF-PQ above 10,000
    milvus.py        chunk vectors in a Milvus collection instead (ASSISTANT_STORE=milvus)
    keyword.py       BM25: global statistics in the catalog, postings in the segments
    entities.py      the entity index in the catalog: names, mentions, descriptions, quotes
    durable.py       fsync before rename
    feedback.py      readers' votes, beside the stores
    sources.py       synced sources and what each page was when last read, beside the stores
    access.py        restricted collections and read tokens, beside the stores
    sidecar.py       those files beside the stores: a connection a transaction
"""
