"""Citations: both answerers number their quotes through `citations.number`, so they cite alike."""

import numpy as np
from fakes import HashEmbedder

from assistant.answer.citations import markers, number, place_markers, strip_markers, with_marker
from assistant.answer.extractive import Draft, cite
from assistant.llm.grounding import Verifier, sentences
from assistant.text.sentences import sentence_spans
from assistant.types import Chunk, Passage, Quote

TEXT = "Alexander Golts is a Moscow-based military expert. He writes about the army. Recruiters are busy."
EMBEDDER = HashEmbedder()


def overlapping_passages() -> tuple[Passage, Passage]:
    """Two chunks of one article that both hold its first two sentences (chunks overlap)."""
    second_end = TEXT.index("Recruiters")
    first = Chunk("golts", 0, 0, second_end - 1, TEXT[: second_end - 1])
    second = Chunk("golts", 1, 0, len(TEXT), TEXT)
    return Passage(1, first, "Golts", None, 0.03), Passage(2, second, "Golts", None, 0.02)


class Evidence:
    """The index's view of a chunk, computed as the index does: sentence spans and their vectors."""

    def idf(self, term: str) -> float:
        return 1.0

    def document_frequency(self, term: str) -> int:
        return 1

    def sentences(self, chunk: Chunk) -> list[tuple[int, int, np.ndarray]]:
        spans = sentence_spans(chunk.text)
        vectors = EMBEDDER.embed([chunk.text[s:e] for s, e in spans])
        return [(chunk.start + s, chunk.start + e, v) for (s, e), v in zip(spans, vectors)]

    def word_vectors(self, words: list[str]) -> np.ndarray:
        return EMBEDDER.embed(words)


def test_the_same_sentence_from_overlapping_chunks_is_one_citation_offline_and_from_an_llm():
    one, two = overlapping_passages()
    end = TEXT.index(".") + 1
    said = TEXT[:end]
    offline_text, offline = cite(Draft(((said, Quote(one, 0, end, said)), (said, Quote(two, 0, end, said))),
                                       False))

    llm = Verifier([one, two], Evidence(), EMBEDDER)
    for sentence in sentences(f"{said[:-1]} [1][2]."):
        llm.add(sentence)

    assert [(c.n, c.article_id, c.start, c.end, c.quote) for c in llm.citations] == \
           [(c.n, c.article_id, c.start, c.end, c.quote) for c in offline] == [(1, "golts", 0, end, said)]
    assert markers(llm.answer) == [1] and set(markers(offline_text)) == {1}


def test_numbers_follow_first_appearance_and_a_repeated_quote_keeps_its_number():
    one, two = overlapping_passages()
    second = TEXT.index("He")
    quotes = [Quote(two, second, TEXT.index("Recruiters") - 1, "He writes about the army."),
              Quote(one, 0, second - 1, TEXT[: second - 1]),
              Quote(one, second, TEXT.index("Recruiters") - 1, "He writes about the army.")]

    numbers, citations = number(quotes)

    assert numbers == [1, 2, 1]
    assert [(c.n, c.chunk_id) for c in citations] == [(1, two.chunk.id), (2, one.chunk.id)]  # the first reading's chunk
    assert all(TEXT[c.start : c.end] == c.quote for c in citations)


def test_markers_go_before_the_final_full_stop():
    assert with_marker("He left.", 1) == "He left [1]."
    assert with_marker("“Is it?” he asked", 2) == "“Is it?” he asked [2]"
    assert place_markers("He left.[1][2]") == "He left [1][2]."


def test_markers_are_parsed_and_stripped_in_one_place():
    assert markers("He left [1]. She stayed [2][10].") == [1, 2, 10]
    assert strip_markers("[4] He left [1]. She stayed [2, 3].") == "He left. She stayed."
