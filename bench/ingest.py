"""Ingest throughput: ours against llama-index's default pipeline and the bare model forward, one run.

    .venv/bin/python bench/ingest.py [--quick] [--repeats 3] [--chunks 20000] [--batch-size 32]

Collections: ../shared/eval/squad2-dev/docs.jsonl, and a synthetic one of at least --chunks of
our chunks, made by recombining squad2 (dev and train) sentences across paragraphs, so that its
text is real prose. Every pipeline runs in a process of its own, the pipelines interleaved and
repeated; medians are printed. Two clocks, both printed:

- e2e: process start to index on disk (the child's wall time, measured here), model load included;
- in-process: after imports, model load and loading Punkt (off the clock for every pipeline).

Pipelines:
- `ours`: `load_embedder()` (int8 ONNX) + `Assistant.ingest`, what `assistant ingest` runs once
  service.py builds its embedder with `load_embedder`;
- `ours torch`: the same with `load_embedder(backend="torch")`: fp32 sentence-transformers, late chunking;
- `ours cli`: `python -m assistant ingest` as the CLI builds it on this branch (its in-process
  figure is the CLI's own report, which includes importing llama-index and faiss);
- `llama-index`: `SentenceSplitter()` + `VectorStoreIndex` persisted to disk, same model
  (sentence-transformers, fp32 torch);
- `forward onnx` / `forward torch`: the limit: our chunk texts, length-sorted, tokenised,
  batched and run through the model alone (no pooling, no index), in-process clock only.

tokens = word pieces the model reads ([CLS]/[SEP] included, each text cut at 256).
`--quick` (a smoke test, about a minute): a few articles, one repeat, no torch rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT))

WINDOW = 256  # all-MiniLM-L6-v2's max_seq_length
PIPELINES = ["ours", "ours torch", "ours cli", "llama-index", "forward onnx", "forward torch"]
QUICK_PIPELINES = ["ours", "llama-index", "forward onnx"]


# --- collections ---------------------------------------------------------------------------

def synthetic(chunks: int, out: Path, seed: int = 12) -> Path:
    """A JSONL collection of about `chunks` (at least, by a margin) of our 200-token chunks.

    Sentences of squad2 dev and train paragraphs, shuffled and dealt into articles of 8 to 16;
    a sentence recurs in several articles once the pool runs out, each time among other neighbours.
    """
    from assistant.text.sentences import sentence_spans

    pool = []
    for docs in (EVAL / "squad2-dev" / "docs.jsonl", EVAL / "squad2-train" / "docs.jsonl"):
        for line in docs.read_text().splitlines():
            doc = json.loads(line)
            pool += [(doc["title"], doc["text"][a:b]) for a, b in sentence_spans(doc["text"])]
    rng = random.Random(seed)
    # About 160 new word pieces per chunk (200 less the overlap); 1.35 word pieces per word here.
    wanted, words, n = chunks * 160 * 1.15, 0.0, 0
    with out.open("w") as f:
        deck: list = []
        while words * 1.35 < wanted:
            size = rng.randint(8, 16)
            if len(deck) < size:
                deck = rng.sample(pool, len(pool)) + deck
            picked, deck = deck[:size], deck[size:]
            text = " ".join(s for _, s in picked)
            words += len(text.split())
            f.write(json.dumps({"id": f"synthetic-{n}", "title": f"Synthetic {n}: {picked[0][0]}", "text": text}) + "\n")
            n += 1
    return out


def head(docs: Path, lines: int, out: Path) -> Path:
    out.write_text("\n".join(docs.read_text().splitlines()[:lines]) + "\n")
    return out


# --- children: one pipeline each, a JSON line on stdout ------------------------------------

def child(name: str, docs: Path, work: Path, batch_size: int) -> dict:
    if name.startswith("ours"):
        return _ours(docs, work, batch_size, "torch" if name == "ours torch" else "auto")
    if name == "llama-index":
        return _llama(docs, work)
    return _forward(name.split()[1], docs, batch_size)


def _ours(docs: Path, work: Path, batch_size: int, backend: str) -> dict:
    from assistant.config import Settings
    from assistant.embed.factory import load_embedder
    from assistant.service import Assistant

    assistant = Assistant(Settings(index=work / "index", embed_batch_size=batch_size),
                          embedder=load_embedder(batch_size=batch_size, backend=backend))
    _warm_up()
    report = assistant.ingest([str(docs)], rebuild=True)
    texts = _our_chunk_texts(assistant)
    return {"seconds": report.seconds, "chunks": report.total_chunks, "tokens": _tokens(assistant.embedder, texts),
            "backend": assistant.embedder.name}


def _warm_up() -> None:
    """What the in-process clock leaves out for both pipelines: imports, Punkt's model (the e2e clock has them)."""
    import faiss  # noqa: F401
    import llama_index.core  # noqa: F401
    import llama_index.retrievers.bm25  # noqa: F401
    import llama_index.vector_stores.faiss  # noqa: F401

    from assistant.text.sentences import sentence_spans

    sentence_spans("Loads the sentence splitter. Once.")


def _our_chunk_texts(assistant) -> list[str]:
    from assistant.ingest.chunking import searchable_text

    return [searchable_text(s.article, c) for s in assistant.index.articles().values() for c in s.chunks]


def _tokens(embedder, texts: list[str]) -> int:
    return sum(min(n + 2, WINDOW) for n in embedder.count_tokens(texts))


def _llama(docs: Path, work: Path) -> dict:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    from assistant.embed.llama import as_llama_embedding
    from assistant.embed.torch import SentenceTransformerEmbedder
    from assistant.ingest.sources import read_sources

    embedder = SentenceTransformerEmbedder()
    _warm_up()
    began = time.perf_counter()
    articles = list(read_sources([str(docs)]))
    nodes = SentenceSplitter().get_nodes_from_documents([Document(text=a.text, id_=a.id) for a in articles])
    index = VectorStoreIndex(nodes, embed_model=as_llama_embedding(embedder))
    index.storage_context.persist(persist_dir=str(work / "llama"))
    seconds = time.perf_counter() - began
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    return {"seconds": seconds, "chunks": len(nodes), "tokens": _tokens(embedder, texts), "backend": "torch fp32"}


def _forward(backend: str, docs: Path, batch_size: int) -> dict:
    """The model alone over our chunk texts: tokenise, sort by length, pad per batch, run."""
    import numpy as np
    from tokenizers import Tokenizer

    from assistant.embed.torch import resolve_model
    from assistant.ingest.chunking import CHARS_PER_TOKEN, Chunker
    from assistant.ingest.chunking import searchable_text
    from assistant.ingest.sources import read_sources

    tokenizer = Tokenizer.from_file(str(Path(resolve_model("all-MiniLM-L6-v2")) / "tokenizer.json"))
    tokenizer.no_padding()
    count = Tokenizer.from_file(str(Path(resolve_model("all-MiniLM-L6-v2")) / "tokenizer.json"))
    count.no_padding()
    count.no_truncation()
    tokenizer.enable_truncation(max_length=WINDOW)
    chunker = Chunker(lambda ts: [len(e.ids) for e in count.encode_batch(list(ts), add_special_tokens=False)],
                      200, 40, CHARS_PER_TOKEN * (WINDOW - 2))
    texts = [searchable_text(a, c) for a in read_sources([str(docs)]) for c in chunker.chunk(a)]
    run = _onnx_forward() if backend == "onnx" else _torch_forward()
    run(np.ones((1, 8), np.int64), np.ones((1, 8), np.int64))  # first-call allocations, off the clock
    began = time.perf_counter()
    ids = sorted((e.ids for e in tokenizer.encode_batch(texts)), key=len)
    for b in range(0, len(ids), batch_size):
        rows = ids[b : b + batch_size]
        batch = np.zeros((len(rows), len(rows[-1])), np.int64)
        mask = np.zeros_like(batch)
        for r, row in enumerate(rows):
            batch[r, : len(row)] = row
            mask[r, : len(row)] = 1
        run(batch, mask)
    return {"seconds": time.perf_counter() - began, "chunks": len(texts), "tokens": sum(map(len, ids)),
            "backend": backend}


def _onnx_forward():
    import numpy as np

    from assistant.embed.onnx import MODEL_DIR, WORDS_FILE, WORDS_INPUT, load_session

    session = load_session()  # the session options ours runs with
    table = np.load(MODEL_DIR / WORDS_FILE)
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask, WORDS_INPUT: table})


def _torch_forward():
    import torch
    from transformers import AutoModel

    from assistant.embed.torch import resolve_model

    model = AutoModel.from_pretrained(resolve_model("all-MiniLM-L6-v2")).eval()

    def run(ids, mask):
        with torch.inference_mode():
            return model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state

    return run


# --- the parent: spawn, time, tabulate -------------------------------------------------------

def spawn(name: str, docs: Path, work: Path, batch_size: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if name == "ours cli":
        command = [sys.executable, "-m", "assistant", "ingest", str(docs), "--index", str(work / "cli"),
                   "--rebuild", "--json"]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--docs", str(docs),
                   "--work", str(work), "--batch-size", str(batch_size)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    e2e = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if name == "ours cli":  # the CLI's own report; tokens are those of `ours` (same chunks)
        result = {"seconds": result["seconds"], "chunks": result["total_chunks"], "tokens": None, "backend": "cli"}
    return {**result, "e2e": e2e}


def measure(label: str, docs: Path, pipelines: list[str], repeats: int, batch_size: int) -> dict:
    runs: dict[str, list[dict]] = {p: [] for p in pipelines}
    for r in range(repeats):
        # Rotate the order, so no pipeline always runs right after the same neighbour.
        for name in pipelines[r % len(pipelines):] + pipelines[: r % len(pipelines)]:
            with tempfile.TemporaryDirectory() as tmp:
                runs[name].append(spawn(name, docs, Path(tmp), batch_size))
            print(f"  [{label}] repeat {r + 1} {name}: {runs[name][-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    for run in runs.get("ours cli", []):
        run["tokens"] = runs["ours"][0]["tokens"] if "ours" in runs else None  # the same chunk texts
    return runs


def summarise(runs: dict[str, list[dict]]) -> dict:
    def med(values):
        return statistics.median(values)

    rows = {}
    for name, rs in runs.items():
        row = {"chunks": rs[0]["chunks"], "tokens": rs[0]["tokens"], "backend": rs[0]["backend"],
               "seconds": med([r["seconds"] for r in rs]), "chunks_per_s": med([r["chunks"] / r["seconds"] for r in rs])}
        if rs[0]["tokens"]:
            row["tokens_per_s"] = med([r["tokens"] / r["seconds"] for r in rs])
        if not name.startswith("forward"):
            row["e2e_seconds"] = med([r["e2e"] for r in rs])
            row["e2e_chunks_per_s"] = med([r["chunks"] / r["e2e"] for r in rs])
        rows[name] = row
    ratios = {}

    def paired(a: str, b: str, value) -> float | None:
        if a in runs and b in runs:
            return med([value(x) / value(y) for x, y in zip(runs[a], runs[b])])
        return None

    for ours in ("ours", "ours torch", "ours cli"):
        ratios[f"{ours} / llama-index chunks/s, e2e"] = paired(ours, "llama-index", lambda r: r["chunks"] / r["e2e"])
        ratios[f"{ours} / llama-index chunks/s, in-process"] = paired(ours, "llama-index", lambda r: r["chunks"] / r["seconds"])
    for ours, limit in (("ours", "forward onnx"), ("ours", "forward torch"), ("ours torch", "forward torch")):
        ratios[f"{ours} / {limit} tokens/s, in-process"] = paired(ours, limit, lambda r: r["tokens"] / r["seconds"])
    return {"pipelines": rows, "ratios": {k: v for k, v in ratios.items() if v is not None}}


def print_table(label: str, summary: dict) -> None:
    print(f"\n## {label}\n")
    print("| pipeline | in-process s | e2e s | chunks | chunks/s in-process | chunks/s e2e | tokens/s in-process |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in summary["pipelines"].items():
        e2e = f"{row['e2e_seconds']:.2f}" if "e2e_seconds" in row else "–"
        e2e_rate = f"{row['e2e_chunks_per_s']:.1f}" if "e2e_chunks_per_s" in row else "–"
        tps = f"{row['tokens_per_s']:.0f}" if "tokens_per_s" in row else "–"
        print(f"| {name} | {row['seconds']:.2f} | {e2e} | {row['chunks']} | {row['chunks_per_s']:.1f} | {e2e_rate} | {tps} |")
    print()
    for name, ratio in summary["ratios"].items():
        print(f"- {name}: {ratio:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-scale smoke run: tiny collections, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=20_000, help="size of the synthetic collection, in our chunks; 0: skip it")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--docs", type=Path, default=EVAL / "squad2-dev" / "docs.jsonl")
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, help="default: all (quick: ours, llama-index, forward onnx)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=["ours", "ours torch", "llama-index", "forward onnx", "forward torch"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.docs, args.work, args.batch_size)))
        return 0

    pipelines = args.pipelines or (QUICK_PIPELINES if args.quick else PIPELINES)
    repeats, chunks = (1, 40) if args.quick else (args.repeats, args.chunks)
    load_before = os.getloadavg()
    results = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        docs = head(args.docs, 8, Path(tmp) / "docs.jsonl") if args.quick else args.docs
        collections = {f"{args.docs.parent.name} {args.docs.name}" + (" (first 8)" if args.quick else ""): docs}
        if chunks:
            collections[f"synthetic (>= {chunks} chunks)"] = synthetic(chunks, Path(tmp) / "synthetic.jsonl")
        for label, path in collections.items():
            summary = summarise(measure(label, path, pipelines, repeats, args.batch_size))
            results[label] = summary
            print_table(label, summary)
    results["load_average_before_after"] = [load_before[0], os.getloadavg()[0]]
    print(f"\nload average (1 min) before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
