"""The read path: a question -> ranked passages (dense and BM25 at once, fused).

    retriever.py  search over one store directory, pinned to one commit per answer
    spelling.py   a misspelled question word respelled as the passages spell it
"""
