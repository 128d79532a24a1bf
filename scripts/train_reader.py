"""Train the answerer's reader (a cross-encoder) on squad2-train and choose its thresholds on squad2-dev.

    python scripts/train_reader.py [--epochs 3] [--work DIR] [--write]

1. Pairs: every train question runs through the product's own retrieval and first-stage ranker,
   so the reader learns from the candidates it will meet; the question's own paragraph adds every
   sentence, and answerable questions with a name or number swapped for another from the same
   article add unanswerable near-misses (the way SQuAD 2.0's writers made theirs). A sentence is
   positive when it holds a gold answer of an answerable question. `--residual` keeps only the
   first stage's best few (what the answerer hands the reader), each with the first stage's
   log-odds, which training adds to the model's: the model learns what the first stage misses.
2. Fine-tune all-MiniLM-L6-v2 (the installed embedding model) with a linear head, one-cycle schedule.
   `--bf16` autocast pays only where the CPU multiplies bf16 natively: on a 2-core AMD EPYC with
   AVX512_BF16 a step of 32 pairs x 128 word pieces took 1.65 s against 2.46 s in fp32 (1.5x); on one
   without AVX-512 it took 41-54 s against 1.7 s. `--previous` gives the reader the sentence before
   each candidate as well (see `assistant.reader.reader_text`).
3. Export int8 ONNX (onnxruntime dynamic quantisation) to assistant/models/.
4. On squad2-dev questions that are *not* in its 300-question report sample (qa.jsonl), pick how many
   sentences to read, the abstention threshold (at a false-abstention budget) and the runner-up
   margin; the report sample stays unseen for `assistant eval`.

The squad11 recipe (issue 26; docs/EVALUATION.md, 2026-12-07), judged by scripts/reader_folds.py:

    python scripts/train_reader.py --pairs paragraph --squad11 5000 --span-weight 1 --epochs 1 \
        --bf16 --threads 1 --train-only --work /tmp/reader-work/p5k [--resume]

`--squad11 N` adds N answerable squad11-train questions (whole articles, seeded order: 5k is the
start of 20k) and the unanswerable ones made from them (`--made`, see scripts/reader_data.py);
`--span-weight` trains the span head beside the answer head (scripts/reader_training.py); the
training state is checkpointed in --work every `--checkpoint-every` steps and at the end, and
`--resume` goes on from it. Only the answer head is exported: the answerer does not read spans yet.

Without --write, models go to --work only. Deterministic given the seed, on CPU.
`--evaluate DIR` skips 1-3 for a reader already exported in DIR (`--evaluate assistant/models`:
the shipped one, its thresholds chosen again against today's first stage).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # reader_data, reader_training beside it

from assistant.answer.decision import contradicts, decide  # noqa: E402
from assistant.answer.evaluation import contains_answer  # noqa: E402
from assistant.answer.extractive import ExtractiveAnswerer, reader_texts  # noqa: E402
from assistant.answer.reader import CONFIG_FILE, MAX_TOKENS, MODEL_DIR, MODEL_FILE, TOKENIZER_FILE, Reader, combine, encode, load_tokenizer, log_odds, reader_text  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.embed.torch import resolve_model  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from reader_data import MADE_KINDS  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
FIRST_STAGE = 8  # candidates per question from the first stage: the most the answerer reads
SHIPPED_WEIGHT = 1.0  # the first stage's log-odds added to the reader's: the best of the ablation below
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-z]{2,}\b")


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def built(docs: Path, work: Path, respell: bool = True) -> Assistant:
    """An Assistant over an index of `docs` (built once under `work`)."""
    assistant = Assistant(Settings(index=work / f"index-{docs.parent.name}", respell=respell))
    if not assistant.index.exists():
        print(assistant.ingest([str(docs)]).to_dict(), file=sys.stderr)
    return assistant


def first_stage(assistant: Assistant):
    """question -> (the question as searched, the first stage's ranking of the retrieved passages'
    sentences), as `Assistant.ask` makes them (a misspelled word respelled, if its settings say so)."""
    answerer = ExtractiveAnswerer(assistant.retriever(), reader=None)

    def ranked(question: str):
        question, vector, passages = assistant.retrieve(question)
        return question, answerer.rank(question, answerer.candidates(question, vector, passages))

    return ranked


def paragraph_texts(stored, doc_id: str, previous: bool) -> list[str]:
    """Every sentence of one article as the reader sees it (with the sentence before, if `previous`)."""
    if doc_id not in stored:
        return []
    article, spans = stored[doc_id].article, stored[doc_id].sentences
    sentences = [article.text[s:e] for s, e in spans]
    return [reader_text(t, article.title, sentences[i - 1] if previous and i else "") for i, t in enumerate(sentences)]


def swapped(question: str, pool_numbers: list[str], pool_names: list[str], rng: random.Random) -> str | None:
    """The question with one number or name replaced by another from the same article, or None."""
    numbers, names = _NUMBER.findall(question), _NAME.findall(question)
    if numbers and pool_numbers:
        old = rng.choice(numbers)
        new = rng.choice([n for n in pool_numbers if n != old] or [None])
    elif names and pool_names:
        old = rng.choice(names)
        new = rng.choice([n for n in pool_names if n != old and n not in question] or [None])
    else:
        return None
    return None if new is None else re.sub(rf"\b{re.escape(old)}\b", new, question, count=1)


def training_pairs(assistant: Assistant, qa: list[dict], seed: int = 0,
                   previous: bool = False, residual: bool = False) -> list[tuple]:
    """(question, reader text, label) for every train question; see the module docstring.

    `residual`: (question, reader text, label, the first stage's log-odds) for the first stage's
    best few only, what the answerer will hand the reader; a variant's pairs are its own best few.
    """
    from tqdm import tqdm

    rng = random.Random(seed)
    stored = assistant.index.articles()
    pools: dict[str, tuple[list[str], list[str]]] = {}
    for doc_id, s in stored.items():
        article = doc_id.split("__")[0]
        numbers, names = pools.setdefault(article, ([], []))
        numbers += _NUMBER.findall(s.article.text)
        names += _NAME.findall(s.article.text)
    ranked = first_stage(assistant)
    pairs: list[tuple] = []
    for item in tqdm(qa, desc="pairs", file=sys.stderr):
        question, answers = item["question"], item["answers"] if item["answerable"] else []
        question, head = ranked(question)
        head = head[:FIRST_STAGE]
        texts = reader_texts(head, previous)
        if not residual:
            for doc_id in item["doc_ids"]:
                texts += paragraph_texts(stored, doc_id, previous)
            texts = list(dict.fromkeys(texts))
        labels = [int(bool(answers) and contains_answer(t.split(" [SEP] ")[0], answers)) for t in texts]
        if residual:
            pairs += [(question, t, y, float(log_odds(c.score))) for t, y, c in zip(texts, labels, head)]
        else:
            pairs += [(question, t, y) for t, y in zip(texts, labels)]
        if answers and any(labels):
            variant = swapped(question, *pools.get(item["doc_ids"][0].split("__")[0], ([], [])), rng)
            if variant and residual:  # nothing the first stage offers for it answers it
                variant, offered = ranked(variant)
                offered = offered[:FIRST_STAGE]
                pairs += [(variant, t, 0, float(log_odds(c.score)))
                          for t, c in zip(reader_texts(offered, previous), offered)]
            elif variant:  # the sentence that answered the original now answers nothing
                near = [t for t, y in zip(texts, labels) if y] + [t for t, y in zip(texts, labels) if not y][:3]
                pairs += [(variant, t, 0) for t in near]
    return pairs


def train(pairs: list, base: str, epochs: int, batch: int = 32, lr: float = 5e-5,
          seed: int = 0, max_steps: int | None = None, bf16: bool = False, objective: str = "pairwise", **more):
    """Fine-tune the base model with a one-logit head on (question, text) -> answers or not.

    "pairwise": each pair on its own (binary cross-entropy). "listwise": each question's pairs
    together, against a "no answer" logit fixed at 0: a softmax over [0, s_1 .. s_n] should put its
    mass on the answering sentences, or on the null when none answers. That is the decision the
    answerer makes (the best sentence against a threshold), and sigmoid(s) stays "s beats no
    answer", so thresholds are chosen as before.

    `--residual` pairs carry the first stage's log-odds (see `batch_loss`). `more`: the span head,
    checkpoints and resuming (`reader_training.train`). Returns (model, seconds, steps).
    """
    from reader_training import train as train_model

    return train_model(pairs, base, epochs, batch=batch, lr=lr, seed=seed, max_steps=max_steps, bf16=bf16,
                       objective=objective, **more)


def _questions(pairs: list) -> list[list[int]]:
    """Pair indices grouped by question: `training_pairs` writes each question's pairs together."""
    from reader_training import questions_of

    return questions_of(pairs)


def _batches(units: list[list[int]], pairs: list, batch: int, rng: random.Random) -> list[list[list[int]]]:
    """One epoch's length-bucketed batches of whole units (see `reader_training.batches`)."""
    from reader_training import batches

    return batches(units, pairs, batch, rng)


def batch_loss(logits, rows: list, sizes: list[int], objective: str):
    """One batch's loss; `sizes` are its units' lengths (a question's pairs, for "listwise").

    A row's fourth element, when it has one, is added to its logit first: the first stage's
    log-odds under `--residual`, so the model learns only what the first stage gets wrong, and the
    answerer's sum of the two log-odds (`reader.combine`, weight 1) is the model as trained.
    """
    from reader_training import answer_loss

    return answer_loss(logits, rows, sizes, objective)


def listwise_loss(logits, labels, sizes: list[int]):
    """Mean over questions of -log P(an answering sentence), or -log P(null) when none answers,
    under a softmax over [0 (no answer), each sentence's logit]."""
    from reader_training import listwise_loss as loss

    return loss(logits, labels, sizes)


def _collate(tokenizer, rows):
    import torch

    return {k: torch.from_numpy(v) for k, v in encode(tokenizer, [(row[0], row[1]) for row in rows]).items()}


def export(model, base: str, out: Path) -> int:
    """int8 ONNX of the model plus its tokenizer in `out`; returns the model file's size in bytes."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = getattr(model, "classifier", model)  # the answer head only: the span head is not shipped yet
    out.mkdir(parents=True, exist_ok=True)
    dummy = _collate(load_tokenizer(Path(base) / "tokenizer.json"), [("a question?", "a sentence. [SEP] a title", 0)])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(model.float(), tuple(dummy[n] for n in names), str(fp32), input_names=names,
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logits": {0: "batch"}})
        quantize_dynamic(str(fp32), str(out / MODEL_FILE), weight_type=QuantType.QInt8)
    shutil.copy(Path(base) / "tokenizer.json", out / TOKENIZER_FILE)
    return (out / MODEL_FILE).stat().st_size


def dev_questions(assistant: Assistant, reader: Reader, qa: list[dict], read: int) -> list[dict]:
    """Each dev question's first-stage candidates (best `read`) with the reader's probabilities."""
    from tqdm import tqdm

    ranked, out = first_stage(assistant), []
    for item in tqdm(qa, desc="dev", file=sys.stderr):
        question, head = ranked(item["question"])
        head = head[:read]
        reader_p = reader.score(question, reader_texts(head, reader.config.previous)) if head else np.zeros(0)
        stage1_p = np.array([c.score for c in head])
        # Scores to compare: the reader alone (shipped), the first stage alone (no reader), and both.
        out.append({"item": item, "head": head, "reader": reader_p, "first stage": stage1_p,
                    "reader + first stage": combine(reader_p, stage1_p, SHIPPED_WEIGHT)})
    return out


def outcome(q: dict, read: int, abstain_below: float, second_within: float, contradiction: bool = True,
            score: str = "reader"):
    """What the answerer would say for one dev question: the chosen sentences, or None to abstain."""
    scored = sorted((replace(c, score=float(p)) for c, p in zip(q["head"][:read], q[score][:read])), key=lambda c: -c.score)
    return decide(scored, abstain_below, second_within, contradiction) or None


def figures(questions: list[dict], read: int, abstain_below: float, second_within: float, contradiction: bool = True,
            score: str = "reader") -> dict:
    answerable = [q for q in questions if q["item"]["answerable"]]
    unanswerable = [q for q in questions if not q["item"]["answerable"]]
    said = {id(q): outcome(q, read, abstain_below, second_within, contradiction, score) for q in questions}
    words = [sum(len(c.text.split()) + 1 for c in s) for s in said.values() if s]
    return {
        "answer_contains_gold": round(sum(bool(said[id(q)]) and contains_answer(" ".join(c.text for c in said[id(q)]), q["item"]["answers"]) for q in answerable) / len(answerable), 3),
        "abstention_recall": round(sum(said[id(q)] is None for q in unanswerable) / max(1, len(unanswerable)), 3),
        "false_abstention": round(sum(said[id(q)] is None for q in answerable) / len(answerable), 3),
        "median_answer_words": statistics.median(words) if words else 0,
    }


def choose(questions: list[dict], max_false: float, max_words: float, contradiction: bool = True,
           score: str = "reader") -> dict:
    """The read depth, threshold and runner-up margin: most gold answers within both budgets.

    Only per-class rates are constrained (false abstention over answerable questions, gold answers
    among them), so the choice does not depend on the share of unanswerable questions: squad2-dev
    minus qa.jsonl is 60% unanswerable, the evaluation sets 20%, and no reweighting is needed.
    """
    answerable = [q for q in questions if q["item"]["answerable"]]
    best = None
    for read in range(2, FIRST_STAGE + 1):
        # The highest threshold whose false abstention stays within budget; a contradicted best
        # sentence abstains whatever its probability.
        best_p = sorted(-1.0 if not len(q["head"]) else
                        -1.0 if contradiction and contradicts(q["head"][int(np.argmax(q[score][:read]))])
                        else float(q[score][:read].max()) for q in answerable)
        threshold = best_p[int(max_false * len(best_p))] if best_p else 0.0
        for within in np.arange(0.0, 0.5, 0.02):
            f = figures(questions, read, threshold, float(within), contradiction, score)
            if f["median_answer_words"] <= max_words and f["false_abstention"] <= max_false:
                key = (f["answer_contains_gold"], f["abstention_recall"], -read)
                if best is None or key > best[0]:
                    best = (key, {"read": read, "abstain_below": round(threshold, 4), "second_within": round(float(within), 3)}, f)
    assert best is not None, "no setting meets the budgets"
    return {**best[1], "figures": best[2]}


def data_settings(args: argparse.Namespace) -> dict:
    """What the pairs are made from; the pairs cache is named by it."""
    return {"pairs": args.pairs, "previous": args.previous, "residual": args.residual, "squad11": args.squad11,
            "made": sorted(args.made), "made_share": args.made_share, "negatives": args.negatives,
            "other": args.other, "seed": args.seed}


def make_pairs(args: argparse.Namespace) -> list:
    """Step 1: squad2-train's pairs (through retrieval, or its paragraphs), then `--squad11`'s."""
    import reader_data

    if args.pairs == "retrieval":
        # Not respelled: the shipped reader's pairs were made before the answerer respelled.
        pairs = training_pairs(built(args.train_docs, args.work, respell=False), load_jsonl(args.train_qa),
                               previous=args.previous, residual=args.residual)
    else:
        pairs = reader_data.squad2_pairs(load_jsonl(args.train_qa), reader_data.paragraphs(args.train_docs))
    if args.squad11:
        qa = reader_data.sample_by_article(reader_data.read_jsonl(args.squad11_qa), args.squad11, args.seed)
        articles = {q["article_id"] for q in qa}
        paras = {k: p for k, p in reader_data.paragraphs(args.squad11_docs).items() if p.article in articles}
        pairs += reader_data.squad11_pairs(qa, paras, args.seed, args.negatives, args.other, args.made, args.made_share)
    return pairs


def train_and_export(args: argparse.Namespace, out: Path) -> dict:
    """Steps 1-3: pairs (cached in --work), the fine-tuned model (or --reuse's), its int8 export
    in `out`; returns how it was trained, for the shipped config. `--train-only`: None after step 2."""
    import hashlib

    import torch
    from reader_data import Pair

    torch.set_num_threads(args.threads)
    base = resolve_model(Settings().model)
    data = data_settings(args)
    shipped = data == data_settings(argparse.Namespace(**{**vars(args), **DATA_DEFAULTS}))
    # The shipped recipe's cache keeps its old name; any other data is named by its settings.
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
    name = "pairs.jsonl" if shipped else f"pairs-{digest}.jsonl"
    pairs_file = args.work / name
    if pairs_file.exists():
        pairs = [Pair.of(r) for r in load_jsonl(pairs_file)]
    else:
        began = time.perf_counter()
        pairs = [Pair.of(p) for p in make_pairs(args)]
        tmp = pairs_file.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(p.to_json()) + "\n" for p in pairs))
        os.replace(tmp, pairs_file)
        print(f"pairs made in {time.perf_counter() - began:.0f} s: {pairs_file}", file=sys.stderr)
    print(f"{len(pairs)} pairs, {sum(p.label for p in pairs)} positive, "
          f"{sum(p.answer is not None for p in pairs)} with a span", file=sys.stderr)

    trained_dir = args.work / "trained"
    if args.reuse and trained_dir.exists():  # export and thresholds again without training again
        from reader_training import ReaderModel

        model = ReaderModel.load(trained_dir) if (trained_dir / "span_head.pt").exists() else \
            __import__("transformers").AutoModelForSequenceClassification.from_pretrained(trained_dir).eval()
        seconds, steps = (lambda d: (d["seconds"], d["steps"]))(json.loads((trained_dir / "run.json").read_text()))
    else:
        model, seconds, steps = train(pairs, base, args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                                      max_steps=args.max_steps, bf16=args.bf16, objective=args.objective,
                                      span_weight=args.span_weight, checkpoint=args.work / "checkpoint.pt",
                                      checkpoint_every=args.checkpoint_every, resume=args.resume,
                                      stop_after=args.stop_after)
        if args.stop_after and steps < (args.max_steps or 10**9) and steps == args.stop_after:
            print(f"stopped after {steps} steps; go on with --resume", file=sys.stderr)
            return None
        model.save(trained_dir)
        (trained_dir / "run.json").write_text(json.dumps({"seconds": seconds, "steps": steps, "pairs": len(pairs),
                                                          "data": data, "span_weight": args.span_weight}))
    print(f"trained {steps} steps in {seconds / 60:.1f} min: {trained_dir}", file=sys.stderr)
    if args.train_only:
        return None
    size = export(model, base, out)
    print(f"int8 model {size / 1e6:.1f} MB", file=sys.stderr)
    train_set = "squad2-train (7 articles, 2,537 questions)"
    if args.squad11:
        train_set += f" + {args.squad11} squad11-train questions"
    return {"base": "all-MiniLM-L6-v2", "train": train_set, "data": data,
            "pairs": len(pairs), "objective": args.objective, "previous": args.previous, "bf16": args.bf16,
            "residual": args.residual, "span_weight": args.span_weight,
            "epochs": args.epochs, "steps": steps,
            "minutes": round(seconds / 60, 1), "max_tokens": MAX_TOKENS, "model_mb": round(size / 1e6, 1)}


# The shipped recipe's data (its pairs cache is pairs.jsonl).
DATA_DEFAULTS = {"pairs": "retrieval", "squad11": 0, "made": list(MADE_KINDS), "made_share": 0.25, "negatives": 2,
                 "other": 1, "seed": 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-docs", type=Path, default=SHARED / "squad2-train" / "docs.jsonl")
    parser.add_argument("--train-qa", type=Path, default=SHARED / "squad2-train" / "qa.jsonl")
    parser.add_argument("--dev-docs", type=Path, default=SHARED / "squad2-dev" / "docs.jsonl")
    parser.add_argument("--dev-qa", type=Path, default=SHARED / "squad2-dev" / "qa_full.jsonl")
    parser.add_argument("--report-qa", type=Path, default=SHARED / "squad2-dev" / "qa.jsonl",
                        help="questions kept out of threshold choice (what `assistant eval` reports on)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--objective", choices=["pairwise", "listwise"], default="pairwise",
                        help="each pair alone, or each question's pairs against a no-answer logit")
    parser.add_argument("--previous", action="store_true",
                        help="the reader reads each candidate with the sentence before it")
    parser.add_argument("--residual", action="store_true",
                        help="train on the first stage's best few, its log-odds added to the model's")
    parser.add_argument("--max-false", type=float, default=0.08, help="false-abstention budget on dev")
    parser.add_argument("--max-words", type=float, default=38, help="median answer words budget")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "train-reader")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 autocast (fast only with AVX512_BF16/AMX, or a GPU)")
    parser.add_argument("--reuse", action="store_true", help="reuse the model trained earlier in --work")
    data = parser.add_argument_group("data (docs/EVALUATION.md, 2026-12-07)")
    data.add_argument("--pairs", choices=["retrieval", "paragraph"], default="retrieval",
                      help="squad2-train's pairs: the first stage's candidates plus the paragraph (shipped), "
                           "or the paragraph's sentences only (no index built)")
    data.add_argument("--squad11", type=int, default=0, metavar="N",
                      help="add N squad11-train questions, whole articles in a seeded order (86422: all)")
    data.add_argument("--squad11-docs", type=Path, default=SHARED / "squad11-train" / "docs.jsonl.gz")
    data.add_argument("--squad11-qa", type=Path, default=SHARED / "squad11-train" / "qa.jsonl.gz")
    data.add_argument("--made", nargs="*", choices=MADE_KINDS, default=list(MADE_KINDS),
                      help="unanswerable questions made from squad11's (none: --made with no kind)")
    data.add_argument("--made-share", type=float, default=0.25,
                      help="share of squad11 questions each made kind is tried on")
    data.add_argument("--negatives", type=int, default=2, help="squad11: sentences of the paragraph per question")
    data.add_argument("--other", type=int, default=1, help="squad11: sentences of the article's other paragraphs")
    data.add_argument("--seed", type=int, default=0)
    fit = parser.add_argument_group("training")
    fit.add_argument("--span-weight", type=float, default=0.0,
                     help="train the span head too, its loss at this weight (0: none, the shipped recipe)")
    fit.add_argument("--lr", type=float, default=5e-5)
    fit.add_argument("--batch", type=int, default=32)
    fit.add_argument("--max-steps", type=int, help="the schedule's length, if shorter than the epochs")
    fit.add_argument("--stop-after", type=int, metavar="STEPS", help="stop (checkpointed) after this many steps")
    fit.add_argument("--resume", action="store_true", help="go on from --work's checkpoint.pt")
    fit.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS")
    fit.add_argument("--train-only", action="store_true",
                     help="stop after training: no export, no thresholds (see scripts/reader_folds.py)")
    parser.add_argument("--write", action="store_true", help="ship the result in assistant/models/")
    parser.add_argument("--evaluate", type=Path, metavar="DIR",
                        help="no training: choose thresholds for the reader exported in DIR")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    out = args.work / "models"
    if args.evaluate:
        out.mkdir(parents=True, exist_ok=True)
        for name in (MODEL_FILE, TOKENIZER_FILE):
            shutil.copy(args.evaluate / name, out / name)
        # How it was trained carries over; what was chosen on dev is written anew below. Older configs: pairwise.
        trained = {"objective": "pairwise", **json.loads((args.evaluate / CONFIG_FILE).read_text())["trained"]}
    else:
        trained = train_and_export(args, out)
        if trained is None:
            return 0
    # The ranker's config is needed to load; write a provisional one, then the chosen one.
    previous = bool(trained.get("previous", False))
    provisional = {"read": 8, "abstain_below": 0.0, "second_within": 0.0, "previous": previous}
    (out / CONFIG_FILE).write_text(json.dumps(provisional))
    reader = Reader(out)
    held_out = {r["id"] for r in load_jsonl(args.report_qa)}
    dev = [r for r in load_jsonl(args.dev_qa) if r["id"] not in held_out]
    questions = dev_questions(built(args.dev_docs, args.work), reader, dev, FIRST_STAGE)
    chosen = choose(questions, args.max_false, args.max_words, score="reader + first stage")
    # Each variant gets its own read depth and thresholds, chosen the same way.
    ablation = {"without the contradiction check": choose(questions, args.max_false, args.max_words, contradiction=False,
                                                          score="reader + first stage"),
                "reader alone": choose(questions, args.max_false, args.max_words, score="reader"),
                "first stage alone, no reader": choose(questions, args.max_false, args.max_words, score="first stage")}
    answerable = [q for q in questions if q["item"]["answerable"]]
    recall = {f"answer_in_first_stage_best_{k}": round(sum(any(contains_answer(c.text, q["item"]["answers"])
                                                              for c in q["head"][:k]) for q in answerable) / len(answerable), 3)
              for k in (1, 3, 5, FIRST_STAGE)}
    config = {
        "read": chosen["read"], "abstain_below": chosen["abstain_below"], "second_within": chosen["second_within"],
        "first_stage_weight": SHIPPED_WEIGHT, "previous": previous,
        "trained": {
            **trained,
            "thresholds_chosen_on": f"squad2-dev qa_full minus qa.jsonl ({len(dev)} questions)",
            "dev_figures": chosen["figures"], "first_stage_recall": recall, "ablation": ablation,
        },
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    print(json.dumps(config, indent=2))
    if args.write:
        MODEL_DIR.mkdir(exist_ok=True)
        for name in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE):
            shutil.copy(out / name, MODEL_DIR / name)
        print(f"wrote {MODEL_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
