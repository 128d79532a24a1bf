"""The index on disk: a SQLite catalog beside immutable segments (index/README.md).

    catalog.py       the catalog, the manifest, segments, merges, the vector seam and the index directory
    keyword.py       BM25: global statistics in the catalog, postings in the segments
    vector_index.py  one segment's chunk vectors: exact search, or FAISS IVF-PQ above 10,000
    milvus.py        chunk vectors in a Milvus collection instead (ASSISTANT_STORE=milvus)
    feedback.py      readers' votes, beside the stores
"""
