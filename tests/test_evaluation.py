"""Scoring follows SQuAD's normalisation; the eval table compares against two baselines."""

import pytest

from assistant.answer.evaluation import contains_answer, evaluate, format_table, normalize
from assistant.types import Article


def test_squad_normalisation():
    assert normalize("The  Moscow-based, expert!") == "moscowbased expert"
    assert contains_answer("It ended in March 1974.", ["march 1974"])
    assert not contains_answer("It ended in 19745.", ["1974"])  # whole words only


@pytest.mark.slow
def test_eval_reports_every_metric_for_the_assistant_and_both_baselines(tmp_path, real_embedder):
    from conftest import make_assistant

    assistant = make_assistant(tmp_path / "index", real_embedder)
    assistant.ingest_articles([
        Article("oil", "Oil crisis", "The embargo ended in March 1974. Prices had risen fourfold."),
        Article("tea", "Tea", "Green tea is brewed at 80 degrees."),
    ])
    rows = [
        {"id": "1", "question": "When did the embargo end?", "answers": ["March 1974"], "doc_ids": ["oil"], "answerable": True},
        {"id": "2", "question": "What is the capital of Peru?", "answers": [], "doc_ids": ["tea"], "answerable": False},
    ]

    results = evaluate(assistant, rows, top_k=2)

    assert set(results["systems"]) == {"assistant", "llama-index dense", "BM25 alone"}
    ours = results["systems"]["assistant"]
    assert ours["doc_recall@1"] == 1.0 and ours["answer_contains_gold"] == 1.0 and ours["citation_validity"] == 1.0
    assert ours["abstention_recall"] == 1.0
    assert results["systems"]["BM25 alone"]["abstention_recall"] == 0.0
    assert "| doc_recall@5 |" in format_table(results)
