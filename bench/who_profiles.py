"""Who-is answers on a big store: profile latency, and what the entity index costs other questions.

    .venv/bin/python bench/who_profiles.py [--chunks 100000] [--names 200] [--work DIR] [--quick]

Builds (once, cached under --work) a store of about --chunks chunks with synthetic_store.build:
squad2-dev's paragraphs embedded for real, padded with articles of squad2-train sentences, whose
names, descriptions and quotes are extracted as an ingest extracts them. Then asks, through
`Assistant.ask`, "who is NAME?" and "what did NAME say?" for the most mentioned entities and a
random sample of the rest, and "who is SURNAME?" (several entities: the which-one answer), and
prints their latency percentiles (target: p50 <= 50 ms at 100,000 chunks). Also: how long
extraction takes per MB of text (what an ingest pays), and, over squad2-dev's questions, how
many the profile path takes (only who/what-is-X-say questions may) and what the test costs the others.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import synthetic_store  # noqa: E402

from assistant.answer.profile import asked  # noqa: E402
from assistant.embed.factory import load_embedder  # noqa: E402
from assistant.text.entities import extract  # noqa: E402
from assistant.text.sentences import sentence_spans  # noqa: E402


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.1f}  p95 {p95:.1f}  max {ordered[-1]:.1f} ms  (n={len(ordered)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--names", type=int, default=200, help="entities asked about, half the most mentioned")
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-bench"))
    parser.add_argument("--quick", action="store_true", help="2,000 chunks, 20 names (seconds; the smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.names = 2_000, 20
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    root = args.work / f"entities-{args.chunks}"
    assistant = synthetic_store.build(root, args.chunks, load_embedder(), progress=not args.quick,
                                      real=20 if args.quick else None)
    with assistant.index.catalog() as catalog:
        db = catalog.db
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("entities", "entity_mentions", "entity_facts")}
        ranked = db.execute(
            "SELECT e.name, e.last_word FROM entities e JOIN entity_mentions m ON m.entity = e.id"
            " WHERE e.kind = 'person' AND e.id IN (SELECT entity FROM entity_facts)"
            " GROUP BY e.id ORDER BY count(*) DESC").fetchall()
    chunks = assistant.index.manifest().chunks
    print(f"index: {chunks:,} chunks; {counts['entities']:,} entities, {counts['entity_mentions']:,} mentions, "
          f"{counts['entity_facts']:,} descriptions and quotes")

    rng = random.Random(7)
    top = ranked[: args.names // 2]
    rest = rng.sample(ranked[args.names // 2:], min(len(ranked) - len(top), args.names - len(top)))
    names = top + rest
    assistant.ask(f"who is {names[0][0]}?")  # opens the catalog once
    timings: dict[str, list[float]] = {"who is NAME?": [], "what did NAME say?": [], "who is SURNAME?": []}
    retrieved: list[float] = []  # questions the index could not answer (no description, no quote): today's path
    for name, last in names:
        for label, question in (("who is NAME?", f"who is {name}?"), ("what did NAME say?", f"what did {name} say?"),
                                ("who is SURNAME?", f"who is {last.title()}?")):
            began = time.perf_counter()
            answer = assistant.ask(question)
            ms = (time.perf_counter() - began) * 1000
            from_index = answer.profile is not None or "Which one do you mean?" in answer.answer
            (timings[label] if from_index else retrieved).append(ms)
    print("answers from the entity index through Assistant.ask (target p50 <= 50 ms at 100,000 chunks):")
    for label, values in timings.items():
        print(f"  {label:22} {percentiles(values) if values else 'none'}")
    everything = [v for values in timings.values() for v in values]
    print(f"  all {len(everything)}: {percentiles(everything)}")
    if retrieved:
        print(f"  {len(retrieved)} more went to retrieval (nothing described or quoted): {percentiles(retrieved)}")

    docs = synthetic_store.real_articles()
    texts = [d.text for d in docs]
    spans = [sentence_spans(t) for t in texts]
    began = time.perf_counter()
    for text, found in zip(texts, spans):
        extract(text, found)
    seconds = time.perf_counter() - began
    megabytes = sum(len(t) for t in texts) / 1e6
    print(f"extraction at ingest: {megabytes / seconds:.1f} MB/s ({seconds * 1000:.0f} ms for squad2-dev's "
          f"{megabytes:.2f} MB)")

    with open(synthetic_store.SHARED / "squad2-dev" / "qa.jsonl", encoding="utf-8") as f:
        questions = [json.loads(line)["question"] for line in f]
    began = time.perf_counter()
    routed = [q for q in questions if asked(q) is not None]
    cost = (time.perf_counter() - began) * 1e6 / len(questions)
    print(f"squad2-dev: {len(routed)} of {len(questions)} questions are who/what-does-X-say questions "
          f"(the rest never reach the entity index); the test costs {cost:.1f} µs a question")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
