"""The write path: files, directories and URLs -> articles -> chunks -> rows and segments in the store.

    sources.py       paths and URLs -> Articles (one InputError per bad input), ids, duplicates
    fetch.py         a URL fetched from public addresses only (the SSRF guard, reviewable alone)
    parsers.py       the formats: .txt .md .html .pdf .jsonl bytes -> Articles
    chunking.py      the chunking rule: sentence-aligned chunks with character offsets, and what
                     a chunk is found by (`searchable_text`)
    indexer.py       chunks -> vectors -> one transaction and one segment per batch; remove, compact
    ray_pipeline.py  the same parsing, chunking and embedding spread over a Ray cluster
"""
