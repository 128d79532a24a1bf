"""Export the bundled all-MiniLM-L6-v2 as int8 ONNX with token-level outputs, into assistant/models/.

    python scripts/export_embedder.py [--out DIR]

Writes `embedder.onnx` (the transformer, int8 weights), `embedder-words.npy` (its 8-bit word-piece
table, a graph input rather than an initializer so that `word_vectors` can read it without
shipping it twice), `embedder-tokenizer.json` and `embedder.json` (name, dimension, window, the
table's zero point and scale). The output is the last hidden state, not a pooled vector: late
chunking pools it over each sentence's word pieces.

Quantisation is onnxruntime's dynamic int8 with per-channel weight scales. Per-tensor scales
(what the reader uses) kept mean cosine to fp32 at 0.953 (worst 0.892) on squad2-dev paragraphs;
per-channel 0.994 (worst 0.989), at the same size and speed. Needs the dev dependency `onnx`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import DEFAULT_MODEL  # noqa: E402
from assistant.embed.onnx import CONFIG_FILE, MODEL_DIR, MODEL_FILE, TOKENIZER_FILE, WORDS_FILE, WORDS_INPUT  # noqa: E402
from assistant.embed.torch import resolve_model  # noqa: E402

TABLE = "word_embeddings.weight_quantized"  # how quantize_dynamic names the int8 word-piece table


def export(out: Path) -> dict:
    """Write the four files into `out`; returns embedder.json's contents."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    base = resolve_model(DEFAULT_MODEL)
    model = SentenceTransformer(base, device="cpu")
    bert = model[0].auto_model.eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    dummy = model.tokenizer(["a sentence to trace", "another"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        torch.onnx.export(TokenEmbeddings(), (dummy["input_ids"], dummy["attention_mask"]), str(fp32),
                          input_names=["input_ids", "attention_mask"], output_names=["token_embeddings"],
                          opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_embeddings": axes})
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        graph_model = onnx.load(str(int8))
    graph = graph_model.graph
    inits = {i.name: i for i in graph.initializer}
    (table_name,) = [n for n in inits if n.endswith(TABLE)]
    stem = table_name[: -len("_quantized")]
    table = onnx.numpy_helper.to_array(inits[table_name])
    scale = float(onnx.numpy_helper.to_array(inits[stem + "_scale"]))
    zero_point = int(onnx.numpy_helper.to_array(inits[stem + "_zero_point"]))
    # The table becomes an input: the runtime passes the same array it reads word vectors from.
    graph.initializer.remove(inits[table_name])
    graph.input.append(onnx.helper.make_tensor_value_info(
        WORDS_INPUT, onnx.helper.np_dtype_to_tensor_dtype(table.dtype), list(table.shape)))
    for node in graph.node:
        node.input[:] = [WORDS_INPUT if name == table_name else name for name in node.input]
    onnx.save(graph_model, str(out / MODEL_FILE))
    np.save(out / WORDS_FILE, table)
    (out / TOKENIZER_FILE).write_bytes((Path(base) / "tokenizer.json").read_bytes())
    config = {
        "name": f"{DEFAULT_MODEL}@onnx-int8",
        "dimension": int(model.get_embedding_dimension()),
        "max_seq_length": int(model.max_seq_length),
        "words_zero_point": zero_point,
        "words_scale": scale,
        "exported_by": "scripts/export_embedder.py: torch.onnx (opset 17) + onnxruntime quantize_dynamic "
                       "(QInt8, per_channel)",
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    config = export(args.out)
    sizes = {f: (args.out / f).stat().st_size for f in (MODEL_FILE, WORDS_FILE, TOKENIZER_FILE, CONFIG_FILE)}
    print(json.dumps({"config": config, "bytes": sizes, "total_mb": round(sum(sizes.values()) / 1e6, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
