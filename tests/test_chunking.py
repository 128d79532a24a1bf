"""Chunks are verbatim, sentence-aligned slices that fit the model, with bounded overlap."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.chunking import Chunker, sentence_spans
from assistant.embedding import Embedder
from assistant.types import Article

WORDS = re.compile(r"\w+|[^\w\s]")


def count(texts):
    return [len(WORDS.findall(t)) for t in texts]


def chunker(max_tokens=40, overlap=10):
    return Chunker(count, max_tokens, overlap)


def test_sentences_exclude_whitespace_and_keep_a_quoted_question_with_its_speaker():
    text = "  First one.  “Why fight?” says Alexander Golts, an expert.\nA heading\nLast line."
    spans = [text[s:e] for s, e in sentence_spans(text)]
    assert spans == ["First one.", "“Why fight?” says Alexander Golts, an expert.", "A heading", "Last line."]


def test_a_markdown_image_does_not_end_a_sentence():
    text = "It was painted by ![Monet](m.png) in 1872. It hangs in Paris."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "It was painted by ![Monet](m.png) in 1872.", "It hangs in Paris."]


def test_chunks_are_whole_sentences_within_the_token_budget():
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    chunks = chunker(max_tokens=30, overlap=8).chunk(Article("a", "A", text))

    assert len(chunks) > 1
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text.startswith("Sentence") and c.text.endswith(".")
        assert count([c.text])[0] <= 30
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_a_sentence_longer_than_the_budget_is_cut_at_word_boundaries():
    text = "word " * 100 + "end."
    chunks = chunker(max_tokens=25, overlap=0).chunk(Article("a", "A", text))
    assert all(count([c.text])[0] <= 25 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_a_single_huge_token_is_cut_by_characters():
    text = "x" * 500
    chunks = chunker(max_tokens=40, overlap=0).chunk(Article("a", "A", text))
    assert "".join(c.text for c in chunks) == text


def test_empty_or_blank_text_has_no_chunks():
    assert chunker().chunk(Article("a", "A", " \n\t ")) == []


def test_chunk_ids_derive_from_content():
    a = chunker().chunk(Article("a", "A", "One. Two. Three."))
    b = chunker().chunk(Article("a", "Other title", "One. Two. Three."))
    assert [c.id for c in a] == [c.id for c in b]


text_strategy = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=60),
        st.sampled_from(["Dr. Smith went home.", "Is it? Yes!", "“Quoted?” he said.", "\n\n", "3.5 million", "e.g. this"]),
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(text=text_strategy, max_tokens=st.integers(5, 60), overlap=st.integers(0, 20))
def test_chunk_invariants(text, max_tokens, overlap):
    chunks = Chunker(count, max_tokens, overlap).chunk(Article("a", "A", text))

    for c in chunks:
        assert text[c.start : c.end] == c.text  # offsets slice back to the text
        assert count([c.text])[0] <= max_tokens  # fits the model
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())  # nothing unsearchable
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.start > prev.start  # progress
        if nxt.start < prev.end:  # overlap is whole sentences within the budget
            assert count([text[nxt.start : prev.end]])[0] <= overlap


@pytest.mark.slow
def test_real_tokenizer_keeps_every_chunk_under_the_models_limit(real_embedder: Embedder):
    long_text = " ".join(f"In {1900 + i}, the committee of Łódź-Wrocław™ approved plan №{i} (cost: €{i * 3.7:.2f}M)." for i in range(200))
    c = Chunker(real_embedder.count_tokens, real_embedder.max_tokens, 40)
    chunks = c.chunk(Article("a", "A", long_text))
    sizes = real_embedder.count_tokens([ch.text for ch in chunks])
    assert max(sizes) <= real_embedder.max_tokens == 254
