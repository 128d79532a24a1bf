"""Fit the offline answerer's first stage (sentence ranker and reranker) on a QA set (squad2-train).

    python scripts/calibrate.py [--docs D.jsonl] [--qa QA.jsonl] [--index DIR] [--write]

The two models are small logistic regressions over the named features that
`assistant.answer.candidates` computes; their job is to put the answering sentence among the few the
learned reader reads (`scripts/train_reader.py` trains it, and decides abstention). The script
reports leave-one-article-out cross-validated figures (each article's questions ranked by models
fitted on the other articles). With --write, the models fitted on all questions go to
assistant/calibration.json. Fit on squad2-train, so that squad2-dev stays unseen.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answer.candidates import CALIBRATION, RERANK, Calibration, LinearModel, WordAlignment  # noqa: E402
from assistant.answer.evaluation import contains_answer  # noqa: E402
from assistant.answer.extractive import ExtractiveAnswerer  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval" / "squad2-train"


def fit(rows: list[dict], labels: list[int], names: list[str], l2: float = 1.0) -> LinearModel:
    """L2-regularised logistic regression on standardised features (the bias not penalised).

    scikit-learn's minimises C * sum(log loss) + |w|^2 / 2, so C = 1 / l2 is the same objective
    as the mean log loss + l2 |w|^2 / (2n) that 2,000 steps of gradient descent fitted here before.
    Refitting the shipped ranker on squad2-train gave the same weights to all six decimals and a
    bias 2e-6 apart.
    """
    from sklearn.linear_model import LogisticRegression

    X = np.array([[r[n] for n in names] for r in rows], dtype=float)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    model = LogisticRegression(C=1 / l2, tol=1e-10, max_iter=10_000).fit((X - mu) / sd, np.array(labels))
    w, b = model.coef_[0], float(model.intercept_[0])
    weights = w / sd
    return LinearModel({n: round(float(v), 6) for n, v in zip(names, weights)}, round(float(b - mu / sd @ w), 6))


def fit_listwise(groups: list[tuple[list[dict], list[int]]], names: list[str], l2: float = 1.0) -> LinearModel:
    """Softmax over each question's sentences, maximising the probability of those holding the answer.

    Ranking is what the answerer does with these scores, so this beats fitting each sentence alone.
    The bias is then set so that the model's output reads as a probability across questions.
    """
    groups = [(np.array([[r[n] for n in names] for r in rows], dtype=float), np.array(y, dtype=float))
              for rows, y in groups if rows and any(y)]
    everything = np.vstack([X for X, _ in groups])
    mu, sd = everything.mean(0), everything.std(0) + 1e-9
    groups = [((X - mu) / sd, y) for X, y in groups]
    w = np.zeros(len(names))
    for _ in range(600):
        grad = l2 * w
        for Z, y in groups:
            s = Z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            target = y / y.sum()
            grad += Z.T @ (p - target)
        w -= 0.5 * grad / len(groups)
    weights = w / sd
    # Calibrate the offset with a one-feature logistic fit on the ranking score.
    scores = [{"s": float(((X * sd + mu) @ weights)[i])} for X, y in groups for i in range(len(y))]
    labels = [int(v) for _, y in groups for v in y]
    offset = fit(scores, labels, ["s"])
    scale = offset.weights["s"]
    return LinearModel({n: round(float(v * scale), 6) for n, v in zip(names, weights)}, offset.bias)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=SHARED / "docs.jsonl")
    parser.add_argument("--qa", type=Path, default=SHARED / "qa.jsonl")
    parser.add_argument("--index", type=Path, help="an index of --docs (built in a temp dir if omitted)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    index = args.index or Path(tempfile.mkdtemp()) / "index"
    assistant = Assistant(Settings(index=index))
    if not assistant.index.exists():
        print(assistant.ingest([str(args.docs)]).to_dict(), file=sys.stderr)
    retriever = assistant.retriever()
    answerer = ExtractiveAnswerer(retriever, None)
    qa = [json.loads(line) for line in args.qa.read_text().splitlines() if line.strip()]

    questions = []
    for item in qa:
        if not item["answerable"]:  # the ranker learns where answers are; abstaining is the reader's job
            continue
        vector = assistant.embedder.embed([item["question"]])[0]
        passages = retriever.search(item["question"], assistant.settings.top_k, vector)
        candidates = answerer.candidates(item["question"], vector, passages)
        labels = [int(contains_answer(c.text, item["answers"])) for c in candidates]
        questions.append({"item": item, "candidates": candidates, "labels": labels})

    rank_names = list(questions[0]["candidates"][0].features) if questions[0]["candidates"] else []
    articles = sorted({q["item"]["article_id"] for q in questions})
    item_by_id = {q["item"]["id"]: q["item"] for q in questions}

    def fit_ranker(subset):
        return fit_listwise([([c.features for c in q["candidates"]], q["labels"]) for q in subset], rank_names)

    def ranked(q, ranker, reranker=None):
        return ExtractiveAnswerer(retriever, None, Calibration(ranker, reranker)).rank(q["item"]["question"], q["candidates"])

    # Out-of-fold first-stage rankings, by held-out article. The reranker learns from these: they
    # are what it will meet on articles the ranker has not seen.
    first = {}
    for held in articles:
        ranker = fit_ranker([q for q in questions if q["item"]["article_id"] != held])
        for q in questions:
            if q["item"]["article_id"] == held and q["candidates"]:
                first[q["item"]["id"]] = ranked(q, ranker)
    probe = ExtractiveAnswerer(retriever, None, Calibration(LinearModel({}, 0.0), None))
    heads = {k: probe.head(item_by_id[k]["question"], r) for k, r in first.items()}
    rerank_names = ["stage1", *WordAlignment.NAMES]

    def fit_reranker(subset):
        return fit_listwise([([c.features for c in heads[q["item"]["id"]]],
                              [int(contains_answer(c.text, q["item"]["answers"])) for c in heads[q["item"]["id"]]])
                             for q in subset if q["item"]["id"] in heads], rerank_names)

    oof = {}
    for held in articles:
        reranker = fit_reranker([q for q in questions if q["item"]["article_id"] != held])
        for q in questions:
            if q["item"]["article_id"] == held and q["item"]["id"] in first:
                head = sorted((replace(c, score=reranker(c.features)) for c in heads[q["item"]["id"]]), key=lambda c: -c.score)
                oof[q["item"]["id"]] = head + first[q["item"]["id"]][RERANK:]

    def holds(q, k):
        return any(contains_answer(c.text, q["item"]["answers"]) for c in oof.get(q["item"]["id"], [])[:k])

    report = {f"cv_answer_in_best_{k}": round(sum(holds(q, k) for q in questions) / len(questions), 3) for k in (1, 3, 5, 8)}
    print(json.dumps(report, indent=2))

    if args.write:
        ranker, reranker = fit_ranker(questions), fit_reranker(questions)
        data = {
            "fitted_on": str(args.qa.relative_to(ROOT.parent)) if args.qa.is_relative_to(ROOT.parent) else str(args.qa),
            "cross_validated": report,
            "ranker": {"weights": ranker.weights, "bias": ranker.bias},
            "reranker": {"weights": reranker.weights, "bias": reranker.bias},
        }
        CALIBRATION.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {CALIBRATION}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
