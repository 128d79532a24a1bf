"""Word vectors from the real model: what the answerer's word alignment relies on."""

import numpy as np
import pytest

import assistant.embedding


@pytest.mark.slow
def test_model_word_vectors_are_unit_length_and_place_synonyms_closer(real_embedder):
    began, started, banana = real_embedder.word_vectors(["began", "started", "banana"])
    assert np.linalg.norm(began) == pytest.approx(1.0, abs=1e-5)
    assert began @ started > began @ banana


@pytest.mark.slow
def test_the_word_cache_stays_bounded_and_answers_stay_the_same(real_embedder, monkeypatch):
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    before = real_embedder.word_vectors(words)
    monkeypatch.setattr(assistant.embedding, "_WORD_CACHE", 3)
    after = real_embedder.word_vectors(["zeta", "eta", *words])
    assert len(real_embedder._words) <= 3
    np.testing.assert_allclose(after[2:], before)
