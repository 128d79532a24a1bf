"""`assistant eval`: retrieval and answer quality on a QA set, beside two baselines in one run.

Baselines are what a user would otherwise build: llama-index's default dense pipeline
(SentenceSplitter defaults, top chunk shown as the answer) and BM25 alone over the same chunks.
Neither can abstain. All three see the same articles and the same embedding model.
"""

from __future__ import annotations

import re
import statistics
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.answer.citations import markers
from assistant.types import Answer

# What `evaluate` reads from each QA row; `assistant eval` checks them line by line before it starts.
QA_FIELDS = ("question", "answers", "doc_ids", "answerable")

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’—–")


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """Whether any gold answer occurs in `text` as whole words, after normalisation."""
    haystack = f" {normalize(text)} "
    return any(f" {normalize(a)} " in haystack for a in answers if normalize(a))


def citations_valid(answer: Answer, article_text: Callable[[str], str]) -> bool:
    """Every [n] has a citation and vice versa, and every quote is the article's text at its offsets."""
    if set(markers(answer.answer)) != {c.n for c in answer.citations}:
        return False
    return all(article_text(c.article_id)[c.start : c.end] == c.quote for c in answer.citations)


@dataclass(frozen=True)
class Run:
    """One system on one QA row: what it answered and what it retrieved."""

    row: dict  # the QA row: question, answers, doc_ids, answerable
    ranked: list[str]  # article ids, best first
    answer: Answer
    shown: list[str]  # the passage texts it showed, best first
    ms: float

    @property
    def gold(self) -> list[str]:
        return self.row["answers"]


def evaluate(assistant, rows: Sequence[dict], *, top_k: int = 5, baselines: bool = True,
             progress: bool = False) -> dict:
    """Metrics for the assistant (and baselines) over QA rows holding every key in `QA_FIELDS`."""
    from tqdm import tqdm

    stored = assistant.index.articles()
    texts = {k: v.article.text for k, v in stored.items()}
    assistant.retriever()  # load before timing
    answerable = sum(bool(r["answerable"]) for r in rows)
    results: dict[str, Any] = {"questions": len(rows), "answerable": answerable, "systems": {}}

    runs = []
    for row in tqdm(rows, desc="assistant", disable=not progress):
        answer = assistant.ask(row["question"], top_k=top_k)
        ranked = [p.chunk.article_id for p in assistant.search(row["question"], 10)]
        runs.append(Run(row, ranked, answer, [p.chunk.text for p in answer.passages], answer.timing_ms["total"]))
    results["systems"]["assistant"] = _metrics(runs, texts)

    if baselines:
        for name, search in _baselines(stored, assistant.embedder).items():
            runs = []
            for row in tqdm(rows, desc=name, disable=not progress):
                began = time.perf_counter()
                hits = search(row["question"])
                ms = (time.perf_counter() - began) * 1000
                top = hits[0][1] if hits else ""
                answer = Answer(row["question"], top, abstained=False)
                runs.append(Run(row, [a for a, _ in hits], answer, [t for _, t in hits[:5]], ms))
            results["systems"][name] = _metrics(runs, texts, cites=False)
    return results


def _metrics(runs: list[Run], texts: dict[str, str], cites: bool = True) -> dict:
    answerable = [r for r in runs if r.row["answerable"]]
    unanswerable = [r for r in runs if not r.row["answerable"]]

    def share(items: list[Run], test: Callable[[Run], object]) -> float | None:
        return round(sum(bool(test(r)) for r in items) / len(items), 3) if items else None

    def recall(k: int) -> float | None:
        return share(answerable, lambda r: set(r.row["doc_ids"]) & set(r.ranked[:k]))

    answered = [r for r in runs if not r.answer.abstained]
    return {
        "doc_recall@1": recall(1),
        "doc_recall@5": recall(5),
        "doc_recall@10": recall(10),
        "gold_in_top5_passages": share(answerable, lambda r: any(contains_answer(t, r.gold) for t in r.shown[:5])),
        "answer_contains_gold": share(answerable,
                                      lambda r: not r.answer.abstained and contains_answer(r.answer.answer, r.gold)),
        "citation_contains_gold": share(answerable, lambda r: any(contains_answer(c.quote, r.gold)
                                                                  for c in r.answer.citations)) if cites else None,
        "citation_validity": share(answered, lambda r: citations_valid(r.answer, texts.__getitem__)) if cites else None,
        "abstention_recall": share(unanswerable, lambda r: r.answer.abstained),
        "false_abstention": share(answerable, lambda r: r.answer.abstained),
        "median_answer_words": statistics.median(len(r.answer.answer.split()) for r in answered) if answered else None,
        "ms_per_question_p50": round(statistics.median(r.ms for r in runs), 2) if runs else None,
    }


def _baselines(stored: dict, embedder) -> dict[str, Callable[[str], list[tuple[str, str]]]]:
    """llama-index's default dense pipeline and BM25 alone, each returning (article_id, text) best first."""
    import Stemmer
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.retrievers.bm25 import BM25Retriever

    from assistant.embed.llama import as_llama_embedding

    documents = [Document(text=s.article.text, id_=s.article.id) for s in stored.values()]
    nodes = SentenceSplitter().get_nodes_from_documents(documents)  # llama-index defaults
    dense = VectorStoreIndex(nodes, embed_model=as_llama_embedding(embedder)).as_retriever(similarity_top_k=10)
    bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(10, len(nodes)),
                                       stemmer=Stemmer.Stemmer("english"), language="english")

    def run(retriever):
        return lambda q: [(n.node.ref_doc_id, n.node.get_content()) for n in retriever.retrieve(q)]

    return {"llama-index dense": run(dense), "BM25 alone": run(bm25)}


def format_table(results: dict) -> str:
    """A Markdown table: one row per metric, one column per system."""
    systems = list(results["systems"])
    metrics = list(next(iter(results["systems"].values())))
    lines = [
        f"{results['questions']} questions ({results['answerable']} answerable)",
        "",
        "| metric | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for m in metrics:
        cells = ["–" if results["systems"][s][m] is None else str(results["systems"][s][m]) for s in systems]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
