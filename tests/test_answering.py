"""The offline answerer's pieces: definitions, answer types, contradiction checks, citation numbering."""

from dataclasses import replace

import numpy as np
import pytest

from assistant.answer.candidates import Calibration, LinearModel, WordAlignment, answer_type, has_type
from assistant.answer.citations import markers
from assistant.answer.decision import choose, contradicts, decide, on_subject
from assistant.answer.definition import definition
from assistant.answer.extractive import Draft, ExtractiveAnswerer, cite
from assistant.types import Chunk, Passage, Quote
from fakes import OverlapReader


def test_an_appositive_becomes_a_definition():
    sentence = "“Why fight for Assad?” says Alexander Golts, a Moscow-based military expert."
    assert definition("who is Alexander Golts?", sentence) == "Alexander Golts is a Moscow-based military expert."
    assert definition("Who is Golts", sentence) == "Golts is a Moscow-based military expert."
    assert definition("what is BM25?", "BM25 is a ranking function used by search engines.") == (
        "BM25 is a ranking function used by search engines.")
    assert definition("who is alexander golts?", "Russia is ready, says Moscow-based military expert Alexander Golts.") == (
        "Alexander Golts is a Moscow-based military expert.")
    assert definition("who is Alexander Golts?", "Golts said so, according to Alexander Golts.") is None
    assert definition("who was Golts?", "He met Alexander Golts in 2015.") is None
    assert definition("who is Alexander Golts?", "Then he visited Alexander Golts.") is None
    assert definition("when did it start?", sentence) is None
    assert definition("who is Vladimir Putin?", sentence) is None


def test_a_definition_says_only_what_the_article_says_not_what_the_question_presumes():
    sentence = "“Why fight for Assad?” says Alexander Golts, a Moscow-based military expert."
    assert definition("who is the convicted fraudster Alexander Golts?", sentence) == (
        "Alexander Golts is a Moscow-based military expert.")
    assert definition("who is the famous Golts?", sentence) == "Golts is a Moscow-based military expert."
    assert definition("who is <b>Alexander Golts</b>\x00?", sentence) is None  # then the sentence is quoted as it is


def test_a_definition_runs_past_abbreviations_to_the_sentence_end():
    assert definition("who is John Smith?", "John Smith is a U.S. Army veteran who lives in Ohio.") == (
        "John Smith is a U.S. Army veteran who lives in Ohio.")
    assert definition("who is Jane Roe?", "“No,” said Jane Roe, a U.N. envoy, on Monday.") == "Jane Roe is a U.N. envoy."


def test_answer_types_and_whether_a_sentence_holds_one():
    assert answer_type("When did the embargo end?") == "time"
    assert answer_type("How many people live there?") == "number"
    assert answer_type("Who won the battle?") == "person"
    assert answer_type("Where is the fort?") == "place"
    assert has_type("time", "It ended in March 1974.", "When did it end?")
    assert not has_type("time", "It ended quickly.", "When did it end in 1974?")
    assert has_type("number", "About 30-50 applications arrive.", "How many applications?")


def test_names_in_any_script_count_as_names():
    assert has_type("place", "He was born in Zürich.", "Where was he born?")
    assert has_type("person", "The prize went to Łukasz Wójcik.", "Who won the prize?")
    assert not has_type("person", "The prize went to nobody.", "Who won the prize?")


def passage(rank=1, text="Alpha one. Beta two."):
    return Passage(rank, Chunk("a", 0, 10, 10 + len(text), text), "Title", None, 0.03)


def candidate(p, start, end, score=0.5, **features):
    base = {"coverage": 0.5, "negation_missing_here": 0.0, "antonym": 0.0, "figure_missing": 0.0, "opposite": 0.0}
    return Quote(p, start, end, p.chunk.text[start - 10 : end - 10], base | features, score)


def test_cite_numbers_each_quoted_sentence_once_with_article_offsets():
    p = passage()
    first, second = candidate(p, 10, 20), candidate(p, 21, 30)
    text, citations = cite(Draft(((first.text, first), (second.text, second), ("Again alpha one.", first)), False))

    assert text == "Alpha one [1]. Beta two [2]. Again alpha one [1]."
    assert [(c.n, c.quote, c.start, c.end) for c in citations] == [(1, "Alpha one.", 10, 20), (2, "Beta two.", 21, 30)]


def test_footnote_numbers_of_the_article_do_not_become_citations():
    text = "[4] Recruiters receive twenty applications per day [5]. More follow."
    p = Passage(1, Chunk("a", 0, 0, len(text), text), "Title", None, 0.03)
    end = text.index(".") + 1
    quoted = Quote(p, 0, end, text[:end])
    answer, citations = cite(Draft(((quoted.text, quoted),), False))

    assert answer == "Recruiters receive twenty applications per day [1]."
    assert markers(answer) == [c.n for c in citations] == [1]
    assert citations[0].quote == "[4] Recruiters receive twenty applications per day [5]."  # the article's own text


def test_the_runner_up_joins_only_when_close_and_on_topic():
    p = passage()
    best, close, off_topic = candidate(p, 10, 20, 0.8), candidate(p, 21, 30, 0.75), candidate(p, 21, 30, 0.79, coverage=0.0)
    assert choose([best, close], 0.1) == [best, close]
    assert choose([best, close], 0.01) == [best]
    assert choose([best, off_topic], 0.1) == [best]


def test_a_negated_question_is_not_answered_by_an_unnegated_sentence():
    p = passage()
    assert contradicts(candidate(p, 10, 20, negation_missing_here=1.0))
    assert not contradicts(candidate(p, 10, 20))


class NoEvidence:
    def idf(self, term):
        return 1.0

    def document_frequency(self, term):
        return 1

    def sentences(self, chunk):
        return []

    def word_vectors(self, words):
        return np.zeros((len(words), 3), dtype=np.float32)


def test_no_passages_means_abstention():
    draft = ExtractiveAnswerer(NoEvidence(), OverlapReader()).draft("anything?", np.zeros(3, dtype=np.float32), [])
    assert draft.abstained and draft.sentences == ()


def test_related_reading_shares_the_questions_subject_or_there_is_none():
    def passage(article_id: str, text: str) -> Passage:
        return Passage(1, Chunk(article_id, 0, 0, len(text), text), article_id, None, 1.0)

    pharmacy = passage("pharmacy", "Pharmacy is the science of preparing drugs; the capital needed to open one is large.")
    war = passage("war", "The French and Indian War ended with the Treaty of Paris in 1763.")
    golts = passage("syria", "But Golts, the military analyst, believes the Kremlin will not send ground troops.")
    idf = {"capit": 1.0, "peru": 5.0, "boil": 4.0, "point": 1.5, "liquid": 4.0, "nitrogen": 5.0}.get

    def on(question):
        return [p.chunk.article_id for p in on_subject(question, [pharmacy, war, golts], lambda t: idf(t, 3.0))]

    assert on("what is the capital of Peru?") == []  # "capital" alone is not the subject; Peru is
    assert on("What is the boiling point of liquid nitrogen?") == []
    assert on("What did Alexander Golts eat for breakfast?") == ["syria"]  # named by surname there
    assert on("When did the war end, and which treaty ended it?") == ["war"]  # no name: most of its words


class WordEvidence(NoEvidence):
    """Word vectors from a small table: 'began' and 'started' point the same way."""

    table = {"began": [1, 0, 0], "started": [1, 0, 0], "ended": [0.6, 0.8, 0], "war": [0, 0, 1], "the": [0, 1, 0]}

    def word_vectors(self, words):
        rows = [self.table.get(w, [0.0, 0.0, 0.0]) for w in words]
        return np.array(rows, dtype=np.float32).reshape(len(words), 3)


def test_word_alignment_sees_paraphrase_and_the_odd_word_out():
    align = WordAlignment("When the war began?", WordEvidence())
    assert align("The war started.") == {"align_mean": 1.0, "align_min": 1.0, "align_idf": 1.0}
    ended = align("The war ended.")
    assert ended["align_min"] == pytest.approx(0.6) and ended["align_mean"] == pytest.approx(0.8)


def test_word_alignment_weighs_rare_words_more():
    class RareWar(WordEvidence):
        def idf(self, term):
            return 3.0 if term == "war" else 1.0

    ended = WordAlignment("When the war began?", RareWar())("The war ended.")
    assert ended["align_idf"] == pytest.approx((3 * 1.0 + 1 * 0.6) / 4)
    assert ended["align_idf"] > ended["align_mean"]


def test_the_reranker_reorders_the_first_stages_best_few():
    p = passage()
    calibration = Calibration(ranker=LinearModel({"coverage": 10.0}, 0.0), reranker=LinearModel({"align_min": 10.0}, -5.0))
    answerer = ExtractiveAnswerer(WordEvidence(), OverlapReader(), calibration)
    ended = Quote(p, 10, 20, "The war ended.", {"coverage": 0.9})
    started = Quote(p, 21, 30, "The war started.", {"coverage": 0.5})
    assert [c.text for c in answerer.rank("When the war began?", [ended, started])] == ["The war started.", "The war ended."]
    first_only = ExtractiveAnswerer(WordEvidence(), OverlapReader(), replace(calibration, reranker=None))
    assert [c.text for c in first_only.rank("When the war began?", [ended, started])] == ["The war ended.", "The war started."]


def test_the_reader_decides_which_sentence_answers_and_when_to_abstain():
    p = passage()
    near_miss = replace(candidate(p, 10, 20, 0.9), text="The 85 richest people own half.")
    answering = replace(candidate(p, 21, 30, 0.4), text="The 58 richest people own a third.")
    answerer = ExtractiveAnswerer(NoEvidence(), OverlapReader())

    read = answerer.read("How much do the 58 richest people own?", [near_miss, answering])
    assert [c.start for c in read] == [21, 10]  # the reader's order, not the first stage's
    assert decide(read, abstain_below=0.5, second_within=0.0) == [read[0]]
    assert decide(read, abstain_below=0.9, second_within=0.0) == []  # even the best is improbable
    negated = replace(read[0], features={**read[0].features, "negation_missing_here": 1.0})
    assert decide([negated], abstain_below=0.0, second_within=0.0) == []
    assert decide([negated], abstain_below=0.0, second_within=0.0, contradiction=False) == [negated]


class SentenceEvidence(NoEvidence):
    """The passage's sentences, split at full stops, each with a zero vector."""

    def sentences(self, chunk):
        spans, start = [], chunk.start
        for part in chunk.text.split(". "):
            end = start + len(part.rstrip(".")) + 1
            spans.append((start, end, np.zeros(3, dtype=np.float32)))
            start = end + 1
        return spans


class RecordingReader(OverlapReader):
    """An OverlapReader that keeps what it was given to read."""

    def __init__(self, previous: bool):
        self.config = replace(OverlapReader.config, previous=previous)
        self.read: list[str] = []

    def score(self, question, texts):
        self.read += texts
        return super().score(question, texts)


def test_each_candidate_knows_the_sentence_before_it_in_its_passage():
    answerer = ExtractiveAnswerer(SentenceEvidence(), OverlapReader())
    first, second = answerer.candidates("beta?", np.zeros(3, dtype=np.float32), [passage()])
    assert (first.text, first.before) == ("Alpha one.", "")
    assert (second.text, second.before) == ("Beta two.", "Alpha one.")


@pytest.mark.parametrize("previous, seen", [
    (True, ["Beta two. [SEP] Title [SEP] Alpha one."]),
    (False, ["Beta two. [SEP] Title"]),
])
def test_the_reader_reads_the_sentence_before_only_when_trained_to(previous, seen):
    p = passage()
    reader = RecordingReader(previous)
    ExtractiveAnswerer(NoEvidence(), reader).read("beta?", [replace(candidate(p, 21, 30), before="Alpha one.")])
    assert reader.read == seen


def test_a_sentence_without_the_figure_the_question_quotes_cannot_answer_it():
    text = "The Royal Proclamation of 1763 set new borders. It was issued in October."
    p = Passage(1, Chunk("a", 0, 0, len(text), text), "Title", None, 0.03)
    answerer = ExtractiveAnswerer(SentenceEvidence(), OverlapReader())

    def checked(question):
        return [(c.text, contradicts(c)) for c in answerer.candidates(question, np.zeros(3, dtype=np.float32), [p])]

    assert checked("What did the Royal Proclamation of 1736 do?") == [
        ("The Royal Proclamation of 1763 set new borders.", True), ("It was issued in October.", True)]
    # The sentence before counts: "it" is the proclamation of 1763.
    assert checked("When was the proclamation of 1763 issued?") == [
        ("The Royal Proclamation of 1763 set new borders.", False), ("It was issued in October.", False)]
    # Thousands separators do not make a figure another one.
    assert checked("What did the Royal Proclamation of 1,763 do?")[0] == ("The Royal Proclamation of 1763 set new borders.", False)


def test_a_sentence_saying_the_opposite_of_a_question_word_cannot_answer_it():
    text = "Oil imports rose sharply in 1974."
    p = Passage(1, Chunk("a", 0, 0, len(text), text), "Title", None, 0.03)
    answerer = ExtractiveAnswerer(SentenceEvidence(), OverlapReader())

    def contradicted(question):
        [c] = answerer.candidates(question, np.zeros(3, dtype=np.float32), [p])
        return contradicts(c)

    assert contradicted("What fell sharply in 1974?")
    assert not contradicted("What rose sharply in 1974?")
    assert not contradicted("Did oil imports rise or fall in 1974?")  # the question names both


def test_a_sentence_naming_another_month_number_or_unit_cannot_answer_the_question():
    answerer = ExtractiveAnswerer(SentenceEvidence(), OverlapReader())

    def contradicted(question, text="Two ships left Lisbon in July, each carrying twenty tons of grain 400 miles."):
        p = Passage(1, Chunk("a", 0, 0, len(text), text), "Title", None, 0.03)
        [c] = answerer.candidates(question, np.zeros(3, dtype=np.float32), [p])
        return contradicts(c)

    assert contradicted("Where did the ships go in June?")
    assert contradicted("What did the three ships carry?")
    assert contradicted("How many kilometers did the ships sail?")
    assert not contradicted("Where did the ships go in July?")
    assert not contradicted("How many miles did the two ships sail?")
    assert not contradicted("Did two or three ships leave Lisbon?", "Two ships left Lisbon.")  # the question names both


def test_a_negation_in_a_neighbouring_sentence_does_not_answer_a_negated_question():
    text = "Islamism is not just a political idea. Its supporters believe their views reflect Islam."
    p = Passage(1, Chunk("a", 0, 0, len(text), text), "Title", None, 0.03)
    answerer = ExtractiveAnswerer(SentenceEvidence(), OverlapReader())
    first, second = answerer.candidates("What don't its supporters believe their views reflect?",
                                        np.zeros(3, dtype=np.float32), [p])
    assert contradicts(second) and not contradicts(first)


def test_the_answerer_was_fitted_with_the_fusion_the_retriever_uses():
    from assistant.answer.candidates import FITTED_RRF_K
    from assistant.retrieve.retriever import RRF_K

    assert RRF_K == FITTED_RRF_K, "fusion changed: refit scripts/calibrate.py and scripts/train_reader.py"
