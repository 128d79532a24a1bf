"""The learned reader: the shipped model file, what it prefers, and the script that trains it."""

import importlib.util
import json

import numpy as np
import pytest
from conftest import READER, ROOT

from assistant.answer.reader import (
    CONFIG_FILE, MAX_TOKENS, MODEL_DIR, MODEL_FILE, TOKENIZER_FILE, Reader, encode, load_tokenizer, reader_text,
)

GOLTS = ("“How can you possibly explain to a fighter, on an ideological basis, why he should go fight for Assad?” "
         "says Alexander Golts, a Moscow-based military expert.")
TITLE = "Russian volunteers in Syria"


def test_the_shipped_model_is_small_and_says_how_it_was_made():
    assert (MODEL_DIR / MODEL_FILE).stat().st_size <= 50 * 2**20
    config = json.loads((MODEL_DIR / CONFIG_FILE).read_text())
    assert 0 < config["abstain_below"] < 1 and config["read"] >= 2
    assert config["trained"]["train"].startswith("squad2-train")


def test_an_answering_sentence_scores_above_a_sentence_on_the_same_topic_that_does_not_answer():
    answer, topical = READER.score("who is Alexander Golts?", [
        reader_text(GOLTS, TITLE),
        reader_text("Russian volunteers have been fighting in Syria since 2015, the recruiters say.", TITLE),
    ])
    assert 0.0 <= topical < answer <= 1.0
    assert answer > READER.config.abstain_below


def test_a_swapped_number_lowers_the_score():
    sentence = reader_text("The group receives 30-50 applications per day from volunteers.", TITLE)
    right, = READER.score("How many applications does the group receive per day?", [sentence])
    wrong, = READER.score("How many applications does the group receive per year in 1990?", [sentence])
    assert right > wrong


def test_a_long_sentence_before_is_cut_to_fit_never_the_candidate():
    tokenizer = load_tokenizer(MODEL_DIR / TOKENIZER_FILE)
    text = reader_text(GOLTS, TITLE, before="Volunteers keep arriving in great numbers. " * 30)
    assert text.startswith(GOLTS + " [SEP] " + TITLE + " [SEP] Volunteers")
    ids = encode(tokenizer, [("who is Alexander Golts?", text)])["input_ids"][0]
    assert len(ids) == MAX_TOKENS
    assert "moscow - based military expert" in tokenizer.decode(ids.tolist())


def test_scoring_nothing_loads_nothing():
    assert len(Reader(MODEL_DIR / "missing").score("q?", [])) == 0


def _train_reader():
    spec = importlib.util.spec_from_file_location("train_reader", ROOT / "scripts" / "train_reader.py")
    train_reader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_reader)
    return train_reader


def test_training_pairs_read_each_sentence_with_the_one_before_when_asked():
    from types import SimpleNamespace

    text = "Golts is an expert. He lives in Moscow."
    stored = {"a": SimpleNamespace(article=SimpleNamespace(text=text, title=TITLE), sentences=[(0, 19), (20, 39)])}
    paragraph_texts = _train_reader().paragraph_texts
    assert paragraph_texts(stored, "a", previous=False) == [reader_text("Golts is an expert.", TITLE),
                                                            reader_text("He lives in Moscow.", TITLE)]
    assert paragraph_texts(stored, "a", previous=True)[1] == f"He lives in Moscow. [SEP] {TITLE} [SEP] Golts is an expert."
    assert paragraph_texts(stored, "missing", previous=True) == []


def test_the_listwise_loss_weighs_each_question_against_no_answer():
    import torch

    loss = _train_reader().listwise_loss
    # One sentence that answers, scored 0: as likely as "no answer", so -log 1/2.
    assert loss(torch.zeros(1), torch.ones(1), [1]).item() == pytest.approx(np.log(2))
    # Two sentences, neither answers: the null's share is 1/3.
    assert loss(torch.zeros(2), torch.zeros(2), [2]).item() == pytest.approx(np.log(3))
    # Questions are separate softmaxes, averaged; a confident right answer costs almost nothing.
    both = loss(torch.tensor([8.0, -8.0, -8.0]), torch.tensor([1.0, 0.0, 0.0]), [2, 1]).item()
    assert both == pytest.approx((np.log1p(np.exp(-8) + np.exp(-16)) + np.log1p(np.exp(-8))) / 2, abs=1e-5)


def test_a_residual_pair_is_scored_with_the_first_stages_log_odds_added():
    import torch

    batch_loss = _train_reader().batch_loss
    rows = [("q?", "answers", 1), ("q?", "does not", 0)]
    # The model's logits alone (0 each): each pair costs log 2.
    assert batch_loss(torch.zeros(2), rows, [1, 1], "pairwise").item() == pytest.approx(np.log(2))
    # The first stage already sure and right: nothing left to learn.
    sure = [(*row, offset) for row, offset in zip(rows, (12.0, -12.0))]
    assert batch_loss(torch.zeros(2), sure, [1, 1], "pairwise").item() == pytest.approx(0.0, abs=1e-4)
    # Sure and wrong: the loss the model has to undo.
    wrong = [(*row, offset) for row, offset in zip(rows, (-12.0, 12.0))]
    assert batch_loss(torch.zeros(2), wrong, [1, 1], "pairwise").item() == pytest.approx(12.0, abs=1e-3)


def test_listwise_batches_keep_each_questions_pairs_together():
    import random

    train_reader = _train_reader()
    pairs = [(f"q{q}?", f"sentence {s}", int(s == 0)) for q in range(20) for s in range(q % 4 + 1)]
    units = train_reader._questions(pairs)
    assert [len(u) for u in units] == [q % 4 + 1 for q in range(20)]
    batches = train_reader._batches(units, pairs, 6, random.Random(0))
    assert sorted(i for b in batches for u in b for i in u) == list(range(len(pairs)))
    assert all(len({pairs[i][0] for i in u}) == 1 for b in batches for u in b)


@pytest.mark.slow
@pytest.mark.parametrize("objective, residual", [("pairwise", False), ("listwise", False), ("pairwise", True)])
def test_the_training_script_trains_and_exports_a_loadable_model_from_a_few_pairs(tmp_path, objective, residual):
    """A few steps of each recipe; `residual` pairs carry the first stage's log-odds as a fourth element."""
    train_reader = _train_reader()
    from assistant.embed.torch import resolve_model

    pairs = [("who is Alexander Golts?", reader_text(GOLTS, TITLE), 1, 2.0),
             ("who is Alexander Golts?", reader_text("The men were paid in cash.", TITLE), 0, -1.0),
             ("who paid the men?", reader_text("The men were paid in cash.", TITLE), 0, 0.5)] * 4
    if not residual:
        pairs = [p[:3] for p in pairs]
    base = resolve_model("all-MiniLM-L6-v2")
    model, seconds, steps = train_reader.train(pairs, base, epochs=1, batch=4, max_steps=2, objective=objective)
    assert steps == 2
    assert train_reader.export(model, base, tmp_path) <= 50 * 2**20
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"read": 4, "abstain_below": 0.5, "second_within": 0.1}))
    probabilities = Reader(tmp_path).score("who is Alexander Golts?", [reader_text(GOLTS, TITLE), "Cash."])
    assert probabilities.shape == (2,) and all(0.0 < p < 1.0 for p in probabilities)


@pytest.mark.slow
def test_the_training_script_chooses_thresholds_for_the_shipped_reader_without_training(tmp_path):
    """`--evaluate assistant/models`: the shipped reader's read depth and thresholds chosen again
    on dev questions (here a few about the sample article), nothing trained."""
    import os
    import subprocess
    import sys

    text = (ROOT / "samples" / "articles" / "russian-volunteers-syria.txt").read_text()
    (tmp_path / "dev").mkdir()
    docs, qa, report = tmp_path / "dev" / "docs.jsonl", tmp_path / "qa.jsonl", tmp_path / "report.jsonl"
    docs.write_text(json.dumps({"id": "volunteers", "title": TITLE, "url": None, "text": text}) + "\n")
    questions = [("who is Alexander Golts?", ["military expert"], True),
                 ("Who won the 1974 football world cup?", [], False)]
    qa.write_text("".join(json.dumps({"id": str(i), "question": q, "answers": a, "doc_ids": ["volunteers"] if ok else [],
                                      "answerable": ok}) + "\n" for i, (q, a, ok) in enumerate(questions)))
    report.write_text("")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_reader.py"), "--evaluate", str(MODEL_DIR), "--work", str(tmp_path),
         "--dev-docs", str(docs), "--dev-qa", str(qa), "--report-qa", str(report), "--max-words", "1000"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]

    config = json.loads((tmp_path / "models" / CONFIG_FILE).read_text())
    shipped = json.loads((MODEL_DIR / CONFIG_FILE).read_text())["trained"]
    assert (tmp_path / "models" / MODEL_FILE).read_bytes() == (MODEL_DIR / MODEL_FILE).read_bytes()
    assert config["trained"]["objective"] == "pairwise" and config["trained"]["steps"] == shipped["steps"]
    assert config["trained"]["thresholds_chosen_on"].endswith("(2 questions)")
    assert config["trained"]["dev_figures"]["answer_contains_gold"] == 1.0
    assert 2 <= config["read"] <= 8 and 0.0 <= config["abstain_below"] <= 1.0
    assert "trained" not in done.stderr  # no training ran
