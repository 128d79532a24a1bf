"""The write path: files, directories and URLs -> articles -> chunks -> rows and segments in the store.

    sources.py       paths and URLs -> Articles (one InputError per bad input)
    chunking.py      articles -> sentence-aligned chunks with character offsets
    indexer.py       chunks -> vectors -> one transaction and one segment per batch; remove, compact
    ray_pipeline.py  the same parsing, chunking and embedding spread over a Ray cluster
"""
