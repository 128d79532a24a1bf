"""Misspelled question words: respelled as the retrieved passages spell them, and only then."""

import pytest

from assistant.retrieve.spelling import english, respelled
from assistant.text.terms import terms
from assistant.types import Chunk, Passage


def passages(*texts: str) -> list[Passage]:
    return [Passage(i + 1, Chunk("a", i, 0, len(t), t), "Title", None, 1.0) for i, t in enumerate(texts)]


def articles_know(*texts: str):
    """A document frequency over the passages' own stems, as the keyword index would give it."""
    known = {t for text in texts for t in terms(text)}
    return lambda term: int(term in known)


def ask(question: str, *texts: str) -> str:
    return respelled(question, passages(*texts), articles_know(*texts))


def test_a_misspelled_name_takes_the_passages_spelling_with_its_capital():
    text = "At the start of the war, no French regular army troops were stationed in North America."
    assert ask("What was Frensh military presence at start of war?", text) == \
        "What was French military presence at start of war?"
    assert ask("What difficulties was Shirly having?", "Shirley's efforts were bogged down.") == \
        "What difficulties was Shirley having?"
    assert ask("Who founded Mcdonnald's?", "The first McDonald's opened in 1940.") == "Who founded McDonald's?"
    assert ask("who is alexander goltz?", "says Alexander Golts, an expert.") == "who is alexander golts?"


def test_long_words_may_be_two_edits_away_short_ones_one():
    text = "The basis for the development of general relativity was the equivalence principle."
    assert ask("What was the basis for the develpment of relativity?", text) == \
        "What was the basis for the development of relativity?"
    assert ask("What was the basis for the devlpmnt of relativity?", text) == \
        "What was the basis for the devlpmnt of relativity?"  # three edits
    assert ask("Who wrote Anbal?", "Annibal wrote it.") == "Who wrote Anbal?"  # under five letters


def test_english_words_and_words_the_articles_know_stay_as_asked():
    text = "The acceleration of the car was measured at full speed."
    # English, one edit from a passage word: a question about what is not there should abstain.
    assert "spend" in english()
    assert ask("How much did they spend?", text) == "How much did they spend?"
    # Not in the vocabulary, but the articles know its stem ("acceler").
    assert "accelerations" not in english()
    assert ask("Which accelerations were measured?", text) == "Which accelerations were measured?"
    # Two edits from "acceleration", but it starts with another letter.
    assert ask("What was the deceleration?", text) == "What was the deceleration?"


def test_a_word_with_two_equally_close_spellings_stays_as_asked():
    assert ask("Who is Marlo?", "Marco met Mario in Rome.") == "Who is Marlo?"
    assert ask("Who is Marlow?", "Marco met Mario in Rome.") == "Who is Marlow?"  # nothing one edit away


@pytest.mark.slow
@pytest.mark.parametrize("question", ["who is Alexander Goltz?", "who is Alexnader Golts?"])
def test_a_misspelled_name_gets_the_same_cited_definition(sample_assistant, question):
    answer = sample_assistant.ask(question)

    assert answer.question == question  # the question as asked, and what was searched in the note
    assert answer.note is not None and answer.note.startswith("Searched for “who is Alex") and "Golts?”" in answer.note
    assert answer.answer == "Alexander Golts is a Moscow-based military expert [1]."
    assert answer.citations[0].quote.endswith("says Alexander Golts, a Moscow-based military expert.")


@pytest.mark.slow
def test_without_respelling_the_misspelled_name_gets_no_definition(sample_index, real_embedder):
    from conftest import make_assistant

    answer = make_assistant(sample_index, real_embedder, respell=False).ask("who is Alexander Goltz?")

    assert not answer.answer.startswith("Alexander Golts is")  # "Goltz" is no name the sentence holds
