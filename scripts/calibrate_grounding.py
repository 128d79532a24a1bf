"""Choose the support threshold that decides whether a cited passage backs an LLM's sentence.

    python scripts/calibrate_grounding.py [--docs D.jsonl] [--qa QA.jsonl] [--index DIR] [--weights 0.25,0.5,0.75]

No LLM is needed. For each answerable question, the claim an LLM would write is approximated by
the question with its gold answer appended ("When did the Arab oil producers lift the embargo
March 1974."), and scored with `assistant.llm.grounding.support` against the question's retrieved
passages (the real index and model, as at run time):

    supported      the claim against its gold passage (which contains the answer)
    wrong passage  the claim against a retrieved passage without any gold answer
    wrong fact     the claim with another question's answer, against the gold passage

Precision is measured on a pool of equal parts supported and unsupported (half wrong passage,
half wrong fact), so it does not depend on how many passages were retrieved. The threshold printed
is the one with the best F1; record it, with its numbers, in assistant/grounding.py.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings  # noqa: E402
from assistant.llm.grounding import LEXICAL_WEIGHT, SUPPORT_THRESHOLD, support  # noqa: E402
from assistant.service import Assistant  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval" / "squad2-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=EVAL / "docs.jsonl")
    parser.add_argument("--qa", type=Path, default=EVAL / "qa.jsonl")
    parser.add_argument("--index", type=Path, help="reuse (or build) the index here instead of a temporary one")
    parser.add_argument("--weights", default=f"0.25,{LEXICAL_WEIGHT},0.75", help="lexical weights to compare")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        assistant = Assistant(Settings(index=index, llm="none"))
        if not index.exists():
            assistant.ingest([str(args.docs)])
        questions = [json.loads(line) for line in args.qa.read_text().splitlines() if line.strip()]
        pairs = claim_pairs(assistant, [q for q in questions if q["answerable"]])
        print(f"{sum(k == 'supported' for k, *_ in pairs)} supported, "
              f"{sum(k == 'wrong passage' for k, *_ in pairs)} wrong-passage, "
              f"{sum(k == 'wrong fact' for k, *_ in pairs)} wrong-fact pairs")
        retriever = assistant.retriever()
        for weight in sorted({float(w) for w in args.weights.split(",")}):
            scores: dict[str, list[float]] = {"supported": [], "wrong passage": [], "wrong fact": []}
            for kind, claim, vector, passage in pairs:
                found = support(claim, vector, passage, retriever, lexical_weight=weight)
                scores[kind].append(found.score if found else 0.0)
            report(weight, {k: np.array(v) for k, v in scores.items()})


def claim_pairs(assistant: Assistant, questions: list[dict]) -> list[tuple]:
    """(kind, claim, claim vector, passage) for every retrieved passage of every question."""
    rng = random.Random(0)
    pairs = []
    for q in questions:
        other = rng.choice([x for x in questions if x["id"] != q["id"]])["answers"][0]
        stem = q["question"].rstrip("?").strip()
        claim, wrong = f"{stem} {q['answers'][0]}.", f"{stem} {other}."
        vectors = assistant.embedder.embed([claim, wrong])
        for passage in assistant.search(q["question"], assistant.settings.top_k):
            holds = any(_norm(a) in _norm(passage.chunk.text) for a in q["answers"])
            if holds and passage.chunk.article_id in q["doc_ids"]:
                pairs.append(("supported", claim, vectors[0], passage))
                if _norm(other) not in _norm(passage.chunk.text):
                    pairs.append(("wrong fact", wrong, vectors[1], passage))
            elif not holds:
                pairs.append(("wrong passage", claim, vectors[0], passage))
    return pairs


def report(weight: float, scores: dict[str, np.ndarray]) -> None:
    print(f"\nlexical weight {weight:g}\n  threshold  recall  precision  F1     wrong passage kept  wrong fact kept")
    best = None
    for threshold in np.round(np.arange(0.40, 0.80, 0.01), 2):
        recall = float((scores["supported"] >= threshold).mean())
        passage_fp = float((scores["wrong passage"] >= threshold).mean())
        fact_fp = float((scores["wrong fact"] >= threshold).mean())
        precision = recall / (recall + (passage_fp + fact_fp) / 2) if recall else 0.0
        f1 = 2 * precision * recall / (precision + recall) if recall else 0.0
        row = (threshold, recall, precision, f1, passage_fp, fact_fp)
        best = row if best is None or f1 > best[3] else best
        if round(threshold * 100) % 4 == 0 or threshold == SUPPORT_THRESHOLD:
            print("  {:.2f}       {:.3f}   {:.3f}      {:.3f}  {:.3f}               {:.3f}".format(*row))
    print("  best F1 at threshold {:.2f}: recall {:.3f}, precision {:.3f}, F1 {:.3f}, "
          "wrong passage kept {:.3f}, wrong fact kept {:.3f}".format(*best))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


if __name__ == "__main__":
    main()
