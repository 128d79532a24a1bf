"""Who-is answers from the entity index (assistant/answer/profile.py), through the service."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.answer.citations import markers
from assistant.answer.profile import Asked, asked
from assistant.errors import NotFound
from assistant.types import Article

DATA = Path(__file__).resolve().parent / "data" / "entities" / "articles"
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "articles"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    assistant = make_assistant(tmp_path_factory.mktemp("profiles") / "index", HashEmbedder())
    assistant.ingest([str(DATA), str(SAMPLES)])
    return assistant


def _checkable(assistant, answer) -> None:
    """Every [n] has its citation and back, and each quotes its article exactly."""
    assert sorted(set(markers(answer.answer))) == [c.n for c in answer.citations]
    for c in answer.citations:
        assert assistant.article(c.article_id).text[c.start:c.end] == c.quote


def test_questions_that_ask_who_someone_is_or_what_they_said():
    assert asked("Who is Alexander Golts?") == Asked("Alexander Golts", False)
    assert asked("who was Mr. Golts") == Asked("Golts", False)
    assert asked("Tell me about the Baltic Energy Institute.") == Asked("Baltic Energy Institute", False)
    assert asked("what did Golts say about Syria?") == Asked("Golts", True, "Syria")
    assert asked("What does Anna Petrova say?") == Asked("Anna Petrova", True)
    assert asked("When did the war start?") is None
    assert asked("what does he say about Syria?") is None  # a follow-up: retrieval borrows the name
    assert asked("What is the capital of France?") is None


def test_golts_leads_with_the_expert_and_adds_the_analyst(assistant):
    answer = assistant.ask("who is Alexander Golts?")
    assert answer.answer.startswith("Alexander Golts is a Moscow-based military expert [1].\n"
                                    "Alexander Golts is also described as the military analyst [2].")
    assert "Mentioned in 1 article: Russian volunteers syria." in answer.answer
    assert answer.profile is not None and answer.profile.entity.id == "alexander-golts"
    _checkable(assistant, answer)


def test_what_does_golts_say_lists_his_two_quotes(assistant):
    answer = assistant.ask("what does Golts say?")
    assert [line.text[:20] for line in answer.profile.quotes] == ["“How can you possibl", "“I think the Russian"]
    assert answer.answer.count("[1]") == 1 and answer.answer.count("[2]") == 1 and "[3]" not in answer.answer
    _checkable(assistant, answer)


def test_paraphrases_merge_in_the_fuller_wording_citing_every_article(assistant):
    answer = assistant.ask("Who is Anna Petrova?")
    lines = answer.profile.descriptions
    assert [line.text for line in lines] == [
        "is the new director of the Baltic Energy Institute",  # and "director of the ...", 2024
        "is a senior economist at the Baltic Energy Institute",  # and "energy economist", 2020
        "is a researcher at the institute",
    ]
    assert [len(line.citations) for line in lines] == [2, 2, 1]
    assert [line.published for line in lines] == ["2024-09-09", "2020-02-03", "2018-11-02"]  # newest first
    cited = {c.n: c.article_id for c in answer.citations}
    assert {cited[n] for n in lines[0].citations} == {"institute-director-2022", "energy-forum-2024"}
    assert "(2024-09-09) [1][2]." in answer.answer
    assert "Mentioned in 5 articles:" in answer.answer
    _checkable(assistant, answer)


def test_a_shared_surname_asks_which_one(assistant):
    answer = assistant.ask("who is Okafor?")
    assert answer.answer == (
        "“Okafor” may mean 2 people or organisations: David Okafor (4 articles), who is chief executive of "
        "Northwind Shipping Company [1]; Grace Okafor (2 articles), who is a High Court judge [2]. "
        "Which one do you mean?")
    _checkable(assistant, answer)
    grace = assistant.ask("who is Grace Okafor?").answer
    assert "a High Court judge" in grace and "chief executive" not in grace


def test_quotes_about_the_topic_come_first(assistant):
    answer = assistant.ask("what did David Okafor say about diesel?")
    assert answer.profile.quotes[0].text.startswith("“Diesel will be gone")
    assert all(c.article_id != "court-ruling-2022" for c in answer.citations)  # never Grace's words
    _checkable(assistant, answer)


def test_an_unknown_name_or_another_question_takes_todays_path(assistant):
    assert assistant.ask("who is Sergei Golts?").profile is None  # a namesake the index does not know
    assert assistant.ask("How many applications per day does the group receive?").profile is None


def test_a_profile_is_made_only_of_what_the_reader_may_read(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest([str(DATA)])
    assistant.restrict("archive")
    assistant.move([a["id"] for a in assistant.articles() if a["id"] != "court-ruling-2022"], "archive")
    reader = assistant.scope(frozenset())  # anonymous: "default" (the ruling) only
    answer = assistant.ask("who is Okafor?", scope=reader)
    assert answer.answer.startswith("Grace Okafor is a High Court judge (2022-06-28) [1].")
    assert {c.article_id for c in answer.citations} == {"court-ruling-2022"}
    assert assistant.entity(answer.profile.entity.id, reader).entity.articles == 1
    assert assistant.entity(answer.profile.entity.id).entity.articles > 1  # the admin reads the archive too
    assert assistant.ask("who is Okafor?", scope=assistant.scope(frozenset(), "nothing")).profile is None


def test_who_and_the_entity_page_data(assistant):
    assert assistant.who("Tomas Reyes").profile.entity.name == "Tomas Reyes"
    with pytest.raises(NotFound, match="no article describes"):
        assistant.who("Nobody Atall")
    profile = assistant.entity("lena-hartmann")
    assert profile.descriptions and profile.quotes
    assert [a.id for a in profile.articles] == ["arctic-ice-2024", "heatwave-2023", "arctic-ice-2019"]
    assert [e.id for e in assistant.entities("hart")] == ["lena-hartmann"]
    with pytest.raises(NotFound):
        assistant.entity("nobody")



def test_a_line_cites_each_article_once_and_at_most_five(tmp_path):
    said = [Article(f"a{i}", f"A{i}", "Anna Petrova, the energy analyst, spoke. Petrova is the energy analyst.",
                    source=f"a{i}.txt", published=f"2020-01-{i + 1:02d}") for i in range(8)]
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles(said)
    answer = assistant.ask("who is Anna Petrova?")
    [line] = answer.profile.descriptions
    assert [answer.citations[n - 1].article_id for n in line.citations] == ["a7", "a6", "a5", "a4", "a3"]
    assert "Mentioned in 8 articles:" in answer.answer


def test_an_answer_says_the_newest_twenty_quotations(tmp_path):
    said = [Article(f"q{i}", f"Q{i}", f"“Point {i} stands,” said Anna Petrova.", source=f"q{i}.txt",
                    published=f"2021-{i // 28 + 1:02d}-{i % 28 + 1:02d}") for i in range(30)]
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles(said)
    answer = assistant.ask("what did Anna Petrova say?")
    assert len(answer.profile.quotes) == 20 and answer.profile.quotes[0].text == "“Point 29 stands,”"
    assert len(assistant.entity("anna-petrova").quotes) == 30  # the page shows them all
