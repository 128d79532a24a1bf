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


def test_a_follow_up_borrows_from_the_turn_it_refers_to_not_an_older_one():
    golts = Turn("who is Alexander Golts?", "Alexander Golts is a Moscow-based military expert [1].")
    oil = Turn("When did the 1973 oil crisis begin?", "The 1973 oil crisis began in October 1973 [1].")
    reactor = Turn("When did the Zorblax reactor close?", "The Zorblax reactor closed in 2004 [1].")

    assert condense("when did it end?", [golts, oil]) == "when did it end? (1973 oil crisis begin)"
    assert condense("where is he based?", [golts, reactor]) == "where is he based? (Alexander Golts)"  # a reactor is no "he"
    assert condense("when was it designed?", [golts, reactor]) == "when was it designed? (Zorblax)"


def test_a_person_named_in_the_answer_is_who_she_is():
    history = [Turn("who led the restoration?", "The restoration was led by Maria Santos, an engineer from Lisbon [1].")]
    assert condense("where is she from?", history) == "where is she from? (Maria Santos)"
