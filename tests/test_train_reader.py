"""The reader's training loop stops and goes on: a resumed run continues its checkpoint, it does not
start again, and ends where the uninterrupted run ends; the span head answers inside the sentence.

A tiny randomly initialised BERT (2 layers, 32 wide) with MiniLM's tokenizer keeps it to seconds.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

torch = pytest.importorskip("torch")

from reader_data import Pair, entity_swap, exact_match, find_answer, negated, role_swap  # noqa: E402
from reader_training import ReaderModel, best_spans, collate, train  # noqa: E402

from assistant.answer.reader import load_tokenizer, reader_text  # noqa: E402

TITLE = "Warsaw (paragraph 1)"
SENTENCE = "Warsaw became the capital of Poland in 1596 under King Sigismund III."


def pairs() -> list[Pair]:
    text = reader_text(SENTENCE, TITLE)
    start = SENTENCE.index("1596")
    return [Pair("When did Warsaw become the capital?", text, 1, answer=(start, start + 4)),
            Pair("When did Warsaw become the capital?", reader_text("The city has a river.", TITLE), 0),
            Pair("Who made Krakow the capital?", text, 0),
            Pair("Who moved the capital to Warsaw?", text, 1, answer=(SENTENCE.index("King"), len(SENTENCE) - 1))] * 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT saved as a transformers folder, with MiniLM's tokenizer."""
    from transformers import BertConfig, BertForSequenceClassification

    from assistant.embed.torch import resolve_model

    base = tmp_path_factory.mktemp("tiny")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(base)
    shutil.copy(Path(resolve_model("all-MiniLM-L6-v2")) / "tokenizer.json", base / "tokenizer.json")
    return str(base)


def test_a_resumed_run_continues_its_checkpoint_and_ends_where_the_whole_run_ends(tiny, tmp_path):
    settings = {"epochs": 2, "batch": 3, "span_weight": 1.0, "max_steps": 4, "seed": 0}  # 8 pairs: 3 batches an epoch
    whole, _, steps = train(pairs(), tiny, **settings)
    assert steps == 4

    checkpoint = tmp_path / "checkpoint.pt"
    _, _, stopped = train(pairs(), tiny, checkpoint=checkpoint, stop_after=2, **settings)
    state = torch.load(checkpoint, weights_only=False)
    assert stopped == 2 and state["step"] == 2 and state["batch_in_epoch"] == 2
    after_two = state["model"]

    log = tmp_path / "log.txt"
    with log.open("w") as f:
        resumed, _, steps = train(pairs(), tiny, checkpoint=checkpoint, resume=True, log=f, **settings)
    assert "resumed" in log.read_text() and "at step 2/4" in log.read_text()
    assert steps == 4 and torch.load(checkpoint, weights_only=False)["step"] == 4
    for name, weight in whole.state_dict().items():  # the same 4 steps: same batches, dropout, schedule
        assert torch.allclose(weight, resumed.state_dict()[name], atol=1e-6), name
    # Went on from step 2's weights: they moved, and not back to the start.
    assert any(not torch.equal(after_two[k], v) for k, v in resumed.state_dict().items())


def test_a_checkpoint_of_other_pairs_is_refused(tiny, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    train(pairs(), tiny, epochs=1, batch=4, max_steps=1, checkpoint=checkpoint)
    with pytest.raises(SystemExit, match="other pairs or settings"):
        train(pairs()[:4], tiny, epochs=1, batch=4, max_steps=1, checkpoint=checkpoint, resume=True)


def test_the_span_head_marks_a_span_inside_the_sentence_never_the_question_or_title(tiny, tmp_path):
    model, _, _ = train(pairs(), tiny, epochs=1, batch=4, max_steps=2, span_weight=1.0)
    model.save(tmp_path / "trained")
    model = ReaderModel.load(tmp_path / "trained")
    rows = pairs()
    batch = collate(load_tokenizer(Path(tiny) / "tokenizer.json"), rows)
    assert int(batch["start"][0]) >= 0 and int(batch["start"][1]) == -1  # a target only where the answer is known
    with torch.no_grad():
        _, start, end = model(**batch["inputs"])
    for (s, e), row in zip(best_spans(start, end, batch["sentence"], batch["offsets"], [r.text for r in rows]), rows):
        sentence = row.text.split(" [SEP] ")[0]
        assert 0 <= s < e <= len(sentence), (s, e, row.text)


def test_made_unanswerable_questions_change_what_is_asked():
    import random

    article = "Warsaw became the capital in 1596. Krakow was the capital before 1596. The city grew in 1611."
    swapped = entity_swap("When did Warsaw become the capital in 1596?", SENTENCE, article, random.Random(0))
    assert swapped is not None and swapped != "When did Warsaw become the capital in 1596?"
    swapped = role_swap("Did Poland move to Warsaw?", "Poland moved its capital to Warsaw.")
    assert swapped == "Did Warsaw move to Poland?"
    assert negated("What is the largest city?") == "What is the smallest city?"
    assert negated("What was the capital?") == "What was not the capital?"
    assert find_answer(SENTENCE, ["king sigismund iii"]) == (SENTENCE.index("King"), SENTENCE.index("King") + 18)
    assert exact_match("the King Sigismund III.", ["King Sigismund III"])
