"""End to end with the real model: index the sample article, ask, check the cited answer."""

import re

import pytest

from assistant.store.directory import IndexDir

pytestmark = pytest.mark.slow


def test_who_is_alexander_golts_gets_a_definition_citing_the_exact_sentence(sample_assistant, sample_index):
    answer = sample_assistant.ask("who is Alexander Golts?")

    assert not answer.abstained
    assert answer.answer.startswith("Alexander Golts is a Moscow-based military expert [1].\n"
                                    "Alexander Golts is also described as the military analyst [2].")
    citation, analyst = answer.citations
    assert analyst.quote.startswith("But Golts, the military analyst, believes")
    article = IndexDir(sample_index).articles()[citation.article_id].article
    assert article.text[citation.start : citation.end] == citation.quote
    assert citation.quote.startswith("“How can you possibly explain")
    assert citation.quote.endswith("says Alexander Golts, a Moscow-based military expert.")


def test_every_marker_has_a_citation_and_every_citation_a_marker(sample_assistant):
    answer = sample_assistant.ask("How many applications does the recruiter's group receive per day?")

    assert not answer.abstained
    assert "30-50" in answer.answer
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}
    assert [p.rank for p in answer.passages] == sorted(p.rank for p in answer.passages)


def test_a_question_the_articles_do_not_answer_abstains_with_related_passages(sample_assistant):
    answer = sample_assistant.ask("What is the boiling point of liquid nitrogen?")

    assert answer.abstained
    assert answer.citations == ()
    assert answer.answer == "The indexed articles don't answer this question."


def test_follow_up_question_is_resolved_against_the_previous_turn(sample_assistant):
    from assistant.types import Turn

    first = sample_assistant.ask("who is Alexander Golts?")
    follow = sample_assistant.ask("what does he ask about fighting for Assad?", history=[Turn("who is Alexander Golts?", first.answer)])

    assert not follow.abstained
    assert any("Golts" in c.quote for c in follow.citations)
