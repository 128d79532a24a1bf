"""Text -> unit-norm vectors: the `Embedder` seam, one backend per file, and the factory.

    base.py     the interface (one required method, `embed`) and late-chunking pooling
    onnx.py     the bundled all-MiniLM-L6-v2 as int8 ONNX on onnxruntime (the default)
    torch.py    any sentence-transformers model through torch
    factory.py  `load_embedder`: which backend for the configured model (ASSISTANT_EMBED_BACKEND)
    llama.py    an Embedder as a llama-index embedding model
"""
