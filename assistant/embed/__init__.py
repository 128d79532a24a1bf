"""Text -> unit-norm vectors: the `Embedder` seam and its backends.

    base.py  the interface (one required method, `embed`), late-chunking pooling, the factory
    onnx.py  the bundled all-MiniLM-L6-v2 as int8 ONNX on onnxruntime (the default)
"""
