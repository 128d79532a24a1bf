"""Follow-up questions carry the names of the earlier turn into retrieval."""

from assistant.answer.chat import condense, names
from assistant.types import Turn


def test_a_pronoun_question_borrows_the_previous_names():
    history = [Turn("who is Alexander Golts?", "Alexander Golts is a Moscow-based military expert [1].")]
    assert condense("what does he think about Syria?", history) == "what does he think about Syria? (Alexander Golts)"


def test_a_self_contained_question_is_left_alone():
    history = [Turn("who is Alexander Golts?")]
    assert condense("Who is Bashar al-Assad?", history) == "Who is Bashar al-Assad?"
    assert condense("what does he think?", []) == "what does he think?"


def test_a_question_that_stands_alone_borrows_nothing_but_a_short_one_does():
    history = [Turn("who is Alexander Golts?", "Alexander Golts is a Moscow-based military expert [1].")]

    assert condense("How far can the light be seen?", history) == "How far can the light be seen?"
    assert condense("and his age?", history) == "and his age? (Alexander Golts)"
    assert condense("and in 2015?", history) == "and in 2015? (Alexander Golts)"


def test_names_skip_leading_question_words():
    assert names("Who is Alexander Golts and what did Bashar al-Assad say?") == ["Alexander Golts", "Bashar al-Assad"]
