"""Embedders: late chunking's pooling, the shipped int8 ONNX model, and word vectors from the real model."""

import numpy as np
import pytest
from fakes import HashEmbedder

import assistant.embed.base
from assistant.embed.base import pool_spans, splits_at_blanks
from assistant.embed.factory import load_embedder
from assistant.embed.onnx import OnnxEmbedder
from assistant.errors import AssistantError

SENTENCES = ["The Normans were descended from Norse raiders.", "They settled in Normandy in the tenth century."]
TEXT = " ".join(SENTENCES)


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    return OnnxEmbedder()  # about 0.3 s: no torch


def test_the_default_embeds_each_span_on_its_own():
    embedder = HashEmbedder()
    vectors, spans = embedder.embed_with_spans([TEXT], [[(0, 46), (47, len(TEXT))]])
    np.testing.assert_allclose(vectors, embedder.embed([TEXT]))
    np.testing.assert_allclose(spans, embedder.embed(SENTENCES))


def test_pooling_averages_each_spans_word_pieces_and_keeps_input_order():
    def forward(ids, mask):  # a piece's output is its id, so a mean is checkable by hand
        return np.repeat(ids[..., None].astype(np.float32), 2, axis=-1) * np.array([1.0, -1.0], np.float32)

    long = ([101, 7, 8, 9, 102], [(0, 0), (0, 3), (4, 6), (7, 9), (0, 0)])
    short = ([101, 5, 102], [(0, 0), (0, 2), (0, 0)])
    texts, spans = pool_spans(forward, [long, short], [[(4, 9), (20, 30)], [(0, 2)]], batch_size=1)
    assert texts.shape == (2, 2) and spans.shape == (3, 2)
    np.testing.assert_allclose(texts, [[2 ** -0.5, -(2 ** -0.5)]] * 2, rtol=1e-6)  # means are unit-normed
    np.testing.assert_allclose(spans[[0, 2]], [[2 ** -0.5, -(2 ** -0.5)]] * 2, rtol=1e-6)
    assert np.isnan(spans[1]).all()  # past the truncated window: left for the caller to embed alone


def test_onnx_sentence_vectors_from_a_chunk_stay_near_the_sentence_alone(onnx_embedder):
    spans = [(0, len(SENTENCES[0])), (len(SENTENCES[0]) + 1, len(TEXT))]
    chunk, pooled = onnx_embedder.embed_with_spans([TEXT], [spans])
    alone = onnx_embedder.embed(SENTENCES)
    np.testing.assert_allclose(chunk, onnx_embedder.embed([TEXT]), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    assert pooled[0] @ alone[0] > pooled[0] @ alone[1] and pooled[1] @ alone[1] > pooled[1] @ alone[0]


def test_onnx_spans_cut_off_by_the_window_are_embedded_alone(onnx_embedder):
    text = "word " * 400 + SENTENCES[0]
    _, pooled = onnx_embedder.embed_with_spans([text], [[(2000, len(text))]])
    np.testing.assert_allclose(pooled, onnx_embedder.embed([SENTENCES[0]]), atol=1e-5)


def test_onnx_counts_whole_texts_though_the_tokenizer_file_truncates_at_128(onnx_embedder):
    assert onnx_embedder.count_tokens(["word " * 300]) == [300]
    assert onnx_embedder.max_tokens == 254


def test_only_a_tokenizer_that_cuts_words_at_blanks_first_is_trusted_to_add_up(onnx_embedder):
    from tokenizers import Tokenizer, models, pre_tokenizers

    assert onnx_embedder.counts_add_up and not HashEmbedder().counts_add_up  # BERT's pre-tokenizer; unknown
    byte_level = Tokenizer(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel()  # GPT-2's: " word" and "word" differ
    assert not splits_at_blanks(byte_level)


def test_onnx_word_vectors_place_synonyms_closer(onnx_embedder):
    began, started, banana = onnx_embedder.word_vectors(["began", "started", "banana"])
    assert np.linalg.norm(began) == pytest.approx(1.0, abs=1e-5)
    assert began @ started > began @ banana


def test_the_bundled_model_runs_on_onnx_and_its_name_says_so():
    embedder = load_embedder()
    assert isinstance(embedder, OnnxEmbedder) and embedder.name == "all-MiniLM-L6-v2@onnx-int8"


def test_onnx_refuses_another_model():
    with pytest.raises(AssistantError, match="bundled"):
        load_embedder("some/other-model", backend="onnx")


@pytest.mark.slow
def test_int8_onnx_stays_near_fp32_torch(torch_embedder, onnx_embedder):
    texts = [TEXT, "Who founded Normandy?", SENTENCES[1]]
    assert "onnx" not in torch_embedder.name and "onnx" in onnx_embedder.name
    cosines = (torch_embedder.embed(texts) * onnx_embedder.embed(texts)).sum(1)
    assert cosines.min() > 0.98


@pytest.mark.slow
def test_torch_late_chunking_matches_onnx_and_keeps_chunk_vectors(torch_embedder, onnx_embedder):
    spans = [[(0, len(SENTENCES[0]))]]
    chunk, pooled = torch_embedder.embed_with_spans([TEXT], spans)
    np.testing.assert_allclose(chunk, torch_embedder.embed([TEXT]), atol=1e-5)
    assert float(pooled[0] @ onnx_embedder.embed_with_spans([TEXT], spans)[1][0]) > 0.98
    assert torch_embedder.counts_add_up and torch_embedder.count_tokens([TEXT]) == onnx_embedder.count_tokens([TEXT])


@pytest.mark.slow
def test_model_word_vectors_are_unit_length_and_place_synonyms_closer(real_embedder):
    began, started, banana = real_embedder.word_vectors(["began", "started", "banana"])
    assert np.linalg.norm(began) == pytest.approx(1.0, abs=1e-5)
    assert began @ started > began @ banana


@pytest.mark.slow
def test_the_word_cache_stays_bounded_and_answers_stay_the_same(real_embedder, monkeypatch):
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    before = real_embedder.word_vectors(words)
    monkeypatch.setattr(assistant.embed.base, "_WORD_CACHE", 3)
    after = real_embedder.word_vectors(["zeta", "eta", *words])
    assert len(real_embedder._words) <= 3
    np.testing.assert_allclose(after[2:], before)
