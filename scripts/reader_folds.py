"""Judge a trained reader by article folds: each squad2 question against the sentences of its own paragraph.

    python scripts/reader_folds.py /tmp/reader-work/p5k/trained [--threads 1] [--bf16]
    python scripts/reader_folds.py /tmp/reader-work/p5k/checkpoint.pt      # a run still training
    python scripts/reader_folds.py --onnx assistant/models                  # the shipped reader (no span head)

The setting is `../shared/eval/NOTES.md`'s (no retrieval: the paragraph's sentences, the product's
splitter; a sentence is positive when it holds a gold answer), over 15 article folds: squad2-train's
7 and squad2-dev's 8 (qa_full, 1,620 questions). Per fold:
- top-1: share of answerable questions whose best-scored sentence holds a gold answer;
- abstention recall at <= 8% false abstention: the threshold is the 8th percentile of the answerable
  questions' best probability over the *other* folds of the same set (leave one article out), so
  the fold's own false abstention (also printed) is what an unseen article would get;
- AUC: best probability, answerable against unanswerable questions;
- span EM: SQuAD exact match of the span head's answer in the top sentence, over answerable
  questions whose top sentence holds the answer.
squad2-train's folds are judged apart from dev's: a reader trained on squad2-train has seen them,
so only dev's folds say how it does on unseen articles. Scores are cached beside the model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from reader_data import Pair, exact_match, paragraphs, read_jsonl  # noqa: E402

from assistant.answer.evaluation import contains_answer  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "eval"
SETS = {"squad2-dev": ("docs.jsonl", "qa_full.jsonl"), "squad2-train": ("docs.jsonl", "qa.jsonl")}
MAX_FALSE = 0.08


def questions(name: str) -> list[dict]:
    """Each question of a set with its paragraph's sentences and reader texts."""
    docs, qa = SETS[name]
    paras = paragraphs(SHARED / name / docs)
    out = []
    for q in read_jsonl(SHARED / name / qa):
        p = paras[q["doc_ids"][0]]
        out.append({"set": name, "fold": p.article, "question": q["question"], "answerable": q["answerable"],
                    "answers": q["answers"] if q["answerable"] else [], "texts": p.texts(),
                    "sentences": [p.text[s:e] for s, e in p.sentences]})
    return out


def score_torch(model_path: Path, qs: list[dict], bf16: bool, batch: int = 64) -> None:
    """Adds each question's sentence probabilities and span-head answers (longest pairs first, in batches)."""
    import torch
    from reader_training import ReaderModel, best_spans, collate

    from assistant.config import Settings
    from assistant.embed.torch import resolve_model
    from assistant.answer.reader import load_tokenizer

    base = resolve_model(Settings().model)
    if model_path.suffix == ".pt":
        model = ReaderModel.from_base(base)
        model.load_state_dict(torch.load(model_path, weights_only=False)["model"])
        model.eval()
    else:
        model = ReaderModel.load(model_path)
    tokenizer = load_tokenizer(Path(base) / "tokenizer.json")
    rows = [(i, j, Pair(q["question"], t, 0)) for i, q in enumerate(qs) for j, t in enumerate(q["texts"])]
    rows.sort(key=lambda r: len(r[2].question) + len(r[2].text))
    for q in qs:
        q["p"], q["span"] = [0.0] * len(q["texts"]), [""] * len(q["texts"])
    began = time.perf_counter()
    with torch.no_grad():
        for k in range(0, len(rows), batch):
            chunk = rows[k : k + batch]
            b = collate(tokenizer, [r[2] for r in chunk])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits, start, end = model(**b["inputs"])
            spans = best_spans(start, end, b["sentence"], b["offsets"], [r[2].text for r in chunk])
            for (i, j, pair), logit, (s, e) in zip(chunk, logits.float().tolist(), spans):
                qs[i]["p"][j] = 1.0 / (1.0 + np.exp(-logit))
                qs[i]["span"][j] = pair.text[s:e]
    print(f"scored {len(rows)} pairs in {time.perf_counter() - began:.0f} s", file=sys.stderr)


def score_onnx(directory: Path, qs: list[dict]) -> None:
    from assistant.answer.reader import Reader

    reader = Reader(directory, threads=1)
    for q in qs:
        q["p"], q["span"] = reader.score(q["question"], q["texts"]).tolist(), None


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a random answerable question's best beats a random unanswerable one's), ties half."""
    if not positive or not negative:
        return float("nan")
    neg = np.sort(np.array(negative))
    pos = np.array(positive)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + ties / 2).sum() / (len(pos) * len(neg)))


def threshold(best_answerable: list[float], max_false: float = MAX_FALSE) -> float:
    """The highest threshold that abstains on at most `max_false` of these answerable questions."""
    ordered = sorted(best_answerable)
    return ordered[int(max_false * len(ordered))] if ordered else 0.0


def fold_figures(qs: list[dict]) -> list[dict]:
    """Per article of each set, the figures of the module docstring (threshold from the set's other folds)."""
    for q in qs:
        top = int(np.argmax(q["p"])) if q["p"] else -1
        q["best"] = max(q["p"]) if q["p"] else 0.0
        q["top_has"] = top >= 0 and q["answerable"] and contains_answer(q["sentences"][top], q["answers"])
        q["em"] = bool(q["top_has"] and q["span"] is not None and exact_match(q["span"][top], q["answers"]))
    rows = []
    for name in dict.fromkeys(q["set"] for q in qs):
        in_set = [q for q in qs if q["set"] == name]
        for fold in sorted({q["fold"] for q in in_set}):
            mine = [q for q in in_set if q["fold"] == fold]
            others = [q["best"] for q in in_set if q["fold"] != fold and q["answerable"]]
            t = threshold(others)
            yes = [q for q in mine if q["answerable"]]
            no = [q for q in mine if not q["answerable"]]
            held = [q for q in yes if q["top_has"] and q["span"] is not None]
            rows.append({
                "set": name, "fold": fold, "answerable": len(yes), "unanswerable": len(no),
                "top1": sum(q["top_has"] for q in yes) / len(yes),
                "abstain@8%": sum(q["best"] < t for q in no) / max(1, len(no)),
                "false abstention": sum(q["best"] < t for q in yes) / len(yes),
                "auc": auc([q["best"] for q in yes], [q["best"] for q in no]),
                "span EM": sum(q["em"] for q in held) / len(held) if held else float("nan"),
            })
    return rows


def pooled(qs: list[dict]) -> dict:
    """NOTES.md's whole-set figures (threshold on the same questions), to compare with its tables."""
    yes = [q["best"] for q in qs if q["answerable"]]
    no = [q["best"] for q in qs if not q["answerable"]]
    return {"top1": sum(q["top_has"] for q in qs if q["answerable"]) / len(yes),
            "abstain@10%": sum(bool(b < threshold(yes, 0.10)) for b in no) / len(no),
            "abstain@8%": sum(bool(b < threshold(yes, 0.08)) for b in no) / len(no), "auc": auc(yes, no)}


COLUMNS = ["top1", "abstain@8%", "false abstention", "auc", "span EM"]


def table(rows: list[dict]) -> str:
    lines = ["| set | fold | answerable / not | " + " | ".join(COLUMNS) + " |",
             "|---|---|---:|" + "---:|" * len(COLUMNS)]
    for r in rows:
        lines.append(f"| {r['set']} | {r['fold']} | {r['answerable']} / {r['unanswerable']} | "
                     + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + " |")
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name]
        mean = {c: statistics.mean(r[c] for r in mine) for c in COLUMNS}
        # The worst fold is the lowest, except for false abstention, where it is the highest.
        worst = {c: (max if c == "false abstention" else min)(r[c] for r in mine) for c in COLUMNS}
        for label, d in (("mean", mean), ("worst", worst)):
            figures = " | ".join(f"{d[c]:.3f}" for c in COLUMNS)
            lines.append(f"| {name} | **{label}** ({len(mine)} folds) | | {figures} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", help="a trained/ folder or a checkpoint.pt")
    parser.add_argument("--onnx", type=Path, help="score with an exported reader instead (no span head)")
    parser.add_argument("--sets", nargs="*", choices=list(SETS), default=list(SETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = args.onnx or args.model
    assert source is not None, "give a model folder, a checkpoint.pt, or --onnx DIR"
    cache = (source if source.is_dir() else source.parent) / f"fold-scores-{source.name}-{'-'.join(args.sets)}.json"
    if cache.exists() and cache.stat().st_mtime >= source.stat().st_mtime:
        qs = json.loads(cache.read_text())
    else:
        qs = [q for name in args.sets for q in questions(name)]
        if args.onnx:
            score_onnx(args.onnx, qs)
        else:
            import torch

            torch.set_num_threads(args.threads)
            score_torch(args.model, qs, args.bf16)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(qs))
        os.replace(tmp, cache)
    rows = fold_figures(qs)
    print(table(rows))
    for name in args.sets:
        print(f"{name}, all questions pooled (NOTES.md's setting):",
              {k: round(v, 3) for k, v in pooled([q for q in qs if q["set"] == name]).items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
